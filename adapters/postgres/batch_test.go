package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// Concurrent inserts share statements; each is answered with its own event
// and delivery.
func TestGroupInsertBatchesConcurrentInserts(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const n = 300
	var wg sync.WaitGroup
	evs := make([]core.Event, n)
	got := make([]ports.Inserted, n)
	errs := make([]error, n)
	for i := range n {
		evs[i] = porttest.NewEvent(t, "https://m.example/h", fmt.Sprintf(`{"i":%d}`, i))
		if i%2 == 0 {
			evs[i].IdempotencyKey = fmt.Sprintf("k-%d", i)
		}
	}
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.Insert(t.Context(), ports.InsertParams{Event: evs[i]})
			if errs[i] == nil && !got[i].Created {
				errs[i] = errors.New("created = false for a new event")
			}
		})
	}
	wg.Wait()
	for i := range n {
		in := got[i]
		if errs[i] != nil || in.Event.ID != evs[i].ID || string(in.Event.Body) != string(evs[i].Body) ||
			len(in.Deliveries) != 1 || in.Deliveries[0].ID != evs[i].ID || in.Deliveries[0].Status != core.StatusPending {
			t.Fatalf("insert %d: %+v, %v", i, in, errs[i])
		}
	}
	res, err := s.List(t.Context(), ports.ListFilter{Page: 1, Limit: 1})
	if err != nil || res.Total != n {
		t.Fatalf("total %d, %v; want %d", res.Total, err, n)
	}
	t.Logf("%d concurrent inserts in %d statements", n, s.inserts.batches.Load())
}

// One statement stores events of every kind side by side: a target_url
// event, events fanned out to endpoints, one routed nowhere, and a second
// use of a key taken earlier in the same batch, answered with the first.
func TestInsertBatchRoutesEachRow(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	mk := func(url string, types ...string) core.Endpoint {
		e := porttest.NewEndpoint(t, url)
		e.EventTypes = types
		got, err := s.CreateEndpoint(ctx, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	paid, all := mk("https://paid.example/h", "order.paid"), mk("https://all.example/h")

	seed := porttest.NewEvent(t, "https://m.example/h", `{}`)
	seed.IdempotencyKey = "k"
	typed := porttest.NewTypedEvent(t, "order.paid", `{}`)
	named := porttest.NewTypedEvent(t, "order.paid", `{}`)
	named.EndpointID = all.ID
	again := porttest.NewTypedEvent(t, "order.paid", `{}`)
	again.IdempotencyKey = "k"
	batch := []*insertCall{{p: ports.InsertParams{Event: seed}}, {p: ports.InsertParams{Event: typed}},
		{p: ports.InsertParams{Event: named}}, {p: ports.InsertParams{Event: again}}}
	s.insertBatch(ctx, batch)
	for i, c := range batch {
		if c.err != nil {
			t.Fatalf("row %d: %v", i, c.err)
		}
	}
	want := []struct {
		id        core.EventID
		created   bool
		endpoints []core.EndpointID
	}{
		{seed.ID, true, []core.EndpointID{""}},
		{typed.ID, true, sorted(paid.ID, all.ID)},
		{named.ID, true, []core.EndpointID{all.ID}},
		{seed.ID, false, []core.EndpointID{""}}, // the key's first event
	}
	for i, w := range want {
		in := batch[i].res
		var eps []core.EndpointID
		for _, d := range in.Deliveries {
			eps = append(eps, d.EndpointID)
			if d.EventID != in.Event.ID || d.Status != core.StatusPending {
				t.Errorf("row %d: delivery %+v", i, d)
			}
			if d.EndpointID != "" && !isUUIDv7At(d.ID, in.Event.CreatedAt) {
				t.Errorf("row %d: delivery id %s is not a UUIDv7 of %s", i, d.ID, in.Event.CreatedAt)
			}
		}
		slices.Sort(eps)
		if in.Event.ID != w.id || in.Created != w.created || !slices.Equal(eps, w.endpoints) {
			t.Errorf("row %d: event %s created %v endpoints %v; want %s %v %v", i, in.Event.ID, in.Created, eps, w.id, w.created, w.endpoints)
		}
	}
	if _, err := s.Event(ctx, again.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the second use of a key was stored: %v", err)
	}
}

func sorted(ids ...core.EndpointID) []core.EndpointID {
	slices.Sort(ids)
	return ids
}

// isUUIDv7At reports whether id is a UUIDv7 (RFC 9562 variant) whose time
// is at, to the millisecond.
func isUUIDv7At(id core.DeliveryID, at time.Time) bool {
	h := strings.ReplaceAll(string(id), "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return false
	}
	var ms uint64
	for _, x := range b[:6] {
		ms = ms<<8 | uint64(x)
	}
	return b[6]>>4 == 7 && b[8]>>6 == 2 && int64(ms) == at.UnixMilli()
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
			got, err := s.Insert(t.Context(), ports.InsertParams{Event: e})
			if err != nil {
				t.Error(err)
			}
			ids[i], createdCount[i] = got.Event.ID, got.Created
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
	if _, err := s.Insert(t.Context(), ports.InsertParams{Event: dup}); err != nil {
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
			_, err := s.Insert(t.Context(), ports.InsertParams{Event: e})
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
	if _, err := s.Insert(t.Context(), ports.InsertParams{Event: dup}); err != nil {
		t.Fatal(err)
	}
	batch := []*insertCall{
		{p: ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{"a":1}`)}},
		{p: ports.InsertParams{Event: dup}},
		{p: ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{"b":2}`)}},
	}
	s.insertBatch(t.Context(), batch)
	var conflict *core.ConflictError
	if batch[0].err != nil || !batch[0].res.Created || batch[2].err != nil || !batch[2].res.Created || !errors.As(batch[1].err, &conflict) {
		t.Errorf("results: %v %v / %v / %v %v; want stored, conflict, stored",
			batch[0].res.Created, batch[0].err, batch[1].err, batch[2].res.Created, batch[2].err)
	}
}

// One statement records many outcomes, each guarded by its own claim: a
// stale claim in the batch is refused alone, an unknown event is not
// found, the rest are recorded.
func TestCompleteBatchGuardsEachRow(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	for range 3 {
		if _, err := s.Insert(t.Context(), ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/h", `{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.Claim(t.Context(), ports.ClaimParams{Worker: "w1", Limit: 3, Lease: time.Minute, MaxAttempts: 5})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("Claim: %d, %v", len(claimed), err)
	}
	ok := core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200, Reason: "delivered"}
	// Sent as microseconds since the epoch: kept to the microsecond.
	started := time.Date(2026, 12, 2, 9, 58, 1, 234_567_000, time.UTC)
	outcome := func(e core.Delivery, seq int64) *completeCall {
		return &completeCall{p: ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: seq},
			Decision: ok, Record: core.Attempt{StartedAt: started, StatusCode: 200}}}
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
		} else if wantAtts == 1 && !atts[0].StartedAt.Equal(started) {
			t.Errorf("event %d: attempt started at %s, want %s", i, atts[0].StartedAt, started)
		}
	}
}

// A batcher runs at most its maxLeaders batches at once, and each batch
// takes every call queued when it starts: calls arriving while one batch
// runs share the next.
func TestBatcherBoundsItsLeaders(t *testing.T) {
	t.Parallel()
	for _, leaders := range []int{1, 3} {
		var mu sync.Mutex
		running, most, sizes := 0, 0, []int{}
		b := &batcher[int, int]{maxLeaders: leaders, run: func(_ context.Context, batch []*call[int, int]) {
			mu.Lock()
			running++
			most = max(most, running)
			sizes = append(sizes, len(batch))
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			for _, c := range batch {
				c.res = c.p * 2
			}
			mu.Lock()
			running--
			mu.Unlock()
		}}
		const n = 200
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if got, err := b.do(t.Context(), i); err != nil || got != 2*i {
					t.Errorf("call %d = %d, %v", i, got, err)
				}
			})
		}
		wg.Wait()
		if most > leaders || most < 1 {
			t.Errorf("maxLeaders %d: %d batches ran at once", leaders, most)
		}
		if len(sizes) >= n {
			t.Errorf("maxLeaders %d: %d calls in %d batches: none shared", leaders, n, len(sizes))
		}
		t.Logf("maxLeaders %d: %d calls in %d batches, at most %d at once", leaders, n, len(sizes), most)
	}
}
