package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
	_ "modernc.org/sqlite" // the test reads the dispatcher's SQLite file

	"github.com/webhookd/webhookd/internal/testkit"
)

// The stores a DB can be.
const (
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
)

// Stores are the durable stores, for a scenario that runs on each.
var Stores = []string{KindPostgres, KindSQLite}

// DB is a test's own database: a fresh schema of the test PostgreSQL or a
// SQLite file in the test's temp dir. Both have the same tables and
// columns; in SQLite ids are TEXT and timestamps unix microseconds, so
// queries meant for both compare times through a helper (LiveLeases) and
// spell casts CAST(x AS TEXT).
type DB struct {
	Kind   string // KindPostgres or KindSQLite
	URL    string // the dispatcher's DATABASE_URL
	Schema string // PostgreSQL only: DATABASE_SCHEMA
	Path   string // SQLite only: the database file
	SQL    *sql.DB
}

// NewDB is the test's default store: PostgreSQL when TEST_DATABASE_URL is
// set (and not -short) or WEBHOOKD_REQUIRE_DB demands it, SQLite
// otherwise, so that the end-to-end tests run without a server.
// WEBHOOKD_TEST_STORE=sqlite|postgres overrides the choice. Call it before
// Build: a test that cannot have its store skips before compiling anything.
func NewDB(t testing.TB) *DB {
	t.Helper()
	kind := os.Getenv("WEBHOOKD_TEST_STORE")
	if kind == "" {
		kind = KindSQLite
		if os.Getenv("WEBHOOKD_REQUIRE_DB") != "" || os.Getenv("TEST_DATABASE_URL") != "" && !testing.Short() {
			kind = KindPostgres // testkit.DatabaseURL fails the test if it is missing
		}
	}
	d := NewDBOf(t, kind)
	t.Logf("harness: store %s", d.Kind)
	return d
}

// NewDBOf returns a fresh database of the store kind.
func NewDBOf(t testing.TB, kind string) *DB {
	t.Helper()
	switch kind {
	case KindPostgres:
		return NewPostgresDB(t)
	case KindSQLite:
		return NewSQLiteDB(t)
	}
	t.Fatalf("harness: unknown store %q, want %s", kind, strings.Join(Stores, " or "))
	return nil
}

// NewPostgresDB names a fresh schema of TEST_DATABASE_URL (the
// dispatcher's migrations create it) and drops it when the test ends.
// Without the database the test skips, or fails under WEBHOOKD_REQUIRE_DB
// (see testkit.DatabaseURL).
func NewPostgresDB(t testing.TB) *DB {
	t.Helper()
	dsn := testkit.DatabaseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	d := &DB{Kind: KindPostgres, URL: dsn, Schema: "e2e_" + hex.EncodeToString(b[:])}
	d.SQL = sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn),
		pgdriver.WithConnParams(map[string]any{"search_path": d.Schema})))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := d.SQL.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+d.Schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", d.Schema, err)
		}
		d.SQL.Close()
	})
	return d
}

// NewSQLiteDB names a SQLite file in the test's temp dir; the dispatcher
// creates and migrates it. The test reads it alongside the dispatcher (the
// file is in WAL mode) but never creates it: mode=rw makes a query before
// the dispatcher has made the file fail instead of leaving an empty
// database in its way. sql.Open connects on first use only.
func NewSQLiteDB(t testing.TB) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhookd.db")
	file := url.URL{Scheme: "file", Path: path, RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", file.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &DB{Kind: KindSQLite, URL: "sqlite://" + path, Path: path, SQL: db}
}

// Counts returns the number of events per status.
func (d *DB) Counts(t testing.TB) map[string]int {
	t.Helper()
	rows, err := d.SQL.Query("SELECT status, count(*) FROM deliveries GROUP BY status")
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// Int runs a query returning one integer.
func (d *DB) Int(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// HasTable reports whether the database has a table of that name.
func (d *DB) HasTable(t testing.TB, name string) bool {
	t.Helper()
	if d.Kind == KindSQLite {
		return d.Int(t, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1", name) > 0
	}
	return d.Int(t, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2", d.Schema, name) > 0
}

// LiveLeases counts the events delivering under a lease that has not
// expired yet: PostgreSQL's clock, or this process's for SQLite, whose
// timestamps are unix microseconds.
func (d *DB) LiveLeases(t testing.TB) int {
	t.Helper()
	const live = "SELECT count(*) FROM deliveries WHERE status = 'delivering' AND lease_expires_at > "
	if d.Kind == KindSQLite {
		return d.Int(t, live+"$1", time.Now().UnixMicro())
	}
	return d.Int(t, live+"now()")
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check and fails the test
// unless the file is sound; it returns the verdict ("ok" or the problems
// found) for a summary. PostgreSQL has nothing to check: "".
func (d *DB) IntegrityCheck(t testing.TB) string {
	t.Helper()
	if d.Kind != KindSQLite {
		return ""
	}
	rows, err := d.SQL.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity check of %s: %v", d.Path, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity check of %s: %v", d.Path, err)
	}
	verdict := strings.Join(found, "; ")
	if verdict != "ok" {
		t.Errorf("integrity check of %s: %q, want ok", d.Path, verdict)
	}
	return verdict
}
