package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// Concurrent inserts share statements; each is answered with its own row.
func TestGroupInsertBatchesConcurrentInserts(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const n = 300
	var wg sync.WaitGroup
	evs := make([]core.Event, n)
	got := make([]core.Event, n)
	errs := make([]error, n)
	for i := range n {
		evs[i] = porttest.NewEvent(t, "https://m.example/h", fmt.Sprintf(`{"i":%d}`, i))
		if i%2 == 0 {
			evs[i].IdempotencyKey = fmt.Sprintf("k-%d", i)
		}
	}
	for i := range n {
		wg.Go(func() {
			var created bool
			got[i], created, errs[i] = s.Insert(t.Context(), ports.InsertParams{Event: evs[i]})
			if errs[i] == nil && !created {
				errs[i] = errors.New("created = false for a new event")
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i].ID != evs[i].ID || string(got[i].Body) != string(evs[i].Body) || got[i].Status != core.StatusPending {
			t.Fatalf("insert %d: %+v, %v", i, got[i], errs[i])
		}
	}
	res, err := s.List(t.Context(), ports.ListFilter{Page: 1, Limit: 1})
	if err != nil || res.Total != n {
		t.Fatalf("total %d, %v; want %d", res.Total, err, n)
	}
	t.Logf("%d concurrent inserts in %d statements", n, s.inserts.batches.Load())
}

// Many requests with one key, at once: one event is stored and every
// request is answered with it.
func TestGroupInsertOneKeyManyRequests(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const n = 50
	var wg sync.WaitGroup
	ids := make([]core.EventID, n)
	createdCount := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			e := porttest.NewEvent(t, "https://m.example/h", `{"same":true}`)
			e.IdempotencyKey = "order-1"
			got, created, err := s.Insert(t.Context(), ports.InsertParams{Event: e})
			if err != nil {
				t.Error(err)
			}
			ids[i], createdCount[i] = got.ID, created
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if createdCount[i] {
			created++
		}
		if ids[i] != ids[0] {
			t.Errorf("request %d got event %s, request 0 got %s", i, ids[i], ids[0])
		}
	}
	if created != 1 {
		t.Errorf("%d requests say they created the event, want 1", created)
	}
	if res, _ := s.List(t.Context(), ports.ListFilter{Page: 1, Limit: 1}); res.Total != 1 {
		t.Errorf("%d events stored, want 1", res.Total)
	}
}

// A row that fails (a duplicate id) fails alone: the rest of its batch is
// stored.
func TestGroupInsertBadRowFailsAlone(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	dup := porttest.NewEvent(t, "https://m.example/h", `{}`)
	if _, _, err := s.Insert(t.Context(), ports.InsertParams{Event: dup}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored, conflicts int
	for i := range 40 {
		e := porttest.NewEvent(t, "https://m.example/h", `{}`)
		if i == 20 {
			e = dup
		}
		wg.Go(func() {
			_, _, err := s.Insert(t.Context(), ports.InsertParams{Event: e})
			mu.Lock()
			defer mu.Unlock()
			var conflict *core.ConflictError
			switch {
			case err == nil:
				stored++
			case errors.As(err, &conflict):
				conflicts++
			default:
				t.Errorf("insert: %v", err)
			}
		})
	}
	wg.Wait()
	if stored != 39 || conflicts != 1 {
		t.Errorf("%d stored, %d conflicts; want 39 and 1 (the duplicate id)", stored, conflicts)
	}
}

// The same, deterministically: one statement holding a duplicate id
// between two good rows.
func TestInsertBatchFallsBackRowByRow(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	dup := porttest.NewEvent(t, "https://m.example/h", `{}`)
	if _, _, err := s.Insert(t.Context(), ports.InsertParams{Event: dup}); err != nil {
		t.Fatal(err)
	}
	batch := []*insertCall{
		{p: ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{"a":1}`)}},
		{p: ports.InsertParams{Event: dup}},
		{p: ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{"b":2}`)}},
	}
	s.insertBatch(t.Context(), batch)
	var conflict *core.ConflictError
	if batch[0].err != nil || !batch[0].res.created || batch[2].err != nil || !batch[2].res.created || !errors.As(batch[1].err, &conflict) {
		t.Errorf("results: %v %v / %v / %v %v; want stored, conflict, stored",
			batch[0].res.created, batch[0].err, batch[1].err, batch[2].res.created, batch[2].err)
	}
}

// One statement records many outcomes, each guarded by its own claim: a
// stale claim in the batch is refused alone, an unknown event is not
// found, the rest are recorded.
func TestCompleteBatchGuardsEachRow(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	for range 3 {
		if _, _, err := s.Insert(t.Context(), ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.Claim(t.Context(), ports.ClaimParams{Worker: "w1", Limit: 3, Lease: time.Minute, MaxAttempts: 5})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("Claim: %d, %v", len(claimed), err)
	}
	ok := core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200, Reason: "delivered"}
	outcome := func(e core.Event, seq int64) *completeCall {
		return &completeCall{p: ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: seq},
			Decision: ok, Record: core.Attempt{StartedAt: time.Now(), StatusCode: 200}}}
	}
	unknown := claimed[0]
	unknown.ID = core.NewEventID(time.Now())
	batch := []*completeCall{outcome(claimed[0], claimed[0].ClaimSeq), outcome(claimed[1], claimed[1].ClaimSeq+1),
		outcome(unknown, 1), outcome(claimed[2], claimed[2].ClaimSeq)}
	s.completeBatch(t.Context(), batch)
	if batch[0].err != nil || !errors.Is(batch[1].err, core.ErrLeaseLost) || !errors.Is(batch[2].err, core.ErrNotFound) || batch[3].err != nil {
		t.Fatalf("results %v / %v / %v / %v; want recorded, lease lost, not found, recorded", batch[0].err, batch[1].err, batch[2].err, batch[3].err)
	}
	for i, want := range []core.Status{core.StatusSucceeded, core.StatusDelivering, core.StatusSucceeded} {
		if got, _ := s.Get(t.Context(), claimed[i].ID); got.Status != want {
			t.Errorf("event %d: %s, want %s", i, got.Status, want)
		}
		atts, _ := s.Attempts(t.Context(), claimed[i].ID)
		if wantAtts := map[bool]int{true: 1, false: 0}[want == core.StatusSucceeded]; len(atts) != wantAtts {
			t.Errorf("event %d: %d attempts recorded, want %d", i, len(atts), wantAtts)
		}
	}
}
