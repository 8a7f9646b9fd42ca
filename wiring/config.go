// Package wiring assembles webhookd: configuration from the environment,
// google/wire injectors over the adapters, and the App that runs the API
// and the worker. It is the only package (with cmd) that knows every
// adapter and every environment variable name.
package wiring

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/httpsender"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/env"
)

// Version is webhookd's version, sent in User-Agent. Overridden at build
// time with -ldflags "-X github.com/webhookd/webhookd/wiring.Version=…".
var Version = "0.1.0"

// The seed's defaults for variables that belong to no component.
const (
	seedDatabaseURL    = "postgres://webhook_user:webhook_pass@localhost:5432/fintech"
	seedTargetURL      = "http://localhost:3001/webhook"
	seedDispatcherPort = 3000
)

// Role selects what a process runs.
type Role string

const (
	RoleAll    Role = "all"    // API and worker
	RoleAPI    Role = "api"    // API only
	RoleWorker Role = "worker" // worker only
)

// RunsAPI reports whether the role serves HTTP.
func (r Role) RunsAPI() bool { return r == RoleAll || r == RoleAPI }

// RunsWorker reports whether the role delivers events.
func (r Role) RunsWorker() bool { return r == RoleAll || r == RoleWorker }

// HTTPConfig is the API server.
type HTTPConfig struct {
	Port          int // DISPATCHER_PORT; 0 picks a free port
	ShutdownGrace time.Duration
}

// Addr is the address the API listens on.
func (c HTTPConfig) Addr() string { return ":" + strconv.Itoa(c.Port) }

// SigningConfig holds the shared secrets.
type SigningConfig struct {
	Secret       string   // HMAC_SECRET: X-Signature key and first Standard Webhooks key
	ExtraSecrets []string // HMAC_EXTRA_SECRETS: more Standard Webhooks signatures (rotation)
}

// LogConfig is where logs go and how much of them.
type LogConfig struct {
	Level slog.Level // LOG_LEVEL
	File  string     // LOG_FILE: also append logs here
}

// Config is every setting of a dispatcher process.
type Config struct {
	Role     Role   // ROLE
	Store    string // STORE: postgres (default) or memory (not durable)
	HTTP     HTTPConfig
	API      httpapi.Options
	DB       postgres.Config
	Ingest   ingest.Config
	Dispatch dispatch.Config
	Sender   httpsender.Config
	Breaker  breaker.Config
	Signing  SigningConfig
	Log      LogConfig
	// Warnings are non-fatal configuration problems to log at start.
	Warnings []string
}

// Lookup reads one environment variable.
type Lookup = env.Lookup

// LoadConfig reads the configuration through lookup (os.LookupEnv, or
// env.WithDotenv). Every setting starts from its component's default (the
// seed's, where the seed had one) and is overridden only by a variable that
// is set. A malformed or out-of-range value fails with an error naming the
// variable; every such error is reported at once. Rules that span several
// settings are the components' own, checked when they are built.
func LoadConfig(lookup Lookup) (Config, error) {
	r := env.NewReader(lookup)
	c := Config{
		Role:     RoleAll,
		Store:    "postgres",
		HTTP:     HTTPConfig{Port: seedDispatcherPort, ShutdownGrace: dispatch.DefaultConfig().ShutdownGrace},
		API:      httpapi.Options{MaxBodyBytes: httpapi.DefaultMaxBodyBytes},
		DB:       postgres.DefaultConfig(),
		Ingest:   ingest.Config{DefaultTargetURL: seedTargetURL},
		Dispatch: dispatch.DefaultConfig(),
		Sender:   httpsender.DefaultConfig(),
		Breaker:  breaker.DefaultConfig(),
		Log:      LogConfig{Level: slog.LevelInfo},
	}
	c.DB.DSN = seedDatabaseURL

	r.String("ROLE", (*string)(&c.Role))
	if !c.Role.RunsAPI() && !c.Role.RunsWorker() {
		r.Fail("ROLE", "must be all, api or worker")
	}
	r.String("STORE", &c.Store)
	if c.Store != "postgres" && c.Store != "memory" {
		r.Fail("STORE", "must be postgres or memory")
	}

	r.Int("DISPATCHER_PORT", &c.HTTP.Port, 0, 65535)
	maxBody := int(c.API.MaxBodyBytes)
	r.Int("MAX_PAYLOAD_BYTES", &maxBody, 64, 64<<20)
	c.API.MaxBodyBytes = int64(maxBody)
	r.List("API_TOKENS", &c.API.APITokens)

	r.String("DATABASE_URL", &c.DB.DSN)
	r.String("DATABASE_SCHEMA", &c.DB.Schema)
	r.Int("DB_MAX_CONNS", &c.DB.MaxOpenConns, 2, 1000)
	r.Millis("DB_CONNECT_TIMEOUT_MS", &c.DB.ConnectTimeout, 1, maxMillis)

	r.String("TARGET_URL", &c.Ingest.DefaultTargetURL)
	r.Bool("ALLOW_PRIVATE_TARGETS", &c.Ingest.AllowPrivateTargets)

	r.Millis("HTTP_TIMEOUT_MS", &c.Sender.Timeout, 1, maxMillis)
	c.Sender.UserAgent = "webhookd/" + Version
	c.Sender.AllowPrivate = c.Ingest.AllowPrivateTargets

	r.Int("BREAKER_FAILURES", &c.Breaker.Failures, 1, 1000)
	r.Millis("BREAKER_OPEN_MS", &c.Breaker.OpenFor, 1, maxMillis)

	d := &c.Dispatch
	r.String("WORKER_ID", &d.WorkerID)
	r.Int("BATCH_SIZE", &d.BatchSize, 1, 1000)
	r.Int("WORKER_CONCURRENCY", &d.Concurrency, 1, 10_000)
	r.Int("MAX_IN_FLIGHT_PER_TARGET", &d.PerTarget, 1, 10_000)
	r.Millis("POLL_INTERVAL_MS", &d.PollInterval, 1, maxMillis)
	r.Millis("LEASE_MS", &d.Lease, 1, maxMillis)
	r.Millis("SHUTDOWN_GRACE_MS", &d.ShutdownGrace, 1, maxMillis)
	c.HTTP.ShutdownGrace = d.ShutdownGrace
	d.AttemptTimeout = c.Sender.Timeout
	r.Millis("RETRY_BASE_MS", &d.Policy.Base, 1, maxMillis)
	r.Millis("RETRY_MAX_BACKOFF_MS", &d.Policy.Max, 1, maxMillis)
	r.Int("MAX_ATTEMPTS", &d.Policy.MaxAttempts, 1, 1000)
	r.Float("RETRY_JITTER", &d.Policy.Jitter, 0, 0.99)
	r.Millis("MAX_RETRY_AFTER_MS", &d.Policy.MaxRetryAfter, 1, maxMillis)

	r.String("HMAC_SECRET", &c.Signing.Secret)
	r.List("HMAC_EXTRA_SECRETS", &c.Signing.ExtraSecrets)
	if c.Signing.Secret == "" {
		c.Signing.Secret = signing.SeedExampleSecret
		c.Warnings = append(c.Warnings, "HMAC_SECRET is not set: signing with the seed's PUBLIC example secret; set HMAC_SECRET in production")
	}

	r.String("LOG_FILE", &c.Log.File)
	if level, ok := r.Value("LOG_LEVEL"); ok {
		if err := c.Log.Level.UnmarshalText([]byte(level)); err != nil {
			r.Fail("LOG_LEVEL", "must be debug, info, warn or error")
		}
	}
	if c.Store == "memory" {
		c.Warnings = append(c.Warnings, "STORE=memory: events live in this process only and are LOST when it stops; use PostgreSQL (STORE=postgres) for anything real")
	}
	return c, r.Err()
}

// maxMillis bounds every *_MS variable: a week.
const maxMillis = 7 * 24 * 3600 * 1000
