package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// An event's deliveries are read by key in two parts (eventsql.go): a
// target_url event's by the primary key, an endpoint event's through
// deliveries_fanout_event_idx, which holds those only. Reading an event,
// listing with a delivery filter, and the page's deliveries never scan
// deliveries, and find both kinds.
func TestEventLookupsReadDeliveriesByKey(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	// 20,000 target_url events (delivery id = event id), 2,000 routed to
	// two endpoints each (ids of their own), all succeeded.
	if _, err := db.ExecContext(ctx, `
		WITH ev AS (
			INSERT INTO events (id, target_url, origin, body, created_at)
			SELECT gen_random_uuid(), 'https://m.example/hook', 'https://m.example:443', '\x7b7d'::bytea,
			       now() - g * interval '1 second'
			FROM generate_series(1, 20000) AS g
			RETURNING id, target_url, origin, created_at
		)
		INSERT INTO deliveries (id, event_id, target_url, origin, status, attempted_count, created_at, updated_at)
		SELECT id, id, target_url, origin, 'succeeded', 1, created_at, created_at FROM ev`); err != nil {
		t.Fatal(err)
	}
	endpoint := "0193a3c4-0000-7000-8000-00000000e001"
	if _, err := db.ExecContext(ctx, `
		WITH ev AS (
			INSERT INTO events (id, event_type, body, created_at)
			SELECT gen_random_uuid(), 'order.paid', '\x7b7d'::bytea, now() - g * interval '10 seconds' - interval '1 millisecond'
			FROM generate_series(1, 2000) AS g
			RETURNING id, created_at
		)
		INSERT INTO deliveries (id, event_id, endpoint_id, target_url, origin, status, attempted_count, created_at, updated_at)
		SELECT gen_random_uuid(), ev.id, CASE k WHEN 1 THEN ?::uuid ELSE gen_random_uuid() END,
		       'https://e.example/hook', 'https://e.example:443', 'succeeded', 1, created_at, created_at
		FROM ev CROSS JOIN generate_series(1, 2) AS k`, endpoint); err != nil {
		t.Fatal(err)
	}
	// 200 of the target_url ones died.
	if _, err := db.ExecContext(ctx, `UPDATE deliveries SET status = 'dead'
		WHERE id IN (SELECT id FROM deliveries WHERE endpoint_id IS NULL ORDER BY created_at LIMIT 200)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE events, deliveries`); err != nil {
		t.Fatal(err)
	}

	byKey := []string{"deliveries_pkey", "deliveries_fanout_event_idx"}
	// checkPlan fails a plan that scans events or deliveries whole, reads
	// deliveries through an index not in allowed, or leaves out one in
	// required.
	checkPlan := func(name, query string, allowed, required []string) {
		t.Helper()
		root := explainJSON(t, db, "EXPLAIN (FORMAT JSON) "+query, nil)
		used := map[string]bool{}
		for _, n := range root.all() {
			if (n.Relation == "deliveries" || n.Relation == "events") && n.Index == "" && n.NodeType != "Bitmap Heap Scan" {
				t.Errorf("%s: reads %s with a %s, not by key", name, n.Relation, n.NodeType)
			}
			used[n.Index] = true
			if strings.HasPrefix(n.Index, "deliveries_") && !slices.Contains(allowed, n.Index) {
				t.Errorf("%s: reads deliveries with a %s on %s; want only %v", name, n.NodeType, n.Index, allowed)
			}
		}
		for _, idx := range required {
			if !used[idx] {
				t.Errorf("%s: does not use %s", name, idx)
			}
		}
	}
	for _, f := range []ports.ListFilter{
		{Status: core.StatusSucceeded, Limit: 20},
		{EndpointID: core.EndpointID(endpoint), Limit: 20},
		{Origin: "https://e.example:443", Limit: 20},
	} {
		q := listWhere(db, db.NewSelect().TableExpr("events AS e").ColumnExpr("e.id"), f).
			OrderExpr("e.created_at DESC, e.id DESC").Limit(21)
		checkPlan("list "+q.String(), q.String(), byKey, byKey)
	}

	// The newest page holds both kinds (a fan-out event every 10 s); each
	// event comes back with all its deliveries.
	res, err := s.List(ctx, ports.ListFilter{Status: core.StatusSucceeded, Page: 1, Limit: 50})
	if err != nil || len(res.Events) != 50 {
		t.Fatalf("List: %d events, %v", len(res.Events), err)
	}
	ids := make([]string, len(res.Events))
	perKind := map[int]int{}
	for i, ev := range res.Events {
		ids[i] = string(ev.Event.ID)
		perKind[len(ev.Deliveries)]++
		for _, d := range ev.Deliveries {
			if d.EventID != ev.Event.ID {
				t.Errorf("event %s lists delivery %s of event %s", ev.Event.ID, d.ID, d.EventID)
			}
		}
	}
	if perKind[1] == 0 || perKind[2] == 0 || perKind[1]+perKind[2] != 50 {
		t.Errorf("events by number of deliveries: %v; want both 1 (target_url) and 2 (two endpoints), nothing else", perKind)
	}
	own, fanout := ofEvents("d", "IN (?)")
	q := db.NewSelect().TableExpr("deliveries AS d").ColumnExpr("d.*").Where(own, bun.In(ids)).
		UnionAll(db.NewSelect().TableExpr("deliveries AS d").ColumnExpr("d.*").Where(fanout, bun.In(ids)))
	checkPlan("the page's deliveries", q.String(), byKey, byKey)

	// Recovering walks the dead off their own index, and the succeeded
	// (most of the history) through their events, by key.
	from := ports.TimeWindow{From: time.Now().Add(-time.Hour)}
	dead := []string{"deliveries_dead_created_idx", "deliveries_finished_updated_idx"} // dead rows only
	for _, tc := range []struct {
		f                 ports.RecoverFilter
		allowed, required []string
	}{
		{ports.RecoverFilter{Status: core.StatusDead, Window: from}, dead, nil},
		{ports.RecoverFilter{Status: core.StatusDead, Origin: "https://m.example:443"}, dead, nil},
		{ports.RecoverFilter{Status: core.StatusSucceeded, Window: from}, byKey, append([]string{"events_created_idx"}, byKey...)},
		{ports.RecoverFilter{Status: core.StatusSucceeded, Origin: "https://e.example:443"}, byKey,
			append([]string{"events_created_idx"}, byKey...)},
	} {
		q := s.toRecover(tc.f, ports.RecoverMax+1).String()
		checkPlan("recover "+q, q, tc.allowed, tc.required)
	}
	if r, err := s.Recover(ctx, ports.RecoverParams{Filter: ports.RecoverFilter{Status: core.StatusSucceeded, Origin: "https://e.example:443"},
		RatePerSecond: 100, Limit: 10}); err != nil || r.Queued != 10 || !r.More {
		t.Errorf("recovering 10 succeeded endpoint deliveries: %+v, %v", r, err)
	}

	fan := res.Events[slices.IndexFunc(res.Events, func(e ports.EventRecord) bool { return len(e.Deliveries) == 2 })]
	for _, id := range []core.EventID{fan.Event.ID, res.Events[slices.IndexFunc(res.Events, func(e ports.EventRecord) bool { return len(e.Deliveries) == 1 })].Event.ID} {
		got, err := s.Event(ctx, id)
		if err != nil || len(got.Deliveries) == 0 || got.Deliveries[0].EventID != id {
			t.Errorf("Event(%s): %d deliveries, %v", id, len(got.Deliveries), err)
		}
	}
}
