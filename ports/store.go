package ports

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
)

// EventStore keeps events and is the durable queue of their deliveries:
// one row per event, one per delivery (an event to a target_url has one,
// an event to endpoints one per endpoint it is routed to), and an
// append-only attempt history per delivery.
//
// Time. Every method that compares or sets timestamps takes Now. nil means
// "the store's own clock" (PostgreSQL's now() in production, so that every
// replica agrees); tests pass a fixed time.
//
// Errors. Stores return core.ErrNotFound, core.ErrLeaseLost, *core.ConflictError, and
// core.ErrUnavailable when the backing database cannot answer.
type EventStore interface {
	// Insert stores a new event and its deliveries durably and atomically
	// (all or none) before returning. A target_url event gets one
	// delivery, whose id is the event's; an event to endpoints gets one
	// per endpoint it routes to (core.Event.Routes), read in the same
	// transaction. When the event's IdempotencyKey is already taken,
	// nothing is stored and the first event is returned, with its
	// deliveries, and Created false.
	Insert(ctx context.Context, p InsertParams) (Inserted, error)
	// Event returns an event and its deliveries, oldest first.
	Event(ctx context.Context, id core.EventID) (EventRecord, error)
	// Get returns one delivery, with its event's body.
	Get(ctx context.Context, id core.DeliveryID) (core.Delivery, error)
	// Attempts returns a delivery's attempt history, oldest first.
	Attempts(ctx context.Context, id core.DeliveryID) ([]core.Attempt, error)
	// List returns a page of events with their deliveries, newest first
	// (created_at, then id, descending), and the number matching, counted
	// up to ListTotalCap.
	List(ctx context.Context, f ListFilter) (ListResult, error)

	// Claim leases up to Limit claimable deliveries (see
	// core.Delivery.Claimable) to Worker, oldest due first, counting one
	// attempt on each, each with its event's body and, for an endpoint
	// delivery, the endpoint as it is now (Delivery.Endpoint; nil when the
	// endpoint is gone or disabled). Rows leased by someone else are
	// skipped, never waited for. A delivering row whose lease expired
	// during its final attempt (AttemptedCount ≥ MaxAttempts) is not
	// claimed but declared dead (core.Delivery.Abandon).
	//
	// Open targets (core.TargetHealth): a target whose probe is due gives
	// one pending delivery, flagged Probe, and its row starts probing for
	// Lease (one claim in the cluster gets it; a target with no pending
	// delivery left has its row deleted). Any other delivery claimed for a
	// target with a health row carries TargetOpenUntil: the worker parks it.
	Claim(ctx context.Context, p ClaimParams) ([]core.Delivery, error)
	// Complete records the decision after an attempt, and the attempt in
	// the history, atomically. It is guarded by the claim: if the delivery
	// is no longer delivering under (Worker, Claim.Seq) it changes nothing
	// and returns core.ErrLeaseLost. With Decision.Refund the attempt is
	// recorded in the history but given back (AttemptedCount - 1).
	Complete(ctx context.Context, p CompleteParams) error
	// Release gives claimed deliveries back without spending their
	// attempt, due at Until (no HTTP request was made: the target is
	// refusing requests, the worker is at its per-target cap, or it is
	// shutting down). Claims no longer owned are skipped.
	//
	// With ParkOrigin set, the target is open: Release also opens its
	// shared health row until at least Until (core.TargetHealth.Open) and
	// parks its pending deliveries due before Until, released ones
	// included (core.Delivery.Park with ParkFor), all in one transaction.
	// Deliveries already parked are not written again.
	Release(ctx context.Context, p ReleaseParams) (ReleaseResult, error)
	// Probed records the outcome of a target's probe (a claimed delivery
	// with Probe set): OK deletes the target's health row and unparks its
	// pending deliveries (core.Delivery.Unpark), due at once; otherwise the
	// row reopens until Until (core.TargetHealth.Reopen) and the target's
	// pending deliveries due before Until are parked as Release parks them.
	Probed(ctx context.Context, p ProbedParams) error
	// Targets lists the open targets' health rows, by origin.
	Targets(ctx context.Context) ([]core.TargetHealth, error)
	// Replay makes a succeeded or dead delivery pending again with a fresh
	// attempt budget; any other status is a *core.ConflictError.
	Replay(ctx context.Context, p ReplayParams) (core.Delivery, error)
	// Recover replays, in one transaction, the finished deliveries that
	// match the filter, oldest event first, each due at its turn in its
	// origin's pace (core.Delivery.Recover): a recovered merchant is not
	// flooded.
	Recover(ctx context.Context, p RecoverParams) (RecoverResult, error)

	// Ping reports whether the store can answer (readiness).
	Ping(ctx context.Context) error
}

// InsertParams carries an Event complete but for CreatedAt, which the
// store sets from Now, as it sets its deliveries' timestamps.
type InsertParams struct {
	Event core.Event
	// DueAt delays the first attempt (tests); zero means now.
	DueAt time.Time
	Now   *time.Time
}

// Inserted is what Insert stored, or found under the idempotency key.
type Inserted struct {
	Event      core.Event
	Deliveries []core.Delivery // oldest first; their Body is not set
	Created    bool
}

// EventRecord is an event and its deliveries, oldest first. The
// deliveries' Body is not set: it is the event's. In a List, BodySize is
// the event's body length, and the body itself is left out (Event.Body
// nil) when it is larger than ListBodyMax.
type EventRecord struct {
	Event      core.Event
	Deliveries []core.Delivery
	BodySize   int
}

// MaxListLimit is the largest page a List returns.
const MaxListLimit = 100

// ListBodyMax is the largest body a List returns: a larger event is listed
// without it (EventRecord.BodySize says how large it is; Event reads it).
// A page of 100 events therefore holds at most 6.4 MB of bodies, however
// large the events are.
const ListBodyMax = 64 << 10

// ListTotalCap bounds the count behind ListResult.Total: matches are
// counted up to it, never further, so that a list costs the same on a
// table of any size.
const ListTotalCap = 10_000

// ListFilter selects a page of events. Page is 1-based; Limit is
// 1–MaxListLimit. The filters combine (all must hold).
type ListFilter struct {
	// Status, when set, keeps events with at least one delivery in it.
	Status core.Status
	// EndpointID, when set, keeps events with a delivery to it.
	EndpointID core.EndpointID
	// Origin, when set, keeps events with a delivery to it.
	Origin    string
	EventType string // "" for all
	// Window keeps events created in it (zero ends are open).
	Window TimeWindow
	// After, when set, lists the events after it in the list's order
	// (keyset paging): Page is then 1.
	After *ListCursor
	Page  int
	Limit int
}

// TimeWindow is [From, To): From ≤ created_at < To. A zero end is open.
type TimeWindow struct {
	From, To time.Time
}

// Contains reports whether t is in the window.
func (w TimeWindow) Contains(t time.Time) bool {
	return (w.From.IsZero() || !t.Before(w.From)) && (w.To.IsZero() || t.Before(w.To))
}

// ListCursor is an event's place in the list's order (created_at, then
// id, both descending).
type ListCursor struct {
	CreatedAt time.Time
	ID        core.EventID
}

// listCursorVersion leads a cursor's text, so that its form can change.
const listCursorVersion = "v1"

// String is the cursor's text form, opaque to clients: base64url of
// "v1:<created_at in Unix nanoseconds>:<id>" (the API's next_cursor).
func (c ListCursor) String() string {
	raw := listCursorVersion + ":" + strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + ":" + string(c.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseListCursor reads a cursor's text form; anything else is a
// *core.ValidationError (invalid_cursor).
func ParseListCursor(s string) (ListCursor, error) {
	bad := &core.ValidationError{Field: "cursor", Code: "invalid_cursor",
		Message: "is not a cursor of this list: send a next_cursor back unchanged, or start from the first page"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return ListCursor{}, bad
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != listCursorVersion {
		return ListCursor{}, bad
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ListCursor{}, bad
	}
	id, err := core.ParseEventID(parts[2])
	if err != nil {
		return ListCursor{}, bad
	}
	return ListCursor{CreatedAt: time.Unix(0, ns).UTC(), ID: id}, nil
}

// ListResult is one page and the number of matching events: exact when
// TotalExact, otherwise at least Total (ListTotalCap). Next, when set,
// is the cursor of the page after this one.
type ListResult struct {
	Events     []EventRecord
	Total      int
	TotalExact bool
	Next       *ListCursor
}

// RecoverMax is the most deliveries one Recover queues; RecoverResult.More
// says that more matched.
const RecoverMax = 100_000

// RecoverFilter selects finished deliveries to send again: Status is
// core.StatusDead or core.StatusSucceeded; the others, when set, narrow
// it (Window is on the event's creation).
type RecoverFilter struct {
	Status     core.Status
	EndpointID core.EndpointID
	Origin     string
	Window     TimeWindow
}

// RecoverParams are the arguments of EventStore.Recover.
type RecoverParams struct {
	Filter RecoverFilter
	// RatePerSecond paces each origin: its n-th recovered delivery, oldest
	// event first, is due n/RatePerSecond seconds from now (core.RecoverPace).
	RatePerSecond float64
	Limit         int // at most this many (1–RecoverMax)
	Now           *time.Time
}

// RecoverResult is what Recover queued, and whether more deliveries
// matched than Limit allowed.
type RecoverResult struct {
	Queued int
	More   bool
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
	// MaxPerOrigin, when positive, caps the deliveries claimed per origin:
	// the oldest due of each origin are taken, so that a worker with one
	// free slot for a target does not lease a batch of it only to hand
	// the rest back.
	MaxPerOrigin int
	// OriginCaps caps the origins listed further: the room the worker has
	// left for a target it already holds deliveries of, which may be less
	// than MaxPerOrigin (what its emptiest target has room for).
	OriginCaps map[string]int
	Now        *time.Time
}

// Claim identifies one lease: the delivery, the attempt number its worker took
// and the delivery's claim sequence number at the claim (core.Delivery.ClaimSeq),
// which guards every write made for the claim.
type Claim struct {
	ID      core.DeliveryID
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
	// ParkFor parks each delivery until its expiry, ActiveSince +
	// ParkFor (MAX_DELIVERY_AGE_MS), when that is later than Until: see
	// core.Delivery.Park. 0 parks until Until.
	ParkFor time.Duration
	Now     *time.Time
}

// ProbedParams are the arguments of EventStore.Probed.
type ProbedParams struct {
	Origin  string
	OK      bool
	Until   time.Time     // when !OK: the next probe
	ParkFor time.Duration // when !OK: as ReleaseParams.ParkFor
	Now     *time.Time
}

// ReleaseResult counts what Release changed.
type ReleaseResult struct {
	Released int // claims given back
	Parked   int // other pending deliveries of ParkOrigin pushed to Until
}

// ReplayParams are the arguments of EventStore.Replay.
type ReplayParams struct {
	ID  core.DeliveryID
	Now *time.Time
}
