package wiring

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/netutil"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/dashboard"
	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/httpsender"
	"github.com/webhookd/webhookd/adapters/prom"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/activity"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/core/retention"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/logbatch"
	"github.com/webhookd/webhookd/internal/logfile"
	"github.com/webhookd/webhookd/internal/logfmt"
	"github.com/webhookd/webhookd/ports"
)

// provideLogger logs JSON lines, durations in milliseconds, to stdout
// and, with LOG_FILE, appends them to it too, rotated by size. Lines are
// written in batches behind their callers, those at WARN and above before
// their call returns (logbatch).
func provideLogger(cfg LogConfig) (*slog.Logger, func(), error) {
	var w io.Writer = os.Stdout
	closeFile := func() {}
	if cfg.File != "" {
		f, err := logfile.Open(cfg.File, cfg.Rotation)
		if err != nil {
			return nil, nil, err
		}
		w = io.MultiWriter(os.Stdout, f)
		closeFile = func() { f.Close() }
	}
	lines := logbatch.New(w)
	cleanup := func() {
		_ = lines.Close()
		closeFile()
	}
	return slog.New(logbatch.NewHandler(slog.NewJSONHandler(lines, logfmt.Options(cfg.Level)), lines)), cleanup, nil
}

func provideSigner(cfg SigningConfig) (*signing.Signer, error) {
	s, err := signing.NewSigner(cfg.Secret, cfg.ExtraSecrets...)
	if err != nil {
		return nil, fmt.Errorf("HMAC_SECRET/HMAC_EXTRA_SECRETS: %w", err)
	}
	return s, nil
}

// provideAddressPolicy completes the configured SSRF guard with what is
// known only at start: the API's bound port (DISPATCHER_PORT may be 0) and
// this host's interface addresses, so that no target reaches this
// dispatcher's own API or, through a public address of ours, our own
// services.
func provideAddressPolicy(cfg AddressConfig, ln net.Listener) (core.AddressPolicy, error) {
	policy := core.AddressPolicy(cfg)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		policy.SelfPort = tcp.Port
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return core.AddressPolicy{}, fmt.Errorf("read this host's addresses for the SSRF guard: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			policy.LocalAddrs = append(policy.LocalAddrs, p.Addr())
		}
	}
	return policy, nil
}

func provideHTTPSender(cfg httpsender.Config, addrs core.AddressPolicy, signer *signing.Signer, clk ports.Clock) (*httpsender.Sender, func(), error) {
	cfg.Addresses = addrs
	s, err := httpsender.NewSender(cfg, signer, clk)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// provideBreaker puts the HTTP sender behind per-target circuit breakers:
// the Sender the worker uses, the TargetGate it consults and the
// TargetHealth the API shows.
func provideBreaker(h *httpsender.Sender, cfg breaker.Config, clk ports.Clock, metrics ports.Metrics, log *slog.Logger) (*breaker.Sender, error) {
	s, err := breaker.NewSender(h, cfg, clk, metrics, log)
	if err != nil {
		return nil, fmt.Errorf("BREAKER_FAILURES/BREAKER_OPEN_MS: %w", err)
	}
	return s, nil
}

func provideIngest(store ports.EventStore, clk ports.Clock, metrics ports.Metrics, log *slog.Logger, cfg ingest.Config,
	addrs core.AddressPolicy) (*ingest.Service, error) {
	cfg.Addresses = addrs
	s, err := ingest.NewService(store, clk, metrics, log, cfg)
	if err != nil {
		return nil, fmt.Errorf("TARGET_URL (with ALLOW_PRIVATE_TARGETS, ALLOWED_PRIVATE_HOSTS): %w", err)
	}
	return s, nil
}

// provideSecretBox seals endpoint secrets under ENCRYPTION_KEY (in the
// clear without one, as LoadConfig warned).
func provideSecretBox(cfg SecretsConfig) (*secretbox.Box, error) {
	box, err := secretbox.New(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	return box, nil
}

func provideEndpoints(store ports.EndpointStore, box *secretbox.Box, clk ports.Clock, log *slog.Logger, cfg endpoints.Config,
	addrs core.AddressPolicy) (*endpoints.Service, error) {
	cfg.Addresses = addrs
	s, err := endpoints.NewService(store, box, clk, log, cfg)
	if err != nil {
		return nil, fmt.Errorf("SECRET_ROTATION_GRACE_MS: %w", err)
	}
	return s, nil
}

// provideRouter is the API, serving /metrics too unless METRICS_PORT
// moves it to a port of its own.
func provideRouter(events ports.Events, eps ports.Endpoints, targets ports.TargetHealth, opts httpapi.Options, metrics MetricsConfig,
	m *prom.Metrics, dash *dashboard.Dashboard, log *slog.Logger) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	opts.Logger, opts.Targets, opts.Endpoints, opts.Dashboard = log, targets, eps, dash
	if !metrics.Separate {
		opts.Metrics = m.Handler()
	}
	return httpapi.NewRouter(events, opts)
}

// provideDashboard serves /dashboard on the API port: its login takes
// API_TOKENS, and its sessions and CSRF tokens are signed with a key
// derived from HMAC_SECRET, so that every replica behind a load balancer
// accepts the others' cookies, and rotating HMAC_SECRET ends every
// session. It shows the queue gauges /metrics shows (never counting a
// queue table per page view) and the activity every process records.
func provideDashboard(events ports.Events, eps ports.Endpoints, act ports.ActivityStore, stats ports.Stats,
	breakers ports.TargetHealth, m *prom.Metrics, clk ports.Clock, log *slog.Logger, api httpapi.Options,
	sign SigningConfig) (*dashboard.Dashboard, error) {
	key := hmac.New(sha256.New, []byte(sign.Secret))
	key.Write([]byte("webhookd dashboard session key v1"))
	queue := func() (dashboard.QueueReading, bool) {
		q, ok := m.Queue()
		st := q.Stats
		return dashboard.QueueReading{Pending: st.Pending, Delivering: st.Delivering, Succeeded: st.Succeeded, Dead: st.Dead,
			Finished: q.Finished, Estimated: st.Estimated, OldestDue: st.OldestDue, OpenTargets: q.OpenTargets, At: q.At}, ok
	}
	d, err := dashboard.New(dashboard.Deps{Events: events, Endpoints: eps, Activity: act, Queue: queue, Targets: stats.Targets,
		Breakers: breakers, Clock: clk, Logger: log}, dashboard.Config{Tokens: api.APITokens, SessionKey: key.Sum(nil)})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return d, nil
}

// provideNetListener binds the API port at construction, so that a port
// already in use fails the start instead of the first request, and caps
// concurrent connections at MAX_CONNECTIONS.
func provideNetListener(cfg HTTPConfig) (net.Listener, func(), error) {
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return nil, nil, fmt.Errorf("DISPATCHER_PORT: %w", err)
	}
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	return ln, func() { ln.Close() }, nil
}

func provideServer(h *gin.Engine, log *slog.Logger) *http.Server { return newServer(h, log) }

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func provideWorker(p dispatch.Ports, log *slog.Logger, cfg dispatch.Config) (*dispatch.Worker, error) {
	w, err := dispatch.NewWorker(p, log, cfg)
	if err != nil {
		return nil, fmt.Errorf("worker settings (BATCH_SIZE, WORKER_CONCURRENCY, POLL_INTERVAL_MS, LEASE_MS, HTTP_TIMEOUT_MS, "+
			"SHUTDOWN_GRACE_MS, RETRY_BASE_MS, RETRY_MAX_BACKOFF_MS, RETRY_JITTER, MAX_ATTEMPTS): %w", err)
	}
	return w, nil
}

func provideRetention(p ports.Purger, clk ports.Clock, log *slog.Logger, cfg retention.Config, m *prom.Metrics) (*retention.Runner, error) {
	r, err := retention.NewRunner(p, clk, log, cfg)
	if err != nil {
		return nil, fmt.Errorf("RETENTION_HOURS, DEAD_RETENTION_HOURS: %w", err)
	}
	if err := m.CountRetention(r.Totals); err != nil {
		return nil, err
	}
	return r, nil
}

func provideApp(role Role, cfg HTTPConfig, srv *http.Server, ln net.Listener, ops *Ops, prof *Profiler, w *dispatch.Worker,
	m *prom.Metrics, act *activity.Counter, ret *retention.Runner, log *slog.Logger, bg Runner) *App {
	return &App{Role: role, Server: srv, Listener: ln, Ops: ops, Profiler: prof, Worker: w, Metrics: m, Activity: act, Retention: ret, Log: log,
		Background: bg, grace: cfg.ShutdownGrace}
}

// noBackground is the Runner of stores that need no background loop.
func noBackground() Runner { return nil }
