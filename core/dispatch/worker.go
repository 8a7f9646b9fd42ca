// Package dispatch is the delivery worker: it claims due events from the
// store, delivers them concurrently through the Sender, and records each
// outcome as the retry policy decides.
//
// RunOnce is one deterministic claim-deliver-record round (tests drive it
// with a manual clock). Run is the long-running loop: it claims whenever
// slots are free and work may be due (a wake-up, a poll tick, a retry whose
// backoff just ended), and on shutdown stops claiming and finishes or
// releases its in-flight deliveries.
//
// Words used throughout: a claim leases an event to this worker for one
// attempt; releasing a claim gives it back unspent (no request was made);
// parking pushes every pending event of a refusing target to the moment
// it may be tried again; a slot is one delivery in flight.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

// Config of a worker. DefaultConfig holds every default; NewWorker fills
// zero fields from it.
type Config struct {
	WorkerID    string // unique per process: the lease owner; default host-pid-random
	BatchSize   int    // max events per claim (BATCH_SIZE)
	Concurrency int    // max deliveries in flight and claimed ahead (WORKER_CONCURRENCY); default max(64, 2×BatchSize)
	PerTarget   int    // max deliveries in flight per origin (MAX_IN_FLIGHT_PER_TARGET)
	// InitialWindow is the in-flight window of a target with no recent
	// success; answers grow it up to PerTarget (see window.go).
	InitialWindow int
	// FixedWindow turns the adaptation off: every target may always have
	// PerTarget in flight (PER_TARGET_WINDOW=fixed).
	FixedWindow  bool
	PollInterval time.Duration // claim at least this often (POLL_INTERVAL_MS)
	// AttemptTimeout is the Sender's bound on one attempt (HTTP_TIMEOUT_MS);
	// the lease is sized from it.
	AttemptTimeout time.Duration
	// Lease is how long a claim is owned. It must outlast one attempt with
	// room to record the outcome; default AttemptTimeout + LeaseMargin.
	Lease time.Duration
	// ShutdownGrace is how long in-flight deliveries may finish after the
	// worker is told to stop; then they are cancelled and released.
	ShutdownGrace time.Duration
	Policy        core.RetryPolicy
	// MaxAge gives up on an event that has not been delivered this long
	// after its run of attempts began (insert or replay; core.Event
	// ActiveSince), breaker or not: it ends dead, verdict expired, with no
	// further request (MAX_DELIVERY_AGE_MS).
	MaxAge time.Duration
	// ProbeInterval is how long an open target waits between two probes
	// when no breaker of this process says otherwise (BREAKER_OPEN_MS).
	ProbeInterval time.Duration
	// DisableAfter disables an endpoint that has failed without a single
	// success this long (ENDPOINT_DISABLE_AFTER_MS; default five days, as
	// Svix).
	DisableAfter time.Duration
	// OperationalURL, when set, receives endpoint.disabled and
	// delivery.dead webhooks (OPERATIONAL_WEBHOOK_URL), signed with
	// HMAC_SECRET through the same queue.
	OperationalURL string
	// Rand returns uniform numbers in [0, 1) for jitter; nil = math/rand.
	Rand func() float64
}

// DefaultMaxAge is how long an event is tried before it expires: five
// days, as Svix gives an endpoint.
const DefaultMaxAge = 5 * 24 * time.Hour

// minDefaultConcurrency is the default in-flight bound for small batches.
// Otherwise it is two batches: one in flight (or being recorded) and one
// claimed ahead, so that a queue refilled half a batch at a time never
// waits for Concurrency.
const minDefaultConcurrency = 64

// LeaseMargin is how much longer than one attempt a default lease lasts:
// time to record the outcome, through a short database outage.
const LeaseMargin = 30 * time.Second

// DefaultConfig returns the defaults: the seed's 5 s poll and 10 s
// attempts, 400 events per claim (the seed's 10 made claims the limit of
// a busy worker; windows and claiming ahead bound what a claim takes of
// any one target, and PostgreSQL's cost per row falls with the rows per
// statement: BENCHMARKS.md), and the default retry policy. Concurrency and Lease
// are left zero: they derive from BatchSize and AttemptTimeout when the
// worker is built.
func DefaultConfig() Config {
	return Config{
		BatchSize:      400,
		PerTarget:      16,
		InitialWindow:  2,
		MaxAge:         DefaultMaxAge,
		DisableAfter:   DefaultMaxAge,
		ProbeInterval:  30 * time.Second,
		PollInterval:   5 * time.Second,
		AttemptTimeout: 10 * time.Second,
		ShutdownGrace:  8 * time.Second,
		Policy:         core.DefaultRetryPolicy(),
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.WorkerID == "" {
		c.WorkerID = defaultWorkerID()
	}
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.Concurrency = cmp.Or(c.Concurrency, max(minDefaultConcurrency, 2*c.BatchSize))
	c.PerTarget = cmp.Or(c.PerTarget, d.PerTarget)
	c.InitialWindow = cmp.Or(c.InitialWindow, d.InitialWindow)
	c.MaxAge = cmp.Or(c.MaxAge, d.MaxAge)
	c.DisableAfter = cmp.Or(c.DisableAfter, d.DisableAfter)
	c.ProbeInterval = cmp.Or(c.ProbeInterval, d.ProbeInterval)
	c.PollInterval = cmp.Or(c.PollInterval, d.PollInterval)
	c.AttemptTimeout = cmp.Or(c.AttemptTimeout, d.AttemptTimeout)
	c.Lease = cmp.Or(c.Lease, c.AttemptTimeout+LeaseMargin)
	c.Policy = cmp.Or(c.Policy, d.Policy) // a zero policy takes the default whole
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// defaultWorkerID is unique per process and readable in the database:
// host, pid and a few random characters (pids repeat across containers).
func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "webhookd"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), core.NewEventID(time.Now())[24:30])
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
	case c.MaxAge < 0:
		return fmt.Errorf("dispatch: maximum event age must not be negative, got %s", c.MaxAge)
	case c.InitialWindow < 1:
		return fmt.Errorf("dispatch: initial per-target window must be at least 1, got %d", c.InitialWindow)
	case c.PerTarget < 1:
		return fmt.Errorf("dispatch: per-target in-flight cap must be at least 1, got %d", c.PerTarget)
	case c.PollInterval <= 0:
		return fmt.Errorf("dispatch: poll interval must be positive, got %s", c.PollInterval)
	case c.AttemptTimeout <= 0:
		return fmt.Errorf("dispatch: attempt timeout must be positive, got %s", c.AttemptTimeout)
	case c.Lease <= c.AttemptTimeout:
		return fmt.Errorf("dispatch: lease %s must be longer than an attempt (%s), or a slow attempt would be delivered twice",
			c.Lease, c.AttemptTimeout)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("dispatch: shutdown grace must not be negative, got %s", c.ShutdownGrace)
	case c.ProbeInterval < 0:
		return fmt.Errorf("dispatch: probe interval must not be negative, got %s", c.ProbeInterval)
	case c.DisableAfter < 0:
		return fmt.Errorf("dispatch: endpoint disable delay must not be negative, got %s", c.DisableAfter)
	}
	if c.OperationalURL != "" {
		if _, err := core.ValidateTargetURL(c.OperationalURL); err != nil {
			return fmt.Errorf("dispatch: operational webhook URL: %w", err)
		}
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}

// Ports are what a Worker drives.
type Ports struct {
	Store  ports.EventStore
	Sender ports.Sender
	// Gate, when set, is asked before each batch whether a target is
	// refusing requests, so that its events are parked in one store call.
	Gate    ports.TargetGate
	Clock   ports.Clock
	Wakeup  ports.Wakeup // nil: poll only
	Metrics ports.Metrics
	// Box opens the endpoints' sealed secrets to sign their deliveries;
	// nil opens only secrets stored in the clear (no ENCRYPTION_KEY).
	Box *secretbox.Box
	// Endpoints records endpoints' failures and disables them
	// (Config.DisableAfter); nil does neither.
	Endpoints ports.EndpointStore
}

// Worker delivers events. It is safe to run one Run loop per Worker; any
// number of Workers (in any number of processes) may share one store.
type Worker struct {
	store     ports.EventStore
	sender    ports.Sender
	gate      ports.TargetGate // nil: every target is tried
	clock     ports.Clock
	wake      ports.Wakeup // nil: poll only
	metrics   ports.Metrics
	box       *secretbox.Box
	endpoints ports.EndpointStore // nil: endpoint health is not kept
	log       *slog.Logger
	cfg       Config
	// operationalOrigin is the origin of cfg.OperationalURL.
	operationalOrigin string

	mu        sync.Mutex
	inFlight  int
	perOrigin map[string]int // requests in flight per target
	// ahead: deliveries claimed ahead of a free slot, per target, oldest
	// first (ahead.go); nAhead counts them all.
	ahead     map[string]*fifo
	nAhead    int
	aheadWait time.Duration // how long one may wait there; 0: claiming ahead is off
	stopping  bool          // shutting down: nothing more is queued or started from a queue
	windows   windows
	rates     rateLimits
	// rateBlocked: origins left out of claims until then, because a
	// rate-limited endpoint there has no token yet.
	rateBlocked map[string]time.Time
	soonest     time.Time // earliest moment something we scheduled is due
	// A claim that left full origins out and found nothing: claims that
	// would leave origins out again wait until excludedUntil (see
	// claimExcluding).
	excludedUntil   time.Time
	excludedBackoff time.Duration
	capHint         capHint // how per-target caps cut the last claim short (caphint.go)

	freed   *wait.Signal // a delivery finished (a slot is free)
	kick    *wait.Signal // soonest moved earlier
	runners *runners     // the goroutines deliveries run on
}

// NewWorker returns a worker. Zero fields of cfg take DefaultConfig's
// values; an invalid cfg or a missing Store, Sender, Clock or Metrics is an
// error. A nil log discards.
func NewWorker(p Ports, log *slog.Logger, cfg Config) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil || p.Sender == nil || p.Clock == nil || p.Metrics == nil {
		return nil, errors.New("dispatch: a worker needs a store, a sender, a clock and metrics")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if p.Box == nil {
		p.Box = &secretbox.Box{}
	}
	opOrigin := ""
	if cfg.OperationalURL != "" {
		opOrigin, _ = core.ValidateTargetURL(cfg.OperationalURL) // checked by Validate
	}
	aheadWait := aheadWaitOf(cfg)
	return &Worker{
		store: p.Store, sender: p.Sender, gate: p.Gate, clock: p.Clock, wake: p.Wakeup, metrics: p.Metrics, box: p.Box,
		endpoints: p.Endpoints, log: log.With(slog.String("worker", cfg.WorkerID)), cfg: cfg, operationalOrigin: opOrigin,
		perOrigin: make(map[string]int), ahead: make(map[string]*fifo), aheadWait: aheadWait,
		rates: make(rateLimits), rateBlocked: make(map[string]time.Time),
		windows: newWindows(cfg.InitialWindow, cfg.PerTarget, cfg.FixedWindow, aheadHorizon(aheadWait), cfg.BatchSize),
		freed:   wait.NewSignal(),
		kick:    wait.NewSignal(),
		runners: newRunners(),
	}, nil
}

// ID is the worker's lease-owner name.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// RunOnce claims one batch, delivers it and records every outcome before
// returning the number of events claimed. ctx bounds the whole round.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	b, err := w.claim(ctx)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	w.dispatch(ctx, b.events, &wg)
	wg.Wait()
	return len(b.events), nil
}

// Run claims and delivers until ctx is cancelled, then stops claiming and
// gives in-flight deliveries ShutdownGrace to finish; the rest are
// cancelled and released to the store (due at once, no attempt spent).
//
// ctx bounds claiming only. Deliveries run under their own context, which
// outlives ctx by the grace period, and a claim already sent to the store
// is never cut short by ctx (the store could commit it after the cut, and
// its events would sit leased until their lease expired).
func (w *Worker) Run(ctx context.Context) error {
	claiming := ctx
	delivering, cancelDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliveries()
	var wg sync.WaitGroup
	var wakeC <-chan struct{}
	if w.wake != nil {
		wakeC = w.wake.C()
	}
	w.log.Info("worker started", slog.Int("batch_size", w.cfg.BatchSize), slog.Int("concurrency", w.cfg.Concurrency),
		slog.Int("per_target", w.cfg.PerTarget), slog.Int64("poll_interval_ms", w.cfg.PollInterval.Milliseconds()))

	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for claiming.Err() == nil {
		claimCtx, cancel := detached(claiming)
		b, err := w.claim(claimCtx)
		cancel()
		if err != nil {
			failures++
			pause := min(w.cfg.PollInterval, 100*time.Millisecond<<min(failures, 10))
			w.log.Warn("claim failed; backing off", slog.String("error", err.Error()), slog.Int64("retry_in_ms", pause.Milliseconds()))
			wait.Sleep(claiming, pause)
			continue
		}
		failures = 0
		w.dispatch(delivering, b.events, &wg)
		if b.limit > 0 && len(b.events) == b.limit {
			continue // a full batch: more may be due right now
		}
		timer.Reset(w.nextWait())
		w.awaitClaim(claiming, wakeC, b.limited, timer)
	}

	w.log.Info("worker stopping: no more claims", slog.Int("in_flight", w.InFlight()),
		slog.Int64("grace_ms", w.cfg.ShutdownGrace.Milliseconds()))
	if left := w.takeAhead("", true); len(left) > 0 {
		w.release(delivering, w.log, claimsOf(left), "shutting down: claimed ahead, never sent")
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownGrace):
		w.log.Warn("grace period over: cancelling and releasing in-flight deliveries", slog.Int("in_flight", w.InFlight()))
		cancelDeliveries()
		<-done
	}
	w.log.Info("worker stopped")
	return nil
}

// awaitClaim waits until the next claim is due: ctx is done, a wake-up,
// a kick (something scheduled came due) or the timer, or, when free slots
// limited the last claim, a freed slot that makes a refill worth it
// (refillDue).
func (w *Worker) awaitClaim(ctx context.Context, wakeC <-chan struct{}, limited bool, timer *time.Timer) {
	var freedC <-chan struct{}
	if limited {
		freedC = w.freed.C() // only a free slot can unblock us
	}
	for {
		select {
		case <-ctx.Done():
		case <-wakeC:
		case <-freedC:
			if !w.refillDue() {
				continue
			}
		case <-w.kick.C():
		case <-timer.C:
		}
		return
	}
}

// storeTimeout bounds each store call made for claiming or for a delivery.
// Those calls are detached from the caller's cancellation (see detached).
const storeTimeout = 10 * time.Second

// detached is ctx without its cancellation, bounded by storeTimeout: a
// store write that was sent must be allowed to finish, or its effect
// (a claim, an outcome) could commit unseen by the worker.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
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
		w.kick.Notify()
	}
}

// batch is the result of one claim.
type batch struct {
	events  []core.Delivery
	limit   int  // how many were asked for
	limited bool // free slots (total or per target) constrained the ask
}

// claim leases as many events as there are free slots, up to a batch.
func (w *Worker) claim(ctx context.Context) (batch, error) {
	w.mu.Lock()
	if !w.soonest.IsZero() && !w.soonest.After(w.clock.Now()) {
		w.soonest = time.Time{} // this claim picks up whatever was scheduled
	}
	b := batch{limit: min(w.cfg.BatchSize, w.cfg.Concurrency-w.inFlight-w.nAhead)}
	now := w.clock.Now()
	held := w.held()
	var full []string
	for origin, n := range held {
		if n >= w.windows.hold(origin, now) {
			full = append(full, origin)
		}
	}
	for origin, until := range w.rateBlocked {
		if until.After(now) {
			full = append(full, origin)
		} else {
			delete(w.rateBlocked, origin)
		}
	}
	w.windows.forget(now)
	w.rates.forget(now)
	perOrigin, caps := w.windows.claimCap(held, now)
	// Limited: only a freed slot (or a grown window) lets a claim take more.
	b.limited = b.limit < w.cfg.BatchSize || len(full) > 0 || perOrigin < b.limit || len(caps) > 0
	b.limit = w.capHint.ask(b.limit, perOrigin, caps)
	if b.limit > 0 && len(full) > 0 && now.Before(w.excludedUntil) {
		b.limit = 0 // see claimExcluding; the loop wakes at excludedUntil
		if w.soonest.IsZero() || w.excludedUntil.Before(w.soonest) {
			w.soonest = w.excludedUntil
		}
	}
	w.mu.Unlock()
	if b.limit <= 0 {
		return b, nil
	}
	started := w.clock.Now()
	evs, err := w.store.Claim(ctx, ports.ClaimParams{
		Worker: w.cfg.WorkerID, Limit: b.limit, Lease: w.cfg.Lease,
		MaxAttempts: w.cfg.Policy.MaxAttempts, ExcludeOrigins: full, MaxPerOrigin: perOrigin, OriginCaps: caps,
	})
	if err != nil {
		return b, fmt.Errorf("dispatch: claim: %w", err)
	}
	w.claimExcluding(len(full) > 0 && len(evs) == 0, w.clock.Now().Sub(started))
	hint := capHintOf(evs, b.limit, perOrigin, caps)
	w.mu.Lock()
	w.capHint = hint
	w.mu.Unlock()
	b.events = evs
	return b, nil
}

// Bounds of the wait after a claim that left full origins out and found
// nothing.
const (
	minExcludedBackoff = 10 * time.Millisecond
	maxExcludedBackoff = 200 * time.Millisecond
)

// claimExcluding paces claims that leave full origins out. Such a claim
// walks every due delivery of those origins to find none of another:
// with one busy target, its whole backlog, each time a slot or a NOTIFY
// woke the worker while the target's windows were full (on PostgreSQL a
// heap fetch per delivery, as the due index does not hold the origin).
// After one found nothing (empty), the next waits 10 ms, doubling to
// 200 ms, and at least four times as long as that claim took; one that
// finds something, or leaves nothing out, ends the pacing. A slot freed
// at the busy target makes it claimable again, and that claim leaves
// nothing out, so only other targets' new deliveries wait, at most that
// long, and only while one target is full.
func (w *Worker) claimExcluding(empty bool, took time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !empty {
		w.excludedBackoff, w.excludedUntil = 0, time.Time{}
		return
	}
	w.excludedBackoff = min(max(2*w.excludedBackoff, minExcludedBackoff), maxExcludedBackoff)
	w.excludedUntil = w.clock.Now().Add(max(w.excludedBackoff, 4*took))
}
