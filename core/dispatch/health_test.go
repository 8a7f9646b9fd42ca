package dispatch_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// clockGate is a breaker open for originA until a time on a clock.
type clockGate struct {
	clock ports.Clock
	until time.Time
}

func (g clockGate) OpenUntil(origin string) (time.Time, bool) {
	return g.until, origin == originA && g.clock.Now().Before(g.until)
}

// Two workers (two dispatchers) share one store. One has seen the target
// fail (its breaker is open); the other has not. While the target is down
// the pair sends it one request per interval, and its parked deliveries
// are not written between probes; when it is back, everything goes.
func TestOpenTargetCostsOneProbePerIntervalForTheCluster(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	var down atomic.Bool
	down.Store(true)
	var requests atomic.Int64
	send := func(_ context.Context, r core.Request) (core.Outcome, error) {
		if r.Origin == originA {
			requests.Add(1)
			if down.Load() {
				return core.Outcome{Err: "connection refused", Duration: time.Millisecond}, nil
			}
		}
		return core.Outcome{StatusCode: 200, Duration: time.Millisecond}, nil
	}
	interval := 30 * time.Second
	cfg := func(id string) dispatch.Config {
		return config(func(c *dispatch.Config) { c.WorkerID, c.ProbeInterval = id, interval })
	}
	tripped := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(send), Clock: clk,
		Gate: clockGate{clock: clk, until: porttest.T0.Add(interval)}}, cfg("tripped"))
	fresh := newWorker(t, dispatch.Ports{Store: st, Sender: memory.NewSender(send), Clock: clk}, cfg("fresh"))
	var ds []core.Delivery
	for range 20 {
		ds = append(ds, insertDelivery(t, st, porttest.NewEvent(t, targetA, `{}`)))
	}
	run := func(w *dispatch.Worker) {
		if _, err := w.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	run(tripped) // its breaker is open: all 20 parked, the target open for everyone
	updated := func() map[core.DeliveryID]time.Time {
		out := map[core.DeliveryID]time.Time{}
		for _, d := range ds {
			got, _ := st.Get(t.Context(), d.ID)
			out[d.ID] = got.UpdatedAt
		}
		return out
	}
	parkedAt := updated()
	run(fresh) // sees nothing due
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests while the target is open, want 0", n)
	}
	// Three intervals of outage, each worker claiming at every one.
	for i := 1; i <= 3; i++ {
		clk.Set(porttest.T0.Add(time.Duration(i) * interval))
		run(fresh)
		run(tripped)
		if n := requests.Load(); n != int64(i) {
			t.Fatalf("after %d intervals: %d requests, want %d (one probe per interval for both workers)", i, n, i)
		}
	}
	rewritten := 0
	for id, at := range updated() {
		if !at.Equal(parkedAt[id]) {
			rewritten++
		}
	}
	if rewritten > 3 {
		t.Errorf("%d parked deliveries were written again during the outage; want only the probes (3)", rewritten)
	}
	// Back: the next probe succeeds and every parked delivery goes.
	down.Store(false)
	clk.Set(porttest.T0.Add(4 * interval))
	for range 10 { // the target's window grows back from 1 (slow start)
		run(fresh)
	}
	for _, d := range ds {
		if got, _ := st.Get(t.Context(), d.ID); got.Status != core.StatusSucceeded {
			t.Errorf("%s after recovery: %s, want succeeded", d.ID, got.Status)
		}
	}
	if targets, _ := st.Targets(t.Context()); len(targets) != 0 {
		t.Errorf("targets after recovery: %+v", targets)
	}
}
