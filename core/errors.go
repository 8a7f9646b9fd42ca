package core

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrNotFound means the event (or other resource) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request is valid but illegal in the current
	// state, e.g. replaying a pending event or reusing an idempotency key
	// with another request.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a dependency (the database) cannot answer now.
	// The API answers 503. Whether a write reached the database before the
	// connection failed is unknown, so clients retry idempotently.
	ErrUnavailable = errors.New("unavailable")
	// ErrLeaseLost means a worker tried to record the outcome of a claim it
	// no longer owns (its lease expired and someone else took the event).
	// The newer state wins; the late outcome is dropped.
	ErrLeaseLost = errors.New("lease lost")
)

// ValidationError is bad input: the API answers 400 with Code.
type ValidationError struct {
	Field   string // the offending input field, e.g. "target_url"
	Code    string // machine-readable, e.g. "invalid_target_url"
	Message string // for humans
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, code, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ConflictError is ErrConflict with a machine-readable code, so the API can
// say precisely what conflicted.
type ConflictError struct {
	Code    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// TargetOpenError is returned by a Sender that refused to make a request
// because the target's circuit breaker is open. No HTTP request was made, so
// no attempt is consumed: the event is released and its target parked
// until Until.
type TargetOpenError struct {
	Target string    // the origin, scheme://host:port
	Until  time.Time // when the breaker lets a probe through
}

func (e *TargetOpenError) Error() string {
	return fmt.Sprintf("circuit open for %s until %s", e.Target, e.Until.UTC().Format(time.RFC3339))
}
