// Package postgres is the PostgreSQL implementation of ports.EventStore,
// ports.EndpointStore and ports.Wakeup, built on bun (pgdialect +
// pgdriver).
//
// PostgreSQL is the queue. An event (what a producer posted, its body
// included) is stored once, in events; the queue is deliveries, one row per
// target, routed in the inserting statement. Workers claim due deliveries
// with FOR UPDATE SKIP LOCKED in one short statement, which also reads
// each one's body and its endpoint's current URL and keys, deliver outside
// any transaction, and record the outcome in one statement guarded by the
// claim (worker and claim sequence). Partial indexes keep claiming
// independent of the number of finished rows. Inserts, replays and
// releases due at once NOTIFY a per-schema channel inside the writing
// transaction, and Listener turns that into wake-ups.
//
// Open targets (core.TargetHealth) are rows of targets, one per target
// whose breaker tripped somewhere in the cluster, shared by every
// dispatcher: Release opens one and parks its deliveries, a claim takes
// its probe when its interval ends (FOR UPDATE SKIP LOCKED: one claim in
// the cluster gets it) and flags the other deliveries it hands out for an
// open target, and Probed closes or reopens it. Parked deliveries are
// written when parked and when released, not once per interval.
//
// Every object lives in Config.Schema (the connection's search_path), which
// lets tests run side by side in schemas of their own.
package postgres
