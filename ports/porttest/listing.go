package porttest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// list calls List and fails the test on an error.
func list(t *testing.T, st ports.EventStore, f ports.ListFilter) ports.ListResult {
	t.Helper()
	if f.Page == 0 {
		f.Page = 1
	}
	if f.Limit == 0 {
		f.Limit = ports.MaxListLimit
	}
	res, err := st.List(t.Context(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return res
}

// listCursorPaging: paging by cursor visits every event once, newest
// first, events created in the same instant included, and says when it
// is done.
func (s suite) listCursorPaging(t *testing.T) {
	st := s.newStore(t)
	var want []core.EventID
	for i, d := range []time.Duration{0, time.Second, time.Second, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		e := insert(t, st, NewEvent(t, targetA, fmt.Sprintf(`{"i":%d}`, i)), at(d))
		want = append(want, e.ID)
	}
	// Newest first: created_at, then id, descending.
	all := list(t, st, ports.ListFilter{})
	if got := eventIDs(all.Events); len(got) != len(want) || !all.TotalExact || all.Total != len(want) || all.Next != nil {
		t.Fatalf("one page of all: %d events, total %d exact %v, next %v", len(got), all.Total, all.TotalExact, all.Next)
	}
	for i := 1; i < len(all.Events); i++ {
		a, b := all.Events[i-1].Event, all.Events[i].Event
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			t.Errorf("list order: %s (%s) before %s (%s)", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
	var walked []core.EventID
	f := ports.ListFilter{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("cursor paging does not end: %v", walked)
		}
		res := list(t, st, f)
		if res.Total != len(want) {
			t.Errorf("page %d: total %d, want %d (the whole filter, not what follows the cursor)", pages+1, res.Total, len(want))
		}
		walked = append(walked, eventIDs(res.Events)...)
		if res.Next == nil {
			break
		}
		last := res.Events[len(res.Events)-1].Event
		if res.Next.ID != last.ID || !res.Next.CreatedAt.Equal(last.CreatedAt) {
			t.Errorf("next cursor %+v, want the page's last event %s %s", *res.Next, last.ID, last.CreatedAt)
		}
		f.After = res.Next
	}
	if !slices.Equal(walked, eventIDs(all.Events)) {
		t.Errorf("cursor pages visited\n%v\nwant\n%v", walked, eventIDs(all.Events))
	}
	// Page numbers give the next cursor too, so a client can switch.
	p2 := list(t, st, ports.ListFilter{Page: 2, Limit: 3})
	if p2.Next == nil || p2.Next.ID != p2.Events[2].Event.ID {
		t.Errorf("page 2 of 3: next %+v", p2.Next)
	}
	if last := list(t, st, ports.ListFilter{Page: 3, Limit: 3}); len(last.Events) != 1 || last.Next != nil {
		t.Errorf("last page: %d events, next %+v", len(last.Events), last.Next)
	}
}

// listOriginAndWindow: origin keeps the events with a delivery to it; the
// window is [created_after, created_before).
func (s suite) listOriginAndWindow(t *testing.T) {
	st := s.newStore(t)
	a0 := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	b1 := insert(t, st, NewEvent(t, targetB, `{}`), at(time.Second))
	a2 := insert(t, st, NewEvent(t, targetA, `{}`), at(2*time.Second))
	b3 := insert(t, st, NewEvent(t, targetB, `{}`), at(3*time.Second))
	for _, tc := range []struct {
		name string
		f    ports.ListFilter
		want []core.EventID
	}{
		{"origin B", ports.ListFilter{Origin: targetOrigin(t, targetB)}, []core.EventID{b3.ID, b1.ID}},
		{"origin unknown", ports.ListFilter{Origin: "https://nobody.example:443"}, nil},
		{"from 1s", ports.ListFilter{Window: ports.TimeWindow{From: T0.Add(time.Second)}}, []core.EventID{b3.ID, a2.ID, b1.ID}},
		{"before 2s", ports.ListFilter{Window: ports.TimeWindow{To: T0.Add(2 * time.Second)}}, []core.EventID{b1.ID, a0.ID}},
		{"[1s, 3s)", ports.ListFilter{Window: ports.TimeWindow{From: T0.Add(time.Second), To: T0.Add(3 * time.Second)}},
			[]core.EventID{a2.ID, b1.ID}},
		{"origin A in [1s, 3s)", ports.ListFilter{Origin: targetOrigin(t, targetA),
			Window: ports.TimeWindow{From: T0.Add(time.Second), To: T0.Add(3 * time.Second)}}, []core.EventID{a2.ID}},
	} {
		res := list(t, st, tc.f)
		if got := eventIDs(res.Events); res.Total != len(tc.want) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: total %d, events %v; want %v", tc.name, res.Total, got, tc.want)
		}
	}
}

// listLeavesLargeBodiesOut: a list carries each body's size, and the body
// only when it is at most ports.ListBodyMax.
func (s suite) listLeavesLargeBodiesOut(t *testing.T) {
	st := s.newStore(t)
	small := NewEvent(t, targetA, `{"small":true}`)
	insert(t, st, small, at(0))
	large := NewEvent(t, targetA, `{"blob":"`+strings.Repeat("x", ports.ListBodyMax)+`"}`)
	insert(t, st, large, at(time.Second))
	res := list(t, st, ports.ListFilter{})
	if len(res.Events) != 2 {
		t.Fatalf("list: %d events", len(res.Events))
	}
	gotLarge, gotSmall := res.Events[0], res.Events[1]
	if gotLarge.Event.Body != nil || gotLarge.BodySize != len(large.Body) {
		t.Errorf("large event listed with %d body bytes, size %d; want none, size %d",
			len(gotLarge.Event.Body), gotLarge.BodySize, len(large.Body))
	}
	if string(gotSmall.Event.Body) != string(small.Body) || gotSmall.BodySize != len(small.Body) {
		t.Errorf("small event listed with body %q size %d", gotSmall.Event.Body, gotSmall.BodySize)
	}
	rec, err := st.Event(t.Context(), large.ID)
	if err != nil || string(rec.Event.Body) != string(large.Body) {
		t.Errorf("Event of the large one: %d bytes, %v; want its whole body", len(rec.Event.Body), err)
	}
}

// listTotalIsCapped: the count stops at ports.ListTotalCap.
func (s suite) listTotalIsCapped(t *testing.T) {
	st := s.newStore(t)
	const n = ports.ListTotalCap + 3
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				_, err := st.Insert(t.Context(), ports.InsertParams{Event: NewEvent(t, targetA, `{}`), Now: at(0)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Insert: %v", err)
	}
	res := list(t, st, ports.ListFilter{Limit: 5})
	if res.Total != ports.ListTotalCap || res.TotalExact || len(res.Events) != 5 || res.Next == nil {
		t.Errorf("%d events: total %d exact %v, %d listed, next %v; want total %d, not exact",
			n, res.Total, res.TotalExact, len(res.Events), res.Next, ports.ListTotalCap)
	}
	if few := list(t, st, ports.ListFilter{Status: core.StatusDead}); few.Total != 0 || !few.TotalExact {
		t.Errorf("no dead: total %d exact %v", few.Total, few.TotalExact)
	}
}

// finish claims every due delivery at now and ends each with the decision
// pick gives it.
func finish(t *testing.T, st ports.EventStore, now *time.Time, pick func(core.Delivery) core.Decision) {
	t.Helper()
	for _, d := range claim(t, st, "w1", 100, now) {
		if err := complete(t, st, "w1", d, pick(d), now); err != nil {
			t.Fatal(err)
		}
	}
}

func recoverBy(t *testing.T, st ports.EventStore, p ports.RecoverParams) ports.RecoverResult {
	t.Helper()
	res, err := st.Recover(t.Context(), p)
	if err != nil {
		t.Fatalf("Recover(%+v): %v", p.Filter, err)
	}
	return res
}

// recoverPaced: the dead deliveries matched are pending again, oldest
// event first, each origin at its own pace, their history kept; nothing
// else changes.
func (s suite) recoverPaced(t *testing.T) {
	st := s.newStore(t)
	a0 := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	b0 := insert(t, st, NewEvent(t, targetB, `{}`), at(time.Second))
	a1 := insert(t, st, NewEvent(t, targetA, `{}`), at(2*time.Second))
	a2 := insert(t, st, NewEvent(t, targetA, `{}`), at(3*time.Second))
	b1 := insert(t, st, NewEvent(t, targetB, `{}`), at(4*time.Second))
	ok := insert(t, st, NewEvent(t, targetA, `{}`), at(5*time.Second))
	finish(t, st, at(10*time.Second), func(d core.Delivery) core.Decision {
		if d.ID == ok.ID {
			return success
		}
		return gone
	})
	waiting := insert(t, st, NewEvent(t, targetA, `{}`), at(20*time.Second))

	now := at(time.Hour)
	res := recoverBy(t, st, ports.RecoverParams{Filter: ports.RecoverFilter{Status: core.StatusDead, Window: ports.TimeWindow{From: T0}},
		RatePerSecond: 20, Limit: 100, Now: now})
	if res.Queued != 5 || res.More {
		t.Fatalf("recover: %+v, want 5 queued, no more", res)
	}
	for _, c := range []struct {
		id  core.DeliveryID
		due time.Duration // after now
	}{{a0.ID, 0}, {a1.ID, 50 * time.Millisecond}, {a2.ID, 100 * time.Millisecond}, {b0.ID, 0}, {b1.ID, 50 * time.Millisecond}} {
		d := get(t, st, c.id)
		if d.Status != core.StatusPending || d.AttemptedCount != 0 || d.LastError != "" || d.LastStatusCode != 0 {
			t.Errorf("%s recovered: %+v", c.id, d)
		}
		sameTime(t, "recovered NextAttemptAt", d.NextAttemptAt, now.Add(c.due))
		sameTime(t, "recovered ActiveSince", d.ActiveSince, now.Add(c.due))
		sameTime(t, "recovered UpdatedAt", d.UpdatedAt, *now)
		if atts, _ := st.Attempts(t.Context(), c.id); len(atts) != 1 {
			t.Errorf("%s: %d attempts after the recovery, want its 1 kept", c.id, len(atts))
		}
	}
	if d := get(t, st, ok.ID); d.Status != core.StatusSucceeded {
		t.Errorf("a succeeded delivery was touched: %s", d.Status)
	}
	if d := get(t, st, waiting.ID); d.Status != core.StatusPending || !d.NextAttemptAt.Equal(T0.Add(20*time.Second)) {
		t.Errorf("a pending delivery was touched: %+v", d)
	}
	// Due in turn: at now, the first of each origin and the waiting one.
	got := ids(claim(t, st, "w2", 100, now))
	slices.Sort(got)
	want := []core.DeliveryID{a0.ID, b0.ID, waiting.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("claimed at the recovery: %v, want %v", got, want)
	}
	if again := recoverBy(t, st, ports.RecoverParams{Filter: ports.RecoverFilter{Status: core.StatusDead, Window: ports.TimeWindow{From: T0}},
		RatePerSecond: 20, Limit: 100, Now: now}); again.Queued != 0 || again.More {
		t.Errorf("recovering again: %+v, want nothing", again)
	}
}

// recoverFilters: origin, window, status and the limit narrow a recovery.
func (s suite) recoverFilters(t *testing.T) {
	st := s.newStore(t)
	var as []core.Delivery
	for i := range 3 {
		as = append(as, insert(t, st, NewEvent(t, targetA, `{}`), at(time.Duration(i)*time.Second)))
	}
	b := insert(t, st, NewEvent(t, targetB, `{}`), at(time.Second))
	ok := insert(t, st, NewEvent(t, targetB, `{}`), at(time.Second))
	finish(t, st, at(10*time.Second), func(d core.Delivery) core.Decision {
		if d.ID == ok.ID {
			return success
		}
		return gone
	})
	now := at(time.Hour)
	rec := func(f ports.RecoverFilter, limit int) ports.RecoverResult {
		return recoverBy(t, st, ports.RecoverParams{Filter: f, RatePerSecond: 1, Limit: limit, Now: now})
	}
	pending := func(id core.DeliveryID) bool { return get(t, st, id).Status == core.StatusPending }

	if r := rec(ports.RecoverFilter{Status: core.StatusDead, Origin: "https://nobody.example:443"}, 10); r.Queued != 0 {
		t.Errorf("unknown origin: %+v", r)
	}
	if r := rec(ports.RecoverFilter{Status: core.StatusSucceeded, Origin: targetOrigin(t, targetB)}, 10); r.Queued != 1 || !pending(ok.ID) || pending(b.ID) {
		t.Errorf("succeeded to B: %+v", r)
	}
	win := ports.TimeWindow{From: T0.Add(time.Second), To: T0.Add(2 * time.Second)}
	if r := rec(ports.RecoverFilter{Status: core.StatusDead, Origin: targetOrigin(t, targetA), Window: win}, 10); r.Queued != 1 || !pending(as[1].ID) || pending(as[0].ID) || pending(as[2].ID) {
		t.Errorf("dead to A in [1s, 2s): %+v", r)
	}
	// A limit takes the oldest first and says there is more.
	all := ports.RecoverFilter{Status: core.StatusDead, Window: ports.TimeWindow{From: T0}}
	if r := rec(all, 2); r.Queued != 2 || !r.More || !pending(as[0].ID) || !pending(b.ID) || pending(as[2].ID) {
		t.Errorf("limit 2: %+v; a0 %v b %v a2 %v", r, pending(as[0].ID), pending(b.ID), pending(as[2].ID))
	}
	if r := rec(all, 2); r.Queued != 1 || r.More || !pending(as[2].ID) {
		t.Errorf("the rest: %+v", r)
	}
}
