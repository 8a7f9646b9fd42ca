// Package dispatch is the delivery worker: it claims due events from the
// store, delivers them concurrently through the Sender, and records each
// outcome as the retry policy decides.
//
// RunOnce is one deterministic claim-deliver-record round (tests drive it
// with a manual clock). Run is the long-running loop: it claims whenever
// slots are free and work may be due (a wake-up, a poll tick, a retry whose
// backoff just ended), and on shutdown stops claiming and finishes or hands
// back its in-flight deliveries.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Config of a worker.
type Config struct {
	WorkerID     string        // unique per process: the lease owner
	BatchSize    int           // max events per claim (BATCH_SIZE)
	Concurrency  int           // max deliveries in flight (WORKER_CONCURRENCY)
	PerTarget    int           // max deliveries in flight per origin (MAX_IN_FLIGHT_PER_TARGET)
	PollInterval time.Duration // claim at least this often (POLL_INTERVAL_MS)
	// Lease is how long a claim is owned. It must outlast one delivery
	// (the HTTP timeout) with room to record the outcome.
	Lease time.Duration
	// ShutdownGrace is how long in-flight deliveries may finish after the
	// worker is told to stop; then they are cancelled and handed back.
	ShutdownGrace time.Duration
	Policy        core.RetryPolicy
	// Rand returns uniform numbers in [0, 1) for jitter; nil = math/rand.
	Rand func() float64
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.WorkerID == "":
		return errors.New("dispatch: worker id is empty")
	case c.BatchSize < 1:
		return fmt.Errorf("dispatch: batch size must be at least 1, got %d", c.BatchSize)
	case c.Concurrency < 1:
		return fmt.Errorf("dispatch: concurrency must be at least 1, got %d", c.Concurrency)
	case c.PerTarget < 1:
		return fmt.Errorf("dispatch: per-target in-flight cap must be at least 1, got %d", c.PerTarget)
	case c.PollInterval <= 0:
		return fmt.Errorf("dispatch: poll interval must be positive, got %s", c.PollInterval)
	case c.Lease <= 0:
		return fmt.Errorf("dispatch: lease must be positive, got %s", c.Lease)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("dispatch: shutdown grace must not be negative, got %s", c.ShutdownGrace)
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}

// Worker delivers events. It is safe to run one Run loop per Worker; any
// number of Workers (in any number of processes) may share one store.
type Worker struct {
	store   ports.EventStore
	sender  ports.Sender
	gate    ports.TargetGate // nil when the sender never refuses targets
	clock   ports.Clock
	wake    ports.Wakeup // nil: poll only
	metrics ports.Metrics
	log     *slog.Logger
	cfg     Config

	mu        sync.Mutex
	inFlight  int
	perOrigin map[string]int
	soonest   time.Time // earliest moment something we scheduled is due

	freed chan struct{} // a delivery finished (a slot is free)
	kick  chan struct{} // soonest moved earlier
}

// NewWorker returns a worker. wake may be nil. If sender also implements
// ports.TargetGate, a batch for an open target is deferred in one call.
func NewWorker(store ports.EventStore, sender ports.Sender, clock ports.Clock, wake ports.Wakeup,
	metrics ports.Metrics, log *slog.Logger, cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	gate, _ := sender.(ports.TargetGate)
	return &Worker{
		store: store, sender: sender, gate: gate, clock: clock, wake: wake, metrics: metrics,
		log: log.With(slog.String("worker", cfg.WorkerID)), cfg: cfg,
		perOrigin: make(map[string]int),
		freed:     make(chan struct{}, 1),
		kick:      make(chan struct{}, 1),
	}, nil
}

// ID is the worker's lease-owner name.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// RunOnce claims one batch, delivers it and records every outcome before
// returning the number of events claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	b, err := w.claim(ctx)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	w.dispatch(ctx, ctx, b.events, &wg)
	wg.Wait()
	return len(b.events), nil
}

// Run claims and delivers until ctx is cancelled, then stops claiming and
// gives in-flight deliveries ShutdownGrace to finish; the rest are
// cancelled and handed back to the store (due at once, no attempt spent).
func (w *Worker) Run(ctx context.Context) error {
	// Deliveries outlive ctx by the grace period.
	deliverCtx, cancelDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliveries()
	var wg sync.WaitGroup
	var wakeC <-chan struct{}
	if w.wake != nil {
		wakeC = w.wake.C()
	}
	w.log.Info("worker started", slog.Int("batch_size", w.cfg.BatchSize), slog.Int("concurrency", w.cfg.Concurrency),
		slog.Int("per_target", w.cfg.PerTarget), slog.Duration("poll_interval", w.cfg.PollInterval))

	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		b, err := w.claim(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait := min(w.cfg.PollInterval, 100*time.Millisecond<<min(failures, 10))
			w.log.Warn("claim failed; backing off", slog.String("error", err.Error()), slog.Duration("retry_in", wait))
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		failures = 0
		w.dispatch(ctx, deliverCtx, b.events, &wg)
		if b.limit > 0 && len(b.events) == b.limit {
			continue // a full batch: more may be due right now
		}
		var freedC <-chan struct{}
		if b.limited {
			freedC = w.freed // only a free slot can unblock us
		}
		timer.Reset(w.nextWait())
		select {
		case <-ctx.Done():
		case <-wakeC:
		case <-freedC:
		case <-w.kick:
		case <-timer.C:
		}
	}

	n := w.InFlight()
	w.log.Info("worker stopping: no more claims", slog.Int("in_flight", n), slog.Duration("grace", w.cfg.ShutdownGrace))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownGrace):
		w.log.Warn("grace period over: cancelling and handing back in-flight deliveries", slog.Int("in_flight", w.InFlight()))
		cancelDeliveries()
		<-done
	}
	w.log.Info("worker stopped")
	return nil
}

// InFlight is the number of deliveries under way.
func (w *Worker) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inFlight
}

// nextWait is how long the loop may sleep: the poll interval, or less if
// a retry or a parked target we scheduled comes due sooner.
func (w *Worker) nextWait() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.soonest.IsZero() {
		return w.cfg.PollInterval
	}
	return min(max(w.soonest.Sub(w.clock.Now()), 0), w.cfg.PollInterval)
}

// schedule records that something becomes due at t.
func (w *Worker) schedule(t time.Time) {
	w.mu.Lock()
	earlier := w.soonest.IsZero() || t.Before(w.soonest)
	if earlier {
		w.soonest = t
	}
	w.mu.Unlock()
	if earlier {
		signal(w.kick)
	}
}

// batch is the result of one claim.
type batch struct {
	events  []core.Event
	limit   int  // how many were asked for
	limited bool // free slots (total or per target) constrained the ask
}

// claim leases as many events as there are free slots, up to a batch.
func (w *Worker) claim(ctx context.Context) (batch, error) {
	w.mu.Lock()
	if !w.soonest.IsZero() && !w.soonest.After(w.clock.Now()) {
		w.soonest = time.Time{} // this claim picks up whatever was scheduled
	}
	b := batch{limit: min(w.cfg.BatchSize, w.cfg.Concurrency-w.inFlight)}
	var exclude []string
	for origin, n := range w.perOrigin {
		if n >= w.cfg.PerTarget {
			exclude = append(exclude, origin)
		}
	}
	w.mu.Unlock()
	b.limited = b.limit < w.cfg.BatchSize || len(exclude) > 0
	if b.limit <= 0 {
		return b, nil
	}
	evs, err := w.store.Claim(ctx, ports.ClaimParams{
		Worker: w.cfg.WorkerID, Limit: b.limit, Lease: w.cfg.Lease,
		MaxAttempts: w.cfg.Policy.MaxAttempts, ExcludeOrigins: exclude,
	})
	if err != nil {
		return b, fmt.Errorf("dispatch: claim: %w", err)
	}
	b.events = evs
	return b, nil
}
