package postgres

import (
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/migrations"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

const firstMigration = "20250101000000_create_events"

// allMigrations names every embedded migration, oldest first: a fresh
// schema gets them all in one MigrateUp (one group), and MigrateDown
// rolls that group back whole.
func allMigrations(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(migrations.Postgres(), "*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimSuffix(f, ".up.sql"), ".tx"))
	}
	slices.Sort(names)
	return names
}

// sameMigrations compares two lists of migration names in any order.
func sameMigrations(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), want)
}

func tableExists(t *testing.T, db *bun.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := db.NewRaw("SELECT to_regclass(?) IS NOT NULL", name).Scan(t.Context(), &ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func status(t *testing.T, db *bun.DB, cfg Config) string {
	t.Helper()
	lines, err := MigrationStatus(t.Context(), db, cfg)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	return strings.Join(lines, "\n")
}

func TestMigrateUpTwiceIsANoop(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	db := openDB(t, cfg)
	ctx := t.Context()
	if st := status(t, db, cfg); !strings.Contains(st, firstMigration) || !strings.Contains(st, "pending") {
		t.Errorf("status before migrating:\n%s", st)
	}
	first, err := MigrateUp(ctx, db, cfg)
	if err != nil || !sameMigrations(first, allMigrations(t)) {
		t.Fatalf("first MigrateUp = %v, %v", first, err)
	}
	second, err := MigrateUp(ctx, db, cfg)
	if err != nil || len(second) != 0 {
		t.Fatalf("second MigrateUp = %v, %v; want nothing applied", second, err)
	}
	if st := status(t, db, cfg); !strings.Contains(st, "applied (group 1") || strings.Contains(st, "pending") {
		t.Errorf("status after migrating:\n%s", st)
	}
}

func TestMigrateDownThenUp(t *testing.T) {
	t.Parallel()
	s, db, cfg := newTestStore(t)
	ctx := t.Context()
	for _, table := range []string{"events", "deliveries", "delivery_attempts", "endpoints", "targets"} {
		if !tableExists(t, db, table) {
			t.Fatalf("table %s missing after MigrateUp", table)
		}
	}
	down, err := MigrateDown(ctx, db, cfg)
	if err != nil || !sameMigrations(down, allMigrations(t)) {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	for _, table := range []string{"events", "deliveries", "delivery_attempts", "endpoints", "targets"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s remains after MigrateDown", table)
		}
	}
	if st := status(t, db, cfg); !strings.Contains(st, "pending") {
		t.Errorf("status after MigrateDown:\n%s", st)
	}
	up, err := MigrateUp(ctx, db, cfg)
	if err != nil || !sameMigrations(up, allMigrations(t)) {
		t.Fatalf("MigrateUp after down = %v, %v", up, err)
	}
	if err := s.Ping(ctx); err != nil || !tableExists(t, db, "events") || !tableExists(t, db, "deliveries") {
		t.Errorf("store after down+up: ping %v", err)
	}
}

// Replicas starting together each migrate at start-up: the advisory lock
// must make every one of them succeed, with the work done exactly once.
func TestConcurrentMigrateUpOnAFreshSchema(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	const replicas = 4
	dbs := make([]*bun.DB, replicas)
	for i := range dbs {
		dbs[i] = openDB(t, cfg) // one pool each, like separate processes
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	applied := make([][]string, replicas)
	errs := make([]error, replicas)
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = MigrateUp(t.Context(), db, cfg)
		})
	}
	close(start)
	wg.Wait()
	var total int
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: MigrateUp: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if want := len(allMigrations(t)); total != want {
		t.Errorf("%d migrations applied in all (%v), want each of the %d once", total, applied, want)
	}
	if !tableExists(t, dbs[0], "events") {
		t.Error("events table missing")
	}
}

// lastBeforeSplit is the newest migration of the schema in which events was
// the queue, before 20261203000000_deliveries split it.
const lastBeforeSplit = "20261202100000"

// migrationsAfter names the embedded migrations newer than last, oldest
// first: what MigrateUp applies over a schema migrated up to last.
func migrationsAfter(t *testing.T, last string) []string {
	t.Helper()
	var out []string
	for _, name := range allMigrations(t) {
		if name[:len(last)] > last {
			out = append(out, name)
		}
	}
	return out
}

// migrationsUpTo is the embedded migrations whose version is at most last.
func migrationsUpTo(t *testing.T, last string) fs.FS {
	t.Helper()
	all := migrations.Postgres()
	files, err := fs.Glob(all, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, f := range files {
		if f[:len(last)] > last {
			continue
		}
		data, err := fs.ReadFile(all, f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = &fstest.MapFile{Data: data}
	}
	return out
}

// An existing database upgrades in place: a queue as the previous version
// left it (a row of each status, leases, histories, an idempotency key)
// keeps every row under its id, with its body, key, status, claim and
// attempts, and goes on working. Rolling the split back restores the old
// table, but for what it cannot hold (deliveries to endpoints).
func TestMigrateUpgradesAnExistingQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	db := openDB(t, cfg)
	ctx := t.Context()
	err := withMigrationLock(ctx, db, cfg, func() error {
		_, err := migrations.Up(ctx, db, migrationsUpTo(t, lastBeforeSplit))
		return err
	})
	if err != nil {
		t.Fatalf("migrate up to %s: %v", lastBeforeSplit, err)
	}
	if tableExists(t, db, "deliveries") {
		t.Fatal("the old schema already has deliveries")
	}

	type oldRow struct {
		id                  core.EventID
		body                []byte
		key, status, locked string
		attempts, seq, code int
		lastError           string
		history             int
	}
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	newID := func() core.EventID { return core.NewEventID(base) }
	pendingID := newID()
	rows := []oldRow{
		{id: pendingID, body: core.BuildBody([]byte(`{"order":1}`), pendingID), key: "order-1", status: "pending",
			attempts: 1, seq: 1, code: 500, lastError: "status 500", history: 1},
		{id: newID(), body: []byte("{\"odd\":\"\x00\xff\"}"), status: "delivering", locked: "w-old", attempts: 1, seq: 3},
		{id: newID(), body: []byte(`{}`), status: "succeeded", attempts: 1, seq: 1, code: 200, history: 1},
		{id: newID(), body: []byte(`{"gone":true}`), status: "dead", attempts: 2, seq: 2, code: 410, lastError: "status 410", history: 2},
	}
	for _, r := range rows {
		var lease any
		if r.status == "delivering" {
			lease = time.Now().Add(time.Hour).UTC()
		}
		_, err := db.NewRaw(`
			INSERT INTO events (id, target_url, origin, body, idempotency_key, status, attempted_count, claim_seq,
			                    next_attempt_at, created_at, updated_at, last_attempted_at, locked_by, lease_expires_at,
			                    last_status_code, last_error)
			VALUES (?, 'https://m.example/h', 'https://m.example:443', ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?,
			        NULLIF(?, ''), ?, NULLIF(?, 0), NULLIF(?, ''))`,
			string(r.id), r.body, r.key, r.status, r.attempts, r.seq, base, base, base, base,
			r.locked, lease, r.code, r.lastError).Exec(ctx)
		if err != nil {
			t.Fatalf("old-schema insert: %v", err)
		}
		for n := 1; n <= r.history; n++ {
			if _, err := db.NewRaw(`INSERT INTO delivery_attempts (event_id, number, worker, started_at, verdict)
				VALUES (?, ?, 'w-old', ?, 'retry')`, string(r.id), n, base).Exec(ctx); err != nil {
				t.Fatalf("old-schema attempt: %v", err)
			}
		}
	}

	// The split, and what came after it (the targets table), as one group.
	later := migrationsAfter(t, lastBeforeSplit)
	if len(later) == 0 || later[0] != "20261203000000_deliveries" {
		t.Fatalf("migrations after %s: %v; want the split first", lastBeforeSplit, later)
	}
	applied, err := MigrateUp(ctx, db, cfg)
	if err != nil || !sameMigrations(applied, later) {
		t.Fatalf("MigrateUp over the old schema = %v, %v; want %v", applied, err, later)
	}
	s := newStoreOn(t, db, cfg)
	for _, r := range rows {
		d, err := s.Get(ctx, r.id)
		if err != nil {
			t.Fatalf("Get(%s) after the upgrade: %v", r.id, err)
		}
		if d.ID != r.id || d.EventID != r.id || d.EndpointID != "" || string(d.Body) != string(r.body) ||
			string(d.Status) != r.status || d.AttemptedCount != r.attempts || d.ClaimSeq != int64(r.seq) ||
			d.LockedBy != r.locked || d.LastStatusCode != r.code || d.LastError != r.lastError ||
			d.TargetURL != "https://m.example/h" || d.Origin != "https://m.example:443" || !d.CreatedAt.Equal(base) {
			t.Errorf("delivery %s after the upgrade: %+v, want %+v", r.id, d, r)
		}
		rec, err := s.Event(ctx, r.id)
		if err != nil || rec.Event.ID != r.id || string(rec.Event.Body) != string(r.body) || rec.Event.IdempotencyKey != r.key ||
			rec.Event.TargetURL != "https://m.example/h" || rec.Event.EventType != "" || !rec.Event.CreatedAt.Equal(base) ||
			len(rec.Deliveries) != 1 || rec.Deliveries[0].ID != r.id {
			t.Errorf("event %s after the upgrade: %+v, %v", r.id, rec, err)
		}
		atts, err := s.Attempts(ctx, r.id)
		if err != nil || len(atts) != r.history {
			t.Errorf("attempts of %s after the upgrade: %d, %v; want %d", r.id, len(atts), err, r.history)
		}
		for _, a := range atts {
			if a.DeliveryID != r.id || a.Worker != "w-old" {
				t.Errorf("attempt after the upgrade: %+v", a)
			}
		}
	}
	var names []string
	if err := db.NewRaw(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'deliveries'
		UNION ALL SELECT tgname FROM pg_trigger WHERE tgrelid = 'deliveries'::regclass AND NOT tgisinternal
		ORDER BY 1`).Scan(ctx, &names); err != nil {
		t.Fatal(err)
	}
	want := []string{"deliveries_dead_created_idx", "deliveries_endpoint_status_idx", "deliveries_fanout_event_idx",
		"deliveries_finished_updated_idx", "deliveries_lease_expiry_idx",
		"deliveries_pending_due_idx", "deliveries_pending_origin_idx", "deliveries_pkey"}
	if !slices.Equal(names, want) {
		t.Errorf("deliveries' indexes and triggers after the upgrade: %v, want %v", names, want)
	}

	// The queue goes on: the key still answers with its event, the due
	// row is claimed, the lease taken before the upgrade still completes.
	again := porttest.NewEvent(t, "https://m.example/h", `{"order":1}`)
	again.IdempotencyKey = "order-1"
	if in, err := s.Insert(ctx, ports.InsertParams{Event: again}); err != nil || in.Created || in.Event.ID != pendingID {
		t.Errorf("Insert under an upgraded key: %+v, %v; want event %s, not created", in, err, pendingID)
	}
	claimed, err := s.Claim(ctx, ports.ClaimParams{Worker: "w-new", Limit: 10, Lease: time.Minute, MaxAttempts: 10})
	if err != nil || len(claimed) != 1 || claimed[0].ID != pendingID || string(claimed[0].Payload()) != `{"order":1}` ||
		claimed[0].AttemptedCount != 2 || claimed[0].ClaimSeq != 2 {
		t.Fatalf("Claim after the upgrade: %+v, %v; want %s as attempt 2", claimed, err, pendingID)
	}
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w-old", Claim: ports.Claim{ID: rows[1].id, Attempt: 1, Seq: 3},
		Decision: core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200},
		Record:   core.Attempt{StartedAt: time.Now(), StatusCode: 200}})
	if err != nil {
		t.Errorf("completing a claim taken before the upgrade: %v", err)
	}
	fresh := porttest.NewEvent(t, "https://m.example/h", `{"new":1}`)
	if _, err := s.Insert(ctx, ports.InsertParams{Event: fresh}); err != nil {
		t.Fatal(err)
	}
	ep := porttest.NewEndpoint(t, "https://ep.example/h")
	if _, err := s.CreateEndpoint(ctx, ep, nil); err != nil {
		t.Fatal(err)
	}
	typed := porttest.NewTypedEvent(t, "order.paid", `{}`)
	if in, err := s.Insert(ctx, ports.InsertParams{Event: typed}); err != nil || len(in.Deliveries) != 1 {
		t.Fatalf("Insert to an endpoint: %+v, %v", in, err)
	}

	// Down: the old table again, with every target_url event's row; the
	// delivery to an endpoint has no place there and is gone.
	down, err := MigrateDown(ctx, db, cfg)
	if err != nil || !sameMigrations(down, later) {
		t.Fatalf("MigrateDown = %v, %v; want %v", down, err, later)
	}
	if tableExists(t, db, "deliveries") {
		t.Error("deliveries remains after rolling the split back")
	}
	var back []struct {
		ID             string `bun:"id"`
		Body           []byte `bun:"body"`
		IdempotencyKey string `bun:"idempotency_key"`
		Status         string `bun:"status"`
		Attempts       int    `bun:"attempts"`
	}
	if err := db.NewRaw(`SELECT e.id, e.body, coalesce(e.idempotency_key, '') AS idempotency_key, e.status,
		(SELECT count(*) FROM delivery_attempts a WHERE a.event_id = e.id) AS attempts
		FROM events e ORDER BY e.id`).Scan(ctx, &back); err != nil {
		t.Fatalf("read the old table back: %v", err)
	}
	wantBack := map[string]oldRow{string(fresh.ID): {body: fresh.Body, status: "pending"}}
	for _, r := range rows {
		wantBack[string(r.id)] = r
	}
	wantBack[string(pendingID)] = oldRow{body: rows[0].body, key: "order-1", status: "delivering", history: 1}
	wantBack[string(rows[1].id)] = oldRow{body: rows[1].body, status: "succeeded", history: 1}
	if len(back) != len(wantBack) {
		t.Errorf("%d rows after rolling back, want %d (the endpoint delivery dropped)", len(back), len(wantBack))
	}
	for _, b := range back {
		w, ok := wantBack[b.ID]
		if !ok || string(b.Body) != string(w.body) || b.IdempotencyKey != w.key || b.Status != w.status || b.Attempts != w.history {
			t.Errorf("row after rolling back: %+v, want %+v", b, w)
		}
	}
	if up, err := MigrateUp(ctx, db, cfg); err != nil || len(up) != len(later) {
		t.Errorf("MigrateUp after rolling back = %v, %v", up, err)
	}
}
