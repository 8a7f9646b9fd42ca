package ports

import (
	"context"

	"github.com/webhookd/webhookd/core"
)

// Events is the driving port: what the HTTP API (or any other front door)
// may ask of webhookd. core/ingest implements it.
type Events interface {
	// Submit validates and durably stores an event with its deliveries
	// (or, with a known idempotency key, returns the first one).
	Submit(ctx context.Context, s Submission) (SubmitResult, error)
	// Get returns an event with its deliveries and their attempt history.
	Get(ctx context.Context, id core.EventID) (EventDetail, error)
	// List returns a page of events, newest first.
	List(ctx context.Context, f ListFilter) (ListResult, error)
	// Replay sends every succeeded or dead delivery of an event again (the
	// seed's retry: its events have one delivery). It is a
	// *core.ConflictError when none is finished.
	Replay(ctx context.Context, id core.EventID) (EventRecord, error)
	// ReplayDelivery sends one succeeded or dead delivery of an event
	// again.
	ReplayDelivery(ctx context.Context, event core.EventID, delivery core.DeliveryID) (core.Delivery, error)
	// Recover sends the finished deliveries a filter matches again, paced
	// per origin (EventStore.Recover).
	Recover(ctx context.Context, r RecoverRequest) (RecoverResult, error)
	// Ready reports whether the store answers.
	Ready(ctx context.Context) error
}

// Submission is a producer's request. With TargetURL, EventType and
// EndpointID all empty the event goes to the default target URL (the
// seed's behaviour); with TargetURL empty and an EventType or EndpointID it
// goes to endpoints.
type Submission struct {
	TargetURL      string
	EventType      string
	EndpointID     core.EndpointID
	Payload        []byte // the raw JSON object, exactly as sent
	IdempotencyKey string
}

// SubmitResult is the stored event and its deliveries. Replayed is true
// when the idempotency key matched an earlier event, which is returned
// instead of a new one.
type SubmitResult struct {
	Event      core.Event
	Deliveries []core.Delivery
	Replayed   bool
}

// EventDetail is an event, its deliveries and their attempt history.
type EventDetail struct {
	Event      core.Event
	Deliveries []DeliveryDetail
}

// DeliveryDetail is one delivery and its attempts, oldest first.
type DeliveryDetail struct {
	Delivery core.Delivery
	Attempts []core.Attempt
}

// RecoverRequest asks for a bulk recovery. RatePerSecond 0 means
// DefaultRecoverRate; Filter.Status "" means dead.
type RecoverRequest struct {
	Filter        RecoverFilter
	RatePerSecond float64
}

// Recovery pacing: the default and the most a request may ask for, per
// origin. A merchant back from an outage gets its backlog at a pace it can
// take, on top of its endpoint's own rate limit.
const (
	DefaultRecoverRate = 20
	MaxRecoverRate     = 1000
)
