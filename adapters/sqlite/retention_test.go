package sqlite

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestPurgerContract(t *testing.T) {
	t.Parallel()
	porttest.RunPurger(t, func(t *testing.T) porttest.PurgeStore {
		return NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	})
}

// A purge reads what it deletes through the finished-updated partial index
// (and, for events routed to nobody, events_created_idx) in order, and
// everything else by key: never a scan, never a sort.
func TestPurgeReadsThroughIndexes(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	st := NewStore(db, memory.NewClock(porttest.T0))
	for _, e := range []core.Event{porttest.NewEvent(t, "https://a.example/", `{}`), porttest.NewTypedEvent(t, "nobody.listens", `{}`)} {
		if _, err := st.Insert(ctx, ports.InsertParams{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.Claim(ctx, ports.ClaimParams{Worker: "w", Limit: 1, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(c) != 1 {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	if err := st.Complete(ctx, ports.CompleteParams{Worker: "w", Claim: ports.Claim{ID: c[0].ID, Attempt: 1, Seq: c[0].ClaimSeq},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	db.Write.AddQueryHook(log)
	later := porttest.T0.Add(30 * 24 * time.Hour)
	res, err := st.Purge(ctx, ports.PurgeParams{Succeeded: 7 * 24 * time.Hour, Dead: 30 * 24 * time.Hour, Unrouted: true,
		Limit: 10, Now: &later})
	if err != nil || res != (ports.PurgeResult{Events: 2, Deliveries: 1}) {
		t.Fatalf("Purge = %+v, %v; want both events", res, err)
	}
	selects := 0
	for _, q := range log.queries {
		if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
			continue
		}
		selects++
		joined := strings.Join(explain(t, db, q), "; ")
		t.Logf("%s\n  plans as %s", strings.TrimSpace(q), joined)
		var want []string
		switch {
		case strings.Contains(q, "FROM deliveries AS d"):
			want = []string{"deliveries_finished_updated_idx (status=? AND updated_at<?)", "deliveries_event_idx (event_id=?)"}
		case strings.Contains(q, "FROM events AS e"):
			want = []string{"events_created_idx (created_at<?)", "deliveries_event_idx (event_id=?)"}
		default: // the count of the deliveries deleted
			want = []string{"deliveries_event_idx (event_id=?)"}
		}
		if slices.ContainsFunc(want, func(idx string) bool { return !strings.Contains(joined, idx) }) ||
			strings.Contains(joined, "SCAN ") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("purge query\n  %s\nplans as %q: want %q, no scan, no sort", q, joined, want)
		}
	}
	if selects != 4 {
		t.Errorf("purge ran %d SELECTs, want 4 (succeeded, dead, unrouted, count): %q", selects, log.queries)
	}
}
