package sqlite

import (
	"context"

	"github.com/webhookd/webhookd/migrations"
)

// The file's lock keeps every other process out, so migrating needs no
// lock of its own (PostgreSQL's takes an advisory lock).

// MigrateUp applies every pending migration and returns the names applied
// (none when up to date).
func MigrateUp(ctx context.Context, db *DB) ([]string, error) {
	applied, err := migrations.Up(ctx, db.Write, migrations.SQLite())
	return applied, interpretError("migrate up", err)
}

// MigrateDown rolls back the last group of migrations applied together and
// returns their names, newest first.
func MigrateDown(ctx context.Context, db *DB) ([]string, error) {
	rolledBack, err := migrations.Down(ctx, db.Write, migrations.SQLite())
	return rolledBack, interpretError("migrate down", err)
}

// MigrationStatus returns one printable line per known migration, oldest
// first. It writes nothing.
func MigrationStatus(ctx context.Context, db *DB) ([]string, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'bun_migrations'").Scan(&n)
	if err != nil {
		return nil, interpretError("migrate status", err)
	}
	lines, err := migrations.Status(ctx, db.Read, migrations.SQLite(), n > 0)
	return lines, interpretError("migrate status", err)
}
