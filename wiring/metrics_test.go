package wiring_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/wiring"
)

const metricsToken = "metrics-test-token"

// startMemoryApp runs the real wiring on the memory store with extra
// settings, until the test ends.
func startMemoryApp(t *testing.T, extra map[string]string) *wiring.App {
	t.Helper()
	vars := map[string]string{"STORE": "memory", "DISPATCHER_PORT": "0", "HMAC_SECRET": testSecret, "LOG_LEVEL": "error",
		"API_TOKENS": metricsToken, "METRICS_REFRESH_MS": "100"}
	maps.Copy(vars, extra)
	cfg, err := wiring.LoadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	app, cleanup, err := wiring.InitializeMemoryApp(t.Context(), cfg, memory.NewClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		cleanup()
	})
	return app
}

// get GETs addr+path, with the API token when token is set, and returns
// the status (0 when nothing answers) and the body.
func get(t *testing.T, addr, path string, token bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if token {
		req.Header.Set("Authorization", "Bearer "+metricsToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scraped waits until addr's /metrics shows the queue, read in the
// background.
func scraped(t *testing.T, addr string, token bool) string {
	t.Helper()
	var body string
	testkit.Eventually(t, 10*time.Second, "the queue gauges on "+addr, func() bool {
		var code int
		code, body = get(t, addr, "/metrics", token)
		return code == http.StatusOK && strings.Contains(body, `webhookd_queue_deliveries{status="pending"} `)
	})
	for _, family := range []string{"webhookd_events_accepted_total", "webhookd_deliveries_total", "webhookd_queue_oldest_due_seconds",
		"webhookd_targets_open", "go_goroutines"} {
		if !strings.Contains(body, family) {
			t.Errorf("%s/metrics lacks %s", addr, family)
		}
	}
	return body
}

// Without METRICS_PORT the API serves /metrics behind its token.
func TestMetricsOnTheAPIPort(t *testing.T) {
	t.Parallel()
	app := startMemoryApp(t, nil)
	if app.Ops != nil {
		t.Fatalf("an API process without METRICS_PORT has a separate metrics server on %s", app.OpsAddr())
	}
	if code, _ := get(t, app.Addr(), "/metrics", false); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %d, want 401", code)
	}
	scraped(t, app.Addr(), true)
}

// With METRICS_PORT the metrics and probes move to it, without a token,
// and the API port no longer has /metrics.
func TestMetricsOnMetricsPort(t *testing.T) {
	t.Parallel()
	app := startMemoryApp(t, map[string]string{"METRICS_PORT": "0"})
	if app.OpsAddr() == "" || app.OpsAddr() == app.Addr() {
		t.Fatalf("METRICS_PORT: ops on %q, API on %q; want a listener of its own", app.OpsAddr(), app.Addr())
	}
	scraped(t, app.OpsAddr(), false)
	for _, path := range []string{"/health", "/ready"} {
		if code, _ := get(t, app.OpsAddr(), path, false); code != http.StatusOK {
			t.Errorf("GET %s on METRICS_PORT: %d", path, code)
		}
	}
	if code, _ := get(t, app.OpsAddr(), "/events", false); code != http.StatusNotFound {
		t.Errorf("GET /events on METRICS_PORT: %d, want 404 (it serves no API)", code)
	}
	if code, _ := get(t, app.Addr(), "/metrics", true); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the API port with METRICS_PORT set: %d, want 404", code)
	}
}

// A worker serves /health, /ready and /metrics, and nothing else: on
// DISPATCHER_PORT (with the API's token rule), or on METRICS_PORT alone.
func TestWorkerIsObservable(t *testing.T) {
	t.Parallel()
	t.Run("DISPATCHER_PORT", func(t *testing.T) {
		t.Parallel()
		app := startMemoryApp(t, map[string]string{"ROLE": "worker"})
		if app.OpsAddr() != app.Addr() {
			t.Fatalf("worker: ops on %q, want the API's socket %q", app.OpsAddr(), app.Addr())
		}
		for path, want := range map[string]int{"/health": 200, "/ready": 200, "/events": 404} {
			if code, _ := get(t, app.Addr(), path, true); code != want {
				t.Errorf("worker GET %s: %d, want %d", path, code, want)
			}
		}
		if code, _ := get(t, app.Addr(), "/metrics", false); code != http.StatusUnauthorized {
			t.Errorf("worker GET /metrics without the token: %d, want 401 (API_TOKENS is set)", code)
		}
		scraped(t, app.Addr(), true)
	})
	t.Run("METRICS_PORT", func(t *testing.T) {
		t.Parallel()
		app := startMemoryApp(t, map[string]string{"ROLE": "worker", "METRICS_PORT": "0"})
		scraped(t, app.OpsAddr(), false)
		if code, _ := get(t, app.OpsAddr(), "/ready", false); code != http.StatusOK {
			t.Errorf("worker GET /ready on METRICS_PORT: %d", code)
		}
		testkit.Eventually(t, 5*time.Second, "DISPATCHER_PORT closed", func() bool {
			code, _ := get(t, app.Addr(), "/health", false)
			return code == 0
		})
	})
}
