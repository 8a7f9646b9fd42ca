// Package porttest holds the contract suites of the driven ports. Every
// implementation (the in-memory fake and each real adapter) runs the same
// suite, so a fake can never drift from the real thing.
package porttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// T0 is the fixed "now" the suite runs at. Whole milliseconds, so that
// every store can represent it exactly.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// NewEvent builds a valid event for target with payload, as ingest would.
func NewEvent(t testing.TB, target, payload string) core.Event {
	t.Helper()
	origin, err := core.ValidateTargetURL(target)
	if err != nil {
		t.Fatalf("target %q: %v", target, err)
	}
	if err := core.ValidatePayload([]byte(payload), 0); err != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	id := core.NewEventID(time.Now())
	return core.Event{ID: id, TargetURL: target, Origin: origin, Body: core.BuildBody([]byte(payload), id)}
}

// NewTypedEvent builds a valid event of type eventType for the endpoints
// subscribed to it, as ingest would.
func NewTypedEvent(t testing.TB, eventType, payload string) core.Event {
	t.Helper()
	if err := core.ValidateEventType(eventType); err != nil {
		t.Fatalf("event type %q: %v", eventType, err)
	}
	id := core.NewEventID(time.Now())
	return core.Event{ID: id, EventType: eventType, Body: core.BuildBody([]byte(payload), id)}
}

func at(d time.Duration) *time.Time { t := T0.Add(d); return &t }

const (
	targetA = "https://merchant-a.example/hooks"
	targetB = "http://merchant-b.example:8080/webhook"
	lease   = 30 * time.Second
)

// RunEventStore runs the EventStore contract. newStore must return an
// empty store, independent of every other store it returned (tests run in
// parallel).
func RunEventStore(t *testing.T, newStore func(t *testing.T) ports.EventStore) {
	s := suite{newStore: newStore}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"InsertGetRoundTrip", s.insertGetRoundTrip},
		{"GetUnknown", s.getUnknown},
		{"IdempotencyKey", s.idempotencyKey},
		{"ListNewestFirstWithPaging", s.listPaging},
		{"ListStatusFilter", s.listStatusFilter},
		{"ListByCursor", s.listCursorPaging},
		{"ListByOriginAndWindow", s.listOriginAndWindow},
		{"ListLeavesLargeBodiesOut", s.listLeavesLargeBodiesOut},
		{"ListTotalIsCapped", s.listTotalIsCapped},
		{"RecoverPacedPerOrigin", s.recoverPaced},
		{"RecoverFilters", s.recoverFilters},
		{"ClaimOnlyDue", s.claimOnlyDue},
		{"ClaimOldestDueFirstUpToLimit", s.claimOrderLimit},
		{"ClaimSkipsLeasedRows", s.claimSkipsLeased},
		{"ClaimCountsAttempt", s.claimCountsAttempt},
		{"ExpiredLeaseIsClaimableAgain", s.expiredLease},
		{"ClaimExcludesOrigins", s.claimExcludes},
		{"ClaimCapsPerOrigin", s.claimCapsPerOrigin},
		{"ClaimAbandonsLostFinalAttempt", s.claimAbandons},
		{"CompleteSuccess", s.completeSuccess},
		{"CompleteRetryAndHistory", s.completeRetry},
		{"CompleteDead", s.completeDead},
		{"CompleteGuardedByClaim", s.completeGuarded},
		{"CompleteRefundGivesTheAttemptBack", s.completeRefund},
		{"StaleClaimAfterReplayIsRefused", s.staleClaimAfterReplay},
		{"ReleaseWithoutSpendingAttempt", s.release},
		{"ReleaseParksAndProbesTheTarget", s.releaseParks},
		{"LostProbeIsTakenAgain", s.lostProbe},
		{"ReplayRules", s.replayRules},
		{"ConcurrentClaimsNeverOverlap", s.concurrentClaims},
		{"OddBytesAreKept", s.oddBytes},
		{"FanOutByEventType", s.fanOutByType},
		{"FanOutToOneEndpoint", s.fanOutToOneEndpoint},
		{"FanOutIdempotency", s.fanOutIdempotency},
		{"FanOutListFilters", s.fanOutListFilters},
		{"FanOutRecoverByEndpoint", s.fanOutRecoverByEndpoint},
		{"FanOutFollowsEndpointChanges", s.fanOutEndpointChanges},
		{"FanOutEndpointDeleted", s.fanOutEndpointDeleted},
		{"Ping", s.ping},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newStore func(t *testing.T) ports.EventStore
}

// insert stores a target_url event and returns its one delivery.
func insert(t *testing.T, st ports.EventStore, e core.Event, now *time.Time) core.Delivery {
	t.Helper()
	in := insertEvent(t, st, e, now)
	if len(in.Deliveries) != 1 {
		t.Fatalf("Insert of a target_url event: %d deliveries, want 1", len(in.Deliveries))
	}
	return in.Deliveries[0]
}

// insertEvent stores a new event.
func insertEvent(t *testing.T, st ports.EventStore, e core.Event, now *time.Time) ports.Inserted {
	t.Helper()
	in, err := st.Insert(t.Context(), ports.InsertParams{Event: e, Now: now})
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if !in.Created {
		t.Fatalf("Insert: created = false for a new event")
	}
	return in
}

func get(t *testing.T, st ports.EventStore, id core.EventID) core.Delivery {
	t.Helper()
	ctx := t.Context()
	e, err := st.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

func claim(t *testing.T, st ports.EventStore, worker string, limit int, now *time.Time) []core.Delivery {
	t.Helper()
	ctx := t.Context()
	evs, err := st.Claim(ctx, ports.ClaimParams{Worker: worker, Limit: limit, Lease: lease, MaxAttempts: 10, Now: now})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return evs
}

func claimOne(t *testing.T, st ports.EventStore, worker string, now *time.Time) core.Delivery {
	t.Helper()
	evs := claim(t, st, worker, 1, now)
	if len(evs) != 1 {
		t.Fatalf("Claim by %s: got %d events, want 1", worker, len(evs))
	}
	return evs[0]
}

func ids(evs []core.Delivery) []core.DeliveryID {
	out := make([]core.DeliveryID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func eventIDs(recs []ports.EventRecord) []core.EventID {
	out := make([]core.EventID, len(recs))
	for i, r := range recs {
		out[i] = r.Event.ID
	}
	return out
}

func sameTime(t *testing.T, what string, got time.Time, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.UTC(), want.UTC())
	}
}

func complete(t *testing.T, st ports.EventStore, worker string, e core.Delivery, d core.Decision, now *time.Time) error {
	t.Helper()
	ctx := t.Context()
	return st.Complete(ctx, ports.CompleteParams{
		Worker: worker, Claim: ports.Claim{ID: e.ID, Attempt: e.AttemptedCount, Seq: e.ClaimSeq}, Decision: d,
		Record: core.Attempt{StartedAt: *now, Duration: 120 * time.Millisecond, StatusCode: d.StatusCode, Error: d.Error, Response: "resp"},
		Now:    now,
	})
}

var (
	success = core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200, Reason: "delivered"}
	retry5s = core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: 5 * time.Second,
		StatusCode: 500, Error: "status 500", Reason: "backoff 5s (attempt 1 of 10)"}
	gone = core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead, StatusCode: 410, Error: "status 410", Reason: "410 Gone"}
)

func (s suite) insertGetRoundTrip(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	// Bytes that a decode/re-encode would change must survive exactly.
	payload := `{ "amount": 12345678901234567890, "rate": 1.0, "b": 1, "a": "é\u0000☃", "a": 2 }`
	e := NewEvent(t, targetA, payload)
	e.IdempotencyKey = "key-1"
	e.EventType = "order.paid"
	in := insertEvent(t, st, e, at(0))
	rec, err := st.Event(ctx, e.ID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	for _, ev := range []core.Event{in.Event, rec.Event} {
		if ev.ID != e.ID || ev.TargetURL != targetA || ev.Origin != "https://merchant-a.example:443" ||
			ev.EventType != "order.paid" || ev.EndpointID != "" || ev.IdempotencyKey != "key-1" {
			t.Errorf("event = %+v", ev)
		}
		if string(ev.Body) != string(e.Body) || string(ev.Payload()) != payload {
			t.Errorf("Body = %s, want %s", ev.Body, e.Body)
		}
		sameTime(t, "event CreatedAt", ev.CreatedAt, T0)
	}
	if len(in.Deliveries) != 1 || len(rec.Deliveries) != 1 {
		t.Fatalf("deliveries: %d inserted, %d read; want 1", len(in.Deliveries), len(rec.Deliveries))
	}
	for _, ev := range []core.Delivery{in.Deliveries[0], rec.Deliveries[0], get(t, st, e.ID)} {
		if ev.ID != e.ID || ev.EventID != e.ID || ev.EndpointID != "" || ev.TargetURL != targetA ||
			ev.Origin != "https://merchant-a.example:443" || ev.Endpoint != nil {
			t.Errorf("identity = %s %s %q %s %s", ev.ID, ev.EventID, ev.EndpointID, ev.TargetURL, ev.Origin)
		}
		if ev.Status != core.StatusPending || ev.AttemptedCount != 0 {
			t.Errorf("status %s attempts %d", ev.Status, ev.AttemptedCount)
		}
		sameTime(t, "CreatedAt", ev.CreatedAt, T0)
		sameTime(t, "UpdatedAt", ev.UpdatedAt, T0)
		sameTime(t, "NextAttemptAt", ev.NextAttemptAt, T0)
		sameTime(t, "ActiveSince", ev.ActiveSince, T0)
		if ev.LastAttemptedAt != nil || ev.LeaseExpiresAt != nil || ev.LockedBy != "" {
			t.Errorf("fresh delivery has attempt/lease state: %+v", ev)
		}
		if ev.LastStatusCode != 0 || ev.LastError != "" {
			t.Errorf("fresh delivery has last outcome %d %q", ev.LastStatusCode, ev.LastError)
		}
	}
	if got := get(t, st, e.ID); string(got.Body) != string(e.Body) || string(got.Payload()) != payload {
		t.Errorf("Get: Body = %s, want %s", got.Body, e.Body)
	}
	atts, err := st.Attempts(ctx, e.ID)
	if err != nil || len(atts) != 0 {
		t.Errorf("Attempts of a fresh delivery = %v, %v; want none", atts, err)
	}
	late := NewEvent(t, targetA, `{}`)
	in, err = st.Insert(ctx, ports.InsertParams{Event: late, DueAt: T0.Add(time.Hour), Now: at(0)})
	if err != nil || len(in.Deliveries) != 1 {
		t.Fatalf("Insert with DueAt: %+v %v", in, err)
	}
	sameTime(t, "NextAttemptAt with DueAt", get(t, st, late.ID).NextAttemptAt, T0.Add(time.Hour))
}

func (s suite) getUnknown(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	id := core.NewEventID(T0)
	if _, err := st.Event(ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Event unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := st.Attempts(ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Attempts unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := st.Replay(ctx, ports.ReplayParams{ID: id, Now: at(0)}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Replay unknown: err = %v, want ErrNotFound", err)
	}
}

func (s suite) idempotencyKey(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	first := NewEvent(t, targetA, `{"n":1}`)
	first.IdempotencyKey = "order-42"
	insert(t, st, first, at(0))

	again := NewEvent(t, targetA, `{"n":1}`)
	again.IdempotencyKey = "order-42"
	got, err := st.Insert(ctx, ports.InsertParams{Event: again, Now: at(time.Second)})
	if err != nil {
		t.Fatalf("second Insert: %v", err)
	}
	if got.Created || got.Event.ID != first.ID || got.Event.IdempotencyKey != "order-42" ||
		len(got.Deliveries) != 1 || got.Deliveries[0].ID != first.ID {
		t.Errorf("second Insert: %+v, want the first event %s and its delivery, not created", got, first.ID)
	}
	other := NewEvent(t, targetA, `{"n":2}`)
	other.IdempotencyKey = "order-43"
	insert(t, st, other, at(time.Second))
	res, err := st.List(ctx, ports.ListFilter{Page: 1, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Events) != 2 {
		t.Errorf("after a duplicate key: total %d, %d events; want 2", res.Total, len(res.Events))
	}
	if _, err := st.Event(ctx, again.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the duplicate was stored: Event = %v", err)
	}
}

func (s suite) listPaging(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	var want []core.EventID
	for i := range 5 {
		e := insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(time.Duration(i)*time.Second))
		want = append([]core.EventID{e.ID}, want...) // newest first
	}
	for _, tc := range []struct {
		page, limit int
		want        []core.EventID
	}{
		{1, 2, want[0:2]}, {2, 2, want[2:4]}, {3, 2, want[4:5]}, {4, 2, nil}, {1, 100, want},
	} {
		res, err := st.List(ctx, ports.ListFilter{Page: tc.page, Limit: tc.limit})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if res.Total != 5 || !slices.Equal(eventIDs(res.Events), tc.want) {
			t.Errorf("page %d limit %d: total %d ids %v; want 5 %v", tc.page, tc.limit, res.Total, eventIDs(res.Events), tc.want)
		}
	}
}

func (s suite) listStatusFilter(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	a := insert(t, st, NewEvent(t, targetA, `{"a":1}`), at(0))
	b := insert(t, st, NewEvent(t, targetA, `{"b":1}`), at(time.Second))
	insert(t, st, NewEvent(t, targetA, `{"c":1}`), at(10*time.Second)) // not yet due at 2s
	now := at(2 * time.Second)
	for _, e := range claim(t, st, "w1", 10, now) {
		d := success
		if e.ID == b.ID {
			d = gone
		}
		if err := complete(t, st, "w1", e, d, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		status core.Status
		want   int
		id     core.EventID
	}{
		{core.StatusSucceeded, 1, a.ID}, {core.StatusDead, 1, b.ID}, {core.StatusPending, 1, ""}, {core.StatusDelivering, 0, ""}, {"", 3, ""},
	} {
		res, err := st.List(ctx, ports.ListFilter{Status: tc.status, Page: 1, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != tc.want || len(res.Events) != tc.want {
			t.Errorf("status %q: total %d len %d, want %d", tc.status, res.Total, len(res.Events), tc.want)
		}
		if tc.id != "" && len(res.Events) == 1 && res.Events[0].Event.ID != tc.id {
			t.Errorf("status %q: got %s want %s", tc.status, res.Events[0].Event.ID, tc.id)
		}
	}
}

func (s suite) claimOnlyDue(t *testing.T) {
	st := s.newStore(t)
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	if got := claim(t, st, "w1", 10, at(-time.Millisecond)); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", ids(got))
	}
	if got := claimOne(t, st, "w1", at(0)); got.ID != e.ID {
		t.Fatalf("claimed %s, want %s", got.ID, e.ID)
	}
	// Retry scheduled 5 s later: not due before that.
	c := get(t, st, e.ID)
	if err := complete(t, st, "w1", c, retry5s, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, st, "w1", 10, at(5999*time.Millisecond)); len(got) != 0 {
		t.Fatalf("claimed a retry before its backoff elapsed")
	}
	if got := claimOne(t, st, "w1", at(6*time.Second)); got.ID != e.ID || got.AttemptedCount != 2 {
		t.Fatalf("retry claim: %s attempts %d", got.ID, got.AttemptedCount)
	}
}

func (s suite) claimOrderLimit(t *testing.T) {
	st := s.newStore(t)
	var want []core.EventID
	for i := range 5 {
		// Inserted newest-due first, so insertion order is not claim order.
		e := insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(time.Duration(-i)*time.Second))
		want = append([]core.EventID{e.ID}, want...)
	}
	got := claim(t, st, "w1", 3, at(0))
	if !slices.Equal(ids(got), want[:3]) {
		t.Errorf("claimed %v, want the 3 oldest due %v", ids(got), want[:3])
	}
	rest := claim(t, st, "w2", 10, at(0))
	if !slices.Equal(ids(rest), want[3:]) {
		t.Errorf("second claim %v, want %v", ids(rest), want[3:])
	}
}

func (s suite) claimSkipsLeased(t *testing.T) {
	st := s.newStore(t)
	for i := range 3 {
		insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(0))
	}
	if got := claim(t, st, "w1", 10, at(0)); len(got) != 3 {
		t.Fatalf("w1 claimed %d, want 3", len(got))
	}
	if got := claim(t, st, "w2", 10, at(lease-time.Millisecond)); len(got) != 0 {
		t.Fatalf("w2 claimed %v while w1's lease is live", ids(got))
	}
}

func (s suite) claimCountsAttempt(t *testing.T) {
	st := s.newStore(t)
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	got := claimOne(t, st, "w1", at(time.Second))
	for _, ev := range []core.Delivery{got, get(t, st, e.ID)} {
		if ev.Status != core.StatusDelivering || ev.AttemptedCount != 1 || ev.LockedBy != "w1" {
			t.Errorf("claimed: status %s attempts %d locked_by %q", ev.Status, ev.AttemptedCount, ev.LockedBy)
		}
		if ev.LastAttemptedAt == nil || ev.LeaseExpiresAt == nil {
			t.Fatalf("claimed event lacks LastAttemptedAt/LeaseExpiresAt")
		}
		sameTime(t, "LastAttemptedAt", *ev.LastAttemptedAt, T0.Add(time.Second))
		sameTime(t, "LeaseExpiresAt", *ev.LeaseExpiresAt, T0.Add(time.Second+lease))
	}
}

func (s suite) expiredLease(t *testing.T) {
	st := s.newStore(t)
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	claimOne(t, st, "w1", at(0))
	got := claimOne(t, st, "w2", at(lease))
	if got.ID != e.ID || got.LockedBy != "w2" || got.AttemptedCount != 2 {
		t.Errorf("reclaimed: %s by %q attempts %d; want %s by w2 attempts 2", got.ID, got.LockedBy, got.AttemptedCount, e.ID)
	}
}

func (s suite) claimExcludes(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	b := insert(t, st, NewEvent(t, targetB, `{}`), at(0))
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: lease, MaxAttempts: 10,
		ExcludeOrigins: []string{"https://merchant-a.example:443"}, Now: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []core.EventID{b.ID}) {
		t.Errorf("claimed %v, want only %s", ids(got), b.ID)
	}
}

func (s suite) claimAbandons(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	params := func(now *time.Time) ports.ClaimParams {
		return ports.ClaimParams{Worker: "w1", Limit: 10, Lease: lease, MaxAttempts: 2, Now: now}
	}
	if got, _ := st.Claim(ctx, params(at(0))); len(got) != 1 {
		t.Fatalf("first claim: %d", len(got))
	}
	// Attempt 1 expires: reclaimed as attempt 2, the last allowed.
	if got, _ := st.Claim(ctx, params(at(lease))); len(got) != 1 || got[0].AttemptedCount != 2 {
		t.Fatalf("second claim: %+v", got)
	}
	// Attempt 2 expires too: no third attempt; the event is dead.
	got, err := st.Claim(ctx, params(at(2*lease)))
	if err != nil || len(got) != 0 {
		t.Fatalf("third claim: %v %v; want none", ids(got), err)
	}
	dead := get(t, st, e.ID)
	if dead.Status != core.StatusDead || dead.AttemptedCount != 2 || dead.LastError != core.ErrorLostFinalAttempt {
		t.Errorf("abandoned: status %s attempts %d error %q", dead.Status, dead.AttemptedCount, dead.LastError)
	}
	if dead.LockedBy != "" || dead.LeaseExpiresAt != nil {
		t.Errorf("abandoned event still leased: %q %v", dead.LockedBy, dead.LeaseExpiresAt)
	}
	atts, err := st.Attempts(ctx, e.ID)
	if err != nil || len(atts) != 1 || atts[0].Verdict != core.VerdictLost || atts[0].Number != 2 {
		t.Errorf("history after abandon = %+v, %v; want one lost attempt #2", atts, err)
	}
}

func (s suite) completeSuccess(t *testing.T) {
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	if err := complete(t, st, "w1", c, success, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := get(t, st, c.ID)
	if e.Status != core.StatusSucceeded || e.LastStatusCode != 200 || e.LastError != "" || e.LockedBy != "" || e.LeaseExpiresAt != nil {
		t.Errorf("after success: %+v", e)
	}
	sameTime(t, "UpdatedAt", e.UpdatedAt, T0.Add(time.Second))
	if got := claim(t, st, "w2", 10, at(time.Hour)); len(got) != 0 {
		t.Errorf("a succeeded event was claimed again")
	}
}

func (s suite) completeRetry(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	if err := complete(t, st, "w1", c, retry5s, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := get(t, st, c.ID)
	if e.Status != core.StatusPending || e.LastStatusCode != 500 || e.LastError != "status 500" || e.AttemptedCount != 1 {
		t.Errorf("after retry: status %s code %d error %q attempts %d", e.Status, e.LastStatusCode, e.LastError, e.AttemptedCount)
	}
	sameTime(t, "NextAttemptAt", e.NextAttemptAt, T0.Add(6*time.Second))

	c2 := claimOne(t, st, "w2", at(6*time.Second))
	if err := complete(t, st, "w2", c2, success, at(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	atts, err := st.Attempts(ctx, c.ID)
	if err != nil || len(atts) != 2 {
		t.Fatalf("Attempts = %d, %v; want 2", len(atts), err)
	}
	first, second := atts[0], atts[1]
	if first.Number != 1 || first.Worker != "w1" || first.StatusCode != 500 || first.Verdict != core.VerdictRetry ||
		first.Error != "status 500" || first.Response != "resp" || first.Duration != 120*time.Millisecond ||
		first.Reason != retry5s.Reason || first.DeliveryID != c.ID {
		t.Errorf("first attempt = %+v", first)
	}
	sameTime(t, "first.StartedAt", first.StartedAt, T0.Add(time.Second))
	if first.NextAttemptAt == nil {
		t.Errorf("retry attempt has no NextAttemptAt")
	} else {
		sameTime(t, "first.NextAttemptAt", *first.NextAttemptAt, T0.Add(6*time.Second))
	}
	if second.Number != 2 || second.Worker != "w2" || second.Verdict != core.VerdictSucceeded || second.NextAttemptAt != nil {
		t.Errorf("second attempt = %+v", second)
	}
}

func (s suite) completeDead(t *testing.T) {
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	if err := complete(t, st, "w1", c, gone, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := get(t, st, c.ID)
	if e.Status != core.StatusDead || e.LastStatusCode != 410 {
		t.Errorf("after 410: status %s code %d", e.Status, e.LastStatusCode)
	}
	if got := claim(t, st, "w2", 10, at(time.Hour)); len(got) != 0 {
		t.Errorf("a dead event was claimed again")
	}
}

// staleClaimAfterReplay: a replay resets the attempt count, so the same
// worker can hold attempt 1 of an event twice. An outcome of the first
// claim that arrives late must not complete (or release) the second.
func (s suite) staleClaimAfterReplay(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	first := claimOne(t, st, "w1", at(0))
	if err := complete(t, st, "w1", first, success, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Replay(ctx, ports.ReplayParams{ID: first.ID, Now: at(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	second := claimOne(t, st, "w1", at(3*time.Second))
	if second.AttemptedCount != first.AttemptedCount || second.ClaimSeq <= first.ClaimSeq {
		t.Fatalf("after a replay: attempt %d seq %d, first claim attempt %d seq %d; want the same attempt and a later seq",
			second.AttemptedCount, second.ClaimSeq, first.AttemptedCount, first.ClaimSeq)
	}
	// A duplicate of the first claim's outcome, retried late.
	if err := complete(t, st, "w1", first, success, at(4*time.Second)); !errors.Is(err, core.ErrLeaseLost) {
		t.Fatalf("stale completion after a replay: err = %v, want ErrLeaseLost", err)
	}
	res, err := st.Release(ctx, ports.ReleaseParams{Worker: "w1", Now: at(4 * time.Second),
		Claims: []ports.Claim{{ID: first.ID, Attempt: first.AttemptedCount, Seq: first.ClaimSeq}}})
	if err != nil || res.Released != 0 {
		t.Fatalf("stale release after a replay: %+v %v, want nothing released", res, err)
	}
	if e := get(t, st, first.ID); e.Status != core.StatusDelivering || e.ClaimSeq != second.ClaimSeq {
		t.Errorf("the replayed delivery is %s (seq %d), want still delivering under seq %d", e.Status, e.ClaimSeq, second.ClaimSeq)
	}
	if err := complete(t, st, "w1", second, success, at(5*time.Second)); err != nil {
		t.Errorf("the live claim's completion: %v", err)
	}
}

func (s suite) completeGuarded(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	stale := claimOne(t, st, "w1", at(0))
	fresh := claimOne(t, st, "w2", at(lease)) // w1's lease expired
	if err := complete(t, st, "w2", fresh, retry5s, at(lease+time.Second)); err != nil {
		t.Fatal(err)
	}
	// w1 wakes up late and reports success: it must not overwrite w2's state.
	if err := complete(t, st, "w1", stale, success, at(lease+2*time.Second)); !errors.Is(err, core.ErrLeaseLost) {
		t.Fatalf("late completion: err = %v, want ErrLeaseLost", err)
	}
	e := get(t, st, stale.ID)
	if e.Status != core.StatusPending || e.AttemptedCount != 2 || e.LastStatusCode != 500 {
		t.Errorf("after a late completion: status %s attempts %d code %d", e.Status, e.AttemptedCount, e.LastStatusCode)
	}
	// Same worker, older attempt number: also refused.
	c3 := claimOne(t, st, "w2", at(lease+6*time.Second))
	if err := complete(t, st, "w2", fresh, success, at(lease+7*time.Second)); !errors.Is(err, core.ErrLeaseLost) {
		t.Fatalf("completion of attempt %d while %d is live: err = %v", fresh.AttemptedCount, c3.AttemptedCount, err)
	}
	atts, _ := st.Attempts(ctx, stale.ID)
	if len(atts) != 1 {
		t.Errorf("refused completions were recorded: %d attempts", len(atts))
	}
}

func (s suite) release(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	a := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	b := insert(t, st, NewEvent(t, targetA, `{"b":1}`), at(0))
	claimed := claim(t, st, "w1", 10, at(0))
	if len(claimed) != 2 {
		t.Fatalf("claimed %d", len(claimed))
	}
	claims := []ports.Claim{{ID: a.ID, Attempt: 1, Seq: 1}, {ID: b.ID, Attempt: 7, Seq: 7 /* not ours */}}
	res, err := st.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: claims, Until: T0.Add(time.Minute), Now: at(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Released != 1 || res.Parked != 0 {
		t.Errorf("Release = %+v, want 1 released 0 parked", res)
	}
	ea := get(t, st, a.ID)
	if ea.Status != core.StatusPending || ea.AttemptedCount != 0 || ea.LockedBy != "" || ea.LeaseExpiresAt != nil {
		t.Errorf("released: status %s attempts %d lock %q", ea.Status, ea.AttemptedCount, ea.LockedBy)
	}
	sameTime(t, "released NextAttemptAt", ea.NextAttemptAt, T0.Add(time.Minute))
	if eb := get(t, st, b.ID); eb.Status != core.StatusDelivering {
		t.Errorf("a claim we did not own was released: %s", eb.Status)
	}
	// Zero Until: due at once (a shutdown's release).
	res, err = st.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{{ID: b.ID, Attempt: 1, Seq: 1}}, Now: at(2 * time.Second)})
	if err != nil || res.Released != 1 {
		t.Fatalf("Release now = %+v %v", res, err)
	}
	if got := claimOne(t, st, "w2", at(2*time.Second)); got.ID != b.ID || got.AttemptedCount != 1 {
		t.Errorf("after the release: claimed %s attempts %d", got.ID, got.AttemptedCount)
	}
}

func (s suite) releaseParks(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	claimedA := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	if got := claimOne(t, st, "w1", at(0)); got.ID != claimedA.ID {
		t.Fatal("wrong claim")
	}
	dueA := insert(t, st, NewEvent(t, targetA, `{"due":1}`), at(time.Second))
	lateA := insert(t, st, NewEvent(t, targetA, `{"late":1}`), at(2*time.Hour)) // due after its expiry park
	dueB := insert(t, st, NewEvent(t, targetB, `{}`), at(time.Second))
	until := T0.Add(time.Minute)
	park := ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{{ID: claimedA.ID, Attempt: 1, Seq: 1}},
		ParkOrigin: claimedA.Origin, Until: until, ParkFor: time.Hour, Now: at(2 * time.Second)}
	res, err := st.Release(ctx, park)
	if err != nil {
		t.Fatal(err)
	}
	if res.Released != 1 || res.Parked != 1 {
		t.Errorf("Release = %+v, want 1 released, 1 parked", res)
	}
	// Parked until their expiry (ActiveSince + ParkFor), released one too.
	sameTime(t, "released NextAttemptAt", get(t, st, claimedA.ID).NextAttemptAt, T0.Add(time.Hour))
	sameTime(t, "parked NextAttemptAt", get(t, st, dueA.ID).NextAttemptAt, T0.Add(time.Hour+time.Second))
	sameTime(t, "later event NextAttemptAt", get(t, st, lateA.ID).NextAttemptAt, T0.Add(2*time.Hour))
	sameTime(t, "other origin NextAttemptAt", get(t, st, dueB.ID).NextAttemptAt, T0.Add(time.Second))
	targets, err := st.Targets(ctx)
	if err != nil || len(targets) != 1 || targets[0].Origin != claimedA.Origin || !targets[0].OpenUntil.Equal(until) ||
		targets[0].ProbeUntil != nil {
		t.Fatalf("Targets = %+v, %v; want %s open until %s", targets, err, claimedA.Origin, until)
	}
	// Parking again writes nothing: the rows are out of the due range.
	park.Claims, park.Now = nil, at(3*time.Second)
	if res, err := st.Release(ctx, park); err != nil || res.Parked != 0 {
		t.Errorf("second park: %+v, %v; want nothing parked again", res, err)
	}
	got := claim(t, st, "w2", 10, at(30*time.Second))
	if !slices.Equal(ids(got), []core.DeliveryID{dueB.ID}) {
		t.Errorf("claim while open: %v, want only the other origin", ids(got))
	}
	if got[0].Probe || got[0].TargetOpenUntil != nil {
		t.Errorf("a healthy target's delivery is flagged: %+v", got[0])
	}
	if err := complete(t, st, "w2", got[0], success, at(30*time.Second)); err != nil {
		t.Fatal(err)
	}

	// The interval ends: one claim in the cluster gets one probe, the
	// oldest pending delivery, parked or not.
	probe := claim(t, st, "w2", 10, &until)
	if len(probe) != 1 || probe[0].ID != claimedA.ID || !probe[0].Probe || probe[0].TargetOpenUntil != nil {
		t.Fatalf("claim when the interval ends: %+v; want %s alone, as the probe", probe, claimedA.ID)
	}
	if probe[0].AttemptedCount != 1 {
		t.Errorf("probe attempt %d, want 1 (releasing and parking spent none)", probe[0].AttemptedCount)
	}
	if again := claim(t, st, "w3", 10, at(time.Minute+time.Second)); len(again) != 0 {
		t.Errorf("a second claim during the probe got %v", ids(again))
	}
	// A new event for the open target is claimed flagged: park it.
	fresh := insert(t, st, NewEvent(t, targetA, `{"fresh":1}`), at(time.Minute+time.Second))
	flagged := claim(t, st, "w3", 10, at(time.Minute+2*time.Second))
	if len(flagged) != 1 || flagged[0].ID != fresh.ID || flagged[0].Probe || flagged[0].TargetOpenUntil == nil {
		t.Fatalf("a new delivery of an open target: %+v; want it flagged TargetOpenUntil", flagged)
	}
	if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w3", Claims: []ports.Claim{claimOf(flagged[0])},
		ParkOrigin: targetOrigin(t, targetA), Until: *flagged[0].TargetOpenUntil, ParkFor: time.Hour, Now: at(time.Minute + 2*time.Second)}); err != nil {
		t.Fatal(err)
	}

	// The probe fails: refunded, and the target reopens for an interval.
	failed := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: time.Second,
		Error: "connection refused", Reason: "probe failed", Refund: true}
	if err := complete(t, st, "w2", probe[0], failed, at(time.Minute+3*time.Second)); err != nil {
		t.Fatal(err)
	}
	reopen := T0.Add(2 * time.Minute)
	if err := st.Probed(ctx, ports.ProbedParams{Origin: claimedA.Origin, Until: reopen, ParkFor: time.Hour, Now: at(time.Minute + 3*time.Second)}); err != nil {
		t.Fatal(err)
	}
	sameTime(t, "failed probe's NextAttemptAt", get(t, st, claimedA.ID).NextAttemptAt, T0.Add(time.Hour))
	if got := claim(t, st, "w2", 10, at(time.Minute+30*time.Second)); len(got) != 0 {
		t.Errorf("claim after a failed probe, before the next interval: %v", ids(got))
	}
	probe = claim(t, st, "w2", 10, &reopen)
	if len(probe) != 1 || !probe[0].Probe {
		t.Fatalf("next interval: %+v; want one probe", probe)
	}
	if err := complete(t, st, "w2", probe[0], success, &reopen); err != nil {
		t.Fatal(err)
	}
	// It succeeds: the target closes and everything parked comes back now.
	if err := st.Probed(ctx, ports.ProbedParams{Origin: claimedA.Origin, OK: true, Now: &reopen}); err != nil {
		t.Fatal(err)
	}
	if targets, _ := st.Targets(ctx); len(targets) != 0 {
		t.Errorf("Targets after a successful probe = %+v, want none", targets)
	}
	back := claim(t, st, "w2", 10, &reopen)
	if len(back) != 3 {
		t.Errorf("claim after recovery: %d deliveries, want the 3 parked ones", len(back))
	}
	for _, e := range back {
		if e.Probe || e.TargetOpenUntil != nil {
			t.Errorf("%s flagged after recovery: %+v", e.ID, e)
		}
	}
}

// A probe whose worker is lost is taken again once its lease ends; a
// target with nothing left to deliver is forgotten.
func (s suite) lostProbe(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	a := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	until := T0.Add(time.Second)
	if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{claimOf(c)}, ParkOrigin: a.Origin,
		Until: until, Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	if p := claim(t, st, "w1", 1, &until); len(p) != 1 || !p[0].Probe {
		t.Fatalf("first probe: %+v", p)
	}
	// w1 vanishes. Within the probe's lease nobody probes; after it, the
	// expired lease is claimed again (it is the only delivery).
	if p := claim(t, st, "w2", 1, at(time.Second+lease/2)); len(p) != 0 {
		t.Errorf("probe taken twice within its lease: %v", ids(p))
	}
	again := claim(t, st, "w2", 1, at(time.Second+lease+time.Second))
	if len(again) != 1 || again[0].ID != a.ID {
		t.Fatalf("after the lost probe's lease: %+v", again)
	}
	if err := complete(t, st, "w2", again[0], success, at(time.Second+lease+time.Second)); err != nil {
		t.Fatal(err)
	}
	// Nothing pending: the next due probe forgets the target.
	if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w2", ParkOrigin: a.Origin, Until: at(time.Hour).UTC(), Now: at(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, st, "w2", 1, at(2*time.Hour)); len(got) != 0 {
		t.Errorf("claim of an empty open target: %v", ids(got))
	}
	if targets, _ := st.Targets(ctx); len(targets) != 0 {
		t.Errorf("Targets = %+v, want the empty target forgotten", targets)
	}
}

func claimOf(d core.Delivery) ports.Claim {
	return ports.Claim{ID: d.ID, Attempt: d.AttemptedCount, Seq: d.ClaimSeq}
}

func targetOrigin(t *testing.T, url string) string {
	t.Helper()
	o, err := core.ValidateTargetURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (s suite) replayRules(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	replay := func(now *time.Time) (core.Delivery, error) {
		return st.Replay(ctx, ports.ReplayParams{ID: e.ID, Now: now})
	}
	if _, err := replay(at(0)); !errors.Is(err, core.ErrConflict) {
		t.Errorf("replay pending: %v, want ErrConflict", err)
	}
	c := claimOne(t, st, "w1", at(0))
	if _, err := replay(at(0)); !errors.Is(err, core.ErrConflict) {
		t.Errorf("replay delivering: %v, want ErrConflict", err)
	}
	if err := complete(t, st, "w1", c, gone, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := replay(at(time.Minute))
	if err != nil {
		t.Fatalf("replay dead: %v", err)
	}
	if got.Status != core.StatusPending || got.AttemptedCount != 0 || got.LastError != "" || got.LastStatusCode != 0 {
		t.Errorf("replayed: %+v", got)
	}
	sameTime(t, "replayed NextAttemptAt", got.NextAttemptAt, T0.Add(time.Minute))
	sameTime(t, "replayed ActiveSince", got.ActiveSince, T0.Add(time.Minute))
	sameTime(t, "ActiveSince read back after the replay", get(t, st, e.ID).ActiveSince, T0.Add(time.Minute))
	c2 := claimOne(t, st, "w1", at(time.Minute))
	if err := complete(t, st, "w1", c2, success, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := replay(at(2 * time.Minute)); err != nil {
		t.Errorf("replay succeeded: %v", err)
	}
	atts, _ := st.Attempts(ctx, e.ID)
	if len(atts) != 2 {
		t.Errorf("history after replays: %d attempts, want 2 (kept)", len(atts))
	}
}

func (s suite) concurrentClaims(t *testing.T) {
	st := s.newStore(t)
	const n = 200
	for i := range n {
		insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(0))
	}
	if owners := ClaimConcurrently(t, st, 4, 7, at(time.Second)); len(owners) != n {
		t.Errorf("claimed %d distinct events, want %d", len(owners), n)
	}
}

// ClaimConcurrently has `workers` goroutines claim batches of `limit` at
// now until the store has nothing left to give, fails t if any event is
// claimed twice or a claim errs, and returns each event's owner. Stores
// with a real concurrency story (PostgreSQL) run it on bigger tables.
func ClaimConcurrently(t testing.TB, st ports.EventStore, workers, limit int, now *time.Time) map[core.EventID]string {
	t.Helper()
	var (
		mu       sync.Mutex
		owners   = map[core.EventID]string{}
		problems []string
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("w%d", w)
			for {
				evs, err := st.Claim(context.Background(), ports.ClaimParams{Worker: name, Limit: limit, Lease: lease, MaxAttempts: 10, Now: now})
				mu.Lock()
				if err != nil {
					problems = append(problems, fmt.Sprintf("claim by %s: %v", name, err))
				}
				for _, e := range evs {
					if prev, dup := owners[e.ID]; dup {
						problems = append(problems, fmt.Sprintf("%s claimed by %s and %s", e.ID, prev, name))
					}
					owners[e.ID] = name
				}
				mu.Unlock()
				if err != nil || len(evs) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	return owners
}

func (s suite) ping(t *testing.T) {
	ctx := t.Context()
	if err := s.newStore(t).Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func (s suite) completeRefund(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	probe := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: 30 * time.Second,
		Error: "connection refused", Reason: "circuit-breaker probe failed", Refund: true}
	if err := complete(t, st, "w1", c, probe, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	e := get(t, st, c.ID)
	if e.Status != core.StatusPending || e.AttemptedCount != 0 || e.LastError != "connection refused" {
		t.Errorf("after a refunded attempt: status %s attempts %d error %q; want pending, 0", e.Status, e.AttemptedCount, e.LastError)
	}
	sameTime(t, "NextAttemptAt", e.NextAttemptAt, T0.Add(31*time.Second))
	atts, err := st.Attempts(ctx, c.ID)
	if err != nil || len(atts) != 1 || atts[0].Number != 1 || atts[0].Reason != probe.Reason {
		t.Errorf("history after a refunded attempt: %+v %v; want the request recorded", atts, err)
	}
	again := claimOne(t, st, "w1", at(31*time.Second))
	if again.AttemptedCount != 1 {
		t.Errorf("next claim counts attempt %d, want 1", again.AttemptedCount)
	}
}

// Merchants answer with anything: a response snippet or error holding NUL
// or invalid UTF-8 is recorded as core.StorableText (never refused), and
// the body, opaque bytes, is kept exactly.
func (s suite) oddBytes(t *testing.T) {
	ctx := t.Context()
	st := s.newStore(t)
	e := NewEvent(t, targetA, `{}`)
	e.Body = []byte("{\"a\":\"\x00\xff\xfe\"}")
	insert(t, st, e, at(0))
	if got := get(t, st, e.ID); string(got.Body) != string(e.Body) {
		t.Fatalf("Body = %q, want %q", got.Body, e.Body)
	}
	c := claimOne(t, st, "w1", at(0))
	d := retry5s
	d.Error = "status 500: bad\x00byte"
	err := st.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: c.ID, Attempt: 1, Seq: c.ClaimSeq},
		Decision: d, Record: core.Attempt{StartedAt: T0, StatusCode: 500, Error: d.Error, Response: "oops\x00\xffend"}, Now: at(0)})
	if err != nil {
		t.Fatalf("Complete with odd bytes: %v", err)
	}
	atts, err := st.Attempts(ctx, e.ID)
	if err != nil || len(atts) != 1 || atts[0].Response != core.StorableText("oops\x00\xffend") ||
		atts[0].Error != core.StorableText(d.Error) {
		t.Errorf("Attempts = %+v, %v; want the response and error as core.StorableText", atts, err)
	}
	if got := get(t, st, e.ID); got.LastError != core.StorableText(d.Error) {
		t.Errorf("LastError = %q, want %q", got.LastError, core.StorableText(d.Error))
	}
}

// claimCapsPerOrigin: MaxPerOrigin caps every origin, OriginCaps the
// origins listed further (a worker's room for a target it holds); the
// claim takes the oldest due of each origin within its cap, goes on to
// other origins' deliveries, and leaves the rest untouched.
func (s suite) claimCapsPerOrigin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		capA   int // OriginCaps of targetA; 0: none
		nA, nB int // how many of each are claimed
	}{
		{name: "MaxPerOrigin", max: 2, nA: 2, nB: 2},
		{name: "OriginCaps", max: 3, capA: 1, nA: 1, nB: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := s.newStore(t)
			var as, bs []core.EventID
			for i := range 5 {
				as = append(as, insert(t, st, NewEvent(t, targetA, `{}`), at(time.Duration(i)*time.Millisecond)).ID)
				bs = append(bs, insert(t, st, NewEvent(t, targetB, `{}`), at(time.Duration(i)*time.Millisecond+time.Microsecond)).ID)
			}
			p := ports.ClaimParams{Worker: "w1", Limit: 10, Lease: lease, MaxAttempts: 10, MaxPerOrigin: tc.max, Now: at(time.Second)}
			if tc.capA > 0 {
				p.OriginCaps = map[string]int{targetOrigin(t, targetA): tc.capA}
			}
			got, err := st.Claim(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var want []core.EventID // oldest due first: A and B alternate while both have room
			for i := range max(tc.nA, tc.nB) {
				if i < tc.nA {
					want = append(want, as[i])
				}
				if i < tc.nB {
					want = append(want, bs[i])
				}
			}
			if !slices.Equal(ids(got), want) {
				t.Errorf("claimed %v, want the oldest of each origin within its cap, oldest due first: %v", ids(got), want)
			}
			for _, id := range append(as[tc.nA:], bs[tc.nB:]...) {
				if e := get(t, st, id); e.Status != core.StatusPending || e.AttemptedCount != 0 {
					t.Errorf("event %s beyond the cap: %s, %d attempts; want untouched", id, e.Status, e.AttemptedCount)
				}
			}
		})
	}
}
