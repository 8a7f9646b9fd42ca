package sqlite

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/migrations"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// migrationsUpTo is the SQLite migrations up to version, included: the
// schema a file had when that was the last.
func migrationsUpTo(t *testing.T, version string) fs.FS {
	t.Helper()
	all := migrations.SQLite()
	entries, err := fs.ReadDir(all, ".")
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, e := range entries {
		if e.Name()[:len(version)] > version {
			continue
		}
		data, err := fs.ReadFile(all, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = &fstest.MapFile{Data: data}
	}
	return out
}

// A file written by the seed-era schema (one queue row per event) upgrades
// in place: every row is still there under its id, with its body, key,
// state, lease and history, and the store works on it. Rolling back
// restores those rows; only events routed to endpoints, which the old
// schema cannot hold, are lost.
func TestMigrateKeepsRowsOfTheOldSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, closeDB, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "webhookd.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeDB)
	if _, err := migrations.Up(ctx, db.Write, migrationsUpTo(t, "20261202000000")); err != nil {
		t.Fatalf("migrate up to the old schema: %v", err)
	}

	us := func(d time.Duration) int64 { return porttest.T0.Add(d).UnixMicro() }
	pendingID, leasedID, deadID := core.NewEventID(porttest.T0), core.NewEventID(porttest.T0), core.NewEventID(porttest.T0)
	body := func(id core.EventID) []byte { return core.BuildBody([]byte("{\"odd\":\"\x00\xff\"}"), id) }
	type oldRow struct {
		id                               core.EventID
		target, origin, key, status      string
		attempts, seq                    int
		created, lastAttempt, leaseUntil *int64
		lockedBy, lastError              any
		lastCode                         any
	}
	ptr := func(v int64) *int64 { return &v }
	old := []oldRow{
		{id: pendingID, target: "https://a.example/hooks", origin: "https://a.example:443", key: "order-1", status: "pending",
			created: ptr(us(0))},
		{id: leasedID, target: "http://b.example:8080/", origin: "http://b.example:8080", status: "delivering", attempts: 1, seq: 1,
			created: ptr(us(time.Second)), lastAttempt: ptr(us(2 * time.Second)), leaseUntil: ptr(us(32 * time.Second)), lockedBy: "w-old"},
		{id: deadID, target: "https://a.example/hooks", origin: "https://a.example:443", status: "dead", attempts: 2, seq: 2,
			created: ptr(us(2 * time.Second)), lastAttempt: ptr(us(8 * time.Second)), lastCode: 410, lastError: "status 410"},
	}
	for _, r := range old {
		var key any
		if r.key != "" {
			key = r.key
		}
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO events (id, target_url, origin, body, idempotency_key, status,
			attempted_count, claim_seq, next_attempt_at, active_since, created_at, updated_at, last_attempted_at, locked_by,
			lease_expires_at, last_status_code, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(r.id), r.target, r.origin, body(r.id), key, r.status, r.attempts, r.seq, *r.created, *r.created, *r.created,
			*r.created, r.lastAttempt, r.lockedBy, r.leaseUntil, r.lastCode, r.lastError); err != nil {
			t.Fatalf("insert old row: %v", err)
		}
	}
	// The dead row's history, inserted out of id order: id order is history order.
	for _, a := range []struct {
		id, number     int
		verdict, error string
		next           any
	}{{9, 2, "dead", "status 410", nil}, {7, 1, "retry", "status 500", us(4 * time.Second)}} {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO delivery_attempts (id, event_id, number, worker, started_at,
			duration_ms, status_code, error, response, verdict, reason, next_attempt_at, created_at)
			VALUES (?, ?, ?, 'w-old', ?, 12.5, 500, ?, 'oops', ?, 'why', ?, ?)`,
			a.id, string(deadID), a.number, us(time.Duration(a.number)*time.Second), a.error, a.verdict, a.next, us(0)); err != nil {
			t.Fatalf("insert old attempt: %v", err)
		}
	}

	applied, err := MigrateUp(ctx, db)
	if err != nil || !slices.Equal(applied, []string{"20261203000000_deliveries", "20261203100000_targets", "20261203200000_retention",
		"20261204000000_activity", "20261205000000_lean_deliveries"}) {
		t.Fatalf("MigrateUp over the old schema = %v, %v", applied, err)
	}
	checkSchema(t, db)
	st := NewStore(db, memory.NewClock(porttest.T0.Add(time.Minute)))
	for _, r := range old {
		rec, err := st.Event(ctx, r.id)
		if err != nil {
			t.Fatalf("Event(%s) after the upgrade: %v", r.id, err)
		}
		e := rec.Event
		if e.ID != r.id || e.TargetURL != r.target || e.Origin != r.origin || e.IdempotencyKey != r.key ||
			e.EventType != "" || e.EndpointID != "" || !bytes.Equal(e.Body, body(r.id)) || e.CreatedAt.UnixMicro() != *r.created {
			t.Errorf("event %s after the upgrade: %+v", r.id, e)
		}
		if len(rec.Deliveries) != 1 {
			t.Fatalf("event %s: %d deliveries, want 1", r.id, len(rec.Deliveries))
		}
		d, err := st.Get(ctx, r.id)
		if err != nil {
			t.Fatalf("Get(%s): %v", r.id, err)
		}
		if d.ID != r.id || d.EventID != r.id || d.EndpointID != "" || d.TargetURL != r.target || d.Origin != r.origin ||
			string(d.Status) != r.status || d.AttemptedCount != r.attempts || d.ClaimSeq != int64(r.seq) ||
			!bytes.Equal(d.Body, body(r.id)) || d.CreatedAt.UnixMicro() != *r.created || d.ActiveSince.UnixMicro() != *r.created {
			t.Errorf("delivery %s after the upgrade: %+v", r.id, d)
		}
		if (d.LeaseExpiresAt == nil) != (r.leaseUntil == nil) || r.leaseUntil != nil && d.LeaseExpiresAt.UnixMicro() != *r.leaseUntil {
			t.Errorf("delivery %s: lease until %v, want %v", r.id, d.LeaseExpiresAt, r.leaseUntil)
		}
	}
	if d, _ := st.Get(ctx, leasedID); d.LockedBy != "w-old" {
		t.Errorf("leased delivery locked by %q, want w-old", d.LockedBy)
	}
	if d, _ := st.Get(ctx, deadID); d.LastStatusCode != 410 || d.LastError != "status 410" {
		t.Errorf("dead delivery's last outcome: %d %q", d.LastStatusCode, d.LastError)
	}
	atts, err := st.Attempts(ctx, deadID)
	if err != nil || len(atts) != 2 {
		t.Fatalf("Attempts of the dead delivery = %+v, %v; want 2", atts, err)
	}
	for i, a := range atts {
		if a.Number != i+1 || a.DeliveryID != deadID || a.Worker != "w-old" || a.Response != "oops" || a.Duration != 12500*time.Microsecond {
			t.Errorf("attempt %d after the upgrade: %+v", i, a)
		}
	}
	if atts[0].Verdict != core.VerdictRetry || atts[0].NextAttemptAt == nil || atts[1].Verdict != core.VerdictDead || atts[1].NextAttemptAt != nil {
		t.Errorf("attempts out of order or changed: %+v", atts)
	}

	// The store carries on with them: the key still holds, the lease
	// still guards its claim, and the pending row is claimed with its body.
	again := porttest.NewEvent(t, "https://a.example/hooks", `{}`)
	again.IdempotencyKey = "order-1"
	if in, err := st.Insert(ctx, ports.InsertParams{Event: again}); err != nil || in.Created || in.Event.ID != pendingID {
		t.Errorf("Insert under the upgraded key = %+v, %v; want the old event, not created", in, err)
	}
	if err := st.Complete(ctx, ports.CompleteParams{Worker: "w-old", Claim: ports.Claim{ID: leasedID, Attempt: 1, Seq: 1},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200},
		Record:   core.Attempt{StartedAt: porttest.T0, StatusCode: 200}}); err != nil {
		t.Errorf("completing the claim made before the upgrade: %v", err)
	}
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w-new", Limit: 10, Lease: time.Minute, MaxAttempts: 10})
	if err != nil || len(got) != 1 || got[0].ID != pendingID || !bytes.Equal(got[0].Body, body(pendingID)) {
		t.Errorf("Claim after the upgrade = %+v, %v; want the pending row with its body", got, err)
	}

	// An event to an endpoint, which the old schema cannot hold.
	ep := porttest.NewEndpoint(t, "https://endpoint.example/")
	if _, err := st.CreateEndpoint(ctx, ep, nil); err != nil {
		t.Fatal(err)
	}
	fanned, err := st.Insert(ctx, ports.InsertParams{Event: porttest.NewTypedEvent(t, "order.paid", `{}`)})
	if err != nil || len(fanned.Deliveries) != 1 {
		t.Fatalf("Insert to an endpoint = %+v, %v", fanned, err)
	}
	down, err := MigrateDown(ctx, db)
	if err != nil || !slices.Equal(down, []string{"20261205000000_lean_deliveries", "20261204000000_activity", "20261203200000_retention",
		"20261203100000_targets", "20261203000000_deliveries"}) {
		t.Fatalf("MigrateDown = %v, %v; want the five migrations applied together, newest first", down, err)
	}
	checkSchema(t, db)
	rows, err := db.Read.QueryContext(ctx, "SELECT id, status, body, coalesce(idempotency_key, '') FROM events ORDER BY created_at")
	if err != nil {
		t.Fatal(err)
	}
	var ids []core.EventID
	for rows.Next() {
		var id, status, key string
		var b []byte
		if err := rows.Scan(&id, &status, &b, &key); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, core.EventID(id))
		if !bytes.Equal(b, body(core.EventID(id))) || (core.EventID(id) == pendingID) != (key == "order-1") {
			t.Errorf("row %s after the rollback: body %q key %q", id, b, key)
		}
		if want := map[core.EventID]string{pendingID: "delivering", leasedID: "succeeded", deadID: "dead"}[core.EventID(id)]; status != want {
			t.Errorf("row %s after the rollback: status %s, want %s", id, status, want)
		}
	}
	rows.Close()
	if !slices.Equal(ids, []core.EventID{pendingID, leasedID, deadID}) {
		t.Errorf("rows after the rollback: %v, want the three target_url events (the endpoint's dropped)", ids)
	}
	var history []int
	rows, err = db.Read.QueryContext(ctx, "SELECT id FROM delivery_attempts WHERE event_id = ? ORDER BY id", string(deadID))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		history = append(history, id)
	}
	rows.Close()
	if !slices.Equal(history, []int{7, 9}) {
		t.Errorf("history after the rollback: attempt ids %v, want [7 9]", history)
	}
	if _, err := MigrateUp(ctx, db); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if d, err := st.Get(ctx, leasedID); err != nil || d.Status != core.StatusSucceeded {
		t.Errorf("after up, down and up: %+v, %v", d, err)
	}
}

// checkSchema fails t unless the file is consistent: no broken foreign
// key, no table left over from a migration, and SQLite's integrity check
// passes.
func checkSchema(t *testing.T, db *DB) {
	t.Helper()
	ctx := t.Context()
	rows, err := db.Read.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	broken := 0
	for rows.Next() {
		broken++
	}
	rows.Close()
	var leftovers int
	var integrity string
	if err := db.Read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%\\_old' ESCAPE '\\' OR name LIKE '%\\_new' ESCAPE '\\'").Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if err := db.Read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	if broken != 0 || leftovers != 0 || integrity != "ok" {
		t.Errorf("schema: %d broken foreign keys, %d leftover tables, integrity %q", broken, leftovers, integrity)
	}
}
