package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/migrations"
)

// MigrateUp applies every pending migration to cfg.Schema, creating the
// schema if needed, and returns the names applied (none when up to date).
// Processes starting at once are serialised by an advisory lock.
func MigrateUp(ctx context.Context, db *bun.DB, cfg Config) ([]string, error) {
	var applied []string
	err := withMigrationLock(ctx, db, cfg, func() (err error) {
		applied, err = migrations.Up(ctx, db, migrations.Postgres())
		return err
	})
	return applied, interpretError("migrate up", err)
}

// MigrateDown rolls back the last group of migrations applied together
// and returns their names, newest first.
func MigrateDown(ctx context.Context, db *bun.DB, cfg Config) ([]string, error) {
	var rolledBack []string
	err := withMigrationLock(ctx, db, cfg, func() (err error) {
		rolledBack, err = migrations.Down(ctx, db, migrations.Postgres())
		return err
	})
	return rolledBack, interpretError("migrate down", err)
}

// MigrationStatus returns one printable line per known migration, oldest
// first: its name and whether (and when) it was applied. It writes nothing.
func MigrationStatus(ctx context.Context, db *bun.DB, cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var exists bool
	if err := db.NewRaw("SELECT to_regclass('bun_migrations') IS NOT NULL").Scan(ctx, &exists); err != nil {
		return nil, interpretError("migrate status", err)
	}
	lines, err := migrations.Status(ctx, db, migrations.Postgres(), exists)
	return lines, interpretError("migrate status", err)
}

// withMigrationLock runs fn on cfg.Schema while holding the schema's
// advisory lock on a dedicated connection, so that replicas starting
// together migrate one after the other (the later ones find nothing to
// do). Bun's own tables live in the same schema.
func withMigrationLock(ctx context.Context, db *bun.DB, cfg Config, fn func() error) (err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	key := lockKey(cfg.Schema)
	if err := advisoryLock(ctx, conn, key); err != nil {
		return err
	}
	defer func() {
		// Unlock even if ctx is done; if that fails, drop the connection,
		// which releases the lock, rather than pool it still locked.
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", key); uerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("unlock: %w", uerr))
		}
	}()
	if err := createSchema(ctx, conn, cfg.Schema); err != nil {
		return err
	}
	return fn()
}

// advisoryLock polls pg_try_advisory_lock rather than blocking in
// pg_advisory_lock, so that waiting obeys ctx and outlasts the driver's
// read timeout while another process runs a long migration.
func advisoryLock(ctx context.Context, conn bun.Conn, key int64) error {
	for {
		var ok bool
		if err := conn.NewRaw("SELECT pg_try_advisory_lock(?)", key).Scan(ctx, &ok); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createSchema creates the schema if it is missing. CREATE SCHEMA IF NOT
// EXISTS alone would demand the CREATE privilege on the database even when
// the schema exists.
func createSchema(ctx context.Context, conn bun.Conn, schema string) error {
	var exists bool
	if err := conn.NewRaw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", schema).Scan(ctx, &exists); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS ?", bun.Ident(schema)); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// lockKey derives the advisory lock key from the schema, so that schemas
// migrate independently.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("webhookd migrate " + schema))
	return int64(h.Sum64())
}
