package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/webhookd/webhookd/core"
)

// interpretError translates a driver error into the domain's vocabulary at
// the boundary, prefixed "postgres: op:". The cause stays wrapped for logs.
func interpretError(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, core.ErrUnavailable, err)
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) && pgErr.Field('C') == "23505" {
		switch pgErr.Field('n') {
		case "events_pkey":
			return &core.ConflictError{Code: "duplicate_id", Message: "postgres: " + op + ": event id already exists"}
		case "deliveries_pkey":
			return &core.ConflictError{Code: "duplicate_id", Message: "postgres: " + op + ": delivery id already exists"}
		case "endpoints_pkey":
			return &core.ConflictError{Code: "duplicate_id", Message: "postgres: " + op + ": endpoint id already exists"}
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err means "the database cannot answer now":
// the connection failed or broke, the server is starting, shutting down or
// out of resources, or the statement ran out of time or was rolled back.
// Retrying later may succeed. Nothing was written, except that a
// connection lost during a commit leaves its outcome unknown (callers
// retry with the same idempotency key or event id).
func unavailable(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return unavailableCode(pgErr.Field('C'))
	}
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr):
		return true
	}
	return false
}

// unavailableCode reports whether a SQLSTATE is one of unavailable's.
func unavailableCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", // admin or crash shutdown, cannot connect now (starting up)
		"57014",          // statement timeout (or cancel)
		"40001", "40P01", // serialization failure, deadlock: the statement was rolled back
		"25006": // read-only transaction: a standby answered during failover
		return true
	}
	switch code[:min(2, len(code))] {
	case "08", // connection exception
		"53", // insufficient resources: too many connections, disk full
		"58": // system error: I/O
		return true
	}
	return false
}
