package postgres

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Wakeup = (*Listener)(nil)

// Listener is the PostgreSQL ports.Wakeup: it LISTENs on the store's
// channel on a connection of its own (outside the pool) and signals C() on
// every notification. When the connection drops (the database restarts,
// an admin kills it) it reconnects with backoff, and signals once it
// listens again, since notifications sent meanwhile were lost.
//
// A connection can also die silently (a network partition). The listener
// therefore NOTIFYs a ping channel of its own schema through the pool every
// PingInterval, and reconnects when it hears nothing for two intervals.
type Listener struct {
	db      *bun.DB
	channel string
	ping    string
	log     *slog.Logger
	wake    *wait.Signal

	pingInterval time.Duration
	minBackoff   time.Duration
	maxBackoff   time.Duration
}

// NewListener returns a Listener for the channel of cfg.Schema. It does
// nothing until Run. A nil log discards.
func NewListener(db *bun.DB, cfg Config, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		db: db, channel: cfg.Channel(), ping: cfg.pingChannel(), log: log,
		wake:         wait.NewSignal(),
		pingInterval: 15 * time.Second,
		minBackoff:   100 * time.Millisecond,
		maxBackoff:   10 * time.Second,
	}
}

// C implements ports.Wakeup. Signals coalesce: one pending signal stands
// for any number of notifications.
func (l *Listener) C() <-chan struct{} { return l.wake.C() }

// Run listens until ctx is done, then returns nil. Connection failures are
// logged and retried, never returned: polling covers for the listener
// while the database is away.
func (l *Listener) Run(ctx context.Context) error {
	backoff := l.minBackoff
	for {
		listened, err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = l.minBackoff
		}
		// ±20% jitter, so that replicas do not reconnect in lockstep.
		pause := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		l.log.Warn("postgres listener: not listening, reconnecting",
			slog.String("channel", l.channel), slog.Any("error", err), slog.Int64("retry_in_ms", pause.Milliseconds()))
		if !wait.Sleep(ctx, pause) {
			return nil
		}
		backoff = min(2*backoff, l.maxBackoff)
	}
}

// session runs one connection until it fails. listened reports whether
// LISTEN took effect (a first notification arrived).
func (l *Listener) session(ctx context.Context) (listened bool, err error) {
	ln := pgdriver.NewListener(l.db)
	defer ln.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Receive blocks in a socket read that ignores cancellation; closing
	// the listener is what interrupts it.
	stop := context.AfterFunc(sctx, func() { _ = ln.Close() })
	defer stop()

	// Our channel first: once the ping channel hears anything, the
	// earlier LISTEN is in effect too.
	if err := ln.Listen(sctx, l.channel, l.ping); err != nil {
		return false, err
	}
	var lastHeard atomic.Int64
	var heard atomic.Bool
	go l.pinger(sctx, ln, &heard, &lastHeard)
	for {
		channel, _, err := ln.Receive(sctx)
		if err != nil {
			return listened, err
		}
		lastHeard.Store(time.Now().UnixNano())
		if !listened {
			listened = true
			heard.Store(true)
			l.log.Info("postgres listener: listening", slog.String("channel", l.channel))
			l.wake.Notify() // catch up on what was missed while not listening
		}
		if channel == l.channel {
			l.wake.Notify()
		}
	}
}

// pinger NOTIFYs the ping channel: quickly until the first notification
// proves LISTEN in effect, then every pingInterval. It closes ln (ending the
// session) when LISTEN never takes effect or the connection goes silent.
func (l *Listener) pinger(ctx context.Context, ln *pgdriver.Listener, heard *atomic.Bool, lastHeard *atomic.Int64) {
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		if !wait.Sleep(ctx, delay) {
			return
		}
		if heard.Load() {
			delay = l.pingInterval
			if silent := time.Since(time.Unix(0, lastHeard.Load())); silent > 2*l.pingInterval {
				l.log.Warn("postgres listener: connection silent, reconnecting",
					slog.String("channel", l.channel), slog.Int64("silent_ms", silent.Milliseconds()))
				_ = ln.Close()
				return
			}
		} else {
			delay = min(2*delay, l.pingInterval)
			if time.Since(start) > 2*l.pingInterval {
				_ = ln.Close()
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, l.pingInterval)
		_, _ = l.db.ExecContext(pctx, "SELECT pg_notify(?, '')", l.ping)
		cancel()
	}
}
