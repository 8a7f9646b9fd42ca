package ports

import (
	"context"

	"github.com/webhookd/webhookd/core"
)

// Events is the driving port: what the HTTP API (or any other front door)
// may ask of webhookd. core/ingest implements it.
type Events interface {
	// Submit validates and durably stores an event (or, with a known
	// idempotency key, returns the first one).
	Submit(ctx context.Context, s Submission) (SubmitResult, error)
	// Get returns an event with its attempt history.
	Get(ctx context.Context, id core.EventID) (EventDetail, error)
	// List returns a page of events, newest first.
	List(ctx context.Context, f ListFilter) (ListResult, error)
	// Replay sends a succeeded or dead event again.
	Replay(ctx context.Context, id core.EventID) (core.Event, error)
	// Ready reports whether the store answers.
	Ready(ctx context.Context) error
}

// Submission is a producer's request. TargetURL "" means the default.
type Submission struct {
	TargetURL      string
	Payload        []byte // the raw JSON object, exactly as sent
	IdempotencyKey string
}

// SubmitResult is the stored event. Replayed is true when the idempotency
// key matched an earlier event, which is returned instead of a new one.
type SubmitResult struct {
	Event    core.Event
	Replayed bool
}

// EventDetail is an event and its attempt history.
type EventDetail struct {
	Event    core.Event
	Attempts []core.Attempt
}
