package ports

import (
	"time"

	"github.com/webhookd/webhookd/core"
)

// Metrics receives what the core observes. Implementations must be cheap
// and safe for concurrent use. Origins are given for implementations that
// can afford them; an exporter should not turn them into labels (there is
// one per merchant).
type Metrics interface {
	// EventAccepted counts an event stored and answered 202 (not an
	// idempotent replay of one).
	EventAccepted()
	// DeliveryFinished reports the end of one attempt of a delivery,
	// whatever its verdict, recorded or not.
	DeliveryFinished(r DeliveryReport)
	// DeliveriesParked reports n deliveries of origin parked because the
	// target is open: claims given back and pending deliveries pushed to
	// the target's probe (ReleaseResult.Released + Parked).
	DeliveriesParked(origin string, n int)
	BreakerChanged(origin string, from, to string)
}

// DeliveryReport is one finished attempt, as DeliveryFinished gets it.
type DeliveryReport struct {
	Origin string
	// EndpointID is the delivery's endpoint; "" for a delivery to an
	// event's target_url.
	EndpointID core.EndpointID
	Verdict    core.Verdict
	// Sent reports whether an HTTP request was made. It was not for a
	// delivery ended without one (expired, its endpoint gone): Took is 0.
	Sent bool
	Took time.Duration // the attempt, request and response
	// Age is how long after its event was accepted (core.Delivery
	// CreatedAt) the attempt ended: for a success, the latency from
	// ingestion to delivery. A replayed delivery counts from its first
	// acceptance too.
	Age time.Duration
}
