package wiring_test

import (
	"strings"
	"testing"
	"time"

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
		{"DISPATCHER_PORT", cfg.HTTP.Addr, ":3000"},
		{"POLL_INTERVAL_MS", cfg.Dispatch.PollInterval, 5 * time.Second},
		{"MAX_ATTEMPTS", cfg.Dispatch.Policy.MaxAttempts, 10},
		{"HTTP_TIMEOUT_MS", cfg.Sender.Timeout, 10 * time.Second},
		{"BATCH_SIZE", cfg.Dispatch.BatchSize, 10},
		{"RETRY_BASE_MS", cfg.Dispatch.Policy.Base, 2 * time.Second},
		{"TARGET_URL", cfg.Ingest.DefaultTargetURL, "http://localhost:3001/webhook"},
		{"DATABASE_URL", cfg.DB.DSN, "postgres://webhook_user:webhook_pass@localhost:5432/fintech"},
		{"HMAC_SECRET", cfg.Signing.Secret, wiring.SeedExampleSecret},
		{"ROLE", cfg.Role, wiring.RoleAll},
		{"STORE", cfg.Store, "postgres"},
		{"ALLOW_PRIVATE_TARGETS", cfg.Ingest.AllowPrivateTargets, false},
		{"LEASE_MS", cfg.Dispatch.Lease, 40 * time.Second},
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
	if cfg.HTTP.Addr != ":8080" || cfg.Dispatch.PollInterval != 250*time.Millisecond || cfg.Dispatch.Policy.MaxAttempts != 3 ||
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
		"RETRY_JITTER": "2", "LEASE_MS": "5000",
	} {
		_, err := wiring.LoadConfig(env(map[string]string{key: bad}))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: err = %v, want one naming %s", key, bad, err, key)
		}
	}
}

func TestPrintMerchantSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := wiring.LoadConfig(env(map[string]string{"HMAC_SECRET": "abc", "HMAC_EXTRA_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := wiring.PrintMerchantSecrets(cfg, &out); err != nil {
		t.Fatal(err)
	}
	want := "HMAC_SECRET\twhsec_YWJj\nHMAC_EXTRA_SECRETS[0]\twhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
