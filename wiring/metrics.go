package wiring

import (
	"database/sql"
	"fmt"
	"github.com/webhookd/webhookd/core/activity"
	"log/slog"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/netutil"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/adapters/prom"
	"github.com/webhookd/webhookd/adapters/sqlite"
	"github.com/webhookd/webhookd/ports"
)

// dbPools are the store's connection pools by name, for the go_sql_*
// metrics.
type dbPools map[string]*sql.DB

func postgresPools(s *postgres.Store) dbPools { return s.Pools() }

func sqlitePools(db *sqlite.DB) dbPools {
	return dbPools{"sqlite_write": db.Write.DB, "sqlite_read": db.Read.DB}
}

// noPools: the memory store has none.
func noPools() dbPools { return nil }

// provideMetrics is the Prometheus exporter every process has, whatever
// its role: the core's counters, the store's queue and pools, the runtime.
func provideMetrics(cfg MetricsConfig, stats ports.Stats, pools dbPools, log *slog.Logger) (*prom.Metrics, error) {
	m, err := prom.New(prom.Sources{Stats: stats, Pools: pools}, cfg.Exporter, log)
	if err != nil {
		return nil, fmt.Errorf("METRICS_REFRESH_MS: %w", err)
	}
	return m, nil
}

// provideActivity counts what this process does, minute by minute, into
// the store's activity table (the dashboard's chart and success rates).
func provideActivity(store ports.ActivityStore, clk ports.Clock, log *slog.Logger) *activity.Counter {
	return activity.New(store, clk, activity.Config{}, log)
}

// provideCoreMetrics gives the core both recorders: Prometheus (this
// process, scraped) and the activity counter (the cluster, in the store).
func provideCoreMetrics(m *prom.Metrics, c *activity.Counter) ports.Metrics {
	return activity.Tee{m, c}
}

// Ops is the server of /health, /ready and /metrics alone, for a process
// whose API does not serve them: on METRICS_PORT when it is set, else for
// ROLE=worker on DISPATCHER_PORT.
type Ops struct {
	Server   *http.Server
	Listener net.Listener
}

// opsMaxConnections caps the metrics port's connections: a scraper or two
// and the health checks.
const opsMaxConnections = 64

// provideOps binds METRICS_PORT when it is set (so that a port in use
// fails the start), or takes the API's socket for a worker, which serves
// no API. It returns nil when the API serves /metrics itself.
func provideOps(role Role, cfg MetricsConfig, api httpapi.Options, apiLn net.Listener, events ports.Events, m *prom.Metrics,
	log *slog.Logger) (*Ops, func(), error) {
	opts := httpapi.Options{Metrics: m.Handler(), Logger: log}
	cleanup := func() {}
	var ln net.Listener
	switch {
	case cfg.Separate:
		l, err := net.Listen("tcp", cfg.Addr())
		if err != nil {
			return nil, nil, fmt.Errorf("METRICS_PORT: %w", err)
		}
		ln, cleanup = netutil.LimitListener(l, opsMaxConnections), func() { l.Close() }
	case !role.RunsAPI():
		ln, opts.APITokens = apiLn, api.APITokens // the API's port keeps the API's token rule
	default:
		return nil, cleanup, nil
	}
	gin.SetMode(gin.ReleaseMode)
	return &Ops{Server: newServer(httpapi.NewOpsRouter(events.Ready, opts), log), Listener: ln}, cleanup, nil
}
