package wiring_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/wiring"
)

func TestLoadConfigMetrics(t *testing.T) {
	t.Parallel()
	load := func(extra map[string]string) (wiring.Config, error) {
		vars := map[string]string{"HMAC_SECRET": strongSecret}
		maps.Copy(vars, extra)
		return wiring.LoadConfig(env(vars))
	}
	cfg, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Metrics; m.Separate || m.Exporter.Refresh != 5*time.Second || m.Exporter.FinishedRefresh != time.Minute {
		t.Errorf("defaults: %+v; want /metrics on the API port, a 5 s refresh, finished rows every minute", m)
	}
	cfg, err = load(map[string]string{"METRICS_PORT": "9100", "METRICS_REFRESH_MS": "120000"})
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Metrics; !m.Separate || m.Addr() != ":9100" || m.Exporter.Refresh != 2*time.Minute || m.Exporter.FinishedRefresh != 2*time.Minute {
		t.Errorf("METRICS_PORT=9100 METRICS_REFRESH_MS=120000: %+v", m)
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"not a number", map[string]string{"METRICS_PORT": "metrics"}, "METRICS_PORT"},
		{"the API's port", map[string]string{"METRICS_PORT": "3000"}, "METRICS_PORT"},
		{"the API's chosen port", map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "8080"}, "DISPATCHER_PORT"},
		{"refresh too often", map[string]string{"METRICS_REFRESH_MS": "10"}, "METRICS_REFRESH_MS"},
	} {
		if _, err := load(tc.vars); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", tc.name, err, tc.want)
		}
	}
}

// `dispatcher healthcheck` asks the port that serves /ready: a worker's
// METRICS_PORT when it has one (its only listener), DISPATCHER_PORT
// otherwise.
func TestLoadHealthcheckPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		role string
		want int
	}{
		{nil, "", 3000},
		{map[string]string{"DISPATCHER_PORT": "8080"}, "", 8080},
		{map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "9100"}, "", 8080},
		{map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "9100", "ROLE": "api"}, "", 8080},
		{map[string]string{"DISPATCHER_PORT": "8080", "ROLE": "worker"}, "", 8080},
		{map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "9100", "ROLE": "worker"}, "", 9100},
		{map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "9100"}, "worker", 9100},
		{map[string]string{"DISPATCHER_PORT": "8080", "METRICS_PORT": "9100", "ROLE": "worker"}, "all", 8080},
	} {
		got, err := wiring.LoadHealthcheckPort(env(tc.vars), tc.role)
		if err != nil || got != tc.want {
			t.Errorf("%v -role %q: port %d, %v; want %d", tc.vars, tc.role, got, err, tc.want)
		}
	}
	if _, err := wiring.LoadHealthcheckPort(env(map[string]string{"ROLE": "worker", "METRICS_PORT": "x"}), ""); err == nil ||
		!strings.Contains(err.Error(), "METRICS_PORT") {
		t.Errorf("a bad METRICS_PORT: %v; want an error naming it", err)
	}
}
