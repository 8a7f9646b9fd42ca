package migrations

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// Up applies every pending migration in fsys and returns the names applied
// (none when up to date). A migration is marked applied only once it
// succeeded, so that a failed one is tried again at the next start.
// Callers keep other processes out while it runs.
func Up(ctx context.Context, db *bun.DB, fsys fs.FS) ([]string, error) {
	m, _, err := initialized(ctx, db, fsys)
	if err != nil {
		return nil, err
	}
	group, err := m.Migrate(ctx)
	if group == nil {
		return nil, err
	}
	out := make([]string, len(group.Migrations))
	for i, mig := range group.Migrations {
		out[i] = mig.String()
	}
	return out, err
}

// Down rolls back the last group of migrations applied together and
// returns their names, newest first.
func Down(ctx context.Context, db *bun.DB, fsys fs.FS) ([]string, error) {
	m, _, err := initialized(ctx, db, fsys)
	if err != nil {
		return nil, err
	}
	group, err := m.Rollback(ctx)
	if group == nil {
		return nil, err
	}
	var out []string
	for i := len(group.Migrations) - 1; i >= 0; i-- {
		out = append(out, group.Migrations[i].String())
	}
	return out, err
}

// Status returns one printable line per known migration, oldest first: its
// name and whether (and when) it was applied. hasTables tells whether
// bun's own tables exist; Status writes nothing, so it does not create them.
func Status(ctx context.Context, db *bun.DB, fsys fs.FS, hasTables bool) ([]string, error) {
	m, ms, err := newMigrator(db, fsys)
	if err != nil {
		return nil, err
	}
	sorted := ms.Sorted()
	if hasTables {
		if sorted, err = m.MigrationsWithStatus(ctx); err != nil {
			return nil, err
		}
	}
	lines := make([]string, 0, len(sorted))
	for _, mig := range sorted {
		state := "pending"
		if mig.IsApplied() {
			state = fmt.Sprintf("applied (group %d, %s)", mig.GroupID, mig.MigratedAt.UTC().Format(time.RFC3339))
		}
		lines = append(lines, fmt.Sprintf("%-40s %s", mig.String(), state))
	}
	return lines, nil
}

func newMigrator(db *bun.DB, fsys fs.FS) (*migrate.Migrator, *migrate.Migrations, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(fsys); err != nil {
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true)), ms, nil
}

// initialized is the migrator with bun's own tables created.
func initialized(ctx context.Context, db *bun.DB, fsys fs.FS) (*migrate.Migrator, *migrate.Migrations, error) {
	m, ms, err := newMigrator(db, fsys)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, nil, fmt.Errorf("init: %w", err)
	}
	return m, ms, nil
}
