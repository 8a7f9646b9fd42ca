package wiring_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/wiring"
)

func TestLoadConfigSeedDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(nil))
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
		{"BATCH_SIZE", cfg.Dispatch.BatchSize, 10},
		{"RETRY_BASE_MS", cfg.Dispatch.Policy.Base, 2 * time.Second},
		{"TARGET_URL", cfg.Ingest.DefaultTargetURL, "http://localhost:3001/webhook"},
		{"DATABASE_URL", cfg.DB.DSN, "postgres://webhook_user:webhook_pass@localhost:5432/fintech"},
		{"HMAC_SECRET", cfg.Signing.Secret, signing.SeedExampleSecret},
		{"ROLE", cfg.Role, wiring.RoleAll},
		{"STORE", cfg.Store, "postgres"},
		{"ALLOW_PRIVATE_TARGETS", cfg.Ingest.AllowPrivateTargets, false},
		{"LEASE_MS (0: derived from HTTP_TIMEOUT_MS)", cfg.Dispatch.Lease, time.Duration(0)},
		{"attempt timeout handed to the worker", cfg.Dispatch.AttemptTimeout, 10 * time.Second},
		{"RETRY_JITTER", cfg.Dispatch.Policy.Jitter, 0.1},
		{"BREAKER_FAILURES", cfg.Breaker.Failures, 5},
		{"DB_MAX_CONNS", cfg.DB.MaxOpenConns, 20},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s default = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "HMAC_SECRET") {
		t.Errorf("warnings = %q, want one about HMAC_SECRET", cfg.Warnings)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(map[string]string{
		"DISPATCHER_PORT": "8080", "POLL_INTERVAL_MS": "250", "MAX_ATTEMPTS": "3", "HTTP_TIMEOUT_MS": "1500",
		"BATCH_SIZE": "100", "HMAC_SECRET": "s3cret", "HMAC_EXTRA_SECRETS": "old1, old2", "ROLE": "worker",
		"API_TOKENS": "a,b", "MAX_PAYLOAD_BYTES": "4096", "ALLOW_PRIVATE_TARGETS": "true", "STORE": "memory",
		"WORKER_CONCURRENCY": "7", "MAX_IN_FLIGHT_PER_TARGET": "2", "RETRY_MAX_BACKOFF_MS": "60000", "LOG_LEVEL": "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Port != 8080 || cfg.Dispatch.PollInterval != 250*time.Millisecond || cfg.Dispatch.Policy.MaxAttempts != 3 ||
		cfg.Sender.Timeout != 1500*time.Millisecond || cfg.Dispatch.BatchSize != 100 || cfg.Signing.Secret != "s3cret" ||
		len(cfg.Signing.ExtraSecrets) != 2 || cfg.Signing.ExtraSecrets[1] != "old2" || cfg.Role != wiring.RoleWorker ||
		len(cfg.API.APITokens) != 2 || cfg.API.MaxBodyBytes != 4096 || !cfg.Ingest.AllowPrivateTargets || !cfg.Sender.AllowPrivate ||
		cfg.Dispatch.Concurrency != 7 || cfg.Dispatch.PerTarget != 2 || cfg.Dispatch.Policy.Max != time.Minute {
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
		"RETRY_JITTER": "2", "LEASE_MS": "0",
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
		kv := map[string]string{"STORE": "memory", "DISPATCHER_PORT": "0"}
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
