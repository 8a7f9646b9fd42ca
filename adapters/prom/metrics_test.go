package prom

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
)

// fakeStats is a store's Stats that counts how often it is read.
type fakeStats struct {
	mu                     sync.Mutex
	st                     ports.QueueStats
	targets                []core.TargetHealth
	err                    error
	reads, finished, lists int
}

func (f *fakeStats) QueueStats(_ context.Context, p ports.QueueStatsParams) (ports.QueueStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if p.Finished {
		f.finished++
	}
	st := f.st
	if !p.Finished {
		st.Succeeded, st.Dead = 0, 0
	}
	return st, f.err
}

func (f *fakeStats) Targets(context.Context) ([]core.TargetHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return f.targets, f.err
}

func (f *fakeStats) counts() (reads, finished, lists int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads, f.finished, f.lists
}

func (f *fakeStats) set(st ports.QueueStats, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.err = st, err
}

// nopConnector opens nothing: a pool whose statistics can be read.
type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("no database")
}
func (nopConnector) Driver() driver.Driver { return nil }

func newMetrics(t *testing.T, src Sources, cfg Config) *Metrics {
	t.Helper()
	m, err := New(src, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape GETs /metrics as a Prometheus server would.
func scrape(t *testing.T, m *Metrics) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, body)
	}
	return string(body), rec.Header()
}

func TestCountersMoveWhenThePortIsCalled(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, Sources{}, Config{})
	m.EventAccepted()
	m.EventAccepted()
	m.DeliveryFinished(ports.DeliveryReport{Origin: "https://a.example:443", Verdict: core.VerdictSucceeded, Sent: true,
		Took: 200 * time.Millisecond, Age: 3 * time.Second})
	m.DeliveryFinished(ports.DeliveryReport{Verdict: core.VerdictRetry, Sent: true, Took: 50 * time.Millisecond, Age: time.Second})
	m.DeliveryFinished(ports.DeliveryReport{Verdict: core.VerdictExpired, Age: 120 * time.Hour}) // no request made
	m.DeliveryFinished(ports.DeliveryReport{Verdict: core.VerdictDead, Sent: true, Took: time.Second})
	m.DeliveriesParked("https://a.example:443", 5)
	m.DeliveriesParked("https://b.example:443", 2)
	m.BreakerChanged("https://a.example:443", "closed", "open")

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"events accepted", testutil.ToFloat64(m.accepted), 2},
		{"succeeded", testutil.ToFloat64(m.deliveries.WithLabelValues("succeeded")), 1},
		{"retry", testutil.ToFloat64(m.deliveries.WithLabelValues("retry")), 1},
		{"expired", testutil.ToFloat64(m.deliveries.WithLabelValues("expired")), 1},
		{"dead", testutil.ToFloat64(m.deliveries.WithLabelValues("dead")), 1},
		{"parked", testutil.ToFloat64(m.deliveries.WithLabelValues("parked")), 7},
		{"breaker opened", testutil.ToFloat64(m.breakers.WithLabelValues("open")), 1},
		{"breaker closed", testutil.ToFloat64(m.breakers.WithLabelValues("closed")), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	body, _ := scrape(t, m)
	for _, want := range []string{
		// Three attempts were sent (the expired delivery was not): 0.05 s, 0.2 s and 1 s.
		"webhookd_delivery_attempt_duration_seconds_count 3", "webhookd_delivery_attempt_duration_seconds_sum 1.25",
		`webhookd_delivery_attempt_duration_seconds_bucket{le="0.1"} 1`, `webhookd_delivery_attempt_duration_seconds_bucket{le="0.25"} 2`,
		// Only the success is a latency: 3 s from acceptance.
		"webhookd_delivery_latency_seconds_count 1", "webhookd_delivery_latency_seconds_sum 3",
		`webhookd_delivery_latency_seconds_bucket{le="2.5"} 0`, `webhookd_delivery_latency_seconds_bucket{le="5"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "a.example") {
		t.Error("an origin is a label: one series per merchant")
	}
}

func TestScrapeHasEveryFamily(t *testing.T) {
	t.Parallel()
	stats := &fakeStats{st: ports.QueueStats{Pending: 12, Delivering: 3, OldestDue: 1500 * time.Millisecond, Succeeded: 900, Dead: 7, Estimated: true},
		targets: []core.TargetHealth{{Origin: "https://down.example:443"}, {Origin: "https://gone.example:443"}}}
	pool := sql.OpenDB(nopConnector{})
	defer pool.Close()
	m := newMetrics(t, Sources{Stats: stats, Pools: map[string]*sql.DB{"postgres": pool}}, Config{})
	if !m.queue.refresh(t.Context(), true) {
		t.Fatal("refresh failed")
	}
	body, h := scrape(t, m)
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
		t.Errorf("Content-Type %q, want Prometheus text 0.0.4 (documented in openapi.json)", ct)
	}
	for _, want := range []string{
		"# TYPE webhookd_events_accepted_total counter", "webhookd_events_accepted_total 0",
		`webhookd_deliveries_total{outcome="succeeded"} 0`, `webhookd_deliveries_total{outcome="retry"} 0`,
		`webhookd_deliveries_total{outcome="dead"} 0`, `webhookd_deliveries_total{outcome="expired"} 0`,
		`webhookd_deliveries_total{outcome="parked"} 0`,
		"# TYPE webhookd_delivery_attempt_duration_seconds histogram", "# TYPE webhookd_delivery_latency_seconds histogram",
		`webhookd_breaker_transitions_total{to="half-open"} 0`,
		`webhookd_queue_deliveries{status="pending"} 12`, `webhookd_queue_deliveries{status="delivering"} 3`,
		`webhookd_queue_deliveries{status="succeeded"} 900`, `webhookd_queue_deliveries{status="dead"} 7`,
		"webhookd_queue_oldest_due_seconds 1.5", "webhookd_targets_open 2",
		"# TYPE webhookd_queue_stats_updated_timestamp_seconds gauge", "webhookd_queue_stats_errors_total 0",
		`go_sql_max_open_connections{db_name="postgres"} 0`, "# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if !strings.Contains(body, "# HELP webhookd_queue_deliveries") || !strings.Contains(body, "estimates") {
		t.Error("the queue gauge's help does not say which counts are estimates")
	}
	if problems, err := testutil.GatherAndLint(m.reg); err != nil || len(problems) > 0 {
		t.Errorf("metric naming problems: %v %v", problems, err)
	}
}

// A scrape never reads the store: it copies what the last refresh read.
// Before the first refresh the queue gauges are absent, not zero.
func TestScrapesDoNotReadTheStore(t *testing.T) {
	t.Parallel()
	stats := &fakeStats{st: ports.QueueStats{Pending: 4}}
	m := newMetrics(t, Sources{Stats: stats}, Config{})
	if body, _ := scrape(t, m); strings.Contains(body, "webhookd_queue_deliveries{") {
		t.Error("queue gauges scraped before the store was ever read")
	}
	m.queue.refresh(t.Context(), true)
	for range 100 {
		if body, _ := scrape(t, m); !strings.Contains(body, `webhookd_queue_deliveries{status="pending"} 4`) {
			t.Fatal("the cached pending count is not scraped")
		}
	}
	if reads, _, lists := stats.counts(); reads != 1 || lists != 1 {
		t.Errorf("100 scrapes read the store %d times (and its targets %d times), want once: by the refresh", reads, lists)
	}
}

// Run reads the store every Refresh, and the finished deliveries only
// every FinishedRefresh, until its context ends.
func TestRunRefreshesInTheBackground(t *testing.T) {
	t.Parallel()
	stats := &fakeStats{st: ports.QueueStats{Pending: 1}}
	m := newMetrics(t, Sources{Stats: stats}, Config{Refresh: 5 * time.Millisecond, FinishedRefresh: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "several refreshes", func() bool { reads, _, _ := stats.counts(); return reads >= 5 })
	stats.set(ports.QueueStats{Pending: 42}, nil)
	testkit.Eventually(t, 5*time.Second, "the new count scraped", func() bool {
		body, _ := scrape(t, m)
		return strings.Contains(body, `webhookd_queue_deliveries{status="pending"} 42`)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, finished, _ := stats.counts(); finished != 1 {
		t.Errorf("finished deliveries counted %d times in well under FinishedRefresh, want once (at start)", finished)
	}
}

// A failed read keeps the last values, counts the failure and is logged
// once per outage, not once per refresh.
func TestRefreshFailureKeepsTheLastValues(t *testing.T) {
	t.Parallel()
	stats := &fakeStats{st: ports.QueueStats{Pending: 8, Succeeded: 5}}
	logs := &testkit.LogBuffer{}
	m, err := New(Sources{Stats: stats}, Config{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m.queue.refresh(t.Context(), true)
	stats.set(ports.QueueStats{}, core.ErrUnavailable)
	for range 3 {
		if m.queue.refresh(t.Context(), false) {
			t.Fatal("a refresh with the store down succeeded")
		}
	}
	body, _ := scrape(t, m)
	for _, want := range []string{`webhookd_queue_deliveries{status="pending"} 8`, `webhookd_queue_deliveries{status="succeeded"} 5`,
		"webhookd_queue_stats_errors_total 3"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("with the store down, scrape lacks %q", want)
		}
	}
	if n := strings.Count(logs.String(), "cannot read the queue"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	stats.set(ports.QueueStats{Pending: 2}, nil)
	m.queue.refresh(t.Context(), false) // the finished counts are kept until they are read again
	body, _ = scrape(t, m)
	if !strings.Contains(body, `webhookd_queue_deliveries{status="pending"} 2`) || !strings.Contains(body, `webhookd_queue_deliveries{status="succeeded"} 5`) {
		t.Errorf("after recovery: %s", body)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{Refresh: -time.Second}, {Refresh: time.Minute, FinishedRefresh: time.Second}} {
		if _, err := New(Sources{}, c, nil); err == nil || !strings.HasPrefix(err.Error(), "prom: ") {
			t.Errorf("New(%+v) = %v, want a prom: error", c, err)
		}
	}
	m := newMetrics(t, Sources{}, Config{Refresh: 2 * time.Minute})
	if m.cfg.FinishedRefresh != 2*time.Minute {
		t.Errorf("FinishedRefresh defaults to %s with a 2m refresh, want 2m", m.cfg.FinishedRefresh)
	}
}
