// Package wiring assembles webhookd: configuration from the environment,
// google/wire injectors over the adapters, and the App that runs the API
// and the worker. It is the only package (with cmd) that knows every
// adapter and every environment variable name.
package wiring

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/httpsender"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/adapters/prom"
	"github.com/webhookd/webhookd/adapters/sqlite"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/core/retention"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/internal/logfile"
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
	Port int // DISPATCHER_PORT; 0 picks a free port
	// MaxConnections caps concurrent client connections (MAX_CONNECTIONS):
	// past it new ones wait in the kernel's backlog instead of exhausting
	// file descriptors (a flood of idle connections once made accept fail).
	MaxConnections int
	ShutdownGrace  time.Duration
}

// Addr is the address the API listens on.
func (c HTTPConfig) Addr() string { return ":" + strconv.Itoa(c.Port) }

// MetricsConfig is where /metrics is served and how often the queue is
// read for it.
type MetricsConfig struct {
	// Separate (METRICS_PORT set): /metrics, /health and /ready are served
	// on Port, a listener of their own, without a token (for a scraper on
	// a private network), in every role; the API port then has no
	// /metrics. Otherwise /metrics is on the API port behind API_TOKENS,
	// and a ROLE=worker process serves /health, /ready and /metrics there.
	Separate bool
	Port     int         // METRICS_PORT; 0 picks a free port
	Exporter prom.Config // METRICS_REFRESH_MS
	// Profile (PPROF_PORT set) serves Go's profiler on 127.0.0.1:ProfilePort.
	Profile     bool
	ProfilePort int
}

// Addr is the address the metrics listener binds when Separate.
func (c MetricsConfig) Addr() string { return ":" + strconv.Itoa(c.Port) }

// SigningConfig holds the shared secrets.
type SigningConfig struct {
	Secret       string   // HMAC_SECRET: X-Signature key and first Standard Webhooks key
	ExtraSecrets []string // HMAC_EXTRA_SECRETS: more Standard Webhooks signatures (rotation)
}

// AddressConfig is the SSRF guard as configured (ALLOW_PRIVATE_TARGETS,
// ALLOWED_PRIVATE_HOSTS). At start the API's own port and this host's
// addresses complete it into the core.AddressPolicy that ingest and the
// sender both apply.
type AddressConfig core.AddressPolicy

// SecretsConfig seals endpoint secrets at rest.
type SecretsConfig struct {
	EncryptionKey []byte // ENCRYPTION_KEY: 32 bytes; nil stores them in the clear
}

// LogConfig is where logs go and how much of them.
type LogConfig struct {
	Level slog.Level // LOG_LEVEL
	File  string     // LOG_FILE: also append logs here
	// Rotation rotates File: LOG_FILE_MAX_MB, LOG_FILE_MAX_BACKUPS,
	// LOG_FILE_MAX_AGE_DAYS.
	Rotation logfile.Rotation
}

// The stores a dispatcher can run on (Config.Store).
const (
	StoreSQLite   = "sqlite"   // one file, one process: the default
	StorePostgres = "postgres" // several dispatchers, several machines
	StoreMemory   = "memory"   // tests only: not durable
)

// DatabaseConfig is the store and its settings: PostgreSQL when
// DATABASE_URL is a postgres:// URL, SQLite when it is a sqlite: URL or
// unset.
type DatabaseConfig struct {
	Store  string
	DB     postgres.Config
	SQLite sqlite.Config
}

// Describe names the store for the start-up log, without credentials.
func (c DatabaseConfig) Describe() string {
	switch c.Store {
	case StoreSQLite:
		if abs, err := filepath.Abs(c.SQLite.Path); err == nil {
			return "sqlite " + abs
		}
		return "sqlite " + c.SQLite.Path
	case StorePostgres:
		return "postgres " + core.RedactURL(c.DB.DSN) + " schema " + c.DB.Schema
	}
	return c.Store
}

// Config is every setting of a dispatcher process.
type Config struct {
	Role Role // ROLE
	DatabaseConfig
	// DevMode (DEV_MODE) lets a development machine run with the seed's
	// public example secret or a short one, loudly warned about. Never in
	// production: anyone can forge webhooks signed with such a secret.
	DevMode   bool
	HTTP      HTTPConfig
	API       httpapi.Options
	Metrics   MetricsConfig
	Ingest    ingest.Config
	Addresses AddressConfig
	Dispatch  dispatch.Config
	Sender    httpsender.Config
	Breaker   breaker.Config
	Signing   SigningConfig
	Endpoints endpoints.Config
	Retention retention.Config
	Secrets   SecretsConfig
	Log       LogConfig
	// GCPercent (GOGC) is the Go collector's target heap growth, in
	// percent; -1 turns it off. See DefaultGCPercent.
	GCPercent int
	// Warnings are non-fatal configuration problems to log at start.
	Warnings []string
}

// DefaultGCPercent is GOGC when unset: the heap may grow to five times
// what is live between collections (Go's own default, 100, is twice). The
// dispatcher's live heap is small (a few MB: what is in flight) and it
// allocates per request, so collecting less often is cheap in memory and
// worth it in CPU, which the database shares: on the benchmark box a
// drain ran 23 % faster and ingest 15 % (BENCHMARKS.md), for about 10 MB
// more RSS.
const DefaultGCPercent = 400

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
		Role:      RoleAll,
		HTTP:      HTTPConfig{Port: seedDispatcherPort, MaxConnections: defaultMaxConnections, ShutdownGrace: dispatch.DefaultConfig().ShutdownGrace},
		API:       httpapi.Options{MaxBodyBytes: httpapi.DefaultMaxBodyBytes},
		Ingest:    ingest.Config{DefaultTargetURL: seedTargetURL, MaxPayloadDepth: core.DefaultMaxPayloadDepth},
		Dispatch:  dispatch.DefaultConfig(),
		Sender:    httpsender.DefaultConfig(),
		Breaker:   breaker.DefaultConfig(),
		Endpoints: endpoints.Config{RotationGrace: endpoints.DefaultRotationGrace},
		Retention: retention.DefaultConfig(),
		Metrics:   MetricsConfig{Exporter: prom.DefaultConfig()},
		Log:       LogConfig{Level: slog.LevelInfo, Rotation: logfile.DefaultRotation()},
		GCPercent: DefaultGCPercent,
	}
	readDatabase(r, &c.DatabaseConfig)

	r.String("ROLE", (*string)(&c.Role))
	if !c.Role.RunsAPI() && !c.Role.RunsWorker() {
		r.Fail("ROLE", "must be all, api or worker")
	}

	r.Int("DISPATCHER_PORT", &c.HTTP.Port, 0, 65535)
	r.Int("MAX_CONNECTIONS", &c.HTTP.MaxConnections, 16, 1_000_000)
	maxBody := int(c.API.MaxBodyBytes)
	r.Int("MAX_PAYLOAD_BYTES", &maxBody, 64, 64<<20)
	c.API.MaxBodyBytes = int64(maxBody)
	r.List("API_TOKENS", &c.API.APITokens)
	if _, set := r.Value("METRICS_PORT"); set {
		c.Metrics.Separate = true
		r.Int("METRICS_PORT", &c.Metrics.Port, 0, 65535)
		if c.Metrics.Port != 0 && c.Metrics.Port == c.HTTP.Port {
			r.Fail("METRICS_PORT", "must differ from DISPATCHER_PORT (%d): unset it to serve /metrics on the API port", c.HTTP.Port)
		}
	}
	r.Millis("METRICS_REFRESH_MS", &c.Metrics.Exporter.Refresh, 100, maxMillis)
	if _, set := r.Value("PPROF_PORT"); set {
		c.Metrics.Profile = true
		r.Int("PPROF_PORT", &c.Metrics.ProfilePort, 0, 65535)
	}
	c.Metrics.Exporter.FinishedRefresh = max(c.Metrics.Exporter.FinishedRefresh, c.Metrics.Exporter.Refresh)

	r.Int("MAX_PAYLOAD_DEPTH", &c.Ingest.MaxPayloadDepth, 1, 1000)
	r.Bool("ALLOW_PRIVATE_TARGETS", &c.Addresses.AllowPrivate)
	var allowed []string
	r.List("ALLOWED_PRIVATE_HOSTS", &allowed)
	var err error
	if c.Addresses.AllowedHosts, c.Addresses.AllowedNets, err = core.ParseAllowedHosts(allowed); err != nil {
		r.Fail("ALLOWED_PRIVATE_HOSTS", "%v", err)
	}
	if _, set := r.Value("TARGET_URL"); set {
		r.String("TARGET_URL", &c.Ingest.DefaultTargetURL) // refused at start if the guard refuses it
	} else if err := core.AddressPolicy(c.Addresses).CheckTarget(seedTargetURL); err != nil {
		c.Ingest.DefaultTargetURL = ""
		c.Warnings = append(c.Warnings, "TARGET_URL is not set and the seed's default ("+seedTargetURL+") is a private address "+
			"the SSRF guard refuses, so there is no default target: every event must name its target_url. "+
			"Set TARGET_URL, or allow the default with ALLOWED_PRIVATE_HOSTS=localhost (or ALLOW_PRIVATE_TARGETS=true, for development)")
	}

	r.Millis("HTTP_TIMEOUT_MS", &c.Sender.Timeout, 1, maxMillis)
	c.Sender.UserAgent = "webhookd/" + Version

	r.Int("BREAKER_FAILURES", &c.Breaker.Failures, 1, 1000)
	r.Millis("BREAKER_OPEN_MS", &c.Breaker.OpenFor, 1, maxMillis)
	c.Dispatch.ProbeInterval = c.Breaker.OpenFor // an open target is probed as often as a breaker half-opens

	d := &c.Dispatch
	r.String("WORKER_ID", &d.WorkerID)
	r.Int("BATCH_SIZE", &d.BatchSize, 1, 1000)
	r.Int("WORKER_CONCURRENCY", &d.Concurrency, 1, 10_000)
	r.Int("MAX_IN_FLIGHT_PER_TARGET", &d.PerTarget, 1, 10_000)
	r.Int("INITIAL_IN_FLIGHT_PER_TARGET", &d.InitialWindow, 1, 10_000)
	// Keep a connection per request a target may have in flight: a pool
	// smaller than the window closes the extra connections as they come
	// back and dials new ones (a drain at 64 in flight spent 14 % of its
	// CPU dialling).
	c.Sender.MaxIdleConnsPerHost = max(c.Sender.MaxIdleConnsPerHost, d.PerTarget)
	if v, ok := r.Value("PER_TARGET_WINDOW"); ok {
		switch v {
		case "adaptive":
		case "fixed":
			d.FixedWindow = true
		default:
			r.Fail("PER_TARGET_WINDOW", "must be adaptive or fixed")
		}
	}
	r.Millis("MAX_DELIVERY_AGE_MS", &d.MaxAge, 1, 365*24*3600*1000)
	r.Millis("ENDPOINT_DISABLE_AFTER_MS", &d.DisableAfter, 1, 10*365*24*3600*1000)
	r.String("OPERATIONAL_WEBHOOK_URL", &d.OperationalURL)
	if d.OperationalURL != "" {
		if _, err := core.ValidateTargetURL(d.OperationalURL); err != nil {
			r.Fail("OPERATIONAL_WEBHOOK_URL", "%v", err)
		} else if err := core.AddressPolicy(c.Addresses).CheckTarget(d.OperationalURL); err != nil {
			r.Fail("OPERATIONAL_WEBHOOK_URL", "%v (list its host in ALLOWED_PRIVATE_HOSTS if it is yours)", err)
		}
	}
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

	r.Bool("DEV_MODE", &c.DevMode)
	r.String("HMAC_SECRET", &c.Signing.Secret)
	r.List("HMAC_EXTRA_SECRETS", &c.Signing.ExtraSecrets)
	c.checkSecrets(r)

	r.Millis("SECRET_ROTATION_GRACE_MS", &c.Endpoints.RotationGrace, 0, maxMillis)
	readHours(r, "RETENTION_HOURS", &c.Retention.Succeeded)
	readHours(r, "DEAD_RETENTION_HOURS", &c.Retention.Dead)
	if text, ok := r.Value("ENCRYPTION_KEY"); ok {
		key, err := secretbox.ParseKey(text)
		if err != nil {
			r.Fail("ENCRYPTION_KEY", "%v", err)
		}
		c.Secrets.EncryptionKey = key
	} else {
		c.Warnings = append(c.Warnings, "ENCRYPTION_KEY is not set: endpoint secrets are stored in the clear, readable by "+
			"anyone who can read the database or its backups. Set it to 32 random bytes (`openssl rand -hex 32`); "+
			"secrets already stored stay readable and are sealed when rotated")
	}

	r.String("LOG_FILE", &c.Log.File)
	r.Int("LOG_FILE_MAX_MB", &c.Log.Rotation.MaxMB, 1, 1<<20)
	r.Int("LOG_FILE_MAX_BACKUPS", &c.Log.Rotation.MaxBackups, 0, 100_000)
	r.Int("LOG_FILE_MAX_AGE_DAYS", &c.Log.Rotation.MaxAgeDays, 0, 36_500)
	if level, ok := r.Value("LOG_LEVEL"); ok {
		if err := c.Log.Level.UnmarshalText([]byte(level)); err != nil {
			r.Fail("LOG_LEVEL", "must be debug, info, warn or error")
		}
	}
	if gc, ok := r.Value("GOGC"); ok && strings.EqualFold(strings.TrimSpace(gc), "off") {
		c.GCPercent = -1
	} else {
		r.Int("GOGC", &c.GCPercent, 1, 1_000_000)
	}
	if c.Store == StoreMemory {
		c.Warnings = append(c.Warnings, "STORE=memory: events live in this process only and are LOST when it stops; unset STORE for the durable SQLite store")
	}
	return c, r.Err()
}

// LoadDatabaseConfig reads only the database settings, for commands that
// need nothing else (`dispatcher migrate`): they must not require a
// signing secret they never use.
func LoadDatabaseConfig(lookup Lookup) (DatabaseConfig, error) {
	r := env.NewReader(lookup)
	var db DatabaseConfig
	readDatabase(r, &db)
	return db, r.Err()
}

// readDatabase picks the store. DATABASE_URL decides: postgres:// (or
// postgresql://) is PostgreSQL, sqlite:///abs/path.db or
// sqlite:relative/path.db is SQLite, and unset is SQLite at
// ./data/webhookd.db, so that a new machine needs nothing. STORE may name
// the store instead (memory for tests; postgres alone keeps the seed's
// default URL) but must agree with DATABASE_URL.
func readDatabase(r *env.Reader, db *DatabaseConfig) {
	db.DB, db.SQLite = postgres.DefaultConfig(), sqlite.DefaultConfig()
	r.String("DATABASE_SCHEMA", &db.DB.Schema)
	r.Int("DB_MAX_CONNS", &db.DB.MaxOpenConns, 2, 1000)
	r.Millis("DB_CONNECT_TIMEOUT_MS", &db.DB.ConnectTimeout, 1, maxMillis)

	store, storeSet := r.Value("STORE")
	url, urlSet := r.Value("DATABASE_URL")
	switch {
	case storeSet && store != StoreSQLite && store != StorePostgres && store != StoreMemory:
		r.Fail("STORE", "must be sqlite, postgres or memory")
		return
	case !urlSet:
		db.Store = StoreSQLite
		if storeSet {
			db.Store = store
		}
		db.DB.DSN = seedDatabaseURL // STORE=postgres alone: the seed's default
		return
	case strings.HasPrefix(url, "sqlite:"):
		db.Store = StoreSQLite
		path, err := sqlite.PathFromURL(url)
		if err != nil {
			r.Fail("DATABASE_URL", "%v", err)
		}
		db.SQLite.Path = path
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"), strings.HasPrefix(url, "unix://"):
		db.Store, db.DB.DSN = StorePostgres, url
	default:
		r.Fail("DATABASE_URL", "want postgres://user:pass@host:5432/db, sqlite:///absolute/path.db or sqlite:relative/path.db")
		return
	}
	if storeSet && store != db.Store && store != StoreMemory {
		r.Fail("STORE", "is %s but DATABASE_URL names a %s database; set one or make them agree", store, db.Store)
	}
	if storeSet {
		db.Store = store
	}
}

// LoadHealthcheckPort reads the port whose /ready `dispatcher healthcheck`
// asks: METRICS_PORT for a ROLE=worker process that has one (its only
// listener), DISPATCHER_PORT otherwise (the API's, or a worker's /health,
// /ready and /metrics). role, when not empty, overrides ROLE (-role).
func LoadHealthcheckPort(lookup Lookup, role string) (int, error) {
	r := env.NewReader(lookup)
	port := seedDispatcherPort
	r.Int("DISPATCHER_PORT", &port, 0, 65535)
	if role == "" {
		role = string(RoleAll)
		r.String("ROLE", &role)
	}
	if _, set := r.Value("METRICS_PORT"); set && !Role(role).RunsAPI() {
		r.Int("METRICS_PORT", &port, 0, 65535)
	}
	return port, r.Err()
}

// checkSecrets fails closed: a missing, published or short signing secret
// would let anyone forge webhooks that merchants accept. DEV_MODE turns
// each refusal into a warning (and an unset HMAC_SECRET into the seed's
// example secret), for development only.
func (c *Config) checkSecrets(r *env.Reader) {
	const howTo = "use 32 or more random bytes, e.g. `openssl rand -hex 32` (DEV_MODE=true allows weak secrets on a development machine)"
	check := func(name, secret string) {
		err := signing.CheckSecret(secret)
		switch {
		case err == nil:
		case c.DevMode && errors.Is(err, signing.ErrWeakSecret):
			c.Warnings = append(c.Warnings, fmt.Sprintf("DEV_MODE: %s is weak (%v): anyone who guesses it can forge webhooks", name, err))
		default:
			r.Fail(name, "%v; %s", err, howTo)
		}
	}
	switch {
	case c.Signing.Secret != "":
		check("HMAC_SECRET", c.Signing.Secret)
	case c.DevMode:
		c.Signing.Secret = signing.SeedExampleSecret
		c.Warnings = append(c.Warnings, "DEV_MODE: HMAC_SECRET is not set, so webhooks are signed with the seed's PUBLIC example secret: anyone can forge them")
	default:
		r.Fail("HMAC_SECRET", "is required: "+howTo)
	}
	for i, extra := range c.Signing.ExtraSecrets {
		check(fmt.Sprintf("HMAC_EXTRA_SECRETS (entry %d)", i+1), extra)
	}
}

// defaultMaxConnections is MAX_CONNECTIONS' default: far more producers
// than any deployment has, far fewer descriptors than a process may open.
const defaultMaxConnections = 1024

// maxMillis bounds every *_MS variable: a week.
const maxMillis = 7 * 24 * 3600 * 1000

// readHours reads whole hours, 0 (keep everything) to ten years.
func readHours(r *env.Reader, key string, dst *time.Duration) {
	h := int(*dst / time.Hour)
	r.Int(key, &h, 0, 87_600)
	*dst = time.Duration(h) * time.Hour
}
