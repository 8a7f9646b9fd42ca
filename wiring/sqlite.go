package wiring

import (
	"context"
	"log/slog"

	"github.com/webhookd/webhookd/adapters/sqlite"
)

// openSQLite opens the store file (refusing it if another dispatcher holds
// it) and applies pending migrations.
func openSQLite(ctx context.Context, cfg sqlite.Config, log *slog.Logger) (*sqlite.DB, func(), error) {
	db, cleanup, err := sqlite.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	applied, err := sqlite.MigrateUp(ctx, db)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	for _, m := range applied {
		log.Info("migration applied", slog.String("migration", m))
	}
	return db, cleanup, nil
}
