package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// endpointFixture is a worker over a store holding endpoints whose secrets
// are sealed under a real key.
type endpointFixture struct {
	*fixture
	box *secretbox.Box
}

func newEndpointFixture(t *testing.T, mod ...func(*dispatch.Config)) endpointFixture {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: memory.NewClock(porttest.T0)}
	f.store = memory.NewStore(f.clock)
	f.sender = memory.NewSender(status(200))
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Box: box, Endpoints: f.store}, config(mod...))
	return endpointFixture{fixture: f, box: box}
}

func (f endpointFixture) endpoint(t *testing.T, url string, key []byte, types ...string) core.Endpoint {
	t.Helper()
	e := porttest.NewEndpoint(t, url)
	e.EventTypes = types
	e.Secret = f.box.Seal(key, string(e.ID))
	got, err := f.store.CreateEndpoint(t.Context(), e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f endpointFixture) send(t *testing.T, eventType string) ports.Inserted {
	t.Helper()
	in, err := f.store.Insert(t.Context(), ports.InsertParams{Event: porttest.NewTypedEvent(t, eventType, `{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestEndpointDeliveriesAreSignedWithTheirOwnKeys(t *testing.T) {
	t.Parallel()
	f := newEndpointFixture(t)
	keyA, keyB := bytes.Repeat([]byte{'a'}, 32), bytes.Repeat([]byte{'b'}, 32)
	a := f.endpoint(t, "https://a.example/hook", keyA, "order.paid")
	b := f.endpoint(t, "https://b.example/hook", keyB)
	in := f.send(t, "order.paid")
	f.runOnce(t)
	sent := f.sender.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d requests, want one per endpoint", len(sent))
	}
	for _, r := range sent {
		want := keyA
		if r.TargetURL == b.URL {
			want = keyB
		}
		if r.EventID != in.Event.ID || !bytes.Equal(r.Body, in.Event.Body) || len(r.Keys) != 1 || !bytes.Equal(r.Keys[0], want) {
			t.Errorf("request to %s: event %s keys %q; want event %s signed with its endpoint's key only", r.TargetURL, r.EventID, r.Keys, in.Event.ID)
		}
	}

	// A rotation: the previous key signs beside the new one during its
	// grace, then no more.
	keyA2 := bytes.Repeat([]byte{'c'}, 32)
	until := f.clock.Now().Add(time.Hour)
	if _, err := f.store.UpdateEndpoint(t.Context(), a.ID, nil, func(e *core.Endpoint) error {
		e.PreviousSecret, e.PreviousSecretUntil, e.Secret = e.Secret, &until, f.box.Seal(keyA2, string(e.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.send(t, "order.paid")
	f.runOnce(t)
	f.clock.Set(until)
	f.send(t, "order.paid")
	f.runOnce(t)
	var toA [][][]byte
	for _, r := range f.sender.Sent()[2:] {
		if r.TargetURL == a.URL {
			toA = append(toA, r.Keys)
		}
	}
	if len(toA) != 2 || !slices.EqualFunc(toA[0], [][]byte{keyA2, keyA}, bytes.Equal) || !slices.EqualFunc(toA[1], [][]byte{keyA2}, bytes.Equal) {
		t.Errorf("keys after rotation: %q; want [new, previous] in the grace, then [new]", toA)
	}
}

func TestDeliveryToADeletedEndpointEndsWithoutARequest(t *testing.T) {
	t.Parallel()
	f := newEndpointFixture(t)
	a := f.endpoint(t, "https://a.example/hook", bytes.Repeat([]byte{'a'}, 32))
	in := f.send(t, "order.paid")
	claimed, err := f.store.Claim(t.Context(), ports.ClaimParams{Worker: "other", Limit: 1, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if err := f.store.DeleteEndpoint(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	// Its worker was lost; the lease expires and this worker claims it.
	f.clock.Advance(2 * time.Minute)
	f.runOnce(t)
	if n := len(f.sender.Sent()); n != 0 {
		t.Errorf("%d requests to a deleted endpoint, want 0", n)
	}
	got := f.get(t, in.Deliveries[0].ID)
	if got.Status != core.StatusDead || got.AttemptedCount != 1 {
		t.Errorf("delivery to a deleted endpoint: %s, %d attempts; want dead, only the lost attempt counted", got.Status, got.AttemptedCount)
	}
}

func TestUnopenableSecretHoldsTheDelivery(t *testing.T) {
	t.Parallel()
	f := newEndpointFixture(t)
	f.endpoint(t, "https://a.example/hook", bytes.Repeat([]byte{'a'}, 32))
	in := f.send(t, "order.paid")
	// A worker without ENCRYPTION_KEY cannot open the sealed secret.
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock}, config())
	f.runOnce(t)
	if n := len(f.sender.Sent()); n != 0 {
		t.Errorf("%d requests sent without the endpoint's key, want 0", n)
	}
	got := f.get(t, in.Deliveries[0].ID)
	if got.Status != core.StatusPending || got.AttemptedCount != 0 || !got.NextAttemptAt.After(f.clock.Now()) {
		t.Errorf("held delivery: %s, %d attempts, next %s; want pending, none spent, later", got.Status, got.AttemptedCount, got.NextAttemptAt)
	}
}

func TestRateLimitedEndpointGetsItsRate(t *testing.T) {
	t.Parallel()
	f := newEndpointFixture(t, func(c *dispatch.Config) { c.BatchSize, c.Concurrency = 20, 20 })
	ep := f.endpoint(t, "https://a.example/hook", bytes.Repeat([]byte{'a'}, 32))
	free := f.endpoint(t, "https://b.example/hook", bytes.Repeat([]byte{'b'}, 32))
	if _, err := f.store.UpdateEndpoint(t.Context(), ep.ID, nil, func(e *core.Endpoint) error {
		e.RateLimitPerSecond = 2
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		f.send(t, "order.paid")
	}
	countTo := func(url string) int {
		n := 0
		for _, r := range f.sender.Sent() {
			if r.TargetURL == url {
				n++
			}
		}
		return n
	}
	f.runOnce(t)
	if a, b := countTo(ep.URL), countTo(free.URL); a != 2 || b != 6 {
		t.Fatalf("first round: %d to the limited endpoint (want its 2 per second), %d to the other (want all 6)", a, b)
	}
	res, err := f.store.List(t.Context(), ports.ListFilter{EndpointID: ep.ID, Status: core.StatusPending, Page: 1, Limit: 10})
	if err != nil || res.Total != 4 {
		t.Fatalf("held deliveries: %d pending, %v; want 4", res.Total, err)
	}
	for _, r := range res.Events {
		for _, d := range r.Deliveries {
			if d.EndpointID == ep.ID && (d.AttemptedCount != 0 || !d.NextAttemptAt.After(f.clock.Now())) {
				t.Errorf("held delivery: %d attempts, due %s; want none spent, due later", d.AttemptedCount, d.NextAttemptAt)
			}
		}
	}
	f.runOnce(t) // no token yet: nothing more is sent
	if a := countTo(ep.URL); a != 2 {
		t.Errorf("within the same second: %d requests, want still 2", a)
	}
	f.clock.Advance(time.Second)
	f.runOnce(t)
	if a := countTo(ep.URL); a != 4 {
		t.Errorf("a second later: %d requests, want 4", a)
	}
}

// failing answers 500 to the endpoint at url, 200 elsewhere.
func failing(url string) func(context.Context, core.Request) (core.Outcome, error) {
	return func(_ context.Context, r core.Request) (core.Outcome, error) {
		if r.TargetURL == url {
			return core.Outcome{StatusCode: 500, Duration: time.Millisecond}, nil
		}
		return core.Outcome{StatusCode: 200, Duration: time.Millisecond}, nil
	}
}

func TestEndpointFailingTooLongIsDisabledAndTheOperatorTold(t *testing.T) {
	t.Parallel()
	const ops = "https://ops.example/webhookd"
	f := newEndpointFixture(t)
	ep := f.endpoint(t, "https://a.example/hook", bytes.Repeat([]byte{'a'}, 32))
	f.sender = memory.NewSender(failing(ep.URL))
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Box: f.box, Endpoints: f.store},
		config(func(c *dispatch.Config) { c.DisableAfter, c.OperationalURL, c.Policy.MaxAttempts = time.Hour, ops, 100 }))
	first := f.send(t, "order.paid")
	f.runOnce(t)
	got, _ := f.store.GetEndpoint(t.Context(), ep.ID)
	if got.FailingSince == nil || !got.FailingSince.Equal(porttest.T0) || got.Disabled {
		t.Fatalf("after a failure: failing since %v, disabled %v; want since T0, enabled", got.FailingSince, got.Disabled)
	}
	second := f.send(t, "order.paid")
	f.clock.Advance(59 * time.Minute)
	f.runOnce(t)
	if got, _ := f.store.GetEndpoint(t.Context(), ep.ID); got.Disabled {
		t.Fatal("disabled before ENDPOINT_DISABLE_AFTER_MS")
	}
	f.clock.Advance(2 * time.Minute)
	f.runOnce(t)
	got, _ = f.store.GetEndpoint(t.Context(), ep.ID)
	if !got.Disabled || !strings.Contains(got.DisabledReason, "without a success since") {
		t.Fatalf("after an hour of failures: disabled %v (%q); want disabled with a reason", got.Disabled, got.DisabledReason)
	}
	for _, in := range []ports.Inserted{first, second} {
		if d := f.get(t, in.Deliveries[0].ID); d.Status != core.StatusDead {
			t.Errorf("delivery of the disabled endpoint: %s, want dead", d.Status)
		}
	}
	// The operator's webhook is queued, and delivered like any event.
	res, err := f.store.List(t.Context(), ports.ListFilter{EventType: dispatch.EventEndpointDisabled, Page: 1, Limit: 10})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("endpoint.disabled events: %+v %v; want 1", res, err)
	}
	ev := res.Events[0].Event
	var body struct {
		Type string
		Data struct {
			EndpointID string `json:"endpoint_id"`
			Reason     string
		}
	}
	if err := json.Unmarshal(ev.Payload(), &body); err != nil || ev.TargetURL != ops || body.Type != dispatch.EventEndpointDisabled ||
		body.Data.EndpointID != string(ep.ID) || body.Data.Reason != got.DisabledReason {
		t.Errorf("operational webhook %s to %s: %s (%v)", ev.ID, ev.TargetURL, ev.Payload(), err)
	}
	sent := len(f.sender.Sent())
	f.runOnce(t)
	if len(f.sender.Sent()) != sent+1 || f.sender.Sent()[sent].TargetURL != ops || f.sender.Sent()[sent].Keys != nil {
		t.Errorf("the operational webhook was not sent to %s signed with HMAC_SECRET", ops)
	}
	// Re-enabled: a success ends the run of failures.
	f.sender = memory.NewSender(status(200))
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Box: f.box, Endpoints: f.store},
		config(func(c *dispatch.Config) { c.DisableAfter, c.OperationalURL = time.Hour, ops }))
	if _, err := f.store.UpdateEndpoint(t.Context(), ep.ID, nil, func(e *core.Endpoint) error {
		e.Disabled, e.DisabledReason = false, ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Replay(t.Context(), ports.ReplayParams{ID: first.Deliveries[0].ID}); err != nil {
		t.Fatal(err)
	}
	f.runOnce(t)
	if got, _ := f.store.GetEndpoint(t.Context(), ep.ID); got.FailingSince != nil {
		t.Errorf("after a success: failing since %v, want nil", got.FailingSince)
	}
}

func TestDeadDeliveryIsReportedButNotAReport(t *testing.T) {
	t.Parallel()
	const ops = "https://ops.example/webhookd"
	f := newFixture(t, status(410), func(c *dispatch.Config) { c.OperationalURL = ops })
	e := f.add(t, targetA)
	f.runOnce(t) // 410: dead, reported
	res, err := f.store.List(t.Context(), ports.ListFilter{EventType: dispatch.EventDeliveryDead, Page: 1, Limit: 10})
	if err != nil || len(res.Events) != 1 || !strings.Contains(string(res.Events[0].Event.Payload()), string(e.ID)) {
		t.Fatalf("delivery.dead events: %+v %v; want one naming %s", res, err, e.ID)
	}
	f.runOnce(t) // the report itself gets a 410: dead, and not reported
	if res, _ := f.store.List(t.Context(), ports.ListFilter{EventType: dispatch.EventDeliveryDead, Page: 1, Limit: 10}); res.Total != 1 {
		t.Errorf("%d delivery.dead events; a dead report must not be reported", res.Total)
	}
}
