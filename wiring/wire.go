//go:build wireinject

package wiring

import (
	"context"

	"github.com/google/wire"

	"github.com/webhookd/webhookd/ports"
)

// InitializeSQLiteApp builds a dispatcher on one SQLite file (the default).
func InitializeSQLiteApp(ctx context.Context, cfg Config) (*App, func(), error) {
	wire.Build(coreSet, sqliteSet)
	return nil, nil, nil
}

// InitializeApp builds a dispatcher on PostgreSQL.
func InitializeApp(ctx context.Context, cfg Config) (*App, func(), error) {
	wire.Build(coreSet, postgresSet)
	return nil, nil, nil
}

// InitializeMemoryApp builds a dispatcher on the in-memory store (STORE=
// memory; tests). clk is the clock everything reads.
func InitializeMemoryApp(ctx context.Context, cfg Config, clk ports.Clock) (*App, func(), error) {
	wire.Build(coreSet, memorySet)
	return nil, nil, nil
}
