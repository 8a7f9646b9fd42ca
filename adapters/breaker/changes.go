package breaker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/webhookd/webhookd/ports"
)

// change is one state transition, queued by OnStateChange.
type change struct {
	origin   string
	from, to gobreaker.State
	failures uint32
	until    time.Time // when it half-opens; set for to == open
}

// changeLog carries transitions out of gobreaker's mutex: OnStateChange
// pushes, and the Send that caused the change flushes on its way out, so
// logs and metrics are never emitted under a breaker's lock nor delayed.
type changeLog struct {
	mu      sync.Mutex // a leaf lock: nothing else is locked or called while it is held
	pending []change
	queued  atomic.Bool // fast path: most Sends change nothing

	// report serialises flushes so that metrics see each origin's
	// transitions in the order they happened.
	report sync.Mutex
}

func (l *changeLog) push(c change) {
	l.mu.Lock()
	l.pending = append(l.pending, c)
	l.queued.Store(true)
	l.mu.Unlock()
}

func (l *changeLog) flush(log *slog.Logger, metrics ports.Metrics) {
	if !l.queued.Load() {
		return
	}
	l.report.Lock()
	defer l.report.Unlock()
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.queued.Store(false)
	l.mu.Unlock()

	for _, c := range batch {
		metrics.BreakerChanged(c.origin, c.from.String(), c.to.String())
		attrs := []slog.Attr{
			slog.String("origin", c.origin), slog.String("from", c.from.String()),
			slog.String("to", c.to.String()), slog.Int("consecutive_failures", int(c.failures)),
		}
		level := slog.LevelInfo
		if c.to == gobreaker.StateOpen {
			level = slog.LevelWarn
			attrs = append(attrs, slog.Time("open_until", c.until))
		}
		log.LogAttrs(context.Background(), level, "circuit breaker state changed", attrs...)
	}
}
