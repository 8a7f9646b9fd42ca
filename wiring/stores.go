package wiring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/adapters/sqlite"
)

// openDatabase connects to PostgreSQL (waiting for a booting database up
// to its connect timeout) and applies pending migrations. Several
// dispatchers starting at once are serialised by the migrator's advisory
// lock.
func openDatabase(ctx context.Context, cfg postgres.Config, log *slog.Logger) (*bun.DB, func(), error) {
	return openMigrated(log,
		func() (*bun.DB, func(), error) { return postgres.Open(ctx, cfg) },
		func(db *bun.DB) ([]string, error) { return postgres.MigrateUp(ctx, db, cfg) })
}

// openSQLite opens the store file (refusing it if another dispatcher holds
// it) and applies pending migrations.
func openSQLite(ctx context.Context, cfg sqlite.Config, log *slog.Logger) (*sqlite.DB, func(), error) {
	return openMigrated(log,
		func() (*sqlite.DB, func(), error) { return sqlite.Open(ctx, cfg) },
		func(db *sqlite.DB) ([]string, error) { return sqlite.MigrateUp(ctx, db) })
}

// openMigrated opens a store, migrates it and logs what was applied.
func openMigrated[D any](log *slog.Logger, open func() (D, func(), error), migrate func(D) ([]string, error)) (D, func(), error) {
	var none D
	db, cleanup, err := open()
	if err != nil {
		return none, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	applied, err := migrate(db)
	if err != nil {
		cleanup()
		return none, nil, err
	}
	for _, m := range applied {
		log.Info("migration applied", slog.String("migration", m))
	}
	return db, cleanup, nil
}
