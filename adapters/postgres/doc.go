// Package postgres is the PostgreSQL implementation of ports.EventStore and
// ports.Wakeup, built on bun (pgdialect + pgdriver).
//
// PostgreSQL is the queue: workers claim due rows with FOR UPDATE SKIP
// LOCKED in one short statement, deliver outside any transaction, and record
// the outcome in one statement guarded by the claim (worker and attempt
// number). Partial indexes keep claiming independent of the number of
// finished rows. Inserts and replays NOTIFY a per-schema channel inside the
// writing transaction, and Listener turns that into wake-ups.
//
// Every object lives in Config.Schema (the connection's search_path), which
// lets tests run side by side in schemas of their own.
package postgres
