// Package prom exports webhookd's metrics to Prometheus: what the core
// reports through ports.Metrics, the queue's size read from the store in
// the background (ports.Stats), the store's connection pools, and the Go
// runtime and the process. Everything lives in a registry of its own,
// never the global one, served by Handler.
//
// No metric is labelled by target origin: there is one per merchant, and
// a label per merchant would grow without bound.
package prom

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/retention"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Metrics = (*Metrics)(nil)

const namespace = "webhookd"

// Config of the exporter. DefaultConfig holds every default; New fills
// zero fields from it.
type Config struct {
	// Refresh is how often the queue's size is read from the store
	// (METRICS_REFRESH_MS). A scrape reads what the last refresh found.
	Refresh time.Duration
	// FinishedRefresh is how often the succeeded and dead deliveries are
	// counted too, which may cost a pass over an index of the whole
	// history (SQLite).
	FinishedRefresh time.Duration
}

// DefaultConfig reads the queue every 5 s and the history every minute.
func DefaultConfig() Config {
	return Config{Refresh: 5 * time.Second, FinishedRefresh: time.Minute}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.Refresh == 0 {
		c.Refresh = d.Refresh
	}
	if c.FinishedRefresh == 0 {
		c.FinishedRefresh = max(d.FinishedRefresh, c.Refresh)
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Refresh <= 0:
		return fmt.Errorf("prom: refresh interval must be positive, got %s", c.Refresh)
	case c.FinishedRefresh < c.Refresh:
		return fmt.Errorf("prom: finished-deliveries refresh (%s) must not be shorter than the refresh (%s)", c.FinishedRefresh, c.Refresh)
	}
	return nil
}

// Sources are what the exporter reads besides what the core tells it.
type Sources struct {
	// Stats is the store, read every Config.Refresh (nil: no queue
	// gauges).
	Stats ports.Stats
	// Pools are the store's connection pools by name, the db_name label
	// of the go_sql_* families (none for the memory store).
	Pools map[string]*sql.DB
}

// Metrics is the Prometheus ports.Metrics, and the /metrics handler.
type Metrics struct {
	reg        *prometheus.Registry
	accepted   prometheus.Counter
	deliveries *prometheus.CounterVec
	attempts   prometheus.Histogram
	latency    prometheus.Histogram
	breakers   *prometheus.CounterVec
	queue      *queue // nil without Sources.Stats
	log        *slog.Logger
	cfg        Config
}

// outcomes are the values of webhookd_deliveries_total's outcome label:
// the verdicts the worker reports, and parked.
var outcomes = []string{
	string(core.VerdictSucceeded), string(core.VerdictRetry), string(core.VerdictDead), string(core.VerdictExpired), "parked",
}

// New registers every family on a registry of its own. Zero fields of cfg
// take DefaultConfig's values; an invalid cfg is an error. A nil log
// discards.
func New(src Sources, cfg Config, log *slog.Logger) (*Metrics, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "events_accepted_total",
			Help: "Events stored and answered 202 by this process (an idempotent replay is not counted)."}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "deliveries_total",
			Help: "Delivery attempts finished by this process, by outcome: succeeded; retry (failed, tried again after a backoff); " +
				"dead (410 Gone, attempts exhausted, or its endpoint deleted or disabled); expired (older than MAX_DELIVERY_AGE_MS, " +
				"no request made); parked (not sent: its target is open, so it waits for the target's probe; counted when parked)."},
			[]string{"outcome"}),
		attempts: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "delivery_attempt_duration_seconds",
			Help: "Duration of the HTTP attempts this process made, request and response (bounded by HTTP_TIMEOUT_MS). " +
				"A delivery ended without a request is not observed.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "delivery_latency_seconds",
			Help: "Time from an event's acceptance (the 202) to a successful delivery of it, observed by the process that " +
				"delivered it. A replayed delivery counts from its event's acceptance too.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600}}),
		breakers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "breaker_transitions_total",
			Help: "Circuit breaker state changes in this process, by the state entered (open, half-open, closed)."},
			[]string{"to"}),
		log: log,
		cfg: cfg,
	}
	for _, o := range outcomes { // every series scraped from the start, at 0
		m.deliveries.WithLabelValues(o)
	}
	for _, to := range []string{"open", "half-open", "closed"} {
		m.breakers.WithLabelValues(to)
	}
	cs := []prometheus.Collector{m.accepted, m.deliveries, m.attempts, m.latency, m.breakers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	if src.Stats != nil {
		m.queue = newQueue(src.Stats, log)
		cs = append(cs, m.queue, m.queue.errors)
	}
	for name, db := range src.Pools {
		cs = append(cs, collectors.NewDBStatsCollector(db, name))
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("prom: register: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in Prometheus' text format 0.0.4 whatever
// the scraper asks for (Content-Type: text/plain; version=0.0.4;
// charset=utf-8, with the name escaping it negotiated), gzipped when it
// accepts gzip. Every family here is a classic one, which is all that text
// format 0.0.4 carries.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		Registry: m.reg, // counts its own errors (promhttp_metric_handler_errors_total)
		// A collector that fails (a pool's statistics) must not blank the
		// rest: serve what was gathered; the error is logged and counted.
		ErrorHandling:   promhttp.ContinueOnError,
		AcceptedFormats: []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain)},
	})
}

func (m *Metrics) EventAccepted() { m.accepted.Inc() }

func (m *Metrics) DeliveryFinished(r ports.DeliveryReport) {
	m.deliveries.WithLabelValues(string(r.Verdict)).Inc()
	if r.Sent {
		m.attempts.Observe(r.Took.Seconds())
	}
	if r.Verdict == core.VerdictSucceeded {
		m.latency.Observe(max(r.Age, 0).Seconds())
	}
}

func (m *Metrics) DeliveriesParked(_ string, n int) {
	m.deliveries.WithLabelValues("parked").Add(float64(n))
}

func (m *Metrics) BreakerChanged(_, _, to string) { m.breakers.WithLabelValues(to).Inc() }

// CountRetention adds the retention counters, read from totals at each
// scrape (the retention runner keeps them; see core/retention).
func (m *Metrics) CountRetention(totals func() retention.Totals) error {
	read := func(f func(retention.Totals) int64) func() float64 {
		return func() float64 { return float64(f(totals())) }
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "retention_events_purged_total",
			Help: "Finished events deleted by retention (RETENTION_HOURS, DEAD_RETENTION_HOURS), with their deliveries and attempts."},
			read(func(t retention.Totals) int64 { return t.Events })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "retention_deliveries_purged_total",
			Help: "Deliveries deleted with the events retention purged."},
			read(func(t retention.Totals) int64 { return t.Deliveries })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "retention_failures_total",
			Help: "Retention passes cut short by a store error (the next pass carries on)."},
			read(func(t retention.Totals) int64 { return t.Failures })),
	} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("prom: register: %w", err)
		}
	}
	return nil
}
