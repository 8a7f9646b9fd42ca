package wiring

import (
	"context"
	"fmt"
	"io"

	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/adapters/sqlite"
)

// Migrate runs `dispatcher migrate up|down|status` on the configured store
// and prints what it did. On SQLite it needs the file to itself: a running
// dispatcher holds it.
func Migrate(ctx context.Context, cfg DatabaseConfig, direction string, out io.Writer) error {
	switch direction {
	case "", "up", "down", "status":
	default:
		return fmt.Errorf("migrate: unknown direction %q: use up, down or status", direction)
	}
	var steps struct{ up, down, status func() ([]string, error) }
	switch cfg.Store {
	case StorePostgres:
		db, cleanup, err := postgres.Open(ctx, cfg.DB)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		defer cleanup()
		steps.up = func() ([]string, error) { return postgres.MigrateUp(ctx, db, cfg.DB) }
		steps.down = func() ([]string, error) { return postgres.MigrateDown(ctx, db, cfg.DB) }
		steps.status = func() ([]string, error) { return postgres.MigrationStatus(ctx, db, cfg.DB) }
	case StoreSQLite:
		db, cleanup, err := sqlite.Open(ctx, cfg.SQLite)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		defer cleanup()
		steps.up = func() ([]string, error) { return sqlite.MigrateUp(ctx, db) }
		steps.down = func() ([]string, error) { return sqlite.MigrateDown(ctx, db) }
		steps.status = func() ([]string, error) { return sqlite.MigrationStatus(ctx, db) }
	default:
		// Not an error: a script that migrates before it starts the
		// service must work on every store.
		_, err := fmt.Fprintln(out, "STORE=memory keeps events in process memory: there is no schema, nothing to migrate")
		return err
	}
	var lines []string
	var err error
	switch direction {
	case "", "up":
		lines, err = steps.up()
		if err == nil && len(lines) == 0 {
			lines = []string{"database is up to date"}
		}
	case "down":
		lines, err = steps.down()
	case "status":
		lines, err = steps.status()
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return err
}
