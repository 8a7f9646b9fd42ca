package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// bulkDue inserts n target_url events, each with its pending delivery due
// a second ago (database time).
func bulkDue(t testing.TB, s *Store, n int) {
	t.Helper()
	_, err := s.db.ExecContext(t.Context(), `
		WITH ev AS (
			INSERT INTO events (id, target_url, origin, body, created_at)
			SELECT gen_random_uuid(), 'https://m.example/hook', 'https://m.example:443', '\x7b7d'::bytea, now()
			FROM generate_series(1, ?)
			RETURNING id, target_url, origin
		)
		INSERT INTO deliveries (id, event_id, target_url, origin, next_attempt_at)
		SELECT id, id, target_url, origin, now() - interval '1 second' FROM ev`, n)
	if err != nil {
		t.Fatalf("bulk insert: %v", err)
	}
}

func TestClaimConcurrentWorkersNeverShareARow(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const rows, workers = 1000, 4
	bulkDue(t, s, rows)

	// Now nil: the database's clock, as in production.
	owner := porttest.ClaimConcurrently(t, s, workers, 25, nil)
	if len(owner) != rows {
		t.Errorf("claimed %d distinct rows, want %d", len(owner), rows)
	}
	var delivering, workersSeen int
	if err := s.db.NewRaw(`SELECT count(*) FILTER (WHERE status = 'delivering' AND attempted_count = 1),
		count(DISTINCT locked_by) FROM deliveries`).Scan(t.Context(), &delivering, &workersSeen); err != nil {
		t.Fatal(err)
	}
	if delivering != rows {
		t.Errorf("%d rows delivering with one attempt, want %d", delivering, rows)
	}
	t.Logf("%d rows shared by %d workers", rows, workersSeen)
}

func TestExpiredLeaseIsReclaimedAndLateCompletionIgnored(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	in, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/hook", `{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	e := in.Deliveries[0]
	// Real database time, short lease: w1 "crashes" after claiming.
	claim := func(worker string) []core.Delivery {
		evs, err := s.Claim(ctx, ports.ClaimParams{Worker: worker, Limit: 10, Lease: 150 * time.Millisecond, MaxAttempts: 10})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	first := claim("w1")
	if len(first) != 1 || first[0].ID != e.ID {
		t.Fatalf("w1 claimed %v", first)
	}
	if got := claim("w2"); len(got) != 0 {
		t.Fatalf("w2 claimed during w1's lease: %v", got)
	}
	var second []core.Delivery
	for deadline := time.Now().Add(3 * time.Second); len(second) == 0 && time.Now().Before(deadline); {
		time.Sleep(25 * time.Millisecond)
		second = claim("w2")
	}
	if len(second) != 1 || second[0].LockedBy != "w2" || second[0].AttemptedCount != 2 {
		t.Fatalf("after the lease expired, w2 claimed %+v; want the event as attempt 2", second)
	}

	// w1 comes back and reports success: refused, w2's lease intact.
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: 1},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200},
		Record:   core.Attempt{StartedAt: time.Now(), StatusCode: 200}})
	if !errors.Is(err, core.ErrLeaseLost) {
		t.Fatalf("late completion: %v, want ErrLeaseLost", err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != core.StatusDelivering || got.LockedBy != "w2" || got.AttemptedCount != 2 || got.LastStatusCode != 0 {
		t.Errorf("after the late completion: status %s locked_by %q attempts %d code %d", got.Status, got.LockedBy, got.AttemptedCount, got.LastStatusCode)
	}
	if atts, err := s.Attempts(ctx, e.ID); err != nil || len(atts) != 0 {
		t.Errorf("attempts = %v, %v; want none recorded", atts, err)
	}
	// The owner's completion still lands.
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w2", Claim: ports.Claim{ID: e.ID, Attempt: 2, Seq: 2},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200},
		Record:   core.Attempt{StartedAt: time.Now(), StatusCode: 200}})
	if err != nil {
		t.Fatalf("owner's completion: %v", err)
	}
}

func TestCompleteUnknownEventIsNotFound(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	err := s.Complete(t.Context(), ports.CompleteParams{Worker: "w1",
		Claim:    ports.Claim{ID: core.NewEventID(time.Now()), Attempt: 1, Seq: 1},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded}})
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Complete(unknown) = %v, want ErrNotFound", err)
	}
}

// TestClaimPlanIgnoresFinishedRows proves that claiming reads due rows
// through the partial indexes, in due order, and never scans or sorts the
// finished bulk; also when the statistics have not seen a sudden backlog.
// The claimed rows' bodies are read from events by primary key, and open
// targets' probes through the pending-origin partial index.
func TestClaimPlanIgnoresFinishedRows(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	const finished = 100_000
	bulkFinished(t, s, finished, 0.1)
	bulkDue(t, s, 5)
	// Two open targets whose probe is due: one with those 5 pending rows
	// (one becomes its probe), one with none left (it is forgotten).
	if _, err := db.ExecContext(ctx, `
		INSERT INTO targets (origin, open_until, opened_at, updated_at)
		VALUES ('https://m.example:443', now() - interval '1 second', now(), now()),
		       ('https://gone.example:443', now() - interval '1 second', now(), now())`); err != nil {
		t.Fatal(err)
	}
	// ANALYZE reads every row's status, so that the statistics have seen
	// the 5 pending rows: its default sample (30,000 rows) misses all 5
	// about one time in six, and a planner that believes no row is pending
	// costs every access path to them alike. It may then look for a probe
	// by reading a pending index whole and sorting what it found, which is
	// what checkClaimPlan rejects. (The backlog added below, which the
	// statistics never see, is the case this test is about.)
	if _, err := db.ExecContext(ctx, `ALTER TABLE deliveries ALTER COLUMN status SET STATISTICS 10000;
		ANALYZE events, deliveries, targets`); err != nil {
		t.Fatal(err)
	}
	args := claimParams(ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10,
		ExcludeOrigins: []string{"https://other.example:443"}})
	t.Logf("EXPLAIN claim, %d finished + 5 due rows:\n%s", finished, explainClaimText(t, s.queue, args))
	checkClaimPlan(t, explainClaim(t, s.queue, "", args))
	checkProbePlan(t, explainClaim(t, s.queue, "", args))

	// Run it for real (then roll back): it claims the 5 due rows and
	// touches a few dozen pages, not the ~1,200 of the table.
	root := explainClaim(t, s.queue, "ANALYZE, BUFFERS, ", args)
	if root.ActualRows != 5 {
		t.Errorf("claim returned %v rows, want the 5 due (one of them as the probe)", root.ActualRows)
	}
	blocks := root.SharedHit + root.SharedRead
	t.Logf("EXPLAIN ANALYZE: %.3f ms, %d buffers", root.ActualTotalTime, blocks)
	if blocks > 300 {
		t.Errorf("claim touched %d buffers; finished rows are being read", blocks)
	}

	// A backlog the statistics have not seen (no ANALYZE since): the plan
	// must not turn into "fetch every pending row, then sort".
	bulkDue(t, s, 20_000)
	t.Logf("EXPLAIN claim, with 20,000 more due rows not analyzed:\n%s", explainClaimText(t, s.queue, args))
	checkClaimPlan(t, explainClaim(t, s.queue, "", args))
	checkProbePlan(t, explainClaim(t, s.queue, "", args))
}

func checkClaimPlan(t *testing.T, root planNode) {
	t.Helper()
	used := map[string]bool{}
	for _, n := range root.all() {
		used[n.Index] = true
		if (n.Relation == "deliveries" || n.Relation == "events") && (n.NodeType == "Seq Scan" || n.NodeType == "Bitmap Heap Scan") {
			t.Errorf("plan has a %s on %s", n.NodeType, n.Relation)
		}
		if n.NodeType == "Sort" && n.reads("deliveries") {
			t.Errorf("plan sorts rows read from deliveries (Sort Key %v)", n.SortKey)
		}
	}
	for _, idx := range []string{"deliveries_pending_due_idx", "deliveries_lease_expiry_idx", "events_pkey"} {
		if !used[idx] {
			t.Errorf("plan does not use %s", idx)
		}
	}
}

// checkProbePlan checks that a claim looks for an open target's probe, and
// for whether it has any pending delivery left, through the pending-origin
// index only.
func checkProbePlan(t *testing.T, root planNode) {
	t.Helper()
	var found, byOrigin bool
	for _, n := range root.all() {
		if n.SubplanName != "CTE probes" {
			continue
		}
		found = true
		for _, m := range n.all() {
			if m.Relation == "deliveries" && m.Index != "deliveries_pending_origin_idx" {
				t.Errorf("the probe is looked for with a %s on deliveries %s", m.NodeType, m.Index)
			}
			byOrigin = byOrigin || m.Index == "deliveries_pending_origin_idx"
		}
	}
	if !found || !byOrigin {
		t.Errorf("CTE probes (found %v) does not read deliveries_pending_origin_idx", found)
	}
}

// TestProbePlanReadsOnlyItsTarget proves that a claim finds an open
// target's probe with one descent of the pending-origin index. A parked
// target's deliveries are the last in due order (parked until their
// expiry), so walking the due index to its oldest would read every other
// target's pending rows first; also when the statistics have not seen the
// parked backlog.
func TestProbePlanReadsOnlyItsTarget(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	insertPending := func(origins, perOrigin int, host, due string) {
		t.Helper()
		_, err := db.ExecContext(ctx, `
			WITH ev AS (
				INSERT INTO events (id, target_url, origin, body, created_at)
				SELECT gen_random_uuid(), 'https://' || ? || o || '.example/hook', 'https://' || ? || o || '.example:443',
				       '\x7b7d'::bytea, now()
				FROM generate_series(1, ?) AS o, generate_series(1, ?) AS g
				RETURNING id, target_url, origin
			)
			INSERT INTO deliveries (id, event_id, target_url, origin, next_attempt_at)
			SELECT id, id, target_url, origin, `+due+` FROM ev`, host, host, origins, perOrigin)
		if err != nil {
			t.Fatalf("insert pending: %v", err)
		}
	}
	// 10,000 due deliveries of 4 healthy targets, analyzed. (Few targets
	// with many deliveries each is what makes sorting one target's rows
	// look dear, and walking the due index cheap.)
	insertPending(4, 2500, "up", "now() - random() * interval '1 hour'")
	if _, err := db.ExecContext(ctx, `ANALYZE events, deliveries`); err != nil {
		t.Fatal(err)
	}
	// Then an outage: 20,000 deliveries of one target parked until their
	// expiry, not analyzed yet, and the target's probe is due.
	insertPending(1, 20_000, "down", "now() + interval '5 days' + random() * interval '1 hour'")
	if _, err := db.ExecContext(ctx, `
		INSERT INTO targets (origin, open_until, opened_at, updated_at)
		VALUES ('https://down1.example:443', now() - interval '1 second', now(), now())`); err != nil {
		t.Fatal(err)
	}
	args := claimParams(ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10})
	for _, stats := range []string{"before ANALYZE", "after ANALYZE"} {
		if stats == "after ANALYZE" {
			if _, err := db.ExecContext(ctx, `ANALYZE events, deliveries`); err != nil {
				t.Fatal(err)
			}
		}
		checkClaimPlan(t, explainClaim(t, s.queue, "", args))
		checkProbePlan(t, explainClaim(t, s.queue, "", args))
		root := explainClaim(t, s.queue, "ANALYZE, BUFFERS, ", args)
		blocks := root.SharedHit + root.SharedRead
		t.Logf("%s: claim with a probe: %.3f ms, %d buffers", stats, root.ActualTotalTime, blocks)
		if root.ActualRows != 10 {
			t.Errorf("%s: claim returned %v rows, want 10 (the probe and 9 due)", stats, root.ActualRows)
		}
		if blocks > 300 {
			t.Errorf("%s: claim touched %d buffers; the probe lookup reads other targets' rows", stats, blocks)
		}
	}
}

// explainClaim explains the claim as Store.Claim runs it: prepared, on db
// (the store's queue pool, whose sessions have its plan settings), in a
// transaction it rolls back.
// options are EXPLAIN's, before FORMAT JSON ("ANALYZE, BUFFERS, " runs it).
func explainClaim(t *testing.T, db *bun.DB, options string, params map[string]any) planNode {
	t.Helper()
	var js []byte
	explainPreparedClaim(t, db, "EXPLAIN ("+options+"FORMAT JSON)", params, &js)
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(js, &out); err != nil || len(out) != 1 {
		t.Fatalf("EXPLAIN JSON: %v", err)
	}
	return out[0].Plan
}

// explainClaimText is the claim's plan as EXPLAIN prints it, for the log.
func explainClaimText(t *testing.T, db *bun.DB, params map[string]any) string {
	t.Helper()
	var lines []string
	explainPreparedClaim(t, db, "EXPLAIN", params, &lines)
	return strings.Join(lines, "\n")
}

var explained atomic.Int64

func explainPreparedClaim(t *testing.T, db *bun.DB, explain string, params map[string]any, dest any) {
	t.Helper()
	explainPrepared(t, db, newClaimQuery(), explain, params, dest)
}

// explainPrepared runs explain (EXPLAIN and its options) on q as the
// store runs it: prepared, on db (the store's queue pool), in a
// transaction it rolls back.
func explainPrepared(t *testing.T, db *bun.DB, q *preparedQuery, explain string, params map[string]any, dest any) {
	t.Helper()
	ctx := t.Context()
	args, err := q.args(params)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	// PREPARE outlives the transaction: a name of its own, deallocated.
	name := fmt.Sprintf("explained_%d", explained.Add(1))
	if _, err := tx.ExecContext(ctx, "PREPARE "+name+" AS "+q.text); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = tx.ExecContext(ctx, "DEALLOCATE "+name) }()
	execute := explain + " EXECUTE " + name + "(" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")"
	if err := tx.NewRaw(execute, args...).Scan(ctx, dest); err != nil {
		t.Fatal(err)
	}
}

// TestCompletionPlanOnAYoungTable: the group completion's generic plan
// is made once per connection, at its first run, and kept while the table
// grows. Made on an empty table it must still look each delivery up by
// primary key once the table holds thousands: a plan made without
// its plan settings scanned all of deliveries per batch (43 ms at 20,000).
func TestCompletionPlanOnAYoungTable(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	q := newCompleteQuery()
	params := map[string]any{}
	for _, name := range q.names {
		params[name] = "{}"
	}
	params["ids"] = arrayParam([]string{"00000000-0000-0000-0000-000000000001"})
	args, err := q.args(params)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.queue.Conn(ctx) // the plan is the connection's, planned in its session
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	inTx := func(query string, dest any) {
		t.Helper()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := tx.NewRaw(query, args...).Scan(ctx, dest); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "PREPARE young_completion AS "+q.text); err != nil {
		t.Fatal(err)
	}
	var rows []completeResult
	inTx("EXECUTE young_completion("+placeholders+")", &rows) // planned now, on an empty table
	bulkDue(t, s, 20_000)
	var js []byte
	inTx("EXPLAIN (FORMAT JSON) EXECUTE young_completion("+placeholders+")", &js)
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(js, &out); err != nil || len(out) != 1 {
		t.Fatalf("EXPLAIN JSON: %v", err)
	}
	byKey := false
	for _, n := range out[0].Plan.all() {
		if n.Relation == "deliveries" && (n.NodeType == "Seq Scan" || n.NodeType == "Bitmap Heap Scan" || n.Index == "deliveries_lease_expiry_idx") {
			t.Errorf("the completion reads deliveries with a %s %s", n.NodeType, n.Index)
		}
		byKey = byKey || (n.Relation == "deliveries" && n.Index == "deliveries_pkey")
	}
	if !byKey {
		t.Error("the completion does not look deliveries up by primary key")
	}
}

// TestClaimPlanOnABacklog: a backlog of one target is claimed off the due
// index, n rows read for n claimed, not every due row fetched and sorted:
// when it lands in a fresh table, before any analysis (a new install's
// first burst, or any burst between two autovacuum analyses: a bitmap
// scan and a sort took 47 ms per claim of 100 among 30,000), and once
// vacuumed and analyzed (the per-origin index then covers what the
// pending rows are chosen by, and a generic plan allowed to sort read it
// whole: 74 ms per claim among 33,000).
func TestClaimPlanOnABacklog(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	bulkDue(t, s, 30_000)
	args := claimParams(ports.ClaimParams{Worker: "w1", Limit: 100, Lease: time.Minute, MaxAttempts: 10})
	for _, state := range []string{"never analyzed", "vacuumed and analyzed"} {
		if state == "vacuumed and analyzed" {
			if _, err := db.ExecContext(t.Context(), `VACUUM ANALYZE deliveries, events`); err != nil {
				t.Fatal(err)
			}
		}
		checkClaimPlan(t, explainClaim(t, s.queue, "", args))
		root := explainClaim(t, s.queue, "ANALYZE, BUFFERS, ", args)
		if root.ActualRows != 100 {
			t.Errorf("%s: claim returned %v rows, want 100", state, root.ActualRows)
		}
		for _, n := range root.all() {
			if n.Index == "deliveries_pending_due_idx" && n.ActualRows > 100 {
				t.Errorf("%s: the claim read %v rows off the due index to claim 100", state, n.ActualRows)
			}
		}
		t.Logf("%s: claim of 100 among 30,000: %.3f ms, %d buffers", state, root.ActualTotalTime, root.SharedHit+root.SharedRead)
	}
}

func explainJSON(t *testing.T, db bun.IDB, query string, args any) planNode {
	t.Helper()
	var js []byte
	if err := db.NewRaw(query, args).Scan(t.Context(), &js); err != nil {
		t.Fatal(err)
	}
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(js, &out); err != nil || len(out) != 1 {
		t.Fatalf("EXPLAIN JSON: %v", err)
	}
	return out[0].Plan
}

type planNode struct {
	NodeType        string     `json:"Node Type"`
	Relation        string     `json:"Relation Name"`
	Index           string     `json:"Index Name"`
	Parent          string     `json:"Parent Relationship"`
	SubplanName     string     `json:"Subplan Name"`
	SortKey         []string   `json:"Sort Key"`
	ActualRows      float64    `json:"Actual Rows"`
	SharedHit       int        `json:"Shared Hit Blocks"`
	SharedRead      int        `json:"Shared Read Blocks"`
	ActualTotalTime float64    `json:"Actual Total Time"`
	Plans           []planNode `json:"Plans"`
}

func (n planNode) all() []planNode {
	out := []planNode{n}
	for _, c := range n.Plans {
		out = append(out, c.all()...)
	}
	return out
}

// reads reports whether n's own input (not the CTEs and subplans hung
// under it) scans relation.
func (n planNode) reads(relation string) bool {
	for _, c := range n.Plans {
		if c.Parent == "InitPlan" || c.Parent == "SubPlan" {
			continue
		}
		if c.Relation == relation || c.reads(relation) {
			return true
		}
	}
	return false
}
