package receiver_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/core/signing"
)

// strong is a secret the fail-closed check accepts.
const strong = "0123456789abcdef0123456789abcdef"

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestLoadConfigDefaultsAreTheSeedOdds(t *testing.T) {
	t.Parallel()
	cfg, err := receiver.LoadConfig(lookupFrom(map[string]string{"HMAC_SECRET": strong}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rand == nil {
		t.Error("Rand is nil")
	}
	cfg.Rand = nil
	want := receiver.Config{
		Port: 3001, Secret: strong, FailFirstN: 5, FirstHangRate: 0.2,
		MinDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second,
		FailRate: 0.4, HangRate: 0.3, Hang: 12 * time.Second, SignatureTolerance: 5 * time.Minute,
	}
	if !equalConfig(cfg, want) {
		t.Errorf("LoadConfig = %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	cfg, err := receiver.LoadConfig(lookupFrom(map[string]string{
		"MOCK_RECEIVER_PORT": "4001", "HMAC_SECRET": strong, "HMAC_EXTRA_SECRETS": " old-but-long-enough-for-the-check , ,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqrTwjUPD8I ",
		"FAIL_FIRST_N": "0", "FIRST_HANG_RATE": "0.5", "MIN_DELAY_MS": "0", "MAX_DELAY_MS": "10",
		"FAIL_RATE": "0.1", "HANG_RATE": "0.9", "HANG_MS": "1500", "SIGNATURE_TOLERANCE_MS": "1000", "LOG_FILE": "logs/mock.log",
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Rand = nil
	want := receiver.Config{
		Port: 4001, Secret: strong, ExtraSecrets: []string{"old-but-long-enough-for-the-check", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqrTwjUPD8I"},
		FailFirstN: 0, FirstHangRate: 0.5, MinDelay: 0, MaxDelay: 10 * time.Millisecond,
		FailRate: 0.1, HangRate: 0.9, Hang: 1500 * time.Millisecond, SignatureTolerance: time.Second, LogFile: "logs/mock.log",
	}
	if !equalConfig(cfg, want) {
		t.Errorf("LoadConfig = %+v\nwant %+v", cfg, want)
	}
}

// equalConfig compares everything but Rand (funcs are only DeepEqual when nil).
func equalConfig(a, b receiver.Config) bool {
	a.Rand, b.Rand = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar []string
	}{
		{"secret bad whsec", map[string]string{"HMAC_SECRET": "whsec_!!"}, []string{"HMAC_SECRET"}},
		{"extra secret bad whsec", map[string]string{"HMAC_EXTRA_SECRETS": strong + ",whsec_!!"}, []string{"HMAC_EXTRA_SECRETS"}},
		{"short secret", map[string]string{"HMAC_SECRET": "short"}, []string{"HMAC_SECRET"}},
		{"seed secret", map[string]string{"HMAC_SECRET": signing.SeedExampleSecret}, []string{"HMAC_SECRET"}},
		{"no secret", map[string]string{"HMAC_SECRET": ""}, []string{"HMAC_SECRET"}},
		{"short extra secret", map[string]string{"HMAC_EXTRA_SECRETS": "short"}, []string{"HMAC_EXTRA_SECRETS"}},
		{"port not a number", map[string]string{"MOCK_RECEIVER_PORT": "http"}, []string{"MOCK_RECEIVER_PORT"}},
		{"port zero", map[string]string{"MOCK_RECEIVER_PORT": "0"}, []string{"MOCK_RECEIVER_PORT"}},
		{"port too big", map[string]string{"MOCK_RECEIVER_PORT": "70000"}, []string{"MOCK_RECEIVER_PORT"}},
		{"fail first negative", map[string]string{"FAIL_FIRST_N": "-1"}, []string{"FAIL_FIRST_N"}},
		{"first hang rate above 1", map[string]string{"FIRST_HANG_RATE": "1.5"}, []string{"FIRST_HANG_RATE"}},
		{"fail rate junk", map[string]string{"FAIL_RATE": "40%"}, []string{"FAIL_RATE"}},
		{"hang rate NaN", map[string]string{"HANG_RATE": "NaN"}, []string{"HANG_RATE"}},
		{"rates over 1", map[string]string{"FAIL_RATE": "0.6", "HANG_RATE": "0.5"}, []string{"FAIL_RATE", "HANG_RATE"}},
		{"min delay negative", map[string]string{"MIN_DELAY_MS": "-5"}, []string{"MIN_DELAY_MS"}},
		{"max below min", map[string]string{"MIN_DELAY_MS": "500", "MAX_DELAY_MS": "100"}, []string{"MAX_DELAY_MS", "MIN_DELAY_MS"}},
		{"max delay absurd", map[string]string{"MAX_DELAY_MS": "99999999999999"}, []string{"MAX_DELAY_MS"}},
		{"hang zero", map[string]string{"HANG_MS": "0"}, []string{"HANG_MS"}},
		{"hang junk", map[string]string{"HANG_MS": "12s"}, []string{"HANG_MS"}},
		{"tolerance zero", map[string]string{"SIGNATURE_TOLERANCE_MS": "0"}, []string{"SIGNATURE_TOLERANCE_MS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HMAC_SECRET": strong}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := receiver.LoadConfig(lookupFrom(env))
			if err == nil {
				t.Fatalf("LoadConfig(%v) succeeded", tc.env)
			}
			for _, v := range tc.wantVar {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
		})
	}
}

func TestLoadConfigFallsBackToTheSeedSecretInDevMode(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{{"DEV_MODE": "true"}, {"DEV_MODE": "1", "HMAC_SECRET": "  "}} {
		cfg, err := receiver.LoadConfig(lookupFrom(env))
		if err != nil {
			t.Fatalf("LoadConfig(%v): %v", env, err)
		}
		if cfg.Secret != signing.SeedExampleSecret || !cfg.UsingSeedSecret {
			t.Errorf("LoadConfig(%v): secret %q seed=%v, want the seed's example secret", env, cfg.Secret, cfg.UsingSeedSecret)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cfg := receiver.DefaultConfig() // no secret
	if _, err := receiver.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "HMAC_SECRET") {
		t.Errorf("New without a secret = %v, want an error naming HMAC_SECRET", err)
	}
	if _, err := receiver.New(receiver.Config{Secret: "s"}, nil); err != nil {
		t.Errorf("New(Config{Secret}) = %v, want the zero knobs to be valid", err)
	}
}
