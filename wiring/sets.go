package wiring

import (
	"github.com/google/wire"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/clock"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/adapters/postgres"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/ports"
)

// configSet hands each component its own slice of Config.
var configSet = wire.NewSet(
	wire.FieldsOf(new(Config), "Role", "HTTP", "API", "DB", "Ingest", "Dispatch", "Sender", "Breaker", "Signing", "Log"),
)

// coreSet is everything but the store: services, sender, API, worker, app.
var coreSet = wire.NewSet(
	configSet,
	provideLogger,
	provideSigner,
	provideHTTPSender,
	provideBreaker,
	wire.Bind(new(ports.Sender), new(*breaker.Sender)),
	wire.Bind(new(ports.TargetHealth), new(*breaker.Sender)),
	memory.NewMetrics, wire.Bind(new(ports.Metrics), new(*memory.Metrics)),
	ingest.NewService, wire.Bind(new(ports.Events), new(*ingest.Service)),
	provideRouter,
	provideNetListener,
	provideServer,
	provideWorker,
	provideApp,
)

// memorySet: the in-memory store, its own wake-up, no background loop.
var memorySet = wire.NewSet(
	memory.NewStore,
	wire.Bind(new(ports.EventStore), new(*memory.Store)),
	wire.Bind(new(ports.Wakeup), new(*memory.Store)),
	noBackground,
)

// postgresSet: PostgreSQL is the queue; LISTEN/NOTIFY wakes the worker.
var postgresSet = wire.NewSet(
	openDatabase,
	postgres.NewStore,
	wire.Bind(new(ports.EventStore), new(*postgres.Store)),
	postgres.NewListener,
	wire.Bind(new(ports.Wakeup), new(*postgres.Listener)),
	wire.Bind(new(Runner), new(*postgres.Listener)),
	wire.InterfaceValue(new(ports.Clock), clock.System{}),
)
