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
	"github.com/webhookd/webhookd/core/retention"
)

// Runner is a background component that runs until its context ends (the
// PostgreSQL LISTEN loop).
type Runner interface {
	Run(ctx context.Context) error
}

// App is one dispatcher process: the API server and/or the worker, and
// in every role the metrics.
type App struct {
	Role     Role
	Server   *http.Server
	Listener net.Listener // the API's bound socket, so Addr is known before Run
	// Ops serves /health, /ready and /metrics alone: on METRICS_PORT, or
	// for ROLE=worker on the API's socket. nil when the API serves them.
	Ops *Ops
	// Profiler serves net/http/pprof on loopback (PPROF_PORT); nil when unset.
	Profiler *Profiler
	Worker   *dispatch.Worker
	// Metrics reads the queue's size for /metrics in the background, in
	// every role.
	Metrics Runner
	// Activity flushes this process's per-minute counts to the store, in
	// every role (the API counts events accepted, the worker deliveries).
	Activity Runner
	// Retention deletes finished history beside the worker.
	Retention *retention.Runner
	Log       *slog.Logger
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

// OpsAddr is where Ops listens ("" without Ops).
func (a *App) OpsAddr() string {
	if a.Ops == nil {
		return ""
	}
	return a.Ops.Listener.Addr().String()
}

// Run serves and delivers until ctx is cancelled (SIGTERM), then shuts
// down gracefully: the server stops accepting and finishes requests, the
// worker stops claiming and finishes or hands back in-flight deliveries.
func (a *App) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if a.Role.RunsAPI() {
		a.serve(gctx, g, "api", a.Server, a.Listener)
	} else if a.Listener != nil && (a.Ops == nil || a.Ops.Listener != a.Listener) {
		a.Listener.Close()
	}
	if a.Ops != nil {
		a.serve(gctx, g, "metrics and probes", a.Ops.Server, a.Ops.Listener)
	}
	if a.Profiler != nil {
		a.serve(gctx, g, "profiler", a.Profiler.Server, a.Profiler.Listener)
	}
	if a.Metrics != nil {
		g.Go(func() error { return a.Metrics.Run(gctx) })
	}
	if a.Activity != nil {
		g.Go(func() error { return a.Activity.Run(gctx) })
	}
	if a.Role.RunsWorker() {
		g.Go(func() error { return a.Worker.Run(gctx) })
		if a.Retention != nil {
			g.Go(func() error { return a.Retention.Run(gctx) })
		}
		if a.Background != nil {
			g.Go(func() error { return a.Background.Run(gctx) })
		}
	}
	err := g.Wait()
	a.Log.Info("stopped", slog.Any("error", err))
	return err
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully.
func (a *App) serve(ctx context.Context, g *errgroup.Group, name string, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		a.Log.Info(name+" listening", slog.String("addr", ln.Addr().String()))
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), a.grace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			a.Log.Warn(name+" shutdown", slog.String("error", err.Error()))
			return srv.Close()
		}
		return nil
	})
}
