package porttest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// The fan-out cases: events routed to endpoints, which every store keeps
// beside its events (ports.EndpointStore), and read in the transaction that
// stores an event.

func endpointsOf(t *testing.T, st ports.EventStore) ports.EndpointStore {
	t.Helper()
	eps, ok := st.(ports.EndpointStore)
	if !ok {
		t.Fatalf("%T is an EventStore but not an EndpointStore; every store must be both", st)
	}
	return eps
}

// fanOutFixture registers four endpoints: paid (order.paid), all (every
// type), invoices (invoice.sent), off (order.paid, disabled).
type fanOutFixture struct {
	paid, all, invoices, off core.Endpoint
}

func newFanOut(t *testing.T, st ports.EventStore) fanOutFixture {
	t.Helper()
	eps := endpointsOf(t, st)
	mk := func(url string, disabled bool, types ...string) core.Endpoint {
		e := NewEndpoint(t, url)
		e.EventTypes, e.Disabled = types, disabled
		e.Secret = []byte("sealed " + url)
		return createEndpoint(t, eps, e, at(0))
	}
	return fanOutFixture{
		paid:     mk("https://paid.example/hooks", false, "order.paid"),
		all:      mk("http://all.example:8080/", false),
		invoices: mk("https://invoices.example/in", false, "invoice.sent"),
		off:      mk("https://off.example/", true, "order.paid"),
	}
}

func endpointIDs(ds []core.Delivery) []core.EndpointID {
	out := make([]core.EndpointID, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.EndpointID)
	}
	slices.Sort(out)
	return out
}

func sortedIDs(ids ...core.EndpointID) []core.EndpointID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func (s suite) fanOutByType(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	f := newFanOut(t, st)
	e := NewTypedEvent(t, "order.paid", `{"order":1}`)
	in := insertEvent(t, st, e, at(0))
	if want := sortedIDs(f.paid.ID, f.all.ID); !slices.Equal(endpointIDs(in.Deliveries), want) {
		t.Fatalf("order.paid went to %v, want the enabled subscribers %v", endpointIDs(in.Deliveries), want)
	}
	seen := map[core.DeliveryID]bool{}
	for _, d := range in.Deliveries {
		ep := f.paid
		if d.EndpointID == f.all.ID {
			ep = f.all
		}
		if d.EventID != e.ID || d.ID == e.ID || seen[d.ID] || d.TargetURL != ep.URL || d.Origin != ep.Origin ||
			d.Status != core.StatusPending || d.AttemptedCount != 0 {
			t.Errorf("delivery %+v: want its own id, event %s, endpoint %s's URL and origin, pending", d, e.ID, ep.ID)
		}
		seen[d.ID] = true
		sameTime(t, "delivery NextAttemptAt", d.NextAttemptAt, T0)
	}
	rec, err := st.Event(ctx, e.ID)
	if err != nil || rec.Event.EventType != "order.paid" || rec.Event.TargetURL != "" || len(rec.Deliveries) != 2 {
		t.Fatalf("Event = %+v, %v; want the typed event and its 2 deliveries", rec, err)
	}

	// A claim carries the event's body and the endpoint's URL and keys.
	got := claim(t, st, "w1", 10, at(time.Second))
	if len(got) != 2 {
		t.Fatalf("claimed %d deliveries, want 2", len(got))
	}
	for _, d := range got {
		ep := f.paid
		if d.EndpointID == f.all.ID {
			ep = f.all
		}
		if !bytes.Equal(d.Body, e.Body) || d.TargetURL != ep.URL || d.Endpoint == nil || !bytes.Equal(d.Endpoint.Current, ep.Secret) ||
			d.Endpoint.Previous != nil || d.Endpoint.PreviousUntil != nil {
			t.Errorf("claimed %+v: want the body, %s and the sealed secret of %s", d, ep.URL, ep.ID)
		}
		if string(d.Payload()) != `{"order":1}` {
			t.Errorf("Payload() = %s", d.Payload())
		}
	}

	// Only the catch-all wants refund.issued.
	refund := insertEvent(t, st, NewTypedEvent(t, "refund.issued", `{}`), at(0))
	if !slices.Equal(endpointIDs(refund.Deliveries), []core.EndpointID{f.all.ID}) {
		t.Errorf("refund.issued went to %v, want only %s", endpointIDs(refund.Deliveries), f.all.ID)
	}
	// Nobody subscribed: stored, with no delivery.
	empty := s.newStore(t)
	lonely := insertEvent(t, empty, NewTypedEvent(t, "refund.issued", `{}`), at(0))
	if len(lonely.Deliveries) != 0 {
		t.Errorf("refund.issued with no endpoint: %d deliveries, want 0", len(lonely.Deliveries))
	}
	if rec, err := empty.Event(ctx, lonely.Event.ID); err != nil || len(rec.Deliveries) != 0 {
		t.Errorf("Event of an unrouted event = %+v, %v", rec, err)
	}
	// invoice.sent: the invoices endpoint and the catch-all.
	inv := insertEvent(t, st, NewTypedEvent(t, "invoice.sent", `{}`), at(0))
	if want := sortedIDs(f.invoices.ID, f.all.ID); !slices.Equal(endpointIDs(inv.Deliveries), want) {
		t.Errorf("invoice.sent went to %v, want %v", endpointIDs(inv.Deliveries), want)
	}
}

func (s suite) fanOutToOneEndpoint(t *testing.T) {
	st := s.newStore(t)
	f := newFanOut(t, st)
	e := NewTypedEvent(t, "order.paid", `{}`)
	e.EndpointID = f.invoices.ID // named: its type filter does not apply
	in := insertEvent(t, st, e, at(0))
	if !slices.Equal(endpointIDs(in.Deliveries), []core.EndpointID{f.invoices.ID}) {
		t.Errorf("to one endpoint: went to %v, want only %s", endpointIDs(in.Deliveries), f.invoices.ID)
	}
	if in.Event.EndpointID != f.invoices.ID {
		t.Errorf("event's EndpointID = %q", in.Event.EndpointID)
	}
	off := NewTypedEvent(t, "order.paid", `{}`)
	off.EndpointID = f.off.ID
	if in := insertEvent(t, st, off, at(0)); len(in.Deliveries) != 0 {
		t.Errorf("to a disabled endpoint: %d deliveries, want 0", len(in.Deliveries))
	}
}

func (s suite) fanOutIdempotency(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	newFanOut(t, st)
	first := NewTypedEvent(t, "order.paid", `{}`)
	first.IdempotencyKey = "k"
	in := insertEvent(t, st, first, at(0))
	again := NewTypedEvent(t, "order.paid", `{}`)
	again.IdempotencyKey = "k"
	got, err := st.Insert(ctx, ports.InsertParams{Event: again, Now: at(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Created || got.Event.ID != first.ID || !slices.Equal(ids(got.Deliveries), ids(in.Deliveries)) {
		t.Errorf("replayed key: %+v; want the first event and its deliveries %v", got, ids(in.Deliveries))
	}
	if n := len(claim(t, st, "w1", 10, at(time.Second))); n != 2 {
		t.Errorf("claimable deliveries after a replayed key: %d, want 2", n)
	}
}

func (s suite) fanOutListFilters(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	f := newFanOut(t, st)
	paid := insertEvent(t, st, NewTypedEvent(t, "order.paid", `{}`), at(0))            // paid, all
	inv := insertEvent(t, st, NewTypedEvent(t, "invoice.sent", `{}`), at(time.Second)) // invoices, all
	seed := insert(t, st, NewEvent(t, targetA, `{}`), at(2*time.Second))
	// One delivery of the paid event dies; its other stays pending.
	now := at(3 * time.Second)
	for _, d := range claim(t, st, "w1", 10, now) {
		dec := retry5s
		if d.EventID == paid.Event.ID && d.EndpointID == f.paid.ID {
			dec = gone
		}
		if err := complete(t, st, "w1", d, dec, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    ports.ListFilter
		want []core.EventID
	}{
		{"all", ports.ListFilter{}, []core.EventID{seed.ID, inv.Event.ID, paid.Event.ID}},
		{"endpoint all", ports.ListFilter{EndpointID: f.all.ID}, []core.EventID{inv.Event.ID, paid.Event.ID}},
		{"endpoint paid", ports.ListFilter{EndpointID: f.paid.ID}, []core.EventID{paid.Event.ID}},
		{"endpoint off", ports.ListFilter{EndpointID: f.off.ID}, []core.EventID{}},
		{"type", ports.ListFilter{EventType: "invoice.sent"}, []core.EventID{inv.Event.ID}},
		{"dead", ports.ListFilter{Status: core.StatusDead}, []core.EventID{paid.Event.ID}},
		{"pending", ports.ListFilter{Status: core.StatusPending}, []core.EventID{seed.ID, inv.Event.ID, paid.Event.ID}},
		{"dead to all", ports.ListFilter{Status: core.StatusDead, EndpointID: f.all.ID}, []core.EventID{}},
		{"pending of a type", ports.ListFilter{Status: core.StatusPending, EventType: "order.paid"}, []core.EventID{paid.Event.ID}},
	} {
		tc.f.Page, tc.f.Limit = 1, 10
		res, err := st.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := eventIDs(res.Events); res.Total != len(tc.want) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: total %d, events %v; want %v", tc.name, res.Total, got, tc.want)
		}
	}
	res, err := st.List(ctx, ports.ListFilter{EventType: "order.paid", Page: 1, Limit: 10})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("list order.paid: %+v %v", res, err)
	}
	if r := res.Events[0]; len(r.Deliveries) != 2 || core.EventStatus(r.Deliveries) != core.StatusPending ||
		!bytes.Equal(r.Event.Body, paid.Event.Body) {
		t.Errorf("listed %+v: want both deliveries (dead and pending) and the body", r)
	}
}

// What a claim reads from the endpoint is its state at claim time: a
// rotation signs the next attempt, a move sends it to the new URL, and
// disabling the endpoint ends its pending deliveries.
func (s suite) fanOutEndpointChanges(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	eps := endpointsOf(t, st)
	f := newFanOut(t, st)
	for range 3 {
		insertEvent(t, st, NewTypedEvent(t, "invoice.sent", `{}`), at(0)) // invoices, all
	}
	until := T0.Add(time.Hour)
	if _, err := eps.UpdateEndpoint(ctx, f.invoices.ID, at(0), func(e *core.Endpoint) error {
		e.PreviousSecret, e.PreviousSecretUntil, e.Secret = e.Secret, &until, []byte("rotated")
		e.URL, e.Origin = "https://moved.example:8443/in", "https://moved.example:8443"
		e.RateLimitPerSecond, e.FailingSince = 7, at(-time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.UpdateEndpoint(ctx, f.all.ID, at(0), func(e *core.Endpoint) error {
		e.Disabled = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Disabling ends the endpoint's pending deliveries (re-enabling and a
	// replay bring them back).
	res, err := st.List(ctx, ports.ListFilter{EndpointID: f.all.ID, Page: 1, Limit: 10})
	if err != nil || len(res.Events) != 3 {
		t.Fatalf("List by endpoint: %+v %v", res, err)
	}
	for _, r := range res.Events {
		for _, d := range r.Deliveries {
			if d.EndpointID == f.all.ID && (d.Status != core.StatusDead || d.LastError != core.ErrorEndpointDisabled) {
				t.Errorf("delivery of a disabled endpoint: %s %q; want dead, %q", d.Status, d.LastError, core.ErrorEndpointDisabled)
			}
		}
	}
	got := claim(t, st, "w1", 1, at(time.Second))
	if len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	for _, d := range got {
		if d.EndpointID != f.invoices.ID || d.TargetURL != "https://moved.example:8443/in" || d.Origin != "https://moved.example:8443" ||
			d.Endpoint == nil || string(d.Endpoint.Current) != "rotated" || !bytes.Equal(d.Endpoint.Previous, f.invoices.Secret) ||
			d.Endpoint.PreviousUntil == nil || !d.Endpoint.PreviousUntil.Equal(until) ||
			d.Endpoint.RateLimitPerSecond != 7 || d.Endpoint.FailingSince == nil || !d.Endpoint.FailingSince.Equal(T0.Add(-time.Minute)) {
			t.Errorf("after rotation and a move: %+v endpoint %+v", d, d.Endpoint)
		}
	}
	// A moved endpoint's pending deliveries moved with it: they are
	// parked and excluded under the new origin.
	rest, err := st.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: lease, MaxAttempts: 10,
		ExcludeOrigins: []string{"https://moved.example:8443"}, Now: at(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rest {
		if d.EndpointID == f.invoices.ID {
			t.Errorf("a delivery of the moved endpoint was claimed past its new origin's exclusion: %+v", d)
		}
	}
}

func (s suite) fanOutEndpointDeleted(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	eps := endpointsOf(t, st)
	f := newFanOut(t, st)
	in := insertEvent(t, st, NewTypedEvent(t, "order.paid", `{}`), at(0)) // paid, all
	inFlight := insertEvent(t, st, NewTypedEvent(t, "invoice.sent", `{}`), at(0))
	var leased core.Delivery
	for _, d := range inFlight.Deliveries {
		if d.EndpointID == f.all.ID {
			leased = d
		}
	}
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: lease, MaxAttempts: 10, Now: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	var claimed core.Delivery
	for _, d := range got {
		if d.ID == leased.ID {
			claimed = d
		} else if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{{ID: d.ID, Attempt: 1, Seq: d.ClaimSeq}}, Now: at(0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := eps.DeleteEndpoint(ctx, f.all.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Event(ctx, in.Event.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rec.Deliveries {
		switch d.EndpointID {
		case f.all.ID:
			if d.Status != core.StatusDead || d.LastError != core.ErrorEndpointDeleted {
				t.Errorf("pending delivery of a deleted endpoint: %s %q; want dead, %q", d.Status, d.LastError, core.ErrorEndpointDeleted)
			}
		case f.paid.ID:
			if d.Status != core.StatusPending {
				t.Errorf("another endpoint's delivery: %s, want pending", d.Status)
			}
		}
	}
	// In flight during the delete: finished by its worker, unharmed; a
	// later claim (after a retry) finds no endpoint and no keys.
	if d := get(t, st, claimed.ID); d.Status != core.StatusDelivering {
		t.Errorf("in-flight delivery after the delete: %s, want delivering", d.Status)
	}
	if err := complete(t, st, "w1", claimed, retry5s, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, d := range claim(t, st, "w2", 10, at(time.Minute)) {
		if d.ID == claimed.ID && d.Endpoint != nil {
			t.Errorf("claimed after its endpoint was deleted with keys %+v; want none", d.Endpoint)
		}
	}
	if _, err := st.Event(ctx, in.Event.ID); errors.Is(err, core.ErrNotFound) {
		t.Errorf("deleting an endpoint deleted an event")
	}
}

// fanOutRecoverByEndpoint: a recovery by endpoint queues that endpoint's
// dead deliveries, none of another endpoint of the same event.
func (s suite) fanOutRecoverByEndpoint(t *testing.T) {
	st := s.newStore(t)
	f := newFanOut(t, st)
	paid := insertEvent(t, st, NewTypedEvent(t, "order.paid", `{}`), at(0)) // paid, all
	finish(t, st, at(time.Second), func(core.Delivery) core.Decision { return gone })
	res := recoverBy(t, st, ports.RecoverParams{Filter: ports.RecoverFilter{Status: core.StatusDead, EndpointID: f.paid.ID},
		RatePerSecond: 20, Limit: 10, Now: at(time.Minute)})
	if res.Queued != 1 || res.More {
		t.Fatalf("recover the paid endpoint: %+v, want 1", res)
	}
	for _, d := range paid.Deliveries {
		want := core.StatusDead
		if d.EndpointID == f.paid.ID {
			want = core.StatusPending
		}
		if got := get(t, st, d.ID).Status; got != want {
			t.Errorf("delivery to %s: %s, want %s", d.EndpointID, got, want)
		}
	}
}
