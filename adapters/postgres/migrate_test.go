package postgres

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"
)

const firstMigration = "20250101000000_create_events"

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
	if err != nil || !slices.Equal(first, []string{firstMigration}) {
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
	if err != nil || !slices.Equal(down, []string{firstMigration}) {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	if tableExists(t, db, "events") || tableExists(t, db, "delivery_attempts") {
		t.Error("tables remain after MigrateDown")
	}
	if st := status(t, db, cfg); !strings.Contains(st, "pending") {
		t.Errorf("status after MigrateDown:\n%s", st)
	}
	up, err := MigrateUp(ctx, db, cfg)
	if err != nil || !slices.Equal(up, []string{firstMigration}) {
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
	if total != 1 {
		t.Errorf("migrations applied %d times in all (%v), want once", total, applied)
	}
	if !tableExists(t, dbs[0], "events") {
		t.Error("events table missing")
	}
}
