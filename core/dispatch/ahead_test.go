package dispatch_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// concurrency counts requests at the merchant and remembers the most at
// once.
type concurrency struct{ now, most, total atomic.Int32 }

func (c *concurrency) enter() {
	n := c.now.Add(1)
	c.total.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

// TestClaimAheadSendsTwoWindowsPerClaim: a worker holds a target's window
// in flight and one more claimed ahead, so one claim feeds two windows'
// worth of requests, and the merchant still never has more than its
// window at once.
func TestClaimAheadSendsTwoWindowsPerClaim(t *testing.T) {
	t.Parallel()
	var c concurrency
	respond := func(context.Context, core.Request) (core.Outcome, error) {
		c.enter()
		defer c.leave()
		time.Sleep(time.Millisecond) // let the window fill
		return core.Outcome{StatusCode: 200, Duration: time.Millisecond}, nil
	}
	f := newFixture(t, respond, func(c *dispatch.Config) { c.PerTarget, c.InitialWindow = 2, 2 })
	var all []core.Delivery
	for range 10 {
		all = append(all, f.add(t, targetA))
	}
	if n := f.runOnce(t); n != 4 {
		t.Errorf("claimed %d, want 4: a window of 2 in flight and 2 ahead", n)
	}
	if got := c.total.Load(); got != 4 {
		t.Errorf("one round sent %d requests, want all 4 it claimed", got)
	}
	for f.runOnce(t) > 0 {
	}
	for _, e := range all {
		if got := f.get(t, e.ID); got.Status != core.StatusSucceeded || got.AttemptedCount != 1 {
			t.Errorf("%s: %s after %d attempts, want succeeded after 1", e.ID, got.Status, got.AttemptedCount)
		}
	}
	if m := c.most.Load(); m > 2 {
		t.Errorf("the merchant had %d requests at once; its window is 2", m)
	}
}

// TestClaimedAheadTooLongIsReleasedUnspent: a delivery that waited in the
// queue past half the lease's room beyond one attempt is not sent with
// the little lease it has left: it goes back to the store, due at once,
// its attempt unspent, and the next claim sends it.
func TestClaimedAheadTooLongIsReleasedUnspent(t *testing.T) {
	t.Parallel()
	var clk *memory.Clock
	var requests atomic.Int32
	respond := func(context.Context, core.Request) (core.Outcome, error) {
		if requests.Add(1) == 1 {
			clk.Advance(6 * time.Second) // a slow merchant: the queued one waits 6 s
		}
		return core.Outcome{StatusCode: 200}, nil
	}
	// Lease 10 s beyond a 10 s attempt: a delivery may wait 5 s ahead.
	f := newFixture(t, respond, func(c *dispatch.Config) {
		c.PerTarget, c.InitialWindow, c.Lease = 1, 1, c.AttemptTimeout+10*time.Second
	})
	clk = f.clock
	first := f.add(t, targetA)
	f.clock.Advance(time.Millisecond) // claimed, and sent, in this order
	second := f.add(t, targetA)
	if n := f.runOnce(t); n != 2 {
		t.Fatalf("claimed %d, want 2 (one in flight, one ahead)", n)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1: the second waited too long to be sent", got)
	}
	if got := f.get(t, first.EventID); got.Status != core.StatusSucceeded {
		t.Errorf("first: %s", got.Status)
	}
	if got := f.get(t, second.EventID); got.Status != core.StatusPending || got.AttemptedCount != 0 || got.NextAttemptAt.After(f.clock.Now()) {
		t.Errorf("second: %s, %d attempts, due %s; want pending, unspent, due now", got.Status, got.AttemptedCount, got.NextAttemptAt)
	}
	f.runOnce(t)
	if got := f.get(t, second.EventID); got.Status != core.StatusSucceeded || got.AttemptedCount != 1 {
		t.Errorf("second, next round: %s after %d attempts, want succeeded after 1", got.Status, got.AttemptedCount)
	}
}

// TestOpenTargetParksWhatIsQueuedBehindIt: when a target's breaker
// refuses a request, the deliveries queued behind it are parked with it
// in the same call, not sent one by one into the open breaker.
func TestOpenTargetParksWhatIsQueuedBehindIt(t *testing.T) {
	t.Parallel()
	until := porttest.T0.Add(30 * time.Second)
	var requests atomic.Int32
	open := func(_ context.Context, d core.Request) (core.Outcome, error) {
		requests.Add(1)
		return core.Outcome{}, &core.TargetOpenError{Target: d.Origin, Until: until}
	}
	f := newFixture(t, open, func(c *dispatch.Config) { c.PerTarget, c.InitialWindow = 1, 1 })
	var all []core.Delivery
	for range 3 {
		all = append(all, f.add(t, targetA))
	}
	if n := f.runOnce(t); n != 2 {
		t.Fatalf("claimed %d, want 2 (one in flight, one ahead)", n)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests refused by the breaker, want 1: the queued one is parked with the first", got)
	}
	for _, e := range all {
		got := f.get(t, e.EventID)
		if got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.After(f.clock.Now()) {
			t.Errorf("%s: %s, %d attempts, due %s; want parked (pending, unspent, due later)", e.ID, got.Status, got.AttemptedCount,
				got.NextAttemptAt)
		}
	}
}

// TestShutdownReleasesWhatWasClaimedAhead: on SIGTERM a worker sends
// nothing more from its queues; what they held goes back to the store at
// once, unspent, for another worker, while the request in flight
// finishes.
func TestShutdownReleasesWhatWasClaimedAhead(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	started := make(chan struct{}, 10)
	finish := make(chan struct{})
	var requests atomic.Int32
	snd := memory.NewSender(func(context.Context, core.Request) (core.Outcome, error) {
		requests.Add(1)
		started <- struct{}{}
		<-finish
		return core.Outcome{StatusCode: 200}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: snd, Clock: clk, Wakeup: st}, config(func(c *dispatch.Config) {
		c.PerTarget, c.InitialWindow, c.ShutdownGrace = 1, 1, 5*time.Second
	}))
	first := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{"n":1}`))
	clk.Advance(time.Millisecond) // claimed, and sent, in this order
	second := insertDelivery(t, st, porttest.NewEvent(t, targetA, `{"n":2}`))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	testkit.Eventually(t, 5*time.Second, "the second claimed ahead", func() bool {
		got, _ := st.Get(t.Context(), second.EventID)
		return got.Status == core.StatusDelivering
	})
	cancel()
	testkit.Eventually(t, 5*time.Second, "the second released while the first is in flight", func() bool {
		got, _ := st.Get(t.Context(), second.EventID)
		return got.Status == core.StatusPending
	})
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(t.Context(), first.EventID); got.Status != core.StatusSucceeded {
		t.Errorf("the one in flight: %s, want succeeded", got.Status)
	}
	if got, _ := st.Get(t.Context(), second.EventID); got.Status != core.StatusPending || got.AttemptedCount != 0 {
		t.Errorf("the one claimed ahead: %s after %d attempts, want pending, unspent", got.Status, got.AttemptedCount)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1: nothing starts from a queue after SIGTERM", got)
	}
}

// TestFullTargetIsNotScannedOnEveryWake: while a target's windows are
// full (in flight and ahead), a claim leaves it out, and one that finds
// nothing else paces the next ones (each walks the target's whole
// backlog): wake-ups do not each cost such a claim until time moves on.
// Once the target answers, claims take its backlog as before.
func TestFullTargetIsNotScannedOnEveryWake(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &claimCounter{Store: memory.NewStore(clk)}
	release := make(chan struct{})
	var c concurrency
	sender := memory.NewSender(func(ctx context.Context, _ core.Request) (core.Outcome, error) {
		c.enter()
		defer c.leave()
		select {
		case <-release:
		case <-ctx.Done():
			return core.Outcome{}, ctx.Err()
		}
		return core.Outcome{StatusCode: 200, Duration: time.Millisecond}, nil
	})
	w := newWorker(t, dispatch.Ports{Store: st, Sender: sender, Clock: clk, Wakeup: st.Store},
		config(func(c *dispatch.Config) { c.PerTarget, c.InitialWindow = 2, 2 }))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	for i := range 20 {
		insertDelivery(t, st, porttest.NewEvent(t, targetA, fmt.Sprintf(`{"n":%d}`, i)))
	}
	testkit.Eventually(t, 5*time.Second, "the window in flight", func() bool { return c.now.Load() == 2 })
	for i := range 20 { // 20 wake-ups while the target is full, the clock standing still
		insertDelivery(t, st, porttest.NewEvent(t, targetA, fmt.Sprintf(`{"m":%d}`, i)))
		time.Sleep(2 * time.Millisecond)
	}
	if n := st.excluding.Load(); n != 1 {
		t.Errorf("%d claims left the full target out while the clock stood still, want 1", n)
	}
	clk.Advance(time.Second)
	testkit.Eventually(t, 5*time.Second, "one more such claim once time moved on", func() bool { return st.excluding.Load() == 2 })
	close(release)
	testkit.Eventually(t, 10*time.Second, "all 40 delivered", func() bool { return countStatus(t, st.Store, core.StatusSucceeded) == 40 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := c.most.Load(); m > 2 {
		t.Errorf("the merchant had %d requests at once, over its window of 2", m)
	}
}

// answering reports every request answered 200 after d, without waiting
// (the Duration is what the worker learns a target's pace from), and
// counts requests at the merchant.
func answering(c *concurrency, d func(core.Request) time.Duration) func(context.Context, core.Request) (core.Outcome, error) {
	return func(_ context.Context, r core.Request) (core.Outcome, error) {
		c.enter()
		defer c.leave()
		time.Sleep(100 * time.Microsecond) // let the window fill
		return core.Outcome{StatusCode: 200, Duration: d(r)}, nil
	}
}

// TestFastTargetIsClaimedABatchAhead: once a target has answered fast,
// the worker queues as much of it as it answers within a second, up to a
// batch beyond its window, so that one claim feeds many windows; the
// merchant still never has more than its window at once.
func TestFastTargetIsClaimedABatchAhead(t *testing.T) {
	t.Parallel()
	var c concurrency
	f := newFixture(t, answering(&c, func(core.Request) time.Duration { return time.Millisecond }), func(c *dispatch.Config) {
		c.PerTarget, c.InitialWindow, c.BatchSize, c.Concurrency = 2, 2, 10, 20
	})
	for range 30 {
		f.add(t, targetA)
	}
	if n := f.runOnce(t); n != 4 {
		t.Errorf("first claim took %d, want 4: a window in flight and one ahead of a target not yet answered", n)
	}
	if n := f.runOnce(t); n != 10 {
		t.Errorf("second claim took %d, want a whole batch (10): the target answers in 1 ms", n)
	}
	for f.runOnce(t) > 0 {
	}
	if got := c.total.Load(); got != 30 {
		t.Errorf("%d requests, want 30: every claimed delivery sent, none released", got)
	}
	if m := c.most.Load(); m > 2 {
		t.Errorf("the merchant had %d requests at once; its window is 2", m)
	}
}

// TestSlowTargetIsClaimedOneWindowAhead: a target that takes 2 s to
// answer sends less than a window a second; the worker queues no more
// than a window of it, as before it knew its pace, so that nothing waits
// claimed ahead long enough to go stale.
func TestSlowTargetIsClaimedOneWindowAhead(t *testing.T) {
	t.Parallel()
	var c concurrency
	f := newFixture(t, answering(&c, func(core.Request) time.Duration { return 2 * time.Second }), func(c *dispatch.Config) {
		c.PerTarget, c.InitialWindow, c.BatchSize, c.Concurrency = 2, 2, 10, 20
	})
	for range 10 {
		f.add(t, targetA)
	}
	for round := range 2 {
		if n := f.runOnce(t); n != 4 {
			t.Errorf("claim %d took %d, want 4: a window in flight and one ahead", round+1, n)
		}
	}
}

// TestClaimTakesOfEachTargetWhatItCanQueue: a claim sized for a fast
// target's queue takes no more of a slow target, due in between, than the
// slow one can queue, instead of leasing more and handing the rest back.
func TestClaimTakesOfEachTargetWhatItCanQueue(t *testing.T) {
	t.Parallel()
	var c concurrency
	pace := func(r core.Request) time.Duration {
		if r.TargetURL == targetB {
			return 2 * time.Second
		}
		return time.Millisecond
	}
	f := newFixture(t, answering(&c, pace), func(c *dispatch.Config) {
		c.PerTarget, c.InitialWindow, c.BatchSize, c.Concurrency = 2, 2, 10, 20
	})
	f.add(t, targetA)
	f.add(t, targetB)
	f.runOnce(t) // both answer: A in 1 ms (may queue 10 ahead), B in 2 s (2 ahead)
	for range 10 {
		f.clock.Advance(time.Millisecond) // due in this order: A, B, A, B, ...
		f.add(t, targetA)
		f.clock.Advance(time.Millisecond)
		f.add(t, targetB)
	}
	before := c.total.Load()
	if n := f.runOnce(t); n != 10 {
		t.Errorf("claimed %d, want a batch of 10: 6 of A and the 4 B can hold", n)
	}
	if sent := c.total.Load() - before; sent != 10 {
		t.Errorf("%d of the 10 claimed were sent, want all: none claimed only to be handed back", sent)
	}
}

// drainFastTarget has a worker deliver n deliveries to one target that
// answers in a millisecond, through st (mem underneath), with windows of 4,
// batches of 20 and 40 slots, and returns once all have succeeded, with
// the requests the target saw.
func drainFastTarget(t *testing.T, st ports.EventStore, mem *memory.Store, clk *memory.Clock, n int) *concurrency {
	t.Helper()
	var c concurrency
	sender := memory.NewSender(answering(&c, func(core.Request) time.Duration { return time.Millisecond }))
	w := newWorker(t, dispatch.Ports{Store: st, Sender: sender, Clock: clk},
		config(func(c *dispatch.Config) { c.PerTarget, c.InitialWindow, c.BatchSize, c.Concurrency = 4, 4, 20, 40 }))
	for i := range n {
		insertDelivery(t, st, porttest.NewEvent(t, targetA, fmt.Sprintf(`{"n":%d}`, i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testkit.Eventually(t, 20*time.Second, "all delivered", func() bool { return countStatus(t, mem, core.StatusSucceeded) == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestFreedSlotsRefillHalfABatchAtATime: draining one fast target, the
// worker does not claim each time a slot frees: it claims when the
// target's queue has room for half of what it may hold ahead, so claims
// stay few and large.
func TestFreedSlotsRefillHalfABatchAtATime(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &claimCounter{Store: memory.NewStore(clk)}
	const n = 400
	c := drainFastTarget(t, st, st.Store, clk, n)
	// A claim per half batch (10) is 40, and the claims that ramp the
	// window up and find the queue empty at the end add some 20; one per
	// freed slot or two is hundreds (312 without the refill rule).
	got := st.claims.Load()
	t.Logf("%d claims to deliver %d", got, n)
	if got > 80 {
		t.Errorf("%d claims to deliver %d, want at most 80: a claim per half batch", got, n)
	}
	if m := c.most.Load(); m > 4 {
		t.Errorf("the merchant had %d requests at once, over its window of 4", m)
	}
}

// askRecorder records what each claim asked for, what it got, and whether
// due deliveries were left after it.
type askRecorder struct {
	*memory.Store
	mu     sync.Mutex
	claims []struct{ asked, got, left int }
}

func (r *askRecorder) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	got, err := r.Store.Claim(ctx, p)
	if err != nil {
		return got, err
	}
	left, err := r.Store.List(ctx, ports.ListFilter{Status: core.StatusPending, Page: 1, Limit: 1})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.claims = append(r.claims, struct{ asked, got, left int }{p.Limit, len(got), left.Total})
	r.mu.Unlock()
	return got, nil
}

// TestClaimsAskForWhatTheCapsAllow: draining one fast target that has room
// for less than the worker has, a claim asks for what that target may
// take (and one more), not for a batch of which a store would lock every
// row only to keep the target's share (caphint.go).
func TestClaimsAskForWhatTheCapsAllow(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := &askRecorder{Store: memory.NewStore(clk)}
	drainFastTarget(t, st, st.Store, clk, 400)
	// Asked and not got, while due deliveries were left: rows a store
	// would have locked for nothing.
	st.mu.Lock()
	defer st.mu.Unlock()
	claims, unused := 0, 0
	for _, c := range st.claims {
		if c.left > 0 {
			claims++
			unused += c.asked - c.got
		}
	}
	// With the hint, about 1.3 a claim (up to 2.1 seen on a loaded
	// machine: a reduced ask that comes back full makes the next ask for
	// everything); without it about 10, half of each batch.
	t.Logf("%d claims with deliveries left over asked for %d more than they got", claims, unused)
	if claims == 0 || unused > 4*claims {
		t.Errorf("%d claims with deliveries left over asked for %d more than they got, want at most %d", claims, unused, 4*claims)
	}
}
