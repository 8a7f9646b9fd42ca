package dispatch_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/internal/testkit"
)

// TestDeliveryLinesCarryTheDelivery: every line about a delivery names
// it the same way (event_id, delivery_id, endpoint_id for an endpoint
// delivery, origin, attempt, the redacted target), whether it succeeds,
// is retried or ends dead, so that one jq filter follows a delivery. The
// pickup is at DEBUG: at thousands of deliveries a second a line per
// pickup doubled the log for nothing the outcome line does not say.
func TestDeliveryLinesCarryTheDelivery(t *testing.T) {
	t.Parallel()
	f := newEndpointFixture(t)
	ep := f.endpoint(t, "https://c.example/hook", bytes.Repeat([]byte{'c'}, 32))
	const failingOrigins = "https://b.example:443 https://c.example:443"
	respond := func(_ context.Context, r core.Request) (core.Outcome, error) {
		if strings.Contains(failingOrigins, r.Origin) {
			return core.Outcome{StatusCode: 500, Duration: 3 * time.Millisecond}, nil
		}
		return core.Outcome{StatusCode: 200, Duration: 2 * time.Millisecond}, nil
	}
	var logs testkit.LogBuffer
	w, err := dispatch.NewWorker(dispatch.Ports{Store: f.store, Sender: memory.NewSender(respond), Clock: f.clock,
		Metrics: memory.NewMetrics(), Box: f.box, Endpoints: f.store},
		slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), config())
	if err != nil {
		t.Fatal(err)
	}
	ok := f.add(t, targetA)
	retried := f.add(t, targetB)
	viaEndpoint := f.send(t, "order.paid").Deliveries[0]
	if viaEndpoint.EndpointID != ep.ID {
		t.Fatalf("the endpoint event went to %s, want %s", viaEndpoint.EndpointID, ep.ID)
	}
	for range 3 { // MaxAttempts: attempts 1 and 2 are retried, 3 is dead
		if _, err := w.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
	}

	want := map[core.DeliveryID][]string{
		ok.ID: {"DEBUG pickup 1", "INFO delivered 1"},
		retried.ID: {"DEBUG pickup 1", "INFO attempt failed; will retry 1", "DEBUG pickup 2", "INFO attempt failed; will retry 2",
			"DEBUG pickup 3", "WARN dead 3"},
	}
	want[viaEndpoint.ID] = want[retried.ID]
	origins := map[core.DeliveryID]string{ok.ID: originA, retried.ID: "https://b.example:443", viaEndpoint.ID: "https://c.example:443"}
	got := make(map[core.DeliveryID][]string)
	for _, rec := range logs.Records(t) {
		id := core.DeliveryID(fmt.Sprint(rec["delivery_id"]))
		if _, ours := want[id]; !ours {
			t.Errorf("a line names no delivery of ours: %v", rec)
			continue
		}
		for _, key := range []string{"event_id", "delivery_id", "origin", "attempt", "target"} {
			if _, has := rec[key]; !has {
				t.Errorf("line %v has no %s", rec, key)
			}
		}
		if rec["origin"] != origins[id] {
			t.Errorf("line %v: origin %v, want %s", rec, rec["origin"], origins[id])
		}
		if epID, has := rec["endpoint_id"]; (id == viaEndpoint.ID) != has || (has && epID != string(ep.ID)) {
			t.Errorf("line %v: endpoint_id %v, want %s on the endpoint delivery's lines only", rec, epID, ep.ID)
		}
		if msg := rec["msg"]; msg != "pickup" {
			if _, has := rec["duration_ms"]; !has {
				t.Errorf("outcome line %v has no duration_ms", rec)
			}
		}
		got[id] = append(got[id], fmt.Sprintf("%v %v %v", rec["level"], rec["msg"], rec["attempt"]))
	}
	for id, lines := range want {
		if fmt.Sprint(got[id]) != fmt.Sprint(lines) {
			t.Errorf("delivery %s: lines (level msg attempt)\n got %q\nwant %q", id, got[id], lines)
		}
	}
	// No key is written twice on a line (slog would write both).
	for line := range strings.Lines(logs.String()) {
		for _, key := range []string{`"origin":`, `"event_id":`, `"attempt":`} {
			if strings.Count(line, key) != 1 {
				t.Errorf("%s %d times in %s", key, strings.Count(line, key), line)
			}
		}
	}
}
