package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/clock"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

const (
	targetA = "https://a.example/hook"
	targetB = "https://b.example/hook"
	originA = "https://a.example:443"
)

func config(mod ...func(*dispatch.Config)) dispatch.Config {
	c := dispatch.Config{
		WorkerID: "w1", BatchSize: 10, Concurrency: 10, PerTarget: 10, InitialWindow: 10, // adaptive windows: window_test.go
		PollInterval: time.Hour, AttemptTimeout: 10 * time.Second, Lease: time.Minute, ShutdownGrace: time.Second,
		Policy: core.RetryPolicy{Base: 2 * time.Second, Max: time.Hour, MaxAttempts: 3, MaxRetryAfter: time.Hour},
		Rand:   func() float64 { return 0.5 },
	}
	for _, m := range mod {
		m(&c)
	}
	return c
}

type fixture struct {
	clock  *memory.Clock
	store  *memory.Store
	sender *memory.Sender
	worker *dispatch.Worker
}

func newFixture(t *testing.T, respond func(context.Context, core.Request) (core.Outcome, error), mod ...func(*dispatch.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: memory.NewClock(porttest.T0)}
	f.store = memory.NewStore(f.clock)
	f.sender = memory.NewSender(respond)
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock}, config(mod...))
	return f
}

func newWorker(t *testing.T, p dispatch.Ports, cfg dispatch.Config) *dispatch.Worker {
	t.Helper()
	if p.Metrics == nil {
		p.Metrics = memory.NewMetrics()
	}
	w, err := dispatch.NewWorker(p, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (f *fixture) add(t *testing.T, target string) core.Delivery {
	t.Helper()
	return insertDelivery(t, f.store, porttest.NewEvent(t, target, `{"n":1}`))
}

// insertDelivery stores a target_url event and returns its one delivery,
// as the store reads it back (with its body).
func insertDelivery(t *testing.T, st ports.EventStore, ev core.Event) core.Delivery {
	t.Helper()
	in, err := st.Insert(t.Context(), ports.InsertParams{Event: ev})
	if err != nil || len(in.Deliveries) != 1 {
		t.Fatalf("Insert: %+v, %v; want one delivery", in, err)
	}
	d, err := st.Get(t.Context(), in.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) runOnce(t *testing.T) int {
	t.Helper()
	ctx := t.Context()
	n, err := f.worker.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) get(t *testing.T, id core.EventID) core.Delivery {
	t.Helper()
	ctx := t.Context()
	e, err := f.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func status(code int) func(context.Context, core.Request) (core.Outcome, error) {
	return func(context.Context, core.Request) (core.Outcome, error) {
		return core.Outcome{StatusCode: code, Duration: time.Millisecond}, nil
	}
}

func TestDeliversDueEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, status(200))
	a, b := f.add(t, targetA), f.add(t, targetB)
	if n := f.runOnce(t); n != 2 {
		t.Fatalf("RunOnce claimed %d, want 2", n)
	}
	for _, e := range []core.Delivery{a, b} {
		got := f.get(t, e.ID)
		if got.Status != core.StatusSucceeded || got.AttemptedCount != 1 || got.LastStatusCode != 200 {
			t.Errorf("%s: status %s attempts %d code %d", e.ID, got.Status, got.AttemptedCount, got.LastStatusCode)
		}
		atts, _ := f.store.Attempts(ctx, e.ID)
		if len(atts) != 1 || atts[0].Verdict != core.VerdictSucceeded || atts[0].Worker != "w1" {
			t.Errorf("%s: history %+v", e.ID, atts)
		}
	}
	sent := f.sender.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d", len(sent))
	}
	for _, d := range sent {
		e := f.get(t, d.EventID)
		if string(d.Body) != string(e.Body) || d.TargetURL != e.TargetURL || d.Attempt != 1 {
			t.Errorf("delivery %+v does not match its event", d)
		}
	}
	if n := f.runOnce(t); n != 0 {
		t.Errorf("second RunOnce claimed %d, want 0", n)
	}
}

func TestRetriesWithBackoffThenDead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, status(500)) // MaxAttempts 3, base 2s, no jitter at rnd 0.5
	e := f.add(t, targetA)
	for i, wantDelay := range []time.Duration{2 * time.Second, 4 * time.Second} {
		if n := f.runOnce(t); n != 1 {
			t.Fatalf("attempt %d: claimed %d", i+1, n)
		}
		got := f.get(t, e.ID)
		if got.Status != core.StatusPending || got.AttemptedCount != i+1 {
			t.Fatalf("after attempt %d: %s attempts %d", i+1, got.Status, got.AttemptedCount)
		}
		if d := got.NextAttemptAt.Sub(f.clock.Now()); d != wantDelay {
			t.Fatalf("after attempt %d: next attempt in %s, want %s", i+1, d, wantDelay)
		}
		f.clock.Advance(wantDelay - time.Millisecond)
		if n := f.runOnce(t); n != 0 {
			t.Fatalf("claimed %d before the backoff elapsed", n)
		}
		f.clock.Advance(time.Millisecond)
	}
	if n := f.runOnce(t); n != 1 {
		t.Fatalf("final attempt: claimed %d", n)
	}
	got := f.get(t, e.ID)
	if got.Status != core.StatusDead || got.AttemptedCount != 3 || got.LastError != "status 500" {
		t.Errorf("after the last attempt: %s attempts %d error %q", got.Status, got.AttemptedCount, got.LastError)
	}
	atts, _ := f.store.Attempts(ctx, e.ID)
	if len(atts) != 3 || atts[2].Verdict != core.VerdictDead || atts[0].NextAttemptAt == nil {
		t.Errorf("history: %+v", atts)
	}
	if len(f.sender.Sent()) != 3 {
		t.Errorf("sent %d requests, want 3 (MAX_ATTEMPTS)", len(f.sender.Sent()))
	}
}

func TestGoneIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, status(410))
	e := f.add(t, targetA)
	f.runOnce(t)
	if got := f.get(t, e.ID); got.Status != core.StatusDead || got.AttemptedCount != 1 {
		t.Errorf("after 410: %s attempts %d", got.Status, got.AttemptedCount)
	}
}

func TestDeliversConcurrentlyWithinBounds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var cur, peak atomic.Int32
	arrived := make(chan struct{}, 100)
	releaseAll := make(chan struct{})
	respond := func(context.Context, core.Request) (core.Outcome, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		arrived <- struct{}{}
		<-releaseAll
		cur.Add(-1)
		return core.Outcome{StatusCode: 200}, nil
	}
	f := newFixture(t, respond, func(c *dispatch.Config) { c.Concurrency = 4 })
	for range 10 {
		f.add(t, targetA)
	}
	done := make(chan int)
	go func() { n, _ := f.worker.RunOnce(ctx); done <- n }()
	// All four must be in flight at the same time, or this blocks.
	for range 4 {
		<-arrived
	}
	close(releaseAll)
	if n := <-done; n != 4 {
		t.Errorf("claimed %d, want 4 (the concurrency bound)", n)
	}
	if peak.Load() != 4 {
		t.Errorf("peak concurrency %d, want 4", peak.Load())
	}
}

// TestPerTargetCapReleasesExcess: without claiming ahead (a lease with
// no room for it), a target gets its window per round and nothing more.
func TestPerTargetCapReleasesExcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, status(200), func(c *dispatch.Config) { c.PerTarget, c.Lease = 2, c.AttemptTimeout+time.Second })
	var as []core.Delivery
	for range 5 {
		as = append(as, f.add(t, targetA))
	}
	b := f.add(t, targetB)
	f.runOnce(t)
	delivered := 0
	for _, e := range as {
		switch got := f.get(t, e.ID); got.Status {
		case core.StatusSucceeded:
			delivered++
		case core.StatusPending:
			if got.AttemptedCount != 0 {
				t.Errorf("handed-back event spent an attempt: %d", got.AttemptedCount)
			}
		default:
			t.Errorf("unexpected status %s", got.Status)
		}
	}
	if delivered != 2 {
		t.Errorf("delivered %d events of the capped target, want 2", delivered)
	}
	if got := f.get(t, b.ID); got.Status != core.StatusSucceeded {
		t.Errorf("the other target's event: %s", got.Status)
	}
	f.runOnce(t)
	f.runOnce(t)
	for _, e := range as {
		if got := f.get(t, e.ID); got.Status != core.StatusSucceeded || got.AttemptedCount != 1 {
			t.Errorf("%s: %s attempts %d", e.ID, got.Status, got.AttemptedCount)
		}
	}
}

func TestOpenTargetIsParkedWithoutSpendingAttempts(t *testing.T) {
	t.Parallel()
	until := porttest.T0.Add(30 * time.Second)
	open := func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Origin == originA {
			return core.Outcome{}, &core.TargetOpenError{Target: d.Origin, Until: until}
		}
		return core.Outcome{StatusCode: 200}, nil
	}
	f := newFixture(t, open, func(c *dispatch.Config) { c.BatchSize = 1 })
	a1 := f.add(t, targetA)
	f.clock.Advance(time.Millisecond)
	a2 := f.add(t, targetA)
	f.clock.Advance(time.Millisecond)
	b := f.add(t, targetB)
	f.runOnce(t) // claims a1 (oldest), breaker open: a1 released, a2 parked, until their expiry
	for _, e := range []core.Delivery{a1, a2} {
		got := f.get(t, e.ID)
		if want := got.ActiveSince.Add(dispatch.DefaultMaxAge); got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.Equal(want) {
			t.Errorf("%s: %s attempts %d next %s; want pending, 0, %s", e.ID, got.Status, got.AttemptedCount, got.NextAttemptAt, want)
		}
	}
	if targets, _ := f.store.Targets(t.Context()); len(targets) != 1 || targets[0].Origin != originA || !targets[0].OpenUntil.Equal(until) {
		t.Errorf("shared target health = %+v; want %s open until %s", targets, originA, until)
	}
	f.runOnce(t) // b is next: the parked target does not block others
	if got := f.get(t, b.ID); got.Status != core.StatusSucceeded {
		t.Errorf("other target: %s", got.Status)
	}
	if n := f.runOnce(t); n != 0 {
		t.Errorf("claimed %d parked events before the breaker half-opens", n)
	}
}

// gatedStore counts Release calls.
type gatedStore struct {
	*memory.Store
	releases atomic.Int32
}

func (g *gatedStore) Release(ctx context.Context, p ports.ReleaseParams) (ports.ReleaseResult, error) {
	g.releases.Add(1)
	return g.Store.Release(ctx, p)
}

// openGate refuses originA until a fixed time.
type openGate struct{ until time.Time }

func (g openGate) OpenUntil(origin string) (time.Time, bool) { return g.until, origin == originA }

func TestGateParksABatchInOneStoreCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := memory.NewClock(porttest.T0)
	st := &gatedStore{Store: memory.NewStore(clk)}
	snd := memory.NewSender(nil)
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Gate: openGate{until: porttest.T0.Add(time.Minute)}, Clock: clk}, config())
	for range 8 {
		insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	}
	insertDelivery(t, st, porttest.NewEvent(t, targetB, `{}`))
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.releases.Load(); n != 1 {
		t.Errorf("%d Release calls for one open target, want 1", n)
	}
	if sent := snd.Sent(); len(sent) != 1 || sent[0].Origin == originA {
		t.Errorf("sent %+v; want only the healthy target", sent)
	}
	res, _ := st.List(ctx, ports.ListFilter{Status: core.StatusPending, Page: 1, Limit: 100})
	if res.Total != 8 {
		t.Errorf("%d pending after parking, want 8", res.Total)
	}
}

func TestLateCompletionKeepsNewerState(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	inSend := make(chan struct{})
	proceed := make(chan struct{})
	slow := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		close(inSend)
		<-proceed
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: slow, Clock: clk}, config())
	done := make(chan struct{})
	go func() { w.RunOnce(ctx); close(done) }()
	<-inSend
	// The lease expires and another worker takes the event.
	clk.Advance(2 * time.Minute)
	other, err := st.Claim(ctx, ports.ClaimParams{Worker: "w2", Limit: 1, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(other) != 1 {
		t.Fatalf("w2 claim: %v %v", other, err)
	}
	close(proceed)
	<-done
	got, _ := st.Get(ctx, e.ID)
	if got.Status != core.StatusDelivering || got.LockedBy != "w2" || got.AttemptedCount != 2 {
		t.Errorf("late completion overwrote newer state: %s by %s attempts %d", got.Status, got.LockedBy, got.AttemptedCount)
	}
}

func countStatus(t *testing.T, st ports.EventStore, s core.Status) int {
	t.Helper()
	ctx := t.Context()
	res, err := st.List(ctx, ports.ListFilter{Status: s, Page: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

func TestRunWakesOnInsertAndLoopsWhileFull(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	// Batch of 2 and an hour-long poll: only wake-ups and full batches
	// can get 9 events delivered.
	w := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(nil), Clock: clk, Wakeup: st}, config(func(c *dispatch.Config) { c.BatchSize = 2 }))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "worker idle", func() bool { return w.InFlight() == 0 })
	for range 9 {
		insertDelivery(t, st, porttest.NewEvent(t, targetA, fmt.Sprintf(`{"t":%d}`, time.Now().UnixNano())))
	}
	testkit.Eventually(t, 5*time.Second, "all 9 delivered", func() bool { return countStatus(t, st, core.StatusSucceeded) == 9 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunWakesForItsOwnRetry(t *testing.T) {
	t.Parallel()
	// Real clock, 20 ms backoff, hour-long poll: the retry happens only if
	// the worker wakes itself when the backoff ends.
	st := memory.NewStore(clock.System{})
	var calls atomic.Int32
	snd := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		if calls.Add(1) == 1 {
			return core.Outcome{StatusCode: 503}, nil
		}
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Clock: clock.System{}}, config(func(c *dispatch.Config) {
		c.Policy.Base, c.Policy.Max = 20*time.Millisecond, time.Second
	}))
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "retry delivered", func() bool {
		got, _ := st.Get(t.Context(), e.ID)
		return got.Status == core.StatusSucceeded
	})
	cancel()
	<-done
	if got, _ := st.Get(t.Context(), e.ID); got.AttemptedCount != 2 {
		t.Errorf("attempts %d, want 2", got.AttemptedCount)
	}
}

func TestShutdownFinishesInFlightWithinGrace(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	started := make(chan struct{})
	finish := make(chan struct{})
	snd := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		close(started)
		<-finish
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Clock: clk, Wakeup: st}, config(func(c *dispatch.Config) { c.ShutdownGrace = 5 * time.Second }))
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel() // SIGTERM while a delivery is in flight
	select {
	case <-done:
		t.Fatal("Run returned before its in-flight delivery finished")
	case <-time.After(20 * time.Millisecond):
	}
	close(finish)
	<-done
	if got, _ := st.Get(t.Context(), e.ID); got.Status != core.StatusSucceeded {
		t.Errorf("in-flight delivery not recorded: %s", got.Status)
	}
}

func TestShutdownReleasesWhatOutlivesGrace(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	var once sync.Once
	started := make(chan struct{})
	hang := memory.NewSender(func(ctx context.Context, _ core.Request) (core.Outcome, error) {
		once.Do(func() { close(started) })
		<-ctx.Done() // a merchant that never answers
		return core.Outcome{}, ctx.Err()
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: hang, Clock: clk, Wakeup: st}, config(func(c *dispatch.Config) { c.ShutdownGrace = 10 * time.Millisecond }))
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := st.Get(t.Context(), e.ID)
	if got.Status != core.StatusPending || got.AttemptedCount != 0 || got.LeaseExpiresAt != nil {
		t.Errorf("after shutdown: %s attempts %d lease %v; want pending, 0, none", got.Status, got.AttemptedCount, got.LeaseExpiresAt)
	}
	if !got.NextAttemptAt.Equal(clk.Now()) {
		t.Errorf("released event due at %s, want now", got.NextAttemptAt)
	}
}

// claimCounter counts Claim calls, failed ones included, and those that
// leave origins out.
type claimCounter struct {
	*memory.Store
	claims, excluding atomic.Int32
}

func (c *claimCounter) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	c.claims.Add(1)
	if len(p.ExcludeOrigins) > 0 {
		c.excluding.Add(1)
	}
	return c.Store.Claim(ctx, p)
}

func TestRunBacksOffWhileStoreIsDown(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &claimCounter{Store: memory.NewStore(clk)}
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	st.SetDown(true)
	w := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(nil), Clock: clk, Wakeup: st}, config(func(c *dispatch.Config) { c.PollInterval = 20 * time.Millisecond }))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "three failed claims", func() bool { return st.claims.Load() >= 3 })
	st.SetDown(false)
	testkit.Eventually(t, 5*time.Second, "delivery after the store came back", func() bool {
		got, err := st.Get(t.Context(), e.ID)
		return err == nil && got.Status == core.StatusSucceeded
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*dispatch.Config)
	}{
		{"no worker id", func(c *dispatch.Config) { c.WorkerID = "" }},
		{"zero batch", func(c *dispatch.Config) { c.BatchSize = 0 }},
		{"zero concurrency", func(c *dispatch.Config) { c.Concurrency = 0 }},
		{"zero per target", func(c *dispatch.Config) { c.PerTarget = 0 }},
		{"zero poll", func(c *dispatch.Config) { c.PollInterval = 0 }},
		{"zero attempt timeout", func(c *dispatch.Config) { c.AttemptTimeout = 0 }},
		{"lease shorter than an attempt", func(c *dispatch.Config) { c.Lease = c.AttemptTimeout }},
		{"bad policy", func(c *dispatch.Config) { c.Policy.MaxAttempts = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := config(tc.mod).Validate(); err == nil {
				t.Error("Validate accepted it")
			}
		})
	}
	if err := config().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// commitThenCancel behaves like a database driver when the caller's context
// is cancelled while a claim is on the wire: the claim commits, and the
// caller is told its context was cancelled.
type commitThenCancel struct {
	*memory.Store
	cancelRun func()
	once      sync.Once
}

func (c *commitThenCancel) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	evs, err := c.Store.Claim(ctx, p)
	c.once.Do(c.cancelRun) // SIGTERM arrives while the claim is in flight
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return evs, err
}

// TestShutdownDuringAClaimLeavesNothingLeased: a claim already sent when
// the stop comes must still be seen through, or its events sit leased
// (and undelivered) until their lease expires.
func TestShutdownDuringAClaimLeavesNothingLeased(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	ctx, cancel := context.WithCancel(t.Context())
	st := &commitThenCancel{Store: memory.NewStore(clk), cancelRun: cancel}
	for range 3 {
		insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	}
	w := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(nil), Clock: clk}, config())
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countStatus(t, st, core.StatusDelivering); n != 0 {
		t.Errorf("%d events left leased by a graceful stop", n)
	}
	if n := countStatus(t, st, core.StatusSucceeded); n != 3 {
		t.Errorf("%d of 3 events delivered within the grace", n)
	}
}

func TestNewWorkerDefaults(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	var lease time.Time
	snd := memory.NewSender(func(ctx context.Context, d core.Request) (core.Outcome, error) {
		got, _ := st.Get(ctx, d.EventID)
		lease = *got.LeaseExpiresAt
		return core.Outcome{StatusCode: 200}, nil
	})
	// Only the attempt timeout is given: everything else is a default,
	// and the lease is derived from it.
	w, err := dispatch.NewWorker(dispatch.Ports{Store: st, Sender: snd, Clock: clk, Metrics: memory.NewMetrics()}, nil,
		dispatch.Config{AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() == "" {
		t.Error("no default worker id")
	}
	if n, err := w.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if want := porttest.T0.Add(5*time.Second + dispatch.LeaseMargin); !lease.Equal(want) {
		t.Errorf("lease ends at %s, want %s (attempt timeout + margin)", lease, want)
	}
	if got, _ := st.Get(t.Context(), e.ID); got.Status != core.StatusSucceeded {
		t.Errorf("status %s", got.Status)
	}
	if _, err := dispatch.NewWorker(dispatch.Ports{Store: st, Sender: snd, Clock: clk}, nil, dispatch.Config{}); err == nil {
		t.Error("a worker without metrics was built")
	}
}

func TestOutcomeRecordedAfterAStoreOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	// The database goes down while the request is in flight and comes
	// back 300 ms later: the outcome must still be recorded, not dropped
	// (which would mean a duplicate delivery after the lease expires).
	snd := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		st.SetDown(true)
		time.AfterFunc(300*time.Millisecond, func() { st.SetDown(false) })
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Clock: clk}, config())
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, e.ID)
	if err != nil || got.Status != core.StatusSucceeded {
		t.Fatalf("after the outage: %+v %v", got, err)
	}
	if atts, _ := st.Attempts(ctx, e.ID); len(atts) != 1 {
		t.Errorf("history: %d attempts, want 1", len(atts))
	}
}

// reopenedGate is a breaker whose half-open probe just failed: open again
// until `until`.
type reopenedGate struct {
	until time.Time
	open  atomic.Bool
}

func (r *reopenedGate) OpenUntil(string) (time.Time, bool) { return r.until, r.open.Load() }

func TestFailedProbeSpendsNoAttemptAndWaitsForTheNextProbe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	gate := &reopenedGate{until: porttest.T0.Add(30 * time.Second)}
	snd := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		gate.open.Store(true) // the probe failed: the breaker re-opened
		return core.Outcome{Err: "connection refused", Probe: true}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Gate: gate, Clock: clk}, config(func(c *dispatch.Config) { c.Policy.MaxAttempts = 1 }))
	e := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`))
	for range 3 { // three failed probes in a row, with MAX_ATTEMPTS 1
		if n, err := w.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		got, _ := st.Get(ctx, e.ID)
		if got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.Equal(gate.until) {
			t.Fatalf("after a failed probe: %s attempts %d next %s; want pending, 0, %s", got.Status, got.AttemptedCount, got.NextAttemptAt, gate.until)
		}
		clk.Set(gate.until)
		gate.open.Store(false)
		gate.until = gate.until.Add(30 * time.Second)
	}
	atts, _ := st.Attempts(ctx, e.ID)
	if len(atts) != 3 || !strings.Contains(atts[0].Reason, "probe failed") {
		t.Errorf("history: %+v; want the three probes recorded", atts)
	}
}

// TestDeliveryLogsRedactTheTarget: user-info and query strings of target
// URLs carry merchants' credentials; no log line may show them.
func TestDeliveryLogsRedactTheTarget(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	insertDelivery(t, st, porttest.NewEvent(t, "https://user:pa55word@a.example/hook?api_key=s3cret", `{}`))
	var logs testkit.LogBuffer
	w, err := dispatch.NewWorker(dispatch.Ports{Store: st, Sender: memory.NewSender(status(500)), Clock: clk, Metrics: memory.NewMetrics()},
		slog.New(slog.NewJSONHandler(&logs, nil)), config())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	out := logs.String()
	if !strings.Contains(out, "a.example/hook") || strings.Contains(out, "pa55word") || strings.Contains(out, "s3cret") {
		t.Errorf("delivery log: %s", out)
	}
}

// slowCompletes holds every Complete until release is closed.
type slowCompletes struct {
	*memory.Store
	release chan struct{}
}

func (s *slowCompletes) Complete(ctx context.Context, p ports.CompleteParams) error {
	<-s.release
	return s.Store.Complete(ctx, p)
}

// TestTargetSlotIsFreedByTheAnswer: a target's window counts requests at
// the merchant, not outcomes being recorded. With a window of one and the
// store slow to record, the second request starts once the first is
// answered, while the first's outcome is still being written, and the
// merchant never has two at once.
func TestTargetSlotIsFreedByTheAnswer(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &slowCompletes{Store: memory.NewStore(clk), release: make(chan struct{})}
	var c concurrency
	respond := func(context.Context, core.Request) (core.Outcome, error) {
		c.enter()
		defer c.leave()
		return core.Outcome{StatusCode: 200, Duration: time.Millisecond}, nil
	}
	w := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(respond), Clock: clk, Wakeup: st.Store},
		config(func(c *dispatch.Config) { c.PerTarget, c.InitialWindow = 1, 1 }))
	for i := range 3 {
		insertDelivery(t, st.Store, porttest.NewEvent(t, targetA, fmt.Sprintf(`{"n":%d}`, i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "all three requests made while no outcome is recorded",
		func() bool { return c.total.Load() == 3 })
	if got := countStatus(t, st.Store, core.StatusSucceeded); got != 0 {
		t.Fatalf("%d outcomes recorded before the store was let through", got)
	}
	close(st.release)
	testkit.Eventually(t, 5*time.Second, "all 3 recorded", func() bool { return countStatus(t, st.Store, core.StatusSucceeded) == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := c.most.Load(); m != 1 {
		t.Errorf("the merchant had %d requests at once; its window is 1", m)
	}
}
