// Package activity counts what this process does, minute by minute, and
// moves the counts into the store (ports.ActivityStore) every few seconds:
// the data behind the dashboard's activity chart and endpoints' success
// rates, which then never count a queue table.
//
// A Counter is a ports.Metrics: the core tells it of every event accepted
// and every attempt finished (give the core a Tee of it and the exporter).
// Counting is a map update under a mutex. Run flushes what was counted
// every Config.FlushEvery in one AddActivity, which every dispatcher
// sharing the database does into the same rows (the store adds), and
// purges the minutes older than ports.ActivityRetention once a minute.
//
// A failed flush loses nothing: its counts are merged back with those
// counted meanwhile, and the next flush adds them all. It double-counts
// nothing either, with one exception no counter can rule out without the
// store's help: a flush whose transaction committed but whose answer was
// lost (the connection broke during the commit) is added again.
package activity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// DefaultFlushEvery is Config.FlushEvery's default: the dashboard's chart
// lags by at most that much.
const DefaultFlushEvery = 5 * time.Second

const (
	// storeTimeout bounds one AddActivity or PurgeActivity while running.
	storeTimeout = 10 * time.Second
	// lastFlushTimeout bounds the flush at shutdown, which must not hold
	// the process up for long.
	lastFlushTimeout = 2 * time.Second
	// purgeEvery is the time between two purges.
	purgeEvery = time.Minute
)

// Config of a Counter.
type Config struct {
	// FlushEvery is the time between two flushes; 0 takes
	// DefaultFlushEvery.
	FlushEvery time.Duration
}

func (c *Config) setDefaults() {
	if c.FlushEvery <= 0 {
		c.FlushEvery = DefaultFlushEvery
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if c.FlushEvery < 0 {
		return fmt.Errorf("activity: flush interval must not be negative, got %s", c.FlushEvery)
	}
	return nil
}

var _ ports.Metrics = (*Counter)(nil)

// The counts of a row, by column.
const (
	accepted = iota
	delivered
	retried
	dead
)

// key is a row's: the minute's start in unix seconds and the endpoint (""
// for the cluster's row).
type key struct {
	minute   int64
	endpoint core.EndpointID
}

type tally [4]int64

// Counter counts events accepted and attempts by verdict, per minute, for
// the cluster and per endpoint, and flushes them into the store. Its
// methods are safe for concurrent use; Run must be called once.
type Counter struct {
	store ports.ActivityStore
	clock ports.Clock
	log   *slog.Logger
	cfg   Config

	mu      sync.Mutex
	counts  map[key]*tally // counted since the last flush taken out
	failing bool           // the last flush failed (logged once per outage)

	// Run's own.
	lastPurge    time.Time
	purgeFailing bool
}

// New returns a Counter adding into store, reading the minute from clock.
// A FlushEvery ≤ 0 takes the default; a nil log discards.
func New(store ports.ActivityStore, clock ports.Clock, cfg Config, log *slog.Logger) *Counter {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Counter{store: store, clock: clock, log: log, cfg: cfg, counts: make(map[key]*tally)}
}

// EventAccepted counts an event on the cluster's row.
func (c *Counter) EventAccepted() {
	m := c.minute()
	c.mu.Lock()
	c.row(key{m, ""})[accepted]++
	c.mu.Unlock()
}

// DeliveryFinished counts an attempt by its verdict, on the cluster's row
// and on its endpoint's: succeeded as delivered, retry as retried, dead
// and expired as dead. Other verdicts (lost) are not counted.
func (c *Counter) DeliveryFinished(r ports.DeliveryReport) {
	var col int
	switch r.Verdict {
	case core.VerdictSucceeded:
		col = delivered
	case core.VerdictRetry:
		col = retried
	case core.VerdictDead, core.VerdictExpired:
		col = dead
	default:
		return
	}
	m := c.minute()
	c.mu.Lock()
	c.row(key{m, ""})[col]++
	if r.EndpointID != "" {
		c.row(key{m, r.EndpointID})[col]++
	}
	c.mu.Unlock()
}

// DeliveriesParked is not counted: a parked delivery was not attempted.
func (c *Counter) DeliveriesParked(string, int) {}

// BreakerChanged is not counted.
func (c *Counter) BreakerChanged(string, string, string) {}

// minute is the start of the clock's minute, in unix seconds.
func (c *Counter) minute() int64 { return c.clock.Now().Truncate(time.Minute).Unix() }

// row is k's tally, made if need be. c.mu is held.
func (c *Counter) row(k key) *tally {
	t := c.counts[k]
	if t == nil {
		t = new(tally)
		c.counts[k] = t
	}
	return t
}

// Flush adds what was counted since the last flush to the store, in one
// AddActivity. The counts are taken out first, so that counting goes on
// meanwhile into an empty map; if AddActivity fails, they are merged back
// into it (but for minutes the store no longer keeps) for the next flush,
// and its error is returned. A failure is logged once per outage (one
// because ctx ended is not logged).
func (c *Counter) Flush(ctx context.Context) error {
	c.mu.Lock()
	taken := c.counts
	c.counts = make(map[key]*tally, len(taken))
	c.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	counts := make([]ports.ActivityCount, 0, len(taken))
	for k, t := range taken {
		counts = append(counts, ports.ActivityCount{Minute: time.Unix(k.minute, 0).UTC(), EndpointID: k.endpoint,
			Accepted: t[accepted], Delivered: t[delivered], Retried: t[retried], Dead: t[dead]})
	}
	err := c.store.AddActivity(ctx, counts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		cut := c.clock.Now().Add(-ports.ActivityRetention) // what Run purges
		for k, t := range taken {
			if time.Unix(k.minute, 0).Before(cut) {
				continue // the store would not keep it long
			}
			row := c.row(k)
			for i := range t {
				row[i] += t[i]
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("activity: flush: %w", err) // our own ending, not the store's failure
		}
		if !c.failing {
			c.log.Warn("activity: cannot add the counts to the store; kept for the next flush",
				slog.String("error", err.Error()), slog.Int("rows", len(counts)),
				slog.Int64("retry_in_ms", c.cfg.FlushEvery.Milliseconds()))
		}
		c.failing = true
		return fmt.Errorf("activity: flush: %w", err)
	}
	if c.failing {
		c.log.Info("activity: the counts are added to the store again", slog.Int("rows", len(counts)))
	}
	c.failing = false
	return nil
}

// Run flushes every Config.FlushEvery and purges the minutes older than
// ports.ActivityRetention once a minute, until ctx ends; then it flushes a
// last time (for at most 2 s) and returns nil.
func (c *Counter) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastFlushTimeout)
			defer cancel()
			if err := c.Flush(last); err != nil {
				c.log.Warn("activity: the last counts could not be added at shutdown; they are lost",
					slog.String("error", err.Error()))
			}
			return nil
		case <-tick.C:
		}
		fctx, cancel := context.WithTimeout(ctx, storeTimeout)
		_ = c.Flush(fctx) // logged; kept for the next
		cancel()
		c.purge(ctx)
	}
}

// purge deletes the minutes older than ports.ActivityRetention, if the
// last purge is a minute old. Every dispatcher does: deleting what another
// deleted already costs an index probe.
func (c *Counter) purge(ctx context.Context) {
	now := c.clock.Now()
	if !c.lastPurge.IsZero() && now.Sub(c.lastPurge) < purgeEvery {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, storeTimeout)
	n, err := c.store.PurgeActivity(pctx, now.Add(-ports.ActivityRetention))
	cancel()
	if err != nil {
		if !c.purgeFailing && ctx.Err() == nil {
			c.log.Warn("activity: cannot purge old minutes; next try in a minute", slog.String("error", err.Error()))
		}
		c.purgeFailing = true
		c.lastPurge = now
		return
	}
	if c.purgeFailing {
		c.log.Info("activity: old minutes are purged again", slog.Int("rows", n))
	}
	c.purgeFailing = false
	c.lastPurge = now
}
