package dispatch_test

import (
	"bytes"
	"slices"
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

func newEndpointFixture(t *testing.T) endpointFixture {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: memory.NewClock(porttest.T0)}
	f.store = memory.NewStore(f.clock)
	f.sender = memory.NewSender(status(200))
	f.worker = newWorker(t, dispatch.Ports{Store: f.store, Sender: f.sender, Clock: f.clock, Box: box}, config())
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
