package wiring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/adapters/postgres"
)

// openDatabase connects (waiting for a booting database up to its connect
// timeout) and applies pending migrations. Several dispatchers starting at
// once are serialised by the migrator's advisory lock.
func openDatabase(ctx context.Context, cfg postgres.Config, log *slog.Logger) (*bun.DB, func(), error) {
	db, cleanup, err := postgres.Open(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	applied, err := postgres.MigrateUp(ctx, db, cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	for _, m := range applied {
		log.Info("migration applied", slog.String("migration", m))
	}
	return db, cleanup, nil
}
