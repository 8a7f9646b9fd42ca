package wiring_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/wiring"
)

// strongSecret passes the fail-closed secret check.
const strongSecret = "0123456789abcdef0123456789abcdef"

func TestLoadConfigSeedDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"DISPATCHER_PORT", cfg.HTTP.Addr(), ":3000"},
		{"POLL_INTERVAL_MS", cfg.Dispatch.PollInterval, 5 * time.Second},
		{"MAX_ATTEMPTS", cfg.Dispatch.Policy.MaxAttempts, 10},
		{"HTTP_TIMEOUT_MS", cfg.Sender.Timeout, 10 * time.Second},
		{"BATCH_SIZE (the seed's 10 capped a busy worker's claims)", cfg.Dispatch.BatchSize, 400},
		{"RETRY_BASE_MS", cfg.Dispatch.Policy.Base, 2 * time.Second},
		{"TARGET_URL (the seed's is private, hence refused)", cfg.Ingest.DefaultTargetURL, ""},
		{"MAX_PAYLOAD_DEPTH", cfg.Ingest.MaxPayloadDepth, 64},
		{"MAX_CONNECTIONS", cfg.HTTP.MaxConnections, 1024},
		{"DATABASE_URL (unset: SQLite)", cfg.SQLite.Path, "data/webhookd.db"},

		{"ROLE", cfg.Role, wiring.RoleAll},
		{"STORE", cfg.Store, "sqlite"},
		{"ALLOW_PRIVATE_TARGETS", cfg.Addresses.AllowPrivate, false},
		{"ALLOWED_PRIVATE_HOSTS", len(cfg.Addresses.AllowedHosts) + len(cfg.Addresses.AllowedNets), 0},
		{"LEASE_MS (0: derived from HTTP_TIMEOUT_MS)", cfg.Dispatch.Lease, time.Duration(0)},
		{"attempt timeout handed to the worker", cfg.Dispatch.AttemptTimeout, 10 * time.Second},
		{"RETRY_JITTER", cfg.Dispatch.Policy.Jitter, 0.1},
		{"BREAKER_FAILURES", cfg.Breaker.Failures, 5},
		{"DB_MAX_CONNS", cfg.DB.MaxOpenConns, 20},
		{"SECRET_ROTATION_GRACE_MS", cfg.Endpoints.RotationGrace, 24 * time.Hour},
		{"MAX_DELIVERY_AGE_MS", cfg.Dispatch.MaxAge, 5 * 24 * time.Hour},
		{"ENDPOINT_DISABLE_AFTER_MS", cfg.Dispatch.DisableAfter, 5 * 24 * time.Hour},
		{"RETENTION_HOURS", cfg.Retention.Succeeded, 168 * time.Hour},
		{"DEAD_RETENTION_HOURS", cfg.Retention.Dead, 720 * time.Hour},
		{"OPERATIONAL_WEBHOOK_URL", cfg.Dispatch.OperationalURL, ""},
		{"INITIAL_IN_FLIGHT_PER_TARGET", cfg.Dispatch.InitialWindow, 2},
		{"ENCRYPTION_KEY", len(cfg.Secrets.EncryptionKey), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s default = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0], "TARGET_URL is not set") ||
		!strings.Contains(cfg.Warnings[1], "ENCRYPTION_KEY is not set") {
		t.Errorf("warnings = %q, want two: no default target, endpoint secrets in the clear", cfg.Warnings)
	}
}

// TestStoreSelection: DATABASE_URL picks the store; unset is SQLite in
// ./data; STORE may name it but must agree.
func TestStoreSelection(t *testing.T) {
	t.Parallel()
	const seedURL = "postgres://webhook_user:webhook_pass@localhost:5432/fintech"
	for _, tc := range []struct {
		env              map[string]string
		store, dsn, path string
	}{
		{map[string]string{}, "sqlite", "", "data/webhookd.db"},
		{map[string]string{"DATABASE_URL": "sqlite:///var/lib/webhookd/q.db"}, "sqlite", "", "/var/lib/webhookd/q.db"},
		{map[string]string{"DATABASE_URL": "sqlite:q.db"}, "sqlite", "", "q.db"},
		{map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/x"}, "postgres", "postgres://u:p@db:5432/x", ""},
		{map[string]string{"DATABASE_URL": "postgresql://u@db/x", "STORE": "postgres"}, "postgres", "postgresql://u@db/x", ""},
		{map[string]string{"STORE": "postgres"}, "postgres", seedURL, ""},
		{map[string]string{"STORE": "memory", "DATABASE_URL": "sqlite:q.db"}, "memory", "", ""},
	} {
		e := maps.Clone(tc.env)
		e["HMAC_SECRET"] = strongSecret
		cfg, err := wiring.LoadConfig(env(e))
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if cfg.Store != tc.store || (tc.dsn != "" && cfg.DB.DSN != tc.dsn) || (tc.path != "" && cfg.SQLite.Path != tc.path) {
			t.Errorf("%v: store %s, DSN %q, path %q; want %s %q %q", tc.env, cfg.Store, cfg.DB.DSN, cfg.SQLite.Path, tc.store, tc.dsn, tc.path)
		}
	}
	for _, bad := range []map[string]string{
		{"DATABASE_URL": "mysql://x/y"},
		{"DATABASE_URL": "sqlite://host/q.db"},
		{"DATABASE_URL": "sqlite:"},
		{"DATABASE_URL": "sqlite:q.db", "STORE": "postgres"},
		{"DATABASE_URL": "postgres://db/x", "STORE": "sqlite"},
		{"STORE": "mongo"},
	} {
		bad["HMAC_SECRET"] = strongSecret
		if _, err := wiring.LoadConfig(env(bad)); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") && !strings.Contains(err.Error(), "STORE") {
			t.Errorf("%v: LoadConfig = %v, want an error naming DATABASE_URL or STORE", bad, err)
		}
	}
}

// TestSecretsFailClosed: a missing, published or short secret stops the
// start, naming the variable, unless DEV_MODE, which warns instead.
func TestSecretsFailClosed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		bad  string // the variable the error must name
	}{
		{"unset", map[string]string{}, "HMAC_SECRET"},
		{"blank", map[string]string{"HMAC_SECRET": "  "}, "HMAC_SECRET"},
		{"one byte", map[string]string{"HMAC_SECRET": "a"}, "HMAC_SECRET"},
		{"31 bytes", map[string]string{"HMAC_SECRET": strongSecret[:31]}, "HMAC_SECRET"},
		{"the seed's example", map[string]string{"HMAC_SECRET": signing.SeedExampleSecret}, "HMAC_SECRET"},
		{"a short whsec_ key", map[string]string{"HMAC_SECRET": "whsec_YWJj"}, "HMAC_SECRET"},
		{"a short extra secret", map[string]string{"HMAC_SECRET": strongSecret, "HMAC_EXTRA_SECRETS": strongSecret + ",old"}, "HMAC_EXTRA_SECRETS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := wiring.LoadConfig(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("LoadConfig = %v, want an error naming %s", err, tc.bad)
			}
			if secret := tc.env["HMAC_SECRET"]; len(secret) >= 8 && strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the secret: %v", err)
			}
			dev := maps.Clone(tc.env)
			dev["DEV_MODE"] = "true"
			cfg, err := wiring.LoadConfig(env(dev))
			if err != nil {
				t.Fatalf("DEV_MODE: %v", err)
			}
			if !slices.ContainsFunc(cfg.Warnings, func(w string) bool { return strings.HasPrefix(w, "DEV_MODE: "+tc.bad) }) {
				t.Errorf("DEV_MODE warnings %q do not name %s", cfg.Warnings, tc.bad)
			}
			if strings.TrimSpace(tc.env["HMAC_SECRET"]) == "" && cfg.Signing.Secret != signing.SeedExampleSecret {
				t.Errorf("DEV_MODE without HMAC_SECRET signs with %q, want the seed's example", cfg.Signing.Secret)
			}
		})
	}
	if _, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret, "HMAC_EXTRA_SECRETS": strongSecret})); err != nil {
		t.Errorf("strong secrets refused: %v", err)
	}
}

// TestDefaultTargetAndTheGuard: TARGET_URL is checked against the SSRF
// guard at start. The seed's default (localhost) is dropped with a warning
// when the guard refuses it; an explicit TARGET_URL that the guard refuses
// stops the start.
func TestDefaultTargetAndTheGuard(t *testing.T) {
	t.Parallel()
	base := map[string]string{"HMAC_SECRET": strongSecret, "STORE": "memory", "DISPATCHER_PORT": "0"}
	with := func(kv map[string]string) map[string]string { m := maps.Clone(base); maps.Copy(m, kv); return m }
	for _, allow := range []map[string]string{{"ALLOW_PRIVATE_TARGETS": "true"}, {"ALLOWED_PRIVATE_HOSTS": "LocalHost."}} {
		cfg, err := wiring.LoadConfig(env(with(allow)))
		if err != nil || cfg.Ingest.DefaultTargetURL != "http://localhost:3001/webhook" {
			t.Errorf("%v: default target %q (%v), want the seed's", allow, cfg.Ingest.DefaultTargetURL, err)
		}
	}
	cfg, err := wiring.LoadConfig(env(with(map[string]string{"TARGET_URL": "http://127.0.0.1:3001/webhook"})))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wiring.InitializeMemoryApp(t.Context(), cfg, memory.NewClock(time.Now())); err == nil ||
		!strings.Contains(err.Error(), "TARGET_URL") || !strings.Contains(err.Error(), "private_target") && !strings.Contains(err.Error(), "ALLOWED_PRIVATE_HOSTS") {
		t.Errorf("an explicit private TARGET_URL: Initialize = %v, want an error naming TARGET_URL", err)
	}
	if _, err := wiring.LoadConfig(env(with(map[string]string{"ALLOWED_PRIVATE_HOSTS": "ok.example,not a host!"}))); err == nil ||
		!strings.Contains(err.Error(), "ALLOWED_PRIVATE_HOSTS") {
		t.Errorf("a bad ALLOWED_PRIVATE_HOSTS entry: %v", err)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(map[string]string{
		"DISPATCHER_PORT": "8080", "POLL_INTERVAL_MS": "250", "MAX_ATTEMPTS": "3", "HTTP_TIMEOUT_MS": "1500",
		"BATCH_SIZE": "100", "HMAC_SECRET": strongSecret, "HMAC_EXTRA_SECRETS": strongSecret + "-1, " + strongSecret + "-2", "ROLE": "worker",
		"API_TOKENS": "a,b", "MAX_PAYLOAD_BYTES": "4096", "ALLOW_PRIVATE_TARGETS": "true", "STORE": "memory",
		"WORKER_CONCURRENCY": "7", "MAX_IN_FLIGHT_PER_TARGET": "2", "RETRY_MAX_BACKOFF_MS": "60000", "LOG_LEVEL": "debug",
		"MAX_CONNECTIONS": "50", "MAX_PAYLOAD_DEPTH": "10", "ALLOWED_PRIVATE_HOSTS": "mock-receiver, 10.0.0.0/8",
		"ENCRYPTION_KEY": strings.Repeat("ab", 32), "SECRET_ROTATION_GRACE_MS": "60000",
		"ENDPOINT_DISABLE_AFTER_MS": "3600000", "OPERATIONAL_WEBHOOK_URL": "http://ops.internal/webhookd",
		"RETENTION_HOURS": "0", "DEAD_RETENTION_HOURS": "48", "GOGC": "150",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Port != 8080 || cfg.Dispatch.PollInterval != 250*time.Millisecond || cfg.Dispatch.Policy.MaxAttempts != 3 ||
		cfg.Sender.Timeout != 1500*time.Millisecond || cfg.Dispatch.BatchSize != 100 || cfg.Signing.Secret != strongSecret ||
		len(cfg.Signing.ExtraSecrets) != 2 || cfg.Signing.ExtraSecrets[1] != strongSecret+"-2" || cfg.Role != wiring.RoleWorker ||
		len(cfg.API.APITokens) != 2 || cfg.API.MaxBodyBytes != 4096 || !cfg.Addresses.AllowPrivate ||
		cfg.Dispatch.Concurrency != 7 || cfg.Dispatch.PerTarget != 2 || cfg.Dispatch.Policy.Max != time.Minute ||
		cfg.HTTP.MaxConnections != 50 || cfg.Ingest.MaxPayloadDepth != 10 ||
		!slices.Equal(cfg.Addresses.AllowedHosts, []string{"mock-receiver"}) || len(cfg.Addresses.AllowedNets) != 1 ||
		len(cfg.Secrets.EncryptionKey) != 32 || cfg.Endpoints.RotationGrace != time.Minute ||
		cfg.Dispatch.DisableAfter != time.Hour || cfg.Dispatch.OperationalURL != "http://ops.internal/webhookd" ||
		cfg.Retention.Succeeded != 0 || cfg.Retention.Dead != 48*time.Hour || cfg.GCPercent != 150 {
		t.Errorf("config not read: %+v", cfg)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "STORE=memory") {
		t.Errorf("warnings = %q, want the memory-store warning", cfg.Warnings)
	}
}

func TestLoadConfigFailsNamingTheVariable(t *testing.T) {
	t.Parallel()
	for key, bad := range map[string]string{
		"DISPATCHER_PORT": "http", "POLL_INTERVAL_MS": "-1", "MAX_ATTEMPTS": "0", "HTTP_TIMEOUT_MS": "ten",
		"BATCH_SIZE": "1.5", "ROLE": "boss", "STORE": "redis", "ALLOW_PRIVATE_TARGETS": "maybe", "LOG_LEVEL": "loud",
		"MAX_CONNECTIONS": "0", "MAX_PAYLOAD_DEPTH": "-1",
		"RETRY_JITTER": "2", "LEASE_MS": "0", "ENCRYPTION_KEY": "too-short", "SECRET_ROTATION_GRACE_MS": "-5",
		"MAX_DELIVERY_AGE_MS": "0", "INITIAL_IN_FLIGHT_PER_TARGET": "0", "PER_TARGET_WINDOW": "tcp",
		"ENDPOINT_DISABLE_AFTER_MS": "0", "OPERATIONAL_WEBHOOK_URL": "ftp://ops.example/",
		"RETENTION_HOURS": "-1", "DEAD_RETENTION_HOURS": "87601", "GOGC": "0",
	} {
		_, err := wiring.LoadConfig(env(map[string]string{key: bad}))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: err = %v, want one naming %s", key, bad, err, key)
		}
	}
}

// Rules that span several settings are the components' own: they fail
// the start, naming the variables involved.
func TestInitializeFailsNamingTheVariables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"LEASE_MS": "5000", "HTTP_TIMEOUT_MS": "10000"}, "LEASE_MS"},
		{map[string]string{"RETRY_BASE_MS": "5000", "RETRY_MAX_BACKOFF_MS": "1000"}, "RETRY_MAX_BACKOFF_MS"},
	} {
		kv := map[string]string{"STORE": "memory", "DISPATCHER_PORT": "0", "HMAC_SECRET": strongSecret}
		maps.Copy(kv, tc.env)
		cfg, err := wiring.LoadConfig(env(kv))
		if err != nil {
			t.Fatalf("%v: LoadConfig: %v", tc.env, err)
		}
		_, _, err = wiring.InitializeMemoryApp(t.Context(), cfg, memory.NewClock(time.Now()))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v: Initialize = %v, want an error naming %s", tc.env, err, tc.name)
		}
	}
}

func TestOperationalWebhookPassesTheGuard(t *testing.T) {
	t.Parallel()
	_, err := wiring.LoadConfig(env(map[string]string{"OPERATIONAL_WEBHOOK_URL": "http://10.0.0.5/hooks"}))
	if err == nil || !strings.Contains(err.Error(), "OPERATIONAL_WEBHOOK_URL") || !strings.Contains(err.Error(), "ALLOWED_PRIVATE_HOSTS") {
		t.Errorf("a private operational URL: err = %v, want one naming OPERATIONAL_WEBHOOK_URL and how to allow it", err)
	}
	cfg, err := wiring.LoadConfig(env(map[string]string{"OPERATIONAL_WEBHOOK_URL": "http://10.0.0.5/hooks", "ALLOWED_PRIVATE_HOSTS": "10.0.0.5", "HMAC_SECRET": strongSecret}))
	if err != nil || cfg.Dispatch.OperationalURL != "http://10.0.0.5/hooks" {
		t.Errorf("an allowed private operational URL: %v", err)
	}
}

func TestLoadConfigLogFileRotation(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret}))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Log.Rotation; r.MaxMB != 100 || r.MaxBackups != 5 || r.MaxAgeDays != 0 {
		t.Errorf("default rotation %+v, want 100 MB, 5 backups, no age limit", r)
	}
	cfg, err = wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret, "LOG_FILE": "logs/d.log",
		"LOG_FILE_MAX_MB": "1", "LOG_FILE_MAX_BACKUPS": "0", "LOG_FILE_MAX_AGE_DAYS": "30"}))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Log.Rotation; cfg.Log.File != "logs/d.log" || r.MaxMB != 1 || r.MaxBackups != 0 || r.MaxAgeDays != 30 {
		t.Errorf("rotation %+v (file %q) not read", r, cfg.Log.File)
	}
	for key, bad := range map[string]string{
		"LOG_FILE_MAX_MB": "0", "LOG_FILE_MAX_BACKUPS": "-1", "LOG_FILE_MAX_AGE_DAYS": "a week",
	} {
		_, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret, key: bad}))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: err = %v, want one naming %s", key, bad, err, key)
		}
	}
}

// GOGC defaults to DefaultGCPercent, not Go's 100; "off" turns the
// collector off, as it does for the runtime.
func TestLoadConfigGOGC(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]int{"": wiring.DefaultGCPercent, "off": -1, " OFF ": -1, "100": 100} {
		vars := map[string]string{"HMAC_SECRET": strongSecret}
		if value != "" {
			vars["GOGC"] = value
		}
		cfg, err := wiring.LoadConfig(env(vars))
		if err != nil {
			t.Fatalf("GOGC=%q: %v", value, err)
		}
		if cfg.GCPercent != want {
			t.Errorf("GOGC=%q: GCPercent = %d, want %d", value, cfg.GCPercent, want)
		}
	}
	if _, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": strongSecret, "GOGC": "lots"})); err == nil ||
		!strings.Contains(err.Error(), "GOGC") {
		t.Errorf("GOGC=lots: err = %v, want one naming GOGC", err)
	}
}
