package prom

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// refreshTimeout bounds one read of the queue's size.
const refreshTimeout = 10 * time.Second

// queue is the collector of the store's gauges. Run reads the store every
// Config.Refresh into a snapshot; a scrape only copies the snapshot out,
// so that scrapes cost the database nothing however often they come, and
// report nothing before the first read (no false zeros).
type queue struct {
	stats  ports.Stats
	log    *slog.Logger
	errors prometheus.Counter

	deliveries, oldestDue, targetsOpen, updated *prometheus.Desc

	mu       sync.Mutex
	snap     ports.QueueStats
	targets  int
	at       time.Time // of the last successful read; zero before
	finished bool      // snap's Succeeded and Dead were read
	failing  bool      // the last read failed (logged once per outage)
}

func newQueue(stats ports.Stats, log *slog.Logger) *queue {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "", n) }
	return &queue{
		stats: stats,
		log:   log,
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "queue_stats_errors_total",
			Help: "Failed reads of the queue's size from the store (it was unavailable); the queue gauges keep their last values meanwhile."}),
		deliveries: prometheus.NewDesc(name("queue_deliveries"),
			"Deliveries in the store by status, read every METRICS_REFRESH_MS by this process (never per scrape). "+
				"pending and delivering are exact counts, through the queue's partial indexes. succeeded and dead are read every "+
				"minute: exact counts on SQLite (and in memory); on PostgreSQL estimates from the planner's statistics (the rows counted by the last "+
				"ANALYZE, scaled to the table's present size, times each status's share of ANALYZE's sample).",
			[]string{"status"}, nil),
		oldestDue: prometheus.NewDesc(name("queue_oldest_due_seconds"),
			"How long the oldest claimable delivery (pending and due, or delivering with an expired lease) has been due; 0 when "+
				"none is. It grows when the workers fall behind or stop.", nil, nil),
		targetsOpen: prometheus.NewDesc(name("targets_open"),
			"Targets open for the whole cluster (rows of the targets table): their deliveries are parked until a probe succeeds. "+
				"A count only, no origin label; GET /targets lists this process's breakers.", nil, nil),
		updated: prometheus.NewDesc(name("queue_stats_updated_timestamp_seconds"),
			"Unix time of this process's last successful read of the queue's size.", nil, nil),
	}
}

func (q *queue) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.deliveries
	ch <- q.oldestDue
	ch <- q.targetsOpen
	ch <- q.updated
}

func (q *queue) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	snap, targets, at, finished := q.snap, q.targets, q.at, q.finished
	q.mu.Unlock()
	if at.IsZero() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(q.deliveries, float64(snap.Pending), "pending")
	gauge(q.deliveries, float64(snap.Delivering), "delivering")
	if finished {
		gauge(q.deliveries, float64(snap.Succeeded), "succeeded")
		gauge(q.deliveries, float64(snap.Dead), "dead")
	}
	gauge(q.oldestDue, snap.OldestDue.Seconds())
	gauge(q.targetsOpen, float64(targets))
	gauge(q.updated, float64(at.UnixNano())/1e9)
}

// refresh reads the store once, the finished deliveries too when asked,
// and reports whether it could.
func (q *queue) refresh(ctx context.Context, finished bool) bool {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	st, err := q.stats.QueueStats(ctx, ports.QueueStatsParams{Finished: finished})
	targets := 0
	if err == nil {
		var open []core.TargetHealth
		open, err = q.stats.Targets(ctx)
		targets = len(open)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		q.errors.Inc()
		if !q.failing {
			q.log.Warn("metrics: cannot read the queue's size; its gauges keep their last values", slog.String("error", err.Error()))
		}
		q.failing = true
		return false
	}
	if q.failing {
		q.log.Info("metrics: the queue's size is read again")
	}
	q.failing = false
	if !finished && q.finished {
		st.Succeeded, st.Dead, st.Estimated = q.snap.Succeeded, q.snap.Dead, q.snap.Estimated // kept until the next count
	}
	q.snap, q.targets, q.at = st, targets, time.Now()
	q.finished = q.finished || finished
	return true
}

// Run reads the queue's size every Config.Refresh, and the finished
// deliveries every Config.FinishedRefresh, until ctx ends. Without a store
// to read it only waits.
func (m *Metrics) Run(ctx context.Context) error {
	if m.queue == nil {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(m.cfg.Refresh)
	defer tick.Stop()
	var lastFinished time.Time
	for {
		finished := lastFinished.IsZero() || time.Since(lastFinished) >= m.cfg.FinishedRefresh
		if m.queue.refresh(ctx, finished) && finished {
			lastFinished = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// QueueSnapshot is the last reading of the queue gauges: what /metrics
// shows, for the dashboard. ok is false before the first reading (or
// without a store); OpenTargets counts the targets rows.
type QueueSnapshot struct {
	Stats       ports.QueueStats
	OpenTargets int
	At          time.Time
	Finished    bool // Stats.Succeeded and Dead were read
}

// Queue returns the last reading of the queue gauges, never reading the
// store.
func (m *Metrics) Queue() (QueueSnapshot, bool) {
	if m.queue == nil {
		return QueueSnapshot{}, false
	}
	q := m.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueSnapshot{Stats: q.snap, OpenTargets: q.targets, At: q.at, Finished: q.finished}, !q.at.IsZero()
}
