package ports

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
)

// Sender makes one delivery attempt.
//
// The outcome of an attempt that was made (any status, timeout, connection
// error) is a core.Outcome with a nil error. The error is non-nil only when
// no HTTP request was made: the target's breaker is open
// (*core.TargetOpenError) or ctx was cancelled.
type Sender interface {
	Send(ctx context.Context, d core.Request) (core.Outcome, error)
}

// TargetGate tells which targets are refusing requests (their circuit
// breaker is open), so that a worker releases and parks a whole batch of
// one target in a single store call instead of trying each event. It has
// no side effects. The worker is given it explicitly: it is usually the
// same circuit breaker that decorates its Sender, but nothing may depend
// on finding it by a type assertion through other decorators.
type TargetGate interface {
	// OpenUntil reports whether origin is refusing requests and until when.
	OpenUntil(origin string) (until time.Time, open bool)
}

// TargetHealth reports what a Sender knows of each target's health (the
// circuit breakers of this process), for the status endpoint.
type TargetHealth interface {
	Targets() []TargetState
}

// TargetState is one target's breaker.
type TargetState struct {
	Origin              string
	State               string // closed, open or half-open
	ConsecutiveFailures int
	OpenedAt            time.Time // zero unless open or half-open
	OpenUntil           time.Time // zero unless open
}
