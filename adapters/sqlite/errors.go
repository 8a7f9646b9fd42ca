package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/webhookd/webhookd/core"
)

// interpretError translates a driver error into the domain's vocabulary at
// the boundary, prefixed "sqlite: op:". The cause stays wrapped for logs.
func interpretError(op string, err error) error {
	if err == nil {
		return nil
	}
	var sqlErr *sqlite3.Error
	errors.As(err, &sqlErr)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, core.ErrNotFound)
	case sqlErr != nil && sqlErr.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &core.ConflictError{Code: "duplicate_id", Message: "sqlite: " + op + ": id already exists"}
	case unavailable(err, sqlErr):
		return fmt.Errorf("sqlite: %s: %w: %w", op, core.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// unavailable reports whether err means "the store cannot answer now":
// the disk is full or failing, the file cannot be opened, a lock was not
// granted in time, or the statement ran out of time. Nothing was written;
// retrying later may succeed.
func unavailable(err error, sqlErr *sqlite3.Error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	if sqlErr == nil {
		return false
	}
	switch sqlErr.Code() & 0xff { // the primary result code
	case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_FULL,
		sqlite3lib.SQLITE_IOERR, sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_READONLY,
		sqlite3lib.SQLITE_NOMEM, sqlite3lib.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// fromDatabase reports whether err came from the driver or the database
// (and needs interpreting), rather than from the code around the
// statements.
func fromDatabase(err error) bool {
	var sqlErr *sqlite3.Error
	return errors.As(err, &sqlErr) || errors.Is(err, sql.ErrNoRows) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errClosed)
}
