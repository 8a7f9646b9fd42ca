package postgres

import (
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/migrations"
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
	if !tableExists(t, db, "events") || !tableExists(t, db, "delivery_attempts") {
		t.Fatal("tables missing after MigrateUp")
	}
	down, err := MigrateDown(ctx, db, cfg)
	if err != nil || !sameMigrations(down, allMigrations(t)) {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	if tableExists(t, db, "events") || tableExists(t, db, "delivery_attempts") {
		t.Error("tables remain after MigrateDown")
	}
	if st := status(t, db, cfg); !strings.Contains(st, "pending") {
		t.Errorf("status after MigrateDown:\n%s", st)
	}
	up, err := MigrateUp(ctx, db, cfg)
	if err != nil || !sameMigrations(up, allMigrations(t)) {
		t.Fatalf("MigrateUp after down = %v, %v", up, err)
	}
	if err := s.Ping(ctx); err != nil || !tableExists(t, db, "events") {
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
