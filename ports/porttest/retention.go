package porttest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// PurgeStore is a store with its Purger: every store is both.
type PurgeStore interface {
	ports.EventStore
	ports.Purger
}

// The retentions the suite purges with: RETENTION_HOURS' and
// DEAD_RETENTION_HOURS' defaults.
const (
	keepSucceeded = 168 * time.Hour
	keepDead      = 720 * time.Hour
	day           = 24 * time.Hour
)

// RunPurger runs the Purger contract (see ports.Purger for the rule).
// newStore must return an empty store, independent of every other store it
// returned (tests run in parallel).
func RunPurger(t *testing.T, newStore func(t *testing.T) PurgeStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, PurgeStore)
	}{
		{"SucceededAfterItsRetention", purgeSucceeded},
		{"DeadAfterItsRetention", purgeDead},
		{"UnfinishedDeliveryKeepsItsEvent", purgeKeepsUnfinished},
		{"EveryDeliveryPastItsCutoff", purgeMixed},
		{"EventWithoutDeliveries", purgeNoDelivery},
		{"RetentionZeroKeeps", purgeZeroKeeps},
		{"IdempotencyKeyIsFreed", purgeFreesKey},
		{"LimitHonoured", purgeLimit},
		{"ClaimsAreNotBlocked", purgeBesideClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func purge(t *testing.T, st ports.Purger, succeeded, dead time.Duration, limit int, now *time.Time) ports.PurgeResult {
	t.Helper()
	res, err := st.Purge(t.Context(), ports.PurgeParams{Succeeded: succeeded, Dead: dead, Unrouted: true, Limit: limit, Now: now})
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	return res
}

// purgeWant purges with the default retentions and checks the counts.
func purgeWant(t *testing.T, st ports.Purger, now *time.Time, events, deliveries int) {
	t.Helper()
	if got := purge(t, st, keepSucceeded, keepDead, 100, now); got != (ports.PurgeResult{Events: events, Deliveries: deliveries}) {
		t.Errorf("Purge at T0+%s = %+v, want %d events, %d deliveries", now.Sub(T0), got, events, deliveries)
	}
}

// settle claims every delivery due at now and completes each with
// decide's decision.
func settle(t *testing.T, st ports.EventStore, now *time.Time, decide func(core.Delivery) core.Decision) {
	t.Helper()
	for _, d := range claim(t, st, "w1", 100, now) {
		if err := complete(t, st, "w1", d, decide(d), now); err != nil {
			t.Fatal(err)
		}
	}
}

func all(d core.Decision) func(core.Delivery) core.Decision {
	return func(core.Delivery) core.Decision { return d }
}

// requirePurged checks that the event, its deliveries and their attempts
// are gone.
func requirePurged(t *testing.T, st ports.EventStore, ev core.EventID, ds ...core.DeliveryID) {
	t.Helper()
	ctx := t.Context()
	if _, err := st.Event(ctx, ev); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Event(%s) after its purge: %v, want ErrNotFound", ev, err)
	}
	for _, id := range ds {
		if _, err := st.Get(ctx, id); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get(%s) after its event's purge: %v, want ErrNotFound", id, err)
		}
		if _, err := st.Attempts(ctx, id); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Attempts(%s) after its event's purge: %v, want ErrNotFound", id, err)
		}
		if _, err := st.Replay(ctx, ports.ReplayParams{ID: id, Now: at(0)}); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Replay(%s) after its event's purge: %v, want ErrNotFound", id, err)
		}
	}
}

// requireKept checks that the event is still there with n deliveries.
func requireKept(t *testing.T, st ports.EventStore, ev core.EventID, n int) {
	t.Helper()
	rec, err := st.Event(t.Context(), ev)
	if err != nil || len(rec.Deliveries) != n {
		t.Errorf("Event(%s) = %d deliveries, %v; want it kept with %d", ev, len(rec.Deliveries), err, n)
	}
}

func purgeSucceeded(t *testing.T, st PurgeStore) {
	a := insert(t, st, NewEvent(t, targetA, `{"a":1}`), at(0))
	b := insert(t, st, NewEvent(t, targetB, `{"b":1}`), at(0))
	settle(t, st, at(time.Second), func(d core.Delivery) core.Decision {
		if d.ID == b.ID {
			return retry5s
		}
		return success
	})
	settle(t, st, at(2*day), all(success)) // b, at its second attempt

	// Exactly at the cutoff is not older than it.
	purgeWant(t, st, at(time.Second+keepSucceeded), 0, 0)
	requireKept(t, st, a.ID, 1)
	purgeWant(t, st, at(2*time.Second+keepSucceeded), 1, 1)
	requirePurged(t, st, a.ID, a.ID)
	requireKept(t, st, b.ID, 1)
	purgeWant(t, st, at(2*day+keepSucceeded+time.Second), 1, 1)
	requirePurged(t, st, b.ID, b.ID)
}

func purgeDead(t *testing.T, st PurgeStore) {
	a := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	settle(t, st, at(time.Second), all(gone))

	purgeWant(t, st, at(time.Second+keepSucceeded+time.Hour), 0, 0) // the succeeded cutoff does not apply
	if got := purge(t, st, keepSucceeded, 0, 100, at(1000*day)); got != (ports.PurgeResult{}) {
		t.Errorf("Purge with no dead retention = %+v, want nothing", got)
	}
	purgeWant(t, st, at(time.Second+keepDead), 0, 0)
	requireKept(t, st, a.ID, 1)
	purgeWant(t, st, at(2*time.Second+keepDead), 1, 1)
	requirePurged(t, st, a.ID, a.ID)
}

// subscribed registers two endpoints for order.paid and inserts that many
// events of that type at 0, each with its two deliveries (oldest first).
func subscribed(t *testing.T, st ports.EventStore, events int) []ports.Inserted {
	t.Helper()
	eps := endpointsOf(t, st)
	for _, url := range []string{"https://one.example/hooks", "https://two.example/hooks"} {
		e := NewEndpoint(t, url)
		e.EventTypes = []string{"order.paid"}
		createEndpoint(t, eps, e, at(0))
	}
	var out []ports.Inserted
	for range events {
		in := insertEvent(t, st, NewTypedEvent(t, "order.paid", `{}`), at(0))
		if len(in.Deliveries) != 2 {
			t.Fatalf("order.paid: %d deliveries, want 2", len(in.Deliveries))
		}
		out = append(out, in)
	}
	return out
}

// A fan-out event with one succeeded and one pending, then delivering,
// delivery is kept however old; so is an old event never attempted.
func purgeKeepsUnfinished(t *testing.T, st PurgeStore) {
	in := subscribed(t, st, 1)[0]
	done, open := in.Deliveries[0], in.Deliveries[1]
	settle(t, st, at(time.Second), func(d core.Delivery) core.Decision {
		if d.ID == open.ID {
			return retry5s
		}
		return success
	})
	stale := NewEvent(t, targetA, `{}`)
	if _, err := st.Insert(t.Context(), ports.InsertParams{Event: stale, DueAt: T0.Add(10_000 * day), Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	purgeWant(t, st, at(1000*day), 0, 0) // pending
	requireKept(t, st, in.Event.ID, 2)
	requireKept(t, st, stale.ID, 1)

	c := claimOne(t, st, "w1", at(10*time.Second))
	if c.ID != open.ID {
		t.Fatalf("claimed %s, want %s", c.ID, open.ID)
	}
	purgeWant(t, st, at(1000*day), 0, 0) // delivering, its lease long over
	requireKept(t, st, in.Event.ID, 2)

	if err := complete(t, st, "w1", c, success, at(11*time.Second)); err != nil {
		t.Fatal(err)
	}
	purgeWant(t, st, at(11*time.Second+keepSucceeded), 0, 0)
	purgeWant(t, st, at(12*time.Second+keepSucceeded), 1, 2)
	requirePurged(t, st, in.Event.ID, done.ID, open.ID)
	requireKept(t, st, stale.ID, 1)
}

// An event with a dead and a succeeded delivery goes once both are past
// their own cutoffs, whichever comes last.
func purgeMixed(t *testing.T, st PurgeStore) {
	evs := subscribed(t, st, 2)
	first, second := evs[0], evs[1]
	settle(t, st, at(time.Second), func(d core.Delivery) core.Decision {
		switch d.ID {
		case first.Deliveries[0].ID:
			return success
		case second.Deliveries[1].ID:
			return retry5s
		}
		return gone
	})
	settle(t, st, at(25*day), all(success)) // second's other delivery

	purgeWant(t, st, at(2*time.Second+keepSucceeded), 0, 0) // first's dead one is young
	// first: succeeded 30 days ago, dead 30 days ago; second: dead 30
	// days ago but succeeded 5 days ago.
	purgeWant(t, st, at(2*time.Second+keepDead), 1, 2)
	requirePurged(t, st, first.Event.ID, ids(first.Deliveries)...)
	requireKept(t, st, second.Event.ID, 2)
	purgeWant(t, st, at(25*day+keepSucceeded+time.Second), 1, 2)
	requirePurged(t, st, second.Event.ID, ids(second.Deliveries)...)
}

// An event routed to nobody ages from its creation, under the succeeded
// retention, when the call looks for such events.
func purgeNoDelivery(t *testing.T, st PurgeStore) {
	in := insertEvent(t, st, NewTypedEvent(t, "nobody.listens", `{}`), at(0))
	if len(in.Deliveries) != 0 {
		t.Fatalf("an event nobody subscribes to has %d deliveries", len(in.Deliveries))
	}
	purgeWant(t, st, at(keepSucceeded), 0, 0)
	res, err := st.Purge(t.Context(), ports.PurgeParams{Succeeded: keepSucceeded, Dead: keepDead, Limit: 100, Now: at(1000 * day)})
	if err != nil || res != (ports.PurgeResult{}) {
		t.Errorf("Purge without Unrouted = %+v, %v; want nothing", res, err)
	}
	if got := purge(t, st, 0, keepDead, 100, at(1000*day)); got != (ports.PurgeResult{}) {
		t.Errorf("Purge with no succeeded retention = %+v, want nothing", got)
	}
	requireKept(t, st, in.Event.ID, 0)
	purgeWant(t, st, at(keepSucceeded+time.Second), 1, 0)
	requirePurged(t, st, in.Event.ID)
}

func purgeZeroKeeps(t *testing.T, st PurgeStore) {
	ok := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	dead := insert(t, st, NewEvent(t, targetB, `{}`), at(0))
	settle(t, st, at(time.Second), func(d core.Delivery) core.Decision {
		if d.ID == dead.ID {
			return gone
		}
		return success
	})
	if got := purge(t, st, 0, 0, 100, at(1000*day)); got != (ports.PurgeResult{}) {
		t.Errorf("Purge with both retentions 0 = %+v, want nothing", got)
	}
	if got := purge(t, st, 0, keepDead, 100, at(1000*day)); got != (ports.PurgeResult{Events: 1, Deliveries: 1}) {
		t.Errorf("Purge of the dead only = %+v, want 1 event", got)
	}
	requirePurged(t, st, dead.ID, dead.ID)
	requireKept(t, st, ok.ID, 1)
	if got := purge(t, st, keepSucceeded, 0, 100, at(1000*day)); got != (ports.PurgeResult{Events: 1, Deliveries: 1}) {
		t.Errorf("Purge of the succeeded only = %+v, want 1 event", got)
	}
	requirePurged(t, st, ok.ID, ok.ID)
}

// The key lives on the event: once the event is purged, the key takes a
// new one.
func purgeFreesKey(t *testing.T, st PurgeStore) {
	ctx := t.Context()
	first := NewEvent(t, targetA, `{"n":1}`)
	first.IdempotencyKey = "order-7"
	insert(t, st, first, at(0))
	settle(t, st, at(time.Second), all(success))
	again := NewEvent(t, targetA, `{"n":1}`)
	again.IdempotencyKey = "order-7"
	if in, err := st.Insert(ctx, ports.InsertParams{Event: again, Now: at(day)}); err != nil || in.Created || in.Event.ID != first.ID {
		t.Fatalf("Insert under a kept key = %+v, %v; want the first event", in, err)
	}
	purgeWant(t, st, at(8*day), 1, 1)
	in, err := st.Insert(ctx, ports.InsertParams{Event: again, Now: at(8 * day)})
	if err != nil || !in.Created || in.Event.ID != again.ID || len(in.Deliveries) != 1 {
		t.Fatalf("Insert under a purged event's key = %+v, %v; want a new event", in, err)
	}
	requireKept(t, st, again.ID, 1)
}

func purgeLimit(t *testing.T, st PurgeStore) {
	for i := range 5 {
		insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(0))
	}
	settle(t, st, at(time.Second), all(success))
	if got := purge(t, st, keepSucceeded, keepDead, 0, at(8*day)); got != (ports.PurgeResult{}) {
		t.Errorf("Purge with Limit 0 = %+v, want nothing", got)
	}
	for _, want := range []int{2, 2, 1, 0} {
		if got := purge(t, st, keepSucceeded, keepDead, 2, at(8*day)); got != (ports.PurgeResult{Events: want, Deliveries: want}) {
			t.Errorf("Purge with Limit 2 = %+v, want %d events", got, want)
		}
	}
	if res, err := st.List(t.Context(), ports.ListFilter{Page: 1, Limit: 10}); err != nil || res.Total != 0 {
		t.Errorf("List after purging everything: total %d, %v", res.Total, err)
	}
}

// Purging old history while workers claim: every claim gets its share and
// none waits on the purge; the purge deletes only the old events.
func purgeBesideClaims(t *testing.T, st PurgeStore) {
	const old, due = 60, 60
	for i := range old {
		insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"old":%d}`, i)), at(0))
	}
	settle(t, st, at(time.Second), all(success))
	for i := range due {
		insert(t, st, NewEvent(t, targetB, fmt.Sprintf(`{"due":%d}`, i)), at(8*day))
	}
	now := at(8*day + time.Second)
	var (
		wg     sync.WaitGroup
		purged ports.PurgeResult
		perr   error
	)
	wg.Go(func() {
		for {
			res, err := st.Purge(t.Context(), ports.PurgeParams{Succeeded: keepSucceeded, Dead: keepDead, Unrouted: true, Limit: 3, Now: now})
			if err != nil {
				perr = err
				return
			}
			purged.Events += res.Events
			purged.Deliveries += res.Deliveries
			if res.Events < 3 {
				return
			}
		}
	})
	claimed := make(chan map[core.EventID]string, 1)
	go func() { claimed <- ClaimConcurrently(t, st, 4, 2, now) }()
	select {
	case owners := <-claimed:
		if len(owners) != due {
			t.Errorf("claimed %d deliveries beside the purge, want %d", len(owners), due)
		}
		for id := range owners {
			if d := get(t, st, id); d.Status != core.StatusDelivering {
				t.Errorf("claimed %s is %s after the purge, want delivering", id, d.Status)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("claims beside a purge did not finish in 30 s")
	}
	wg.Wait()
	if perr != nil {
		t.Fatalf("Purge beside claims: %v", perr)
	}
	if purged != (ports.PurgeResult{Events: old, Deliveries: old}) {
		t.Errorf("purged %+v beside claims, want the %d old events", purged, old)
	}
}
