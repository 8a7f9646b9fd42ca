// Package retention deletes finished history: succeeded events after
// RETENTION_HOURS, dead ones after DEAD_RETENTION_HOURS, with their
// deliveries and attempts, through the store's ports.Purger (which states
// the rule). Idempotency keys live on their events and expire with them.
//
// A Runner purges in passes, one every Interval (with jitter, so that the
// dispatchers sharing a PostgreSQL database do not purge in step). A pass
// calls Purge in batches of BatchSize events until a batch comes back
// short; each batch is one short transaction that never waits for a claim
// (see the stores' Purge). Passes that deleted something are logged;
// Totals counts everything for metrics.
package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

// Config of a Runner. DefaultConfig holds every default; NewRunner fills
// the zero fields but Succeeded and Dead, whose 0 means "keep".
type Config struct {
	// Succeeded is how long a succeeded delivery is kept after it
	// finished, and an event routed to nobody after it was created
	// (RETENTION_HOURS); 0 keeps them forever.
	Succeeded time.Duration
	// Dead is how long a dead delivery is kept after it died
	// (DEAD_RETENTION_HOURS); 0 keeps them forever.
	Dead time.Duration
	// Interval is the time between two passes, ±10% of jitter.
	Interval time.Duration
	// BatchSize is the most events one Purge deletes: one transaction.
	// On SQLite the claims committed beside it wait for it, so keep it
	// small.
	BatchSize int
	// UnroutedEvery is how often a pass also looks for events routed to
	// nobody, which costs a walk over every kept event older than
	// Succeeded (see ports.PurgeParams.Unrouted). The first pass does.
	UnroutedEvery time.Duration
	// Rand returns uniform numbers in [0, 1) for jitter; nil = math/rand.
	Rand func() float64
}

// Defaults of RETENTION_HOURS and DEAD_RETENTION_HOURS: a week of
// successes, a month of failures (long enough to investigate and replay).
const (
	DefaultSucceeded = 168 * time.Hour
	DefaultDead      = 720 * time.Hour
)

// MaxBatchSize bounds BatchSize: one batch is one transaction.
const MaxBatchSize = 10_000

// DefaultConfig returns the defaults: a week of succeeded events, a month
// of dead ones, a pass a minute in batches of 500, and events routed to
// nobody looked for hourly.
func DefaultConfig() Config {
	return Config{
		Succeeded:     DefaultSucceeded,
		Dead:          DefaultDead,
		Interval:      time.Minute,
		BatchSize:     500,
		UnroutedEvery: time.Hour,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Interval = cmp.Or(c.Interval, d.Interval)
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.UnroutedEvery = cmp.Or(c.UnroutedEvery, d.UnroutedEvery)
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Succeeded < 0:
		return fmt.Errorf("retention: succeeded retention must not be negative, got %s", c.Succeeded)
	case c.Dead < 0:
		return fmt.Errorf("retention: dead retention must not be negative, got %s", c.Dead)
	case c.Interval <= 0:
		return fmt.Errorf("retention: interval must be positive, got %s", c.Interval)
	case c.BatchSize < 1 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("retention: batch size must be 1–%d, got %d", MaxBatchSize, c.BatchSize)
	case c.UnroutedEvery <= 0:
		return fmt.Errorf("retention: unrouted interval must be positive, got %s", c.UnroutedEvery)
	}
	return nil
}

// Enabled reports whether anything is ever purged.
func (c Config) Enabled() bool { return c.Succeeded > 0 || c.Dead > 0 }

// batchTimeout bounds one Purge: a batch is meant to be short, and one
// that hangs must not stall every later pass.
const batchTimeout = 30 * time.Second

// batchPause separates the batches of a pass, so that a long backlog
// (retention just switched on) leaves room for the queue's own writes,
// which on SQLite share its transactions.
const batchPause = 10 * time.Millisecond

// Totals counts what a Runner did since it started, for metrics.
type Totals struct {
	Events     int64 // events purged
	Deliveries int64 // deliveries purged with them
	Passes     int64 // passes that ran to their end
	Failures   int64 // passes cut short by a store error
}

// Runner purges finished history. Run is its loop; Pass is one pass.
// Passes of one Runner must not overlap (Run never overlaps them).
type Runner struct {
	purger ports.Purger
	clock  ports.Clock
	log    *slog.Logger
	cfg    Config

	mu           sync.Mutex
	lastUnrouted time.Time // start of the last pass that looked for them

	events, deliveries, passes, failures atomic.Int64
}

// NewRunner returns a Runner over p. Zero fields of cfg but Succeeded and
// Dead take DefaultConfig's values; an invalid cfg or a missing purger or
// clock is an error. A nil log discards.
func NewRunner(p ports.Purger, clock ports.Clock, log *slog.Logger, cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p == nil || clock == nil {
		return nil, errors.New("retention: a runner needs a purger and a clock")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{purger: p, clock: clock, log: log, cfg: cfg}, nil
}

// Totals returns the counts so far; safe to call at any time.
func (r *Runner) Totals() Totals {
	return Totals{Events: r.events.Load(), Deliveries: r.deliveries.Load(),
		Passes: r.passes.Load(), Failures: r.failures.Load()}
}

// Run purges a pass at once, then one every Interval (jittered), until ctx
// ends; a failed pass is logged and the next one tried as usual. It
// returns nil at once when both retentions are 0.
func (r *Runner) Run(ctx context.Context) error {
	if !r.cfg.Enabled() {
		r.log.Info("retention off: RETENTION_HOURS and DEAD_RETENTION_HOURS are 0, nothing is ever deleted")
		return nil
	}
	r.log.Info("retention started", slog.Float64("succeeded_hours", r.cfg.Succeeded.Hours()),
		slog.Float64("dead_hours", r.cfg.Dead.Hours()), slog.Int64("interval_ms", r.cfg.Interval.Milliseconds()),
		slog.Int("batch_size", r.cfg.BatchSize))
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention pass failed; next pass as usual", slog.String("error", err.Error()),
				slog.Int64("retry_in_ms", r.cfg.Interval.Milliseconds()))
		}
		if !wait.Sleep(ctx, r.nextWait()) {
			r.log.Info("retention stopped")
			return nil
		}
	}
}

// Pass purges in batches until one is not full, or ctx ends (between
// batches), and returns what it deleted. Every UnroutedEvery (and on the
// first pass) it also looks for events routed to nobody.
func (r *Runner) Pass(ctx context.Context) (ports.PurgeResult, error) {
	var total ports.PurgeResult
	if !r.cfg.Enabled() {
		return total, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	started := r.clock.Now()
	unrouted := r.lastUnrouted.IsZero() || !started.Before(r.lastUnrouted.Add(r.cfg.UnroutedEvery))
	batches := 0
	for {
		bctx, cancel := context.WithTimeout(ctx, batchTimeout)
		res, err := r.purger.Purge(bctx, ports.PurgeParams{Succeeded: r.cfg.Succeeded, Dead: r.cfg.Dead,
			Unrouted: unrouted, Limit: r.cfg.BatchSize})
		cancel()
		if err != nil {
			r.failures.Add(1)
			r.logPass(total, batches, started)
			return total, fmt.Errorf("retention: purge: %w", err)
		}
		batches++
		total.Events += res.Events
		total.Deliveries += res.Deliveries
		r.events.Add(int64(res.Events))
		r.deliveries.Add(int64(res.Deliveries))
		if res.Events < r.cfg.BatchSize || !wait.Sleep(ctx, batchPause) {
			break
		}
	}
	if unrouted && ctx.Err() == nil {
		r.lastUnrouted = started
	}
	r.passes.Add(1)
	r.logPass(total, batches, started)
	return total, nil
}

// logPass logs a pass that deleted something.
func (r *Runner) logPass(total ports.PurgeResult, batches int, started time.Time) {
	if total.Events == 0 {
		return
	}
	r.log.Info("retention: purged", slog.Int("events", total.Events), slog.Int("deliveries", total.Deliveries),
		slog.Int("batches", batches), slog.Int64("took_ms", r.clock.Now().Sub(started).Milliseconds()))
}

// nextWait is Interval ±10%.
func (r *Runner) nextWait() time.Duration {
	return time.Duration(float64(r.cfg.Interval) * (0.9 + 0.2*r.cfg.Rand()))
}
