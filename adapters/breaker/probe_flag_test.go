package breaker_test

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
)

// TestOnlyTheHalfOpenProbeIsMarked: the outcome of the request let through
// while half-open carries Probe, so that the worker does not spend the
// event's attempt when it fails; every other request's outcome does not.
func TestOnlyTheHalfOpenProbeIsMarked(t *testing.T) {
	t.Parallel()
	cfg := breaker.Config{Failures: 2, OpenFor: 20 * time.Millisecond}
	f := newFixture(t, cfg)
	f.answer(status(500))
	for i := range 2 {
		out, err := f.send(originA)
		if err != nil || out.Probe {
			t.Fatalf("send %d while closed: probe=%v err=%v", i, out.Probe, err)
		}
	}
	f.wantMetric(t, originA, "open")
	for _, want := range []int{500, 200} {
		time.Sleep(cfg.OpenFor + 15*time.Millisecond) // gobreaker's wall-clock open period
		f.clock.Advance(cfg.OpenFor)
		f.answer(status(want))
		out, err := f.send(originA)
		if err != nil || !out.Probe || out.StatusCode != want {
			t.Fatalf("half-open probe answered %d: %+v %v, want Probe", want, out, err)
		}
	}
	f.wantMetric(t, originA, "closed")
	out, err := f.send(originA)
	if err != nil || out.Probe {
		t.Errorf("send after the breaker closed: probe=%v err=%v", out.Probe, err)
	}
}
