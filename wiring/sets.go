package wiring

import (
	"github.com/google/wire"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/clock"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/adapters/sqlite"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/ports"
)

// configSet hands each component its own slice of Config.
var configSet = wire.NewSet(
	wire.FieldsOf(new(Config), "Role", "DatabaseConfig", "HTTP", "API", "Metrics", "Ingest", "Addresses", "Dispatch", "Sender", "Breaker", "Retention",
		"Signing", "Endpoints", "Secrets", "Log"),
)

// databaseSet hands each store its settings.
var databaseSet = wire.NewSet(wire.FieldsOf(new(DatabaseConfig), "DB", "SQLite"))

// coreSet is everything but the store: services, sender, API, worker, app.
var coreSet = wire.NewSet(
	configSet,
	databaseSet,
	provideLogger,
	provideAddressPolicy,
	provideSigner,
	provideHTTPSender,
	provideBreaker,
	wire.Bind(new(ports.Sender), new(*breaker.Sender)),
	wire.Bind(new(ports.TargetGate), new(*breaker.Sender)),
	wire.Bind(new(ports.TargetHealth), new(*breaker.Sender)),
	provideMetrics,
	provideActivity,
	provideCoreMetrics,
	provideOps,
	provideProfiler,
	provideIngest, wire.Bind(new(ports.Events), new(*ingest.Service)),
	provideSecretBox,
	provideEndpoints, wire.Bind(new(ports.Endpoints), new(*endpoints.Service)),
	provideDashboard,
	provideRouter,
	provideNetListener,
	provideServer,
	wire.Struct(new(dispatch.Ports), "*"),
	provideWorker,
	provideRetention,
	provideApp,
)

// memorySet is the in-memory store, its own wake-up and no background loop.
var memorySet = wire.NewSet(
	memory.NewStore,
	wire.Bind(new(ports.EventStore), new(*memory.Store)),
	wire.Bind(new(ports.EndpointStore), new(*memory.Store)),
	wire.Bind(new(ports.Purger), new(*memory.Store)),
	wire.Bind(new(ports.Wakeup), new(*memory.Store)),
	wire.Bind(new(ports.Stats), new(*memory.Store)),
	wire.Bind(new(ports.ActivityStore), new(*memory.Store)),
	noPools,
	noBackground,
)

// postgresSet makes PostgreSQL the queue, with LISTEN/NOTIFY waking the
// worker.
var postgresSet = wire.NewSet(
	openDatabase,
	postgres.NewStore,
	wire.Bind(new(ports.EventStore), new(*postgres.Store)),
	wire.Bind(new(ports.EndpointStore), new(*postgres.Store)),
	wire.Bind(new(ports.Purger), new(*postgres.Store)),
	wire.Bind(new(ports.Stats), new(*postgres.Store)),
	wire.Bind(new(ports.ActivityStore), new(*postgres.Store)),
	postgresPools,
	postgres.NewListener,
	wire.Bind(new(ports.Wakeup), new(*postgres.Listener)),
	wire.Bind(new(Runner), new(*postgres.Listener)),
	wire.InterfaceValue(new(ports.Clock), clock.System{}),
)

// sqliteSet makes one SQLite file the queue (the default): the store is
// its own wake-up, as only this process writes to it.
var sqliteSet = wire.NewSet(
	openSQLite,
	sqlite.NewStore,
	wire.Bind(new(ports.EventStore), new(*sqlite.Store)),
	wire.Bind(new(ports.EndpointStore), new(*sqlite.Store)),
	wire.Bind(new(ports.Purger), new(*sqlite.Store)),
	wire.Bind(new(ports.Wakeup), new(*sqlite.Store)),
	wire.Bind(new(ports.Stats), new(*sqlite.Store)),
	wire.Bind(new(ports.ActivityStore), new(*sqlite.Store)),
	sqlitePools,
	noBackground,
	wire.InterfaceValue(new(ports.Clock), clock.System{}),
)
