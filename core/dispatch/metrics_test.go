package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/ports"
)

// The worker reports each finished attempt with what an exporter needs:
// whether a request was made, how long it took, and how long after its
// event's acceptance it ended; parked deliveries are counted when parked.
func TestWorkerReportsMetrics(t *testing.T) {
	t.Parallel()
	until := time.Now().Add(time.Hour) // the breaker's verdict on originA
	respond := func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Origin == originA {
			return core.Outcome{}, &core.TargetOpenError{Target: d.Origin, Until: until}
		}
		return core.Outcome{StatusCode: 200, Duration: 40 * time.Millisecond}, nil
	}
	f := newFixture(t, respond)
	m := memory.NewMetrics()
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Metrics: m},
		config(func(c *dispatch.Config) { c.MaxAge = time.Hour }))

	expired := f.add(t, targetB)
	f.clock.Advance(time.Hour) // expired is now too old to send
	delivered := f.add(t, targetB)
	f.add(t, targetA)
	f.add(t, targetA)
	f.clock.Advance(3 * time.Second)
	f.runOnce(t)

	reports := map[core.Verdict]ports.DeliveryReport{}
	for _, r := range m.Reports() {
		reports[r.Verdict] = r
	}
	if len(m.Reports()) != 2 {
		t.Fatalf("reports %+v; want one success and one expiry (the open target's are parked, not finished)", m.Reports())
	}
	if r := reports[core.VerdictSucceeded]; !r.Sent || r.Took != 40*time.Millisecond || r.Age != 3*time.Second || r.Origin != delivered.Origin {
		t.Errorf("success reported as %+v; want sent, took 40ms, 3s after acceptance", r)
	}
	if r := reports[core.VerdictExpired]; r.Sent || r.Took != 0 || r.Age != time.Hour+3*time.Second || r.Origin != expired.Origin {
		t.Errorf("expiry reported as %+v; want no request, 1h3s after acceptance", r)
	}
	if n := m.Parked(originA); n != 2 {
		t.Errorf("%d deliveries of the open target reported parked, want 2 (both claims given back, parked)", n)
	}
}
