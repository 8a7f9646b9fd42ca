package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// newTestDB opens and migrates a store file in the test's temp dir.
func newTestDB(t testing.TB) *DB {
	t.Helper()
	db, closeDB, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "data", "webhookd.db")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(closeDB)
	if _, err := MigrateUp(t.Context(), db); err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	return db
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunEventStore(t, func(t *testing.T) ports.EventStore {
		return NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	})
}

// A 202 must survive a power cut: every connection that writes runs in WAL
// mode with synchronous=FULL, and foreign keys are enforced.
func TestDurabilitySettings(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	var mode string
	var sync, fk, busy int
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []struct {
		pragma string
		dst    any
	}{{"journal_mode", &mode}, {"synchronous", &sync}, {"foreign_keys", &fk}, {"busy_timeout", &busy}} {
		if err := conn.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(q.dst); err != nil {
			t.Fatalf("PRAGMA %s: %v", q.pragma, err)
		}
	}
	if mode != "wal" || sync != 2 || fk != 1 || busy != 5000 {
		t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal, 2 (FULL), 1, 5000", mode, sync, fk, busy)
	}
	if n := db.Write.DB.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writing pool allows %d connections, want 1 (one writer)", n)
	}
	if _, err := db.Read.ExecContext(ctx, "DELETE FROM events"); err == nil {
		t.Errorf("a write through the reading pool succeeded; want it refused (query_only)")
	}
}

func TestFileModes(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	for path, want := range map[string]os.FileMode{
		filepath.Dir(db.Path): 0o700 | os.ModeDir, db.Path: 0o600, db.Path + "-wal": 0o600, db.Path + ".lock": 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %s, want %s", path, fi.Mode(), want)
		}
	}
}

// The queue's multi-process guarantees are PostgreSQL's: a second opener
// of the same file is refused while the first holds it, and welcome once
// it closed.
func TestOneProcessPerFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhookd.db")
	_, closeFirst, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(t.Context(), Config{Path: path})
	if err == nil || !strings.Contains(err.Error(), "in use by another dispatcher") {
		t.Fatalf("second Open = %v, want refused as in use by another dispatcher", err)
	}
	closeFirst()
	_, closeSecond, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatalf("Open after the first closed: %v", err)
	}
	closeSecond()
}

func TestMigrateDownAndStatus(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	lines, err := MigrationStatus(ctx, db)
	if err != nil || len(lines) == 0 || !strings.Contains(lines[0], "applied") {
		t.Fatalf("status after up = %q, %v; want applied", lines, err)
	}
	if again, err := MigrateUp(ctx, db); err != nil || len(again) != 0 {
		t.Fatalf("second MigrateUp = %v, %v; want nothing to do", again, err)
	}
	down, err := MigrateDown(ctx, db)
	if err != nil || len(down) == 0 {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	var tables int
	if err := db.Read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name IN ('events', 'deliveries', 'delivery_attempts', 'endpoints', 'targets')").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("after down: %d of the tables remain (%v)", tables, err)
	}
	if lines, err = MigrationStatus(ctx, db); err != nil || !strings.Contains(lines[0], "pending") {
		t.Fatalf("status after down = %q, %v; want pending", lines, err)
	}
	if _, err := MigrateUp(ctx, db); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

func TestPathFromURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"sqlite:///var/lib/webhookd/q.db": "/var/lib/webhookd/q.db",
		"sqlite:data/webhookd.db":         "data/webhookd.db",
		"sqlite:q.db":                     "q.db",
	} {
		if got, err := PathFromURL(in); err != nil || got != want {
			t.Errorf("PathFromURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"sqlite:", "sqlite://host/q.db", "sqlite:///", "postgres://x/y", "sqlite:dir/"} {
		if got, err := PathFromURL(bad); err == nil {
			t.Errorf("PathFromURL(%q) = %q, want an error", bad, got)
		}
	}
	if err := (Config{Path: "a?b.db"}).Validate(); err == nil {
		t.Errorf("a path with '?' was accepted")
	}
}

// queryLog records every query bun runs.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (l *queryLog) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (l *queryLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
}

// Claim cost must not grow with history: each of its reads of the queue
// goes through a partial index (status = 'pending' or 'delivering'), never
// a scan of the table or of an index that holds finished rows, and what it
// reads beside the claimed rows (their events' bodies, their endpoints) is
// found by primary key. The targets table holds open targets only: it is
// read through its primary key, in its order.
func TestClaimReadsThroughPartialIndexes(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	st := NewStore(db, memory.NewClock(porttest.T0))
	// An open target whose probe is due at T0, with a parked delivery: the
	// claim reads the targets due and the probe.
	before := porttest.T0.Add(-2 * time.Minute)
	if _, err := st.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://probe.example/", `{}`), Now: &before}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w", ParkOrigin: "https://probe.example:443",
		Until: porttest.T0.Add(-time.Minute), Now: &before}); err != nil {
		t.Fatal(err)
	}
	// Something to claim, to an endpoint and to a target_url, so that the
	// reads after the claim run too.
	ep := porttest.NewEndpoint(t, "https://endpoint.example/hooks")
	if _, err := st.CreateEndpoint(ctx, ep, nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range []core.Event{porttest.NewTypedEvent(t, "order.paid", `{}`), porttest.NewEvent(t, "https://target.example/", `{}`)} {
		if _, err := st.Insert(ctx, ports.InsertParams{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	log := &queryLog{}
	db.Write.AddQueryHook(log)
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w", Limit: 10, Lease: time.Minute, MaxAttempts: 3,
		ExcludeOrigins: []string{"https://busy.example"}})
	if err != nil || len(got) != 3 || !got[0].Probe {
		t.Fatalf("Claim = %+v, %v; want a probe and 2 deliveries", got, err)
	}
	selects := 0
	for _, q := range log.queries {
		if !strings.HasPrefix(q, "SELECT") {
			continue
		}
		selects++
		joined := strings.Join(explain(t, db, q), "; ")
		// anyOf: one of them must be used; allOf: every one.
		var anyOf, allOf []string
		switch {
		case strings.Contains(q, `FROM "deliveries"`) && strings.Contains(q, "(SELECT"):
			// The probe: its origin's oldest time, then its ties in id order.
			allOf = []string{"deliveries_pending_origin_idx (origin=?)", "deliveries_pending_due_idx (next_attempt_at=?)"}
		case strings.Contains(q, `FROM "deliveries"`):
			anyOf = []string{"deliveries_pending_due_idx", "deliveries_lease_expiry_idx"}
		case strings.Contains(q, `FROM "targets"`):
			anyOf = []string{"sqlite_autoindex_targets_1 (origin>?)", "sqlite_autoindex_targets_1 (origin=?)"}
		case strings.Contains(q, `FROM "events"`):
			anyOf = []string{"sqlite_autoindex_events_1 (id=?)"}
		case strings.Contains(q, `FROM "endpoints"`):
			anyOf = []string{"sqlite_autoindex_endpoints_1 (id=?)"}
		}
		contains := func(idx string) bool { return strings.Contains(joined, idx) }
		uses := (len(anyOf) > 0 || len(allOf) > 0) && (len(anyOf) == 0 || slices.ContainsFunc(anyOf, contains)) &&
			!slices.ContainsFunc(allOf, func(idx string) bool { return !contains(idx) })
		if !uses || strings.Contains(joined, "SCAN ") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("claim query\n  %s\nplans as %q: want %q, %q, no scan, no sort", q, joined, anyOf, allOf)
		}
	}
	if selects != 8 {
		t.Errorf("claim ran %d SELECTs, want 8 (lost, targets due, probe, expired, pending, open targets, bodies, endpoints): %q",
			selects, log.queries)
	}
}

// A probe is its target's oldest pending delivery by (next_attempt_at,
// id), even among many parked at the same instant, beside other origins'
// rows due then too, and inserted out of id order.
func TestProbeIsTheOldestByTimeThenID(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	const a, b = "https://a.example/", "https://b.example/"
	until := porttest.T0.Add(time.Minute)
	var evs []core.Event
	for i := range 8 {
		evs = append(evs, porttest.NewEvent(t, []string{a, b}[i%2], `{}`))
	}
	slices.SortFunc(evs, func(x, y core.Event) int { return strings.Compare(string(y.ID), string(x.ID)) })
	var oldestA core.EventID
	for _, e := range evs { // newest id first: row order is not id order
		p := ports.InsertParams{Event: e}
		if e.TargetURL == b {
			p.DueAt = until // due at the very instant a's are parked to
		} else {
			oldestA = e.ID
		}
		if _, err := st.Insert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	origin, err := core.ValidateTargetURL(a)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Release(ctx, ports.ReleaseParams{Worker: "w", ParkOrigin: origin, Until: until})
	if err != nil || res.Parked != 4 {
		t.Fatalf("Release = %+v, %v; want a's 4 parked", res, err)
	}
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w", Limit: 1, Lease: time.Minute, MaxAttempts: 3, Now: &until})
	if err != nil || len(got) != 1 || !got[0].Probe || got[0].ID != oldestA {
		t.Fatalf("Claim = %+v, %v; want %s as the probe", got, err, oldestA)
	}
}

// A due target with nothing left to probe is forgotten without taking a
// place of Limit: the next target in origin order is probed instead.
func TestForgottenTargetLeavesItsPlace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	until := porttest.T0.Add(time.Minute)
	b, err := st.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://b.example/", `{}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"https://a.example:443", "https://b.example:443"} {
		if _, err := st.Release(ctx, ports.ReleaseParams{Worker: "w", ParkOrigin: origin, Until: until}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Claim(ctx, ports.ClaimParams{Worker: "w", Limit: 1, Lease: time.Minute, MaxAttempts: 3, Now: &until})
	if err != nil || len(got) != 1 || !got[0].Probe || got[0].ID != b.Event.ID {
		t.Fatalf("Claim = %+v, %v; want b's delivery as the probe", got, err)
	}
	targets, err := st.Targets(ctx)
	if err != nil || len(targets) != 1 || targets[0].Origin != "https://b.example:443" || targets[0].ProbeUntil == nil {
		t.Errorf("Targets = %+v, %v; want b alone, probing", targets, err)
	}
}

// explain returns the details of q's query plan.
func explain(t *testing.T, db *DB, q string) []string {
	t.Helper()
	rows, err := db.Read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestEndpointStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunEndpointStore(t, func(t *testing.T) ports.EndpointStore {
		return NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	})
}

func TestActivityStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunActivityStore(t, func(t *testing.T) ports.ActivityStore {
		return NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	})
}
