package dispatch_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/ports"
)

// counting answers 200 and counts requests.
func counting(n *atomic.Int64) func(context.Context, core.Request) (core.Outcome, error) {
	return func(context.Context, core.Request) (core.Outcome, error) {
		n.Add(1)
		return core.Outcome{StatusCode: 200}, nil
	}
}

func TestOldEventExpiresWithoutARequest(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	f := newFixture(t, counting(&requests), func(c *dispatch.Config) { c.MaxAge = time.Hour })
	old := f.add(t, targetA)
	f.clock.Advance(time.Hour)
	young := f.add(t, targetA)
	f.runOnce(t)
	got := f.get(t, old.ID)
	if got.Status != core.StatusDead || got.AttemptedCount != 0 {
		t.Errorf("old event: %s after %d attempts; want dead, the claim's attempt given back", got.Status, got.AttemptedCount)
	}
	atts, _ := f.store.Attempts(t.Context(), old.ID)
	if len(atts) != 1 || atts[0].Verdict != core.VerdictExpired || atts[0].StatusCode != 0 {
		t.Errorf("old event's history: %+v; want one expired record", atts)
	}
	if got := f.get(t, young.ID); got.Status != core.StatusSucceeded {
		t.Errorf("young event: %s, want delivered", got.Status)
	}
	if requests.Load() != 1 {
		t.Errorf("%d requests, want 1 (the young event only)", requests.Load())
	}
	// A replay starts a new run: the event is delivered.
	if _, err := f.store.Replay(t.Context(), ports.ReplayParams{ID: old.ID}); err != nil {
		t.Fatal(err)
	}
	f.runOnce(t)
	if got := f.get(t, old.ID); got.Status != core.StatusSucceeded {
		t.Errorf("replayed expired event: %s, want delivered", got.Status)
	}
}

// The events of a target that never comes back are parked at every open
// interval; they must still die once too old, not be parked for ever.
func TestParkedEventsStillExpire(t *testing.T) {
	t.Parallel()
	f := newFixture(t, status(200), func(c *dispatch.Config) { c.MaxAge = time.Hour })
	until := f.clock.Now().Add(2 * time.Hour)
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Gate: openGate{until: until}},
		config(func(c *dispatch.Config) { c.MaxAge = time.Hour }))
	e := f.add(t, targetA)
	f.runOnce(t) // open target: parked
	if got := f.get(t, e.ID); got.Status != core.StatusPending || !got.NextAttemptAt.Equal(until) {
		t.Fatalf("young event of an open target: %s next %s; want parked until %s", got.Status, got.NextAttemptAt, until)
	}
	f.clock.Set(until)
	f.runOnce(t) // still open, but now too old
	if got := f.get(t, e.ID); got.Status != core.StatusDead {
		t.Errorf("parked event older than MAX_DELIVERY_AGE_MS: %s, want dead (expired)", got.Status)
	}
}
