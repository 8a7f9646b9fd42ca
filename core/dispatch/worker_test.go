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
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

var bg = context.Background()

const (
	targetA = "https://a.example/hook"
	targetB = "https://b.example/hook"
	originA = "https://a.example:443"
)

func config(mod ...func(*dispatch.Config)) dispatch.Config {
	c := dispatch.Config{
		WorkerID: "w1", BatchSize: 10, Concurrency: 10, PerTarget: 10,
		PollInterval: time.Hour, Lease: time.Minute, ShutdownGrace: time.Second,
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

func newFixture(t *testing.T, respond func(context.Context, core.Delivery) (core.Outcome, error), mod ...func(*dispatch.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: memory.NewClock(porttest.T0)}
	f.store = memory.NewStore(f.clock)
	f.sender = memory.NewSender(respond)
	f.worker = newWorker(t, f.store, f.sender, f.clock, nil, config(mod...))
	return f
}

func newWorker(t *testing.T, st ports.EventStore, s ports.Sender, c ports.Clock, wake ports.Wakeup, cfg dispatch.Config) *dispatch.Worker {
	t.Helper()
	w, err := dispatch.NewWorker(st, s, c, wake, memory.NewMetrics(), slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (f *fixture) add(t *testing.T, target string) core.Event {
	t.Helper()
	e, _, err := f.store.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, target, `{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) runOnce(t *testing.T) int {
	t.Helper()
	n, err := f.worker.RunOnce(bg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) get(t *testing.T, id core.EventID) core.Event {
	t.Helper()
	e, err := f.store.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func status(code int) func(context.Context, core.Delivery) (core.Outcome, error) {
	return func(context.Context, core.Delivery) (core.Outcome, error) {
		return core.Outcome{StatusCode: code, Duration: time.Millisecond}, nil
	}
}

func TestDeliversDueEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, status(200))
	a, b := f.add(t, targetA), f.add(t, targetB)
	if n := f.runOnce(t); n != 2 {
		t.Fatalf("RunOnce claimed %d, want 2", n)
	}
	for _, e := range []core.Event{a, b} {
		got := f.get(t, e.ID)
		if got.Status != core.StatusSucceeded || got.AttemptedCount != 1 || got.LastStatusCode != 200 {
			t.Errorf("%s: status %s attempts %d code %d", e.ID, got.Status, got.AttemptedCount, got.LastStatusCode)
		}
		atts, _ := f.store.Attempts(bg, e.ID)
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
	atts, _ := f.store.Attempts(bg, e.ID)
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
	var cur, peak atomic.Int32
	arrived := make(chan struct{}, 100)
	releaseAll := make(chan struct{})
	respond := func(context.Context, core.Delivery) (core.Outcome, error) {
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
	go func() { n, _ := f.worker.RunOnce(bg); done <- n }()
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

func TestPerTargetCapHandsBackExcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, status(200), func(c *dispatch.Config) { c.PerTarget = 2 })
	var as []core.Event
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
	open := func(_ context.Context, d core.Delivery) (core.Outcome, error) {
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
	f.runOnce(t) // claims a1 (oldest), breaker open: a1 released, a2 parked
	for _, e := range []core.Event{a1, a2} {
		got := f.get(t, e.ID)
		if got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.Equal(until) {
			t.Errorf("%s: %s attempts %d next %s; want pending, 0, %s", e.ID, got.Status, got.AttemptedCount, got.NextAttemptAt, until)
		}
	}
	f.runOnce(t) // b is next: the parked target does not block others
	if got := f.get(t, b.ID); got.Status != core.StatusSucceeded {
		t.Errorf("other target: %s", got.Status)
	}
	if n := f.runOnce(t); n != 0 {
		t.Errorf("claimed %d parked events before the breaker half-opens", n)
	}
}

// gatedStore counts Defer calls.
type gatedStore struct {
	*memory.Store
	defers atomic.Int32
}

func (g *gatedStore) Defer(ctx context.Context, p ports.DeferParams) (ports.DeferResult, error) {
	g.defers.Add(1)
	return g.Store.Defer(ctx, p)
}

// gateSender refuses originA via ports.TargetGate.
type gateSender struct {
	*memory.Sender
	until time.Time
}

func (g gateSender) OpenUntil(origin string) (time.Time, bool) { return g.until, origin == originA }

func TestGateParksABatchInOneStoreCall(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &gatedStore{Store: memory.NewStore(clk)}
	snd := gateSender{Sender: memory.NewSender(nil), until: porttest.T0.Add(time.Minute)}
	w := newWorker(t, st, snd, clk, nil, config())
	for range 8 {
		st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	}
	st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetB, `{}`)})
	if _, err := w.RunOnce(bg); err != nil {
		t.Fatal(err)
	}
	if n := st.defers.Load(); n != 1 {
		t.Errorf("%d Defer calls for one open target, want 1", n)
	}
	if sent := snd.Sent(); len(sent) != 1 || sent[0].Origin == originA {
		t.Errorf("sent %+v; want only the healthy target", sent)
	}
	res, _ := st.List(bg, ports.ListFilter{Status: core.StatusPending, Page: 1, Limit: 100})
	if res.Total != 8 {
		t.Errorf("%d pending after parking, want 8", res.Total)
	}
}

func TestLateCompletionKeepsNewerState(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	inSend := make(chan struct{})
	proceed := make(chan struct{})
	slow := memory.NewSender(func(context.Context, core.Delivery) (core.Outcome, error) {
		close(inSend)
		<-proceed
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, st, slow, clk, nil, config())
	done := make(chan struct{})
	go func() { w.RunOnce(bg); close(done) }()
	<-inSend
	// The lease expires and another worker takes the event.
	clk.Advance(2 * time.Minute)
	other, err := st.Claim(bg, ports.ClaimParams{Worker: "w2", Limit: 1, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(other) != 1 {
		t.Fatalf("w2 claim: %v %v", other, err)
	}
	close(proceed)
	<-done
	got, _ := st.Get(bg, e.ID)
	if got.Status != core.StatusDelivering || got.LockedBy != "w2" || got.AttemptedCount != 2 {
		t.Errorf("late completion overwrote newer state: %s by %s attempts %d", got.Status, got.LockedBy, got.AttemptedCount)
	}
}

// eventually polls cond for up to 5 s (goroutine hand-offs, not timing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func countStatus(t *testing.T, st ports.EventStore, s core.Status) int {
	t.Helper()
	res, err := st.List(bg, ports.ListFilter{Status: s, Page: 1, Limit: 1})
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
	w := newWorker(t, st, memory.NewSender(nil), clk, st, config(func(c *dispatch.Config) { c.BatchSize = 2 }))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	eventually(t, "worker idle", func() bool { return w.InFlight() == 0 })
	for range 9 {
		st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, fmt.Sprintf(`{"t":%d}`, time.Now().UnixNano()))})
	}
	eventually(t, "all 9 delivered", func() bool { return countStatus(t, st, core.StatusSucceeded) == 9 })
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
	snd := memory.NewSender(func(context.Context, core.Delivery) (core.Outcome, error) {
		if calls.Add(1) == 1 {
			return core.Outcome{StatusCode: 503}, nil
		}
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, st, snd, clock.System{}, nil, config(func(c *dispatch.Config) {
		c.Policy.Base, c.Policy.Max = 20*time.Millisecond, time.Second
	}))
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	eventually(t, "retry delivered", func() bool {
		got, _ := st.Get(bg, e.ID)
		return got.Status == core.StatusSucceeded
	})
	cancel()
	<-done
	if got, _ := st.Get(bg, e.ID); got.AttemptedCount != 2 {
		t.Errorf("attempts %d, want 2", got.AttemptedCount)
	}
}

func TestShutdownFinishesInFlightWithinGrace(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	started := make(chan struct{})
	finish := make(chan struct{})
	snd := memory.NewSender(func(context.Context, core.Delivery) (core.Outcome, error) {
		close(started)
		<-finish
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, st, snd, clk, st, config(func(c *dispatch.Config) { c.ShutdownGrace = 5 * time.Second }))
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	ctx, cancel := context.WithCancel(bg)
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
	if got, _ := st.Get(bg, e.ID); got.Status != core.StatusSucceeded {
		t.Errorf("in-flight delivery not recorded: %s", got.Status)
	}
}

func TestShutdownHandsBackWhatOutlivesGrace(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	var once sync.Once
	started := make(chan struct{})
	hang := memory.NewSender(func(ctx context.Context, _ core.Delivery) (core.Outcome, error) {
		once.Do(func() { close(started) })
		<-ctx.Done() // a merchant that never answers
		return core.Outcome{}, ctx.Err()
	})
	w := newWorker(t, st, hang, clk, st, config(func(c *dispatch.Config) { c.ShutdownGrace = 10 * time.Millisecond }))
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := st.Get(bg, e.ID)
	if got.Status != core.StatusPending || got.AttemptedCount != 0 || got.LeaseExpiresAt != nil {
		t.Errorf("after shutdown: %s attempts %d lease %v; want pending, 0, none", got.Status, got.AttemptedCount, got.LeaseExpiresAt)
	}
	if !got.NextAttemptAt.Equal(clk.Now()) {
		t.Errorf("handed-back event due at %s, want now", got.NextAttemptAt)
	}
}

func TestRunBacksOffWhileStoreIsDown(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	st.SetDown(true)
	w := newWorker(t, st, memory.NewSender(nil), clk, st, config(func(c *dispatch.Config) { c.PollInterval = 20 * time.Millisecond }))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // a few failed claims
	st.SetDown(false)
	eventually(t, "delivery after the store came back", func() bool {
		got, err := st.Get(bg, e.ID)
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
		{"zero lease", func(c *dispatch.Config) { c.Lease = 0 }},
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

func TestOutcomeRecordedAfterAStoreOutage(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	// The database goes down while the request is in flight and comes
	// back 300 ms later: the outcome must still be recorded, not dropped
	// (which would mean a duplicate delivery after the lease expires).
	snd := memory.NewSender(func(context.Context, core.Delivery) (core.Outcome, error) {
		st.SetDown(true)
		time.AfterFunc(300*time.Millisecond, func() { st.SetDown(false) })
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, st, snd, clk, nil, config())
	if _, err := w.RunOnce(bg); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(bg, e.ID)
	if err != nil || got.Status != core.StatusSucceeded {
		t.Fatalf("after the outage: %+v %v", got, err)
	}
	if atts, _ := st.Attempts(bg, e.ID); len(atts) != 1 {
		t.Errorf("history: %d attempts, want 1", len(atts))
	}
}

// reopenedSender answers like a breaker whose half-open probe just failed:
// the outcome is marked Probe and the gate is open again until `until`.
type reopenedSender struct {
	*memory.Sender
	until time.Time
	open  atomic.Bool
}

func (r *reopenedSender) OpenUntil(string) (time.Time, bool) { return r.until, r.open.Load() }

func TestFailedProbeSpendsNoAttemptAndWaitsForTheNextProbe(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	snd := &reopenedSender{until: porttest.T0.Add(30 * time.Second)}
	snd.Sender = memory.NewSender(func(context.Context, core.Delivery) (core.Outcome, error) {
		snd.open.Store(true) // the probe failed: the breaker re-opened
		return core.Outcome{Err: "connection refused", Probe: true}, nil
	})
	w := newWorker(t, st, snd, clk, nil, config(func(c *dispatch.Config) { c.Policy.MaxAttempts = 1 }))
	e, _, _ := st.Insert(bg, ports.InsertParams{Event: porttest.NewEvent(t, targetA, `{}`)})
	for range 3 { // three failed probes in a row, with MAX_ATTEMPTS 1
		if n, err := w.RunOnce(bg); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		got, _ := st.Get(bg, e.ID)
		if got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.Equal(snd.until) {
			t.Fatalf("after a failed probe: %s attempts %d next %s; want pending, 0, %s", got.Status, got.AttemptedCount, got.NextAttemptAt, snd.until)
		}
		clk.Set(snd.until)
		snd.open.Store(false)
		snd.until = snd.until.Add(30 * time.Second)
	}
	atts, _ := st.Attempts(bg, e.ID)
	if len(atts) != 3 || !strings.Contains(atts[0].Reason, "probe failed") {
		t.Errorf("history: %+v; want the three probes recorded", atts)
	}
}
