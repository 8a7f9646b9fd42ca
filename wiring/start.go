package wiring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/webhookd/webhookd/adapters/clock"
)

// Initialize builds the App for cfg.Store and logs configuration warnings.
func Initialize(ctx context.Context, cfg Config) (*App, func(), error) {
	var (
		app     *App
		cleanup func()
		err     error
	)
	switch cfg.Store {
	case StoreMemory:
		app, cleanup, err = InitializeMemoryApp(ctx, cfg, clock.System{})
	case StorePostgres:
		app, cleanup, err = InitializeApp(ctx, cfg)
	default:
		app, cleanup, err = InitializeSQLiteApp(ctx, cfg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	app.Log.Info("store", slog.String("store", cfg.Describe()))
	for _, w := range cfg.Warnings {
		app.Log.Warn(w)
	}
	return app, cleanup, nil
}
