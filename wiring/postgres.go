package wiring

import (
	"context"
	"fmt"
	"io"
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

// Migrate runs `dispatcher migrate up|down|status` and prints what it did.
func Migrate(ctx context.Context, cfg postgres.Config, direction string, out io.Writer) error {
	db, cleanup, err := postgres.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer cleanup()
	var lines []string
	switch direction {
	case "", "up":
		lines, err = postgres.MigrateUp(ctx, db, cfg)
		if err == nil && len(lines) == 0 {
			lines = []string{"database is up to date"}
		}
	case "down":
		lines, err = postgres.MigrateDown(ctx, db, cfg)
	case "status":
		lines, err = postgres.MigrationStatus(ctx, db, cfg)
	default:
		return fmt.Errorf("migrate: unknown direction %q: use up, down or status", direction)
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return err
}
