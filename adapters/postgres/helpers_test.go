package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
)

// Tests that need PostgreSQL skip unless TEST_DATABASE_URL is set. Each
// gets a schema of its own, dropped when it ends, so they run in parallel.

func TestMain(m *testing.M) {
	code := m.Run()
	if db := admin.db; db != nil {
		_ = db.Close()
	}
	os.Exit(code)
}

// requireDB is the test database's URL; without one the test skips (or
// fails under WEBHOOKD_REQUIRE_DB).
func requireDB(t testing.TB) string { return testkit.DatabaseURL(t) }

// admin is a pool on the public schema for creating and dropping test
// schemas.
var admin struct {
	once sync.Once
	db   *bun.DB
	err  error
}

func adminDB(t testing.TB) *bun.DB {
	t.Helper()
	url := requireDB(t)
	admin.once.Do(func() {
		admin.db, _, admin.err = Open(context.Background(), Config{DSN: url, MaxOpenConns: 4, ConnectTimeout: 10 * time.Second})
	})
	if admin.err != nil {
		t.Fatalf("open admin db: %v", admin.err)
	}
	return admin.db
}

// testConfig names a fresh schema (not created: MigrateUp does that) and
// drops it when t ends.
func testConfig(t testing.TB) Config {
	t.Helper()
	url := requireDB(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := Config{DSN: url, Schema: "t_" + hex.EncodeToString(b[:]), MaxOpenConns: 8, ConnectTimeout: 10 * time.Second}
	db := adminDB(t)
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS ? CASCADE", bun.Ident(cfg.Schema)); err != nil {
			t.Errorf("drop schema %s: %v", cfg.Schema, err)
		}
	})
	return cfg
}

func openDB(t testing.TB, cfg Config) *bun.DB {
	t.Helper()
	db, closeDB, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(closeDB)
	return db
}

// newTestStore returns a store on a freshly migrated schema of its own.
func newTestStore(t testing.TB) (*Store, *bun.DB, Config) {
	t.Helper()
	cfg := testConfig(t)
	db := openDB(t, cfg)
	if _, err := MigrateUp(t.Context(), db, cfg); err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	return newStoreOn(t, db, cfg), db, cfg
}

// newStoreOn is NewStore, its queue pool closed when t ends.
func newStoreOn(t testing.TB, db *bun.DB, cfg Config) *Store {
	t.Helper()
	s, closeQueue, err := NewStore(db, cfg)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	t.Cleanup(closeQueue)
	return s
}

// claimInTx runs the claim statement with p inside tx (not committed) and
// scans its rows as bun would.
func claimInTx(t *testing.T, s *Store, tx bun.Tx, p ports.ClaimParams) []deliveryRow {
	t.Helper()
	ctx := t.Context()
	args, err := s.claims.args(claimParams(p))
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := s.claims.prepared(ctx, s.queue)
	if err != nil {
		t.Fatal(err)
	}
	var claimed []deliveryRow
	rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	if err == nil {
		err = s.queue.ScanRows(ctx, rows, &claimed)
	}
	if err != nil {
		t.Fatalf("claim in a transaction: %v", err)
	}
	return claimed
}
