package wiring

import (
	"context"
	"fmt"

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
	case "memory":
		app, cleanup, err = InitializeMemoryApp(ctx, cfg, clock.System{})
	default:
		app, cleanup, err = InitializeApp(ctx, cfg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	for _, w := range cfg.Warnings {
		app.Log.Warn(w)
	}
	return app, cleanup, nil
}
