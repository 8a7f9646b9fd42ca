package ports

import (
	"context"
	"time"
)

// Purger deletes finished history (RETENTION_HOURS, DEAD_RETENTION_HOURS).
// Every store implements it beside EventStore.
//
// The rule. An event may be deleted when
//
//   - it has deliveries, and every one of them is finished (succeeded or
//     dead) and finished long enough ago for its status: its UpdatedAt is
//     strictly before Now minus that status's retention. A status whose
//     retention is 0 keeps every event with a delivery in it; or
//   - it has no delivery at all (routed to nobody), and its CreatedAt is
//     strictly before Now minus the succeeded retention (0 keeps it); only
//     calls with PurgeParams.Unrouted look for those.
//
// An event with a pending or delivering delivery is never deleted, however
// old. Deleting an event deletes its deliveries and their attempts, and
// frees its idempotency key (a later Insert with the key creates a new
// event).
//
// Purge never waits for a claim: it deletes only finished deliveries,
// which claims never lock, and skips what someone else holds (a replay
// under way) rather than wait for it.
type Purger interface {
	// Purge deletes up to Limit deletable events, with their deliveries
	// and attempts, in one short transaction. A result with fewer than
	// Limit events means none was left to delete (but for those skipped
	// because someone held them); callers loop until then.
	Purge(ctx context.Context, p PurgeParams) (PurgeResult, error)
}

// PurgeParams are the arguments of Purger.Purge. A retention of 0 (or
// less) keeps everything it governs. Now follows EventStore's rule: nil is
// the store's own clock.
type PurgeParams struct {
	// Succeeded is how long a succeeded delivery is kept after it finished
	// (RETENTION_HOURS); it also ages events that have no delivery, from
	// their creation.
	Succeeded time.Duration
	// Dead is how long a dead delivery is kept after it died
	// (DEAD_RETENTION_HOURS).
	Dead time.Duration
	// Unrouted also deletes events routed to nobody (the rule's second
	// case). Finding them reads every event older than the succeeded
	// cutoff that is still kept (those a dead delivery keeps, mostly):
	// ask for it seldom.
	Unrouted bool
	// Limit is the most events deleted by one call; below 1, none is.
	Limit int
	Now   *time.Time
}

// PurgeResult counts what one Purge deleted. Attempts go with their
// deliveries and are not counted.
type PurgeResult struct {
	Events     int
	Deliveries int
}
