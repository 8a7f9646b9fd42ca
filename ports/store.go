package ports

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
)

// EventStore is the durable queue: one row per event plus an append-only
// attempt history.
//
// Time. Every method that compares or sets timestamps takes Now. nil means
// "the store's own clock" (PostgreSQL's now() in production, so that every
// replica agrees); tests pass a fixed time.
//
// Errors. Stores return core.ErrNotFound, core.ErrLeaseLost, *core.ConflictError, and
// core.ErrUnavailable when the backing database cannot answer.
type EventStore interface {
	// Insert stores a new pending event durably before returning. When
	// e.IdempotencyKey is already taken, nothing is stored and the first
	// event is returned with created=false.
	Insert(ctx context.Context, p InsertParams) (ev core.Event, created bool, err error)
	// Get returns one event.
	Get(ctx context.Context, id core.EventID) (core.Event, error)
	// Attempts returns an event's attempt history, oldest first.
	Attempts(ctx context.Context, id core.EventID) ([]core.Attempt, error)
	// List returns a page of events, newest first, and the total matching.
	List(ctx context.Context, f ListFilter) (ListResult, error)

	// Claim leases up to Limit claimable events (see core.Event.Claimable)
	// to Worker, oldest due first, counting one attempt on each. Rows
	// leased by someone else are skipped, never waited for. A delivering
	// event whose lease expired during its final attempt (AttemptedCount ≥
	// MaxAttempts) is not claimed but declared dead (core.Event.Abandon).
	Claim(ctx context.Context, p ClaimParams) ([]core.Event, error)
	// Complete records the decision after an attempt, and the attempt in
	// the history, atomically. It is guarded by the claim: if the event is
	// no longer delivering under (Worker, Claim.Seq) it changes nothing and
	// returns core.ErrLeaseLost. With Decision.Refund the attempt is
	// recorded in the history but given back (AttemptedCount - 1).
	Complete(ctx context.Context, p CompleteParams) error
	// Release gives claimed events back without spending their attempt, due
	// at Until (no HTTP request was made: the target is refusing requests,
	// the worker is at its per-target cap, or it is shutting down). With
	// ParkOrigin set it also parks every pending event of that origin due
	// before Until, in one statement, so that no worker anywhere claims
	// them while the target is known to be down (core.Event.Release and
	// core.Event.Park). Claims no longer owned are skipped.
	Release(ctx context.Context, p ReleaseParams) (ReleaseResult, error)
	// Replay makes a succeeded or dead event pending again with a fresh
	// attempt budget; any other status is a *core.ConflictError.
	Replay(ctx context.Context, p ReplayParams) (core.Event, error)

	// Ping reports whether the store can answer (readiness).
	Ping(ctx context.Context) error
}

// InsertParams carries an Event complete but for its timestamps, which the
// store sets from Now (CreatedAt = UpdatedAt = NextAttemptAt = now).
type InsertParams struct {
	Event core.Event
	Now   *time.Time
}

// MaxListLimit is the largest page a List returns.
const MaxListLimit = 100

// ListFilter selects a page. Page is 1-based; Limit is 1–MaxListLimit.
type ListFilter struct {
	Status core.Status // "" for all
	Page   int
	Limit  int
}

// ListResult is one page and the total number of matching events.
type ListResult struct {
	Events []core.Event
	Total  int
}

// ClaimParams are the arguments of EventStore.Claim.
type ClaimParams struct {
	Worker      string
	Limit       int
	Lease       time.Duration
	MaxAttempts int
	// ExcludeOrigins are skipped (the worker already has as many
	// deliveries in flight to them as it allows).
	ExcludeOrigins []string
	// MaxPerOrigin, when positive, caps the events claimed per origin:
	// the oldest due of each origin are taken, so that a worker with one
	// free slot for a target does not lease a batch of it only to hand
	// the rest back.
	MaxPerOrigin int
	Now          *time.Time
}

// Claim identifies one lease: the event, the attempt number its worker took
// and the event's claim sequence number at the claim (core.Event.ClaimSeq),
// which guards every write made for the claim.
type Claim struct {
	ID      core.EventID
	Attempt int
	Seq     int64
}

// CompleteParams are the arguments of EventStore.Complete. The store sets
// Record.NextAttemptAt (now + Decision.RetryIn) when the decision is a
// retry.
type CompleteParams struct {
	Worker   string
	Claim    Claim
	Decision core.Decision
	Record   core.Attempt
	Now      *time.Time
}

// ReleaseParams are the arguments of EventStore.Release. A zero Until
// means now.
type ReleaseParams struct {
	Worker     string
	Claims     []Claim
	ParkOrigin string // "" parks nothing
	Until      time.Time
	Now        *time.Time
}

// ReleaseResult counts what Release changed.
type ReleaseResult struct {
	Released int // claims given back
	Parked   int // other pending events of ParkOrigin pushed to Until
}

// ReplayParams are the arguments of EventStore.Replay.
type ReplayParams struct {
	ID  core.EventID
	Now *time.Time
}
