package wiring

// EnvVar documents one environment variable the dispatcher reads, for
// `dispatcher --help`. envdoc_test.go keeps the table equal to what
// LoadConfig, LoadDatabaseConfig and LoadHealthcheckPort read, and checks
// every literal Default against LoadConfig's own.
type EnvVar struct {
	Name string
	// Default is the value used when the variable is unset: a literal
	// value, "" when unset means off or none, or a description in
	// parentheses when the default is derived from other settings.
	Default string
	Help    string // one line
}

// EnvVars lists every variable the service reads, grouped by topic.
func EnvVars() []EnvVar {
	return []EnvVar{
		{"DATABASE_URL", "(SQLite at ./data/webhookd.db)", "the store: postgres://user:pass@host:5432/db, sqlite:///abs/path.db or sqlite:rel/path.db"},
		{"STORE", "(from DATABASE_URL)", "sqlite, postgres or memory (not durable: tests only); must agree with DATABASE_URL"},
		{"DATABASE_SCHEMA", "public", "PostgreSQL schema for webhookd's tables"},
		{"DB_MAX_CONNS", "20", "PostgreSQL connection pool size; inserts, claims and completions have 7 more of their own"},
		{"DB_CONNECT_TIMEOUT_MS", "30000", "how long start-up and migrate wait for a booting database"},

		{"HMAC_SECRET", "", "required: the signing secret, 32+ random bytes, plain or whsec_<base64>"},
		{"HMAC_EXTRA_SECRETS", "", "comma-separated secrets that sign too (rotation); each 32+ bytes"},
		{"DEV_MODE", "false", "development only: a missing or weak HMAC_SECRET warns instead of failing"},
		{"ENCRYPTION_KEY", "", "32 bytes, 64 hex digits or base64: seals endpoint secrets at rest (unset: in the clear, warned)"},
		{"SECRET_ROTATION_GRACE_MS", "86400000", "how long a rotated-out endpoint secret keeps signing beside the new one"},

		{"ROLE", "all", "all, api or worker (--role overrides it)"},
		{"DISPATCHER_PORT", "3000", "API port (a worker without METRICS_PORT serves /health, /ready, /metrics there)"},
		{"METRICS_PORT", "", "serve /metrics, /health and /ready on this port, without a token (unset: /metrics on the API port)"},
		{"METRICS_REFRESH_MS", "5000", "how often the queue's size is read for /metrics"},
		{"PPROF_PORT", "", "serve Go's profiler (/debug/pprof/) on 127.0.0.1:PORT, loopback only (unset: off)"},
		{"API_TOKENS", "", "comma-separated bearer tokens; when set, the API requires one"},
		{"MAX_CONNECTIONS", "1024", "concurrent client connections; more wait in the kernel's backlog"},
		{"MAX_PAYLOAD_BYTES", "1048576", "largest request body (413 above)"},
		{"MAX_PAYLOAD_DEPTH", "64", "deepest nesting of objects and arrays in a payload"},

		{"TARGET_URL", "http://localhost:3001/webhook", "target of an event posted without target_url (the default only if the SSRF guard allows it)"},
		{"ALLOW_PRIVATE_TARGETS", "false", "development: allow every non-public target address"},
		{"ALLOWED_PRIVATE_HOSTS", "", "comma-separated host names, IPs or CIDRs allowed although not public"},
		{"OPERATIONAL_WEBHOOK_URL", "", "where endpoint.disabled and delivery.dead notifications go"},

		{"HTTP_TIMEOUT_MS", "10000", "bound on a whole delivery attempt: connect, headers and body"},
		{"POLL_INTERVAL_MS", "5000", "longest sleep between claims"},
		{"BATCH_SIZE", "400", "most deliveries per claim"},
		{"WORKER_CONCURRENCY", "(64, or 2 × BATCH_SIZE if larger)", "deliveries in flight (and claimed ahead) per process"},
		{"MAX_IN_FLIGHT_PER_TARGET", "16", "most deliveries in flight per target origin per process"},
		{"INITIAL_IN_FLIGHT_PER_TARGET", "2", "the per-target window of a target with no recent delivery"},
		{"PER_TARGET_WINDOW", "adaptive", "adaptive or fixed"},
		{"LEASE_MS", "(HTTP_TIMEOUT_MS + 30000)", "how long a claim is owned before another worker may take it over"},
		{"SHUTDOWN_GRACE_MS", "8000", "on SIGTERM, time for in-flight deliveries to finish"},
		{"WORKER_ID", "(host-pid-random)", "lease owner name"},

		{"MAX_ATTEMPTS", "10", "real HTTP attempts before dead"},
		{"RETRY_BASE_MS", "2000", "first backoff, doubled per attempt"},
		{"RETRY_MAX_BACKOFF_MS", "3600000", "cap on one backoff"},
		{"RETRY_JITTER", "0.1", "each backoff is spread over ± this fraction"},
		{"MAX_RETRY_AFTER_MS", "3600000", "cap on a receiver's Retry-After"},
		{"MAX_DELIVERY_AGE_MS", "432000000", "a delivery not done this long after acceptance (or replay) ends dead, expired"},
		{"BREAKER_FAILURES", "5", "consecutive failures that open a target's circuit breaker"},
		{"BREAKER_OPEN_MS", "30000", "how long a breaker stays open before one probe"},
		{"ENDPOINT_DISABLE_AFTER_MS", "432000000", "an endpoint failing without a success this long is disabled"},

		{"RETENTION_HOURS", "168", "succeeded events are deleted this long after they finished; 0 keeps them"},
		{"DEAD_RETENTION_HOURS", "720", "the same for dead deliveries; 0 keeps them"},

		{"LOG_LEVEL", "info", "debug, info, warn or error"},
		{"GOGC", "400", "the Go collector's heap growth target in % (Go's default 100; off: never): less CPU collecting, a few MB more memory"},
		{"LOG_FILE", "", "also append JSON logs to this file, mode 0600"},
		{"LOG_FILE_MAX_MB", "100", "rotate LOG_FILE at this size, in MiB"},
		{"LOG_FILE_MAX_BACKUPS", "5", "rotated log files kept; 0 keeps all"},
		{"LOG_FILE_MAX_AGE_DAYS", "0", "rotated log files older than this are deleted; 0: no age limit"},
	}
}
