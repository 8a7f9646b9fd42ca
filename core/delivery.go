package core

// This file is webhookd's reference state machine. Every transition of an
// event is a pure method here, and adapters/memory applies these methods
// as they are. The SQL stores (adapters/postgres/queue.go, and any later
// SQL store) cannot call Go inside a statement, so each of their
// statements mirrors one method here, named in its comment, and takes the
// values it writes (statuses, errors, reasons, verdicts) from this package
// instead of spelling them again. ports/porttest runs one contract suite
// against every store, which is what keeps the mirrors faithful: change a
// transition here, then its mirrors, then the suite.

import (
	"fmt"
	"time"
)

// Status is where an event is in its lifecycle.
//
//	pending --claim--> delivering --2xx--> succeeded
//	   ^                   |--failure, attempts left--> pending (after a backoff)
//	   |                   |--failure, no attempts left, or 410 Gone--> dead
//	   |                   `--lease expired (worker lost)--> claimable again
//	   `---- replay (dead or succeeded -> pending) ----'
type Status string

const (
	StatusPending    Status = "pending"
	StatusDelivering Status = "delivering"
	StatusSucceeded  Status = "succeeded"
	StatusDead       Status = "dead"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusPending, StatusDelivering, StatusSucceeded, StatusDead}

// ParseStatus accepts one of the four statuses, exactly.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", invalid("status", "invalid_status", "must be one of pending, delivering, succeeded, dead")
}

// Finished reports whether the status is terminal (until a replay).
func (s Status) Finished() bool { return s == StatusSucceeded || s == StatusDead }

// DeliveryID names a delivery. It is an EventID-shaped UUIDv7; the one
// delivery of a target_url event (the seed's way) has its event's id, so
// that every seed-era id keeps naming the same row.
type DeliveryID = EventID

// Delivery is one event on its way to one target: a row in the queue. An
// event posted with a target_url has one delivery; an event routed to
// endpoints has one per subscribed endpoint, all carrying the same body and
// webhook-id (the event's id).
type Delivery struct {
	ID      DeliveryID
	EventID EventID
	// EndpointID is the endpoint it goes to; "" for a target_url delivery,
	// which is signed with HMAC_SECRET.
	EndpointID EndpointID
	TargetURL  string
	// Origin is scheme://host:port of TargetURL, lower-cased: the unit of
	// circuit breaking, fairness and parking.
	Origin string
	// Body is the event's body, read with the delivery: the exact bytes
	// delivered (and signed) on every attempt. See BuildBody.
	Body []byte
	// Probe marks a claimed delivery as its open target's one probe (see
	// Target): its outcome closes or reopens the target for the cluster.
	Probe bool
	// TargetOpenUntil, on a claimed delivery that is not a probe, says its
	// target is open (parked) in the database: it must be parked, not
	// sent. nil otherwise.
	TargetOpenUntil *time.Time
	// Endpoint is what a claim read of the endpoint: its sealed keys, rate
	// limit and failures, as they are now (so a rotation signs the next
	// attempt). nil for a target_url delivery, for an endpoint delivery
	// whose endpoint is gone or disabled, and outside a claim.
	Endpoint *EndpointState

	Status         Status
	AttemptedCount int // attempts started, counted at claim
	// ClaimSeq counts every claim the event ever had. Unlike
	// AttemptedCount it is never given back nor reset (not by Release, a
	// refund or Replay), so it identifies one claim for good: a late
	// outcome of an earlier claim can never pass for the current one.
	ClaimSeq      int64
	NextAttemptAt time.Time
	// ActiveSince is when the current run of attempts began: at insert,
	// or at the last Replay. MAX_DELIVERY_AGE_MS counts from it.
	ActiveSince     time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	LastAttemptedAt *time.Time

	// LockedBy and LeaseExpiresAt are the lease, set while delivering: the
	// worker owns the event until LeaseExpiresAt, after which any worker
	// may claim it again.
	LockedBy       string
	LeaseExpiresAt *time.Time

	LastStatusCode int    // 0 when no HTTP response was received
	LastError      string // "" after a success
}

// Payload returns the producer's payload exactly as it was submitted.
func (e Delivery) Payload() []byte { return PayloadOf(e.Body, e.EventID) }

// Claimable reports whether a worker may claim e at now: pending and due,
// or delivering with an expired lease (its worker was lost).
func (e Delivery) Claimable(now time.Time) bool {
	switch e.Status {
	case StatusPending:
		return !e.NextAttemptAt.After(now)
	case StatusDelivering:
		return e.LeaseExpiresAt != nil && !e.LeaseExpiresAt.After(now)
	}
	return false
}

// Claim hands e to worker for one attempt. The attempt is counted now, so
// an event whose delivery crashes its worker cannot loop forever.
func (e Delivery) Claim(worker string, now time.Time, lease time.Duration) (Delivery, error) {
	if !e.Claimable(now) {
		return e, illegal(e, "claim")
	}
	return e.lease(worker, now, lease), nil
}

// ClaimProbe hands a pending delivery of an open target to worker as the
// target's probe, due or not (its target parked it until its probe).
func (e Delivery) ClaimProbe(worker string, now time.Time, lease time.Duration) (Delivery, error) {
	if e.Status != StatusPending {
		return e, illegal(e, "probe")
	}
	e = e.lease(worker, now, lease)
	e.Probe = true
	return e, nil
}

func (e Delivery) lease(worker string, now time.Time, lease time.Duration) Delivery {
	until := now.Add(lease)
	e.Status = StatusDelivering
	e.AttemptedCount++
	e.ClaimSeq++
	e.LockedBy = worker
	e.LeaseExpiresAt = &until
	e.LastAttemptedAt = &now
	e.UpdatedAt = now
	return e
}

// Owns reports whether the claim identified by (worker, seq) still holds e.
// The claim sequence makes the check exact even if the same worker claimed
// e again, after its own lease expired or after a replay reset the
// attempts.
func (e Delivery) Owns(worker string, seq int64) bool {
	return e.Status == StatusDelivering && e.LockedBy == worker && e.ClaimSeq == seq
}

// Complete records the decision taken after one attempt. Only the claim
// that owns the event may complete it; anyone else gets ErrLeaseLost.
func (e Delivery) Complete(worker string, seq int64, d Decision, now time.Time) (Delivery, error) {
	if !e.Owns(worker, seq) {
		return e, fmt.Errorf("complete %s: %w", e.ID, ErrLeaseLost)
	}
	switch d.Status {
	case StatusSucceeded, StatusDead:
	case StatusPending:
		e.NextAttemptAt = now.Add(d.RetryIn)
	default:
		return e, fmt.Errorf("complete %s: decision status %q: %w", e.ID, d.Status, ErrConflict)
	}
	e.Status = d.Status
	if d.Refund {
		e.AttemptedCount--
	}
	e.LockedBy, e.LeaseExpiresAt = "", nil
	e.LastStatusCode = d.StatusCode
	e.LastError = d.Error
	e.UpdatedAt = now
	return e, nil
}

// Release gives a claimed event back without spending its attempt: no HTTP
// request was made (the target's breaker is open, or we are shutting down).
// It becomes due again at until.
func (e Delivery) Release(worker string, seq int64, until, now time.Time) (Delivery, error) {
	if !e.Owns(worker, seq) {
		return e, fmt.Errorf("release %s: %w", e.ID, ErrLeaseLost)
	}
	e.Status = StatusPending
	e.AttemptedCount--
	e.NextAttemptAt = until
	e.LockedBy, e.LeaseExpiresAt = "", nil
	e.UpdatedAt = now
	return e, nil
}

// Park pushes a pending delivery of a parked target out of the due range
// if it was due before until: to its expiry, ActiveSince + parkFor (when
// it must be given up anyway), or to until if that is later. A parked
// delivery is therefore written once per outage, not once per open
// interval: the target's probes (Target) decide when it comes back. It
// reports whether anything changed.
func (e Delivery) Park(until time.Time, parkFor time.Duration, now time.Time) (Delivery, bool) {
	if e.Status != StatusPending || !e.NextAttemptAt.Before(until) {
		return e, false
	}
	e.NextAttemptAt = e.ParkedUntil(until, parkFor)
	e.UpdatedAt = now
	return e, true
}

// ParkedUntil is when a delivery parked until until comes due again: at
// its expiry, ActiveSince + parkFor, if that is later (and parkFor set).
func (e Delivery) ParkedUntil(until time.Time, parkFor time.Duration) time.Time {
	if expiry := e.ActiveSince.Add(parkFor); parkFor > 0 && expiry.After(until) {
		return expiry
	}
	return until
}

// Unpark makes a pending delivery waiting past now due at once: its
// target has recovered.
func (e Delivery) Unpark(now time.Time) (Delivery, bool) {
	if e.Status != StatusPending || !e.NextAttemptAt.After(now) {
		return e, false
	}
	e.NextAttemptAt = now
	e.UpdatedAt = now
	return e, true
}

// Replay sends a finished event again, with a fresh set of attempts. Its
// attempt history is kept.
func (e Delivery) Replay(now time.Time) (Delivery, error) {
	if !e.Status.Finished() {
		return e, &ConflictError{Code: "not_replayable",
			Message: fmt.Sprintf("event %s is %s; only succeeded or dead events can be replayed", e.ID, e.Status)}
	}
	e.Status = StatusPending
	e.AttemptedCount = 0
	e.NextAttemptAt, e.ActiveSince = now, now
	e.LastError = ""
	e.LastStatusCode = 0
	e.UpdatedAt = now
	return e, nil
}

// Recover is Replay for a bulk recovery: the delivery is due at its turn,
// at (see RecoverPace), and its MAX_DELIVERY_AGE_MS counts from then, so a
// delivery queued far down a slow recovery still gets its full time.
func (e Delivery) Recover(now, at time.Time) (Delivery, error) {
	d, err := e.Replay(now)
	if err != nil {
		return e, err
	}
	if at.After(now) {
		d.NextAttemptAt, d.ActiveSince = at, at
	}
	return d, nil
}

// RecoverPace is when the n-th (0-based) delivery recovered for one
// origin is due: n/ratePerSecond seconds after now. A rate ≤ 0 does not
// pace.
func RecoverPace(now time.Time, n int, ratePerSecond float64) time.Time {
	if ratePerSecond <= 0 || n <= 0 {
		return now
	}
	return now.Add(time.Duration(float64(n) / ratePerSecond * float64(time.Second)))
}

// Cancel ends a pending delivery without an attempt, because its endpoint
// was deleted or disabled (why is ErrorEndpointDeleted or
// ErrorEndpointDisabled). It reports whether anything changed: a
// delivery in flight is left to its worker, and a finished one as it is.
func (e Delivery) Cancel(why string, now time.Time) (Delivery, bool) {
	if e.Status != StatusPending {
		return e, false
	}
	e.Status = StatusDead
	e.LastError, e.LastStatusCode = why, 0
	e.UpdatedAt = now
	return e, true
}

// Move points an unfinished delivery at its endpoint's new URL, so that
// it is parked, excluded and sent under the new origin.
func (e Delivery) Move(url, origin string, now time.Time) (Delivery, bool) {
	if e.Status.Finished() || (e.TargetURL == url && e.Origin == origin) {
		return e, false
	}
	e.TargetURL, e.Origin = url, origin
	e.UpdatedAt = now
	return e, true
}

// Abandon declares dead an event whose worker was lost during its final
// attempt: claiming it again would exceed the attempt budget. It also
// returns the history record of the lost attempt.
func (e Delivery) Abandon(now time.Time) (Delivery, Attempt, error) {
	if e.Status != StatusDelivering || e.LeaseExpiresAt == nil || e.LeaseExpiresAt.After(now) {
		return e, Attempt{}, illegal(e, "abandon")
	}
	lost := Attempt{
		DeliveryID: e.ID, Number: e.AttemptedCount, Worker: e.LockedBy, StartedAt: now,
		Error: ErrorLostFinalAttempt, Verdict: VerdictLost, Reason: ReasonLostFinalAttempt,
	}
	if e.LastAttemptedAt != nil {
		lost.StartedAt = *e.LastAttemptedAt
	}
	e.Status = StatusDead
	e.LockedBy, e.LeaseExpiresAt = "", nil
	e.LastError = ErrorLostFinalAttempt
	e.UpdatedAt = now
	return e, lost, nil
}

const (
	// ErrorLostFinalAttempt is LastError of an event abandoned by Abandon,
	// and Error of its lost attempt.
	ErrorLostFinalAttempt = "worker lost during the final attempt (lease expired)"
	// ReasonLostFinalAttempt is Reason of the lost attempt's record.
	ReasonLostFinalAttempt = "its worker vanished during the last allowed attempt; the attempt is counted and the event is dead"
)

func illegal(e Delivery, op string) error {
	return &ConflictError{Code: "illegal_transition",
		Message: fmt.Sprintf("cannot %s event %s in status %s", op, e.ID, e.Status)}
}

// Attempt is one delivery attempt, as kept in the append-only history.
type Attempt struct {
	DeliveryID DeliveryID
	Number     int // 1 for the first attempt (after a replay, numbering restarts)
	Worker     string
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int    // 0 when no response was received
	Error      string // network error, timeout or non-2xx summary
	Response   string // first bytes of the response body (≤ 1 KiB)
	Verdict    Verdict
	// Reason says why the verdict and the delay were chosen, e.g.
	// "backoff 4s (attempt 2 of 10)" or "Retry-After 30s".
	Reason        string
	NextAttemptAt *time.Time // set when Verdict is VerdictRetry
}

// FirstPerOrigin keeps, in order, the first max items of each origin,
// and of an origin in caps no more than its cap: a claim takes at most
// that many events per target (max not positive: no cap but caps).
func FirstPerOrigin[T any](items []T, max int, caps map[string]int, origin func(T) string) []T {
	if max <= 0 && len(caps) == 0 {
		return items
	}
	seen := make(map[string]int)
	out := items[:0:0]
	for _, it := range items {
		o := origin(it)
		if c, ok := caps[o]; (max > 0 && seen[o] >= max) || (ok && seen[o] >= c) {
			continue
		}
		seen[o]++
		out = append(out, it)
	}
	return out
}

// Why an endpoint delivery ended without an attempt: its LastError.
const (
	ErrorEndpointDeleted  = "endpoint deleted"
	ErrorEndpointDisabled = "endpoint disabled"
)
