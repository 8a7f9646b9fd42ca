package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/webhookd/webhookd/core"
)

// Open connects to PostgreSQL and returns the bun DB and a func that closes
// it. It retries with backoff until the database answers or
// cfg.ConnectTimeout passes, so that a dispatcher started beside a booting
// database waits for it; errors that retrying cannot fix (bad password,
// unknown database) fail at once.
func Open(ctx context.Context, cfg Config) (*bun.DB, func(), error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	db, err := newDB(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := waitReady(ctx, db, cfg.ConnectTimeout); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, func() { _ = db.Close() }, nil
}

// newDB builds the pool without connecting.
func newDB(cfg Config) (*bun.DB, error) { return newPool(cfg, cfg.MaxOpenConns, nil) }

// queuePool builds the queue's pool (prepared.go) without connecting.
func queuePool(cfg Config) (*bun.DB, error) { return newPool(cfg, queueConns, queueSession) }

// newPool builds a pool of size connections whose sessions have settings
// on top of cfg's, without connecting.
func newPool(cfg Config, size int, settings map[string]string) (*bun.DB, error) {
	connector, err := newConnector(cfg, settings)
	if err != nil {
		return nil, err
	}
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(size)
	sqldb.SetMaxIdleConns(size)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

func newConnector(cfg Config, settings map[string]string) (c *pgdriver.Connector, err error) {
	// pgdriver.WithDSN panics on a DSN it cannot parse (e.g. a bad
	// duration parameter); Validate caught the rest.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("postgres: config: DSN: %v", r)
		}
	}()
	return pgdriver.NewConnector(pgdriver.WithDSN(cfg.DSN), func(pc *pgdriver.Config) {
		// Merge with the DSN's own session parameters; ours win.
		params := make(map[string]any, len(pc.ConnParams)+2+len(settings))
		maps.Copy(params, pc.ConnParams)
		for k, v := range settings {
			params[k] = v
		}
		params["search_path"] = cfg.Schema
		if cfg.StatementTimeout > 0 {
			params["statement_timeout"] = cfg.StatementTimeout.Milliseconds()
			// The driver's socket timeout must not cut a statement short
			// that the server would still allow.
			if limit := cfg.StatementTimeout + 5*time.Second; pc.ReadTimeout > 0 && pc.ReadTimeout < limit {
				pc.ReadTimeout = limit
			}
		}
		pc.ConnParams = params
		if pc.AppName == "" {
			pc.AppName = cfg.ApplicationName
		}
	}), nil
}

// waitReady pings until the database answers, timeout passes or the error
// is not one that waiting can cure.
func waitReady(ctx context.Context, db *bun.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	backoff := 100 * time.Millisecond
	for {
		pingCtx, cancel := context.WithTimeout(ctx, min(5*time.Second, max(time.Until(deadline), 100*time.Millisecond)))
		err := interpretError("open", db.PingContext(pingCtx))
		cancel()
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, core.ErrUnavailable):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("postgres: open: %w", ctx.Err())
		case time.Until(deadline) <= 0:
			return fmt.Errorf("%w (gave up after %s)", err, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: open: %w", ctx.Err())
		case <-time.After(min(backoff, time.Until(deadline))):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
