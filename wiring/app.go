package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/webhookd/webhookd/core/dispatch"
)

// Runner is a background component that runs until its context ends (the
// PostgreSQL LISTEN loop).
type Runner interface {
	Run(ctx context.Context) error
}

// App is one dispatcher process: the API server and/or the worker.
type App struct {
	Role     Role
	Server   *http.Server
	Listener net.Listener // the API's bound socket, so Addr is known before Run
	Worker   *dispatch.Worker
	Log      *slog.Logger
	// Background runs beside the worker (may be nil).
	Background Runner
	grace      time.Duration
}

// Addr is the API's listening address (useful with DISPATCHER_PORT=0).
func (a *App) Addr() string {
	if a.Listener == nil {
		return ""
	}
	return a.Listener.Addr().String()
}

// Run serves and delivers until ctx is cancelled (SIGTERM), then shuts
// down gracefully: the server stops accepting and finishes requests, the
// worker stops claiming and finishes or hands back in-flight deliveries.
func (a *App) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if a.Role.RunsAPI() {
		g.Go(func() error {
			a.Log.Info("api listening", slog.String("addr", a.Addr()))
			if err := a.Server.Serve(a.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("api: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), a.grace)
			defer cancel()
			if err := a.Server.Shutdown(sctx); err != nil {
				a.Log.Warn("api shutdown", slog.String("error", err.Error()))
				return a.Server.Close()
			}
			return nil
		})
	} else if a.Listener != nil {
		a.Listener.Close()
	}
	if a.Role.RunsWorker() {
		g.Go(func() error { return a.Worker.Run(gctx) })
		if a.Background != nil {
			g.Go(func() error { return a.Background.Run(gctx) })
		}
	}
	err := g.Wait()
	a.Log.Info("stopped", slog.Any("error", err))
	return err
}
