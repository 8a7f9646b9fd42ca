package core

import "time"

// Event is what a producer posted: stored once, with its body, and
// delivered to one target (TargetURL, the seed's way) or to endpoints (by
// EventType, or to EndpointID alone), one Delivery per target. Its ID is
// the webhook-id every target receives.
type Event struct {
	ID        EventID
	EventType string // "" when the producer gave none (target_url events only)
	// Routing: TargetURL when set; else EndpointID when set; else every
	// enabled endpoint subscribed to EventType (see Endpoint.Subscribes).
	TargetURL  string
	Origin     string // of TargetURL
	EndpointID EndpointID
	// Body is the exact bytes delivered and signed: the producer's payload
	// with "event_id" added. See BuildBody.
	Body           []byte
	IdempotencyKey string // "" when the producer sent none
	CreatedAt      time.Time
}

// Payload returns the producer's payload exactly as it was submitted.
func (e Event) Payload() []byte { return PayloadOf(e.Body, e.ID) }

// RoutedToEndpoints reports whether e goes to endpoints rather than to a
// target_url.
func (e Event) RoutedToEndpoints() bool { return e.TargetURL == "" }

// Routes reports whether e is delivered to endpoint ep: an enabled endpoint
// that is the one e names, or, when e names none, that subscribes to e's
// type. The SQL stores mirror this rule in their insert statement.
func (e Event) Routes(ep Endpoint) bool {
	switch {
	case !e.RoutedToEndpoints() || ep.Disabled:
		return false
	case e.EndpointID != "":
		return ep.ID == e.EndpointID
	}
	return ep.Subscribes(e.EventType)
}

// SigningKeys are an endpoint's sealed secrets (core/secretbox), as a
// claimed delivery carries them to be signed: the current one and, during
// a rotation's grace, the previous one.
type SigningKeys struct {
	Current       []byte
	Previous      []byte // nil when there is none
	PreviousUntil *time.Time
}

// EndpointState is what a claimed delivery carries of its endpoint, read
// at claim time: its signing keys (so a rotation signs the next attempt),
// its rate limit and its run of failures.
type EndpointState struct {
	SigningKeys
	RateLimitPerSecond int        // 0: none
	FailingSince       *time.Time // see Endpoint.FailingSince
}

// StateOf returns what a claim reads of ep.
func StateOf(ep Endpoint) *EndpointState {
	return &EndpointState{
		SigningKeys:        SigningKeys{Current: ep.Secret, Previous: ep.PreviousSecret, PreviousUntil: ep.PreviousSecretUntil},
		RateLimitPerSecond: ep.RateLimitPerSecond,
		FailingSince:       ep.FailingSince,
	}
}

// EventStatus sums up an event's deliveries in one status, for lists and
// for the seed's single-target view: delivering if any is, else pending if
// any is, else dead if any is, else succeeded (also when there are none:
// nothing is left to do).
func EventStatus(ds []Delivery) Status {
	out := StatusSucceeded
	for _, d := range ds {
		if statusRank(d.Status) > statusRank(out) {
			out = d.Status
		}
	}
	return out
}

// statusRank orders statuses by how much is left to do.
func statusRank(s Status) int {
	switch s {
	case StatusDelivering:
		return 3
	case StatusPending:
		return 2
	case StatusDead:
		return 1
	}
	return 0
}
