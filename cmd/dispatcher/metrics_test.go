package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

const opsToken = "ops-test-token"

// fetch GETs url, with the API token when token is set: the status (0
// when nothing answers), the Content-Type and the body.
func fetch(t *testing.T, url string, token bool) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token {
		req.Header.Set("Authorization", "Bearer "+opsToken)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// checkScrape waits for base's /metrics to show the queue (read in the
// background) and checks the families every process exports.
func checkScrape(t *testing.T, base string, token bool, pools ...string) string {
	t.Helper()
	var code int
	var contentType, body string
	testkit.Eventually(t, 20*time.Second, base+"/metrics with the queue gauges", func() bool {
		code, contentType, body = fetch(t, base+"/metrics", token)
		return code == http.StatusOK && strings.Contains(body, `webhookd_queue_deliveries{status="pending"} `)
	})
	if !strings.HasPrefix(contentType, "text/plain; version=0.0.4") {
		t.Errorf("%s/metrics Content-Type %q, want Prometheus text 0.0.4", base, contentType)
	}
	want := []string{"webhookd_events_accepted_total", `webhookd_deliveries_total{outcome="succeeded"}`,
		"webhookd_delivery_attempt_duration_seconds_bucket", "webhookd_delivery_latency_seconds_count",
		"webhookd_queue_oldest_due_seconds", "webhookd_targets_open", "webhookd_queue_stats_updated_timestamp_seconds",
		"go_goroutines", "process_start_time_seconds"}
	for _, pool := range pools {
		want = append(want, `go_sql_open_connections{db_name="`+pool+`"}`)
	}
	for _, family := range want {
		if !strings.Contains(body, family) {
			t.Errorf("%s/metrics lacks %s", base, family)
		}
	}
	return body
}

// runHealthcheck runs `dispatcher healthcheck` with env and returns its exit
// code.
func runHealthcheck(t *testing.T, bins harness.Binaries, env map[string]string) int {
	t.Helper()
	return harness.Start(t, "healthcheck", bins.Dispatcher, env, "healthcheck").Wait(10 * time.Second)
}

// TestWorkerIsObservable: a ROLE=worker process, which serves no API,
// answers /health, /ready and /metrics (on DISPATCHER_PORT behind the API
// token, or on METRICS_PORT alone without it), and `dispatcher
// healthcheck` exits 0 against it while it runs and 1 once it is gone.
func TestWorkerIsObservable(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)

	t.Run("DISPATCHER_PORT", func(t *testing.T) {
		t.Parallel()
		db := harness.NewSQLiteDB(t)
		port := strconv.Itoa(harness.FreePort(t))
		env := harness.DispatcherEnv(db, "http://127.0.0.1:9/webhook", map[string]string{
			"ROLE": "worker", "DISPATCHER_PORT": port, "API_TOKENS": opsToken, "METRICS_REFRESH_MS": "200"})
		w := harness.Start(t, "worker", bins.Dispatcher, env)
		base := "http://127.0.0.1:" + port
		harness.WaitHealthy(t, base+"/ready", 30*time.Second)
		if code, _, body := fetch(t, base+"/health", false); code != http.StatusOK || body != `{"status":"ok"}` {
			t.Errorf("worker /health: %d %s", code, body)
		}
		if code, _, _ := fetch(t, base+"/metrics", false); code != http.StatusUnauthorized {
			t.Errorf("worker /metrics without the token: %d, want 401 (API_TOKENS is set)", code)
		}
		if code, _, _ := fetch(t, base+"/events", true); code != http.StatusNotFound {
			t.Errorf("worker /events: %d, want 404 (a worker serves no API)", code)
		}
		checkScrape(t, base, true, "sqlite_write", "sqlite_read")

		probe := map[string]string{"ROLE": "worker", "DISPATCHER_PORT": port}
		if code := runHealthcheck(t, bins, probe); code != 0 {
			t.Errorf("healthcheck of a running worker exited %d", code)
		}
		w.Signal(syscall.SIGTERM)
		if code := w.Wait(15 * time.Second); code != 0 {
			t.Errorf("worker exited %d after SIGTERM, want 0", code)
		}
		if code := runHealthcheck(t, bins, probe); code == 0 {
			t.Error("healthcheck of a stopped worker exited 0")
		}
	})

	// On the default store (PostgreSQL when there is one): with an API
	// process beside it, the worker's metrics count what it delivered.
	t.Run("METRICS_PORT", func(t *testing.T) {
		t.Parallel()
		db := harness.NewDB(t)
		rcv := harness.StartReceiver(t, bins, nil)
		port, metricsPort := strconv.Itoa(harness.FreePort(t)), strconv.Itoa(harness.FreePort(t))
		env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"ROLE": "worker", "DISPATCHER_PORT": port, "METRICS_PORT": metricsPort, "API_TOKENS": opsToken, "METRICS_REFRESH_MS": "200"})
		w := harness.Start(t, "worker", bins.Dispatcher, env)
		base := "http://127.0.0.1:" + metricsPort
		harness.WaitHealthy(t, base+"/ready", 30*time.Second)
		pool := "sqlite_write"
		if db.Kind == harness.KindPostgres {
			pool = "postgres"
		}
		checkScrape(t, base, false, pool) // no token on METRICS_PORT
		if code, _, _ := fetch(t, "http://127.0.0.1:"+port+"/health", false); code != 0 {
			t.Errorf("DISPATCHER_PORT of a worker with METRICS_PORT answered %d; want nothing listening", code)
		}
		probe := map[string]string{"ROLE": "worker", "DISPATCHER_PORT": port, "METRICS_PORT": metricsPort}
		if code := runHealthcheck(t, bins, probe); code != 0 {
			t.Errorf("healthcheck of a running worker on METRICS_PORT exited %d", code)
		}

		if db.Kind == harness.KindPostgres {
			api := harness.StartDispatcher(t, bins, "api", harness.DispatcherEnv(db, rcv.URL(), map[string]string{"ROLE": "api"}))
			for i := range 3 {
				if code, _ := api.Post(t, map[string]any{"n": i}); code != http.StatusAccepted {
					t.Fatalf("POST /events: %d", code)
				}
			}
			testkit.Eventually(t, time.Minute, "3 deliveries counted by the worker", func() bool {
				_, _, body := fetch(t, base+"/metrics", false)
				return strings.Contains(body, `webhookd_deliveries_total{outcome="succeeded"} 3`+"\n") &&
					strings.Contains(body, "webhookd_delivery_latency_seconds_count 3\n") &&
					strings.Contains(body, `webhookd_queue_deliveries{status="pending"} 0`+"\n")
			})
			if _, _, body := fetch(t, api.Base+"/metrics", false); !strings.Contains(body, "webhookd_events_accepted_total 3\n") {
				t.Errorf("the API process's /metrics does not count the 3 events it accepted")
			}
			stop(t, api)
		}
		w.Signal(syscall.SIGTERM)
		if code := w.Wait(15 * time.Second); code != 0 {
			t.Errorf("worker exited %d after SIGTERM, want 0", code)
		}
		if code := runHealthcheck(t, bins, probe); code == 0 {
			t.Error("healthcheck of a stopped worker exited 0")
		}
	})
}
