// Package wiring assembles webhookd: configuration from the environment,
// google/wire injectors over the adapters, and the App that runs the API
// and the worker. It is the only package (with cmd) that knows every
// adapter and every environment variable name.
package wiring

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/httpsender"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/ingest"
)

// Version is webhookd's version, sent in User-Agent. Overridden at build
// time with -ldflags "-X github.com/webhookd/webhookd/wiring.Version=…".
var Version = "0.1.0"

// SeedExampleSecret is the HMAC secret from the seed's example .env. It is
// public: using it is allowed for demos and loudly warned about.
const SeedExampleSecret = "b78943f3976a7bacbbc6de236063817691e6e441be5b14acc7ba25fc0b6dfca2"

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
	Addr          string // ":" + DISPATCHER_PORT
	ShutdownGrace time.Duration
}

// SigningConfig holds the shared secrets.
type SigningConfig struct {
	Secret       string   // HMAC_SECRET: X-Signature key and first Standard Webhooks key
	ExtraSecrets []string // HMAC_EXTRA_SECRETS: more Standard Webhooks signatures (rotation)
}

// LogConfig: level and optional file.
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
type Lookup func(key string) (string, bool)

// LoadConfig reads the configuration through lookup (os.LookupEnv, or
// EnvWithDotenv). Defaults are the seed's; an invalid value fails with an
// error naming the variable.
func LoadConfig(lookup Lookup) (Config, error) {
	r := reader{lookup: lookup}
	var c Config

	c.Role = Role(r.str("ROLE", string(RoleAll)))
	switch c.Role {
	case RoleAll, RoleAPI, RoleWorker:
	default:
		r.fail("ROLE", "must be all, api or worker")
	}
	c.Store = r.str("STORE", "postgres")
	if c.Store != "postgres" && c.Store != "memory" {
		r.fail("STORE", "must be postgres or memory")
	}

	port := r.int("DISPATCHER_PORT", 3000, 0, 65535) // 0: any free port (tests)
	c.HTTP = HTTPConfig{Addr: ":" + strconv.Itoa(port)}
	c.API = httpapi.Options{
		MaxBodyBytes: int64(r.int("MAX_PAYLOAD_BYTES", 1<<20, 64, 64<<20)),
		APITokens:    r.list("API_TOKENS"),
	}

	c.DB = postgres.Config{
		DSN:            r.str("DATABASE_URL", "postgres://webhook_user:webhook_pass@localhost:5432/fintech"),
		Schema:         r.str("DATABASE_SCHEMA", "public"),
		MaxOpenConns:   r.int("DB_MAX_CONNS", 20, 2, 1000),
		ConnectTimeout: r.ms("DB_CONNECT_TIMEOUT_MS", 30_000),
	}

	c.Ingest = ingest.Config{
		DefaultTargetURL:    r.str("TARGET_URL", "http://localhost:3001/webhook"),
		AllowPrivateTargets: r.bool("ALLOW_PRIVATE_TARGETS", false),
	}

	httpTimeout := r.ms("HTTP_TIMEOUT_MS", 10_000)
	c.Sender = httpsender.Config{
		Timeout:      httpTimeout,
		UserAgent:    "webhookd/" + Version,
		AllowPrivate: c.Ingest.AllowPrivateTargets,
	}

	c.Breaker = breaker.Config{
		Failures: r.int("BREAKER_FAILURES", 5, 1, 1000),
		OpenFor:  r.ms("BREAKER_OPEN_MS", 30_000),
	}

	batch := r.int("BATCH_SIZE", 10, 1, 1000)
	grace := r.ms("SHUTDOWN_GRACE_MS", 8_000)
	c.HTTP.ShutdownGrace = grace
	c.Dispatch = dispatch.Config{
		WorkerID:     r.str("WORKER_ID", defaultWorkerID()),
		BatchSize:    batch,
		Concurrency:  r.int("WORKER_CONCURRENCY", max(64, batch), 1, 10_000),
		PerTarget:    r.int("MAX_IN_FLIGHT_PER_TARGET", 16, 1, 10_000),
		PollInterval: r.ms("POLL_INTERVAL_MS", 5_000),
		// The lease must outlive one attempt plus the time to record it.
		Lease:         r.ms("LEASE_MS", int(httpTimeout.Milliseconds())+30_000),
		ShutdownGrace: grace,
		Policy: core.RetryPolicy{
			Base:          r.ms("RETRY_BASE_MS", 2_000),
			Max:           r.ms("RETRY_MAX_BACKOFF_MS", 3_600_000),
			MaxAttempts:   r.int("MAX_ATTEMPTS", 10, 1, 1000),
			Jitter:        r.float("RETRY_JITTER", 0.1, 0, 0.99),
			MaxRetryAfter: r.ms("MAX_RETRY_AFTER_MS", 3_600_000),
		},
	}
	if c.Dispatch.Lease <= httpTimeout {
		r.fail("LEASE_MS", "must be longer than HTTP_TIMEOUT_MS, or a slow attempt would be delivered twice")
	}
	if err := c.Dispatch.Policy.Validate(); err != nil {
		r.fail("RETRY_BASE_MS/RETRY_MAX_BACKOFF_MS", err.Error())
	}

	c.Signing = SigningConfig{Secret: r.str("HMAC_SECRET", ""), ExtraSecrets: r.list("HMAC_EXTRA_SECRETS")}
	if c.Signing.Secret == "" {
		c.Signing.Secret = SeedExampleSecret
		c.Warnings = append(c.Warnings, "HMAC_SECRET is not set: signing with the seed's PUBLIC example secret; set HMAC_SECRET in production")
	}

	c.Log = LogConfig{File: r.str("LOG_FILE", "")}
	if err := c.Log.Level.UnmarshalText([]byte(r.str("LOG_LEVEL", "info"))); err != nil {
		r.fail("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.Store == "memory" {
		c.Warnings = append(c.Warnings, "STORE=memory: events live in this process only and are LOST when it stops; use PostgreSQL (STORE=postgres) for anything real")
	}
	return c, r.err()
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "webhookd"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), core.NewEventID(time.Now())[24:30])
}

// reader collects every bad variable instead of stopping at the first.
type reader struct {
	lookup Lookup
	errs   []error
}

func (r *reader) fail(key, msg string) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", key, msg))
}

func (r *reader) err() error { return errors.Join(r.errs...) }

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) int(key string, def, lo, hi int) int {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi))
		return def
	}
	return n
}

func (r *reader) ms(key string, def int) time.Duration {
	return time.Duration(r.int(key, def, 1, 7*24*3600*1000)) * time.Millisecond
}

func (r *reader) float(key string, def, lo, hi float64) float64 {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		r.fail(key, fmt.Sprintf("%q is not a number from %v to %v", v, lo, hi))
		return def
	}
	return f
}

func (r *reader) bool(key string, def bool) bool {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

func (r *reader) list(key string) []string {
	var out []string
	for _, s := range strings.Split(r.str(key, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
