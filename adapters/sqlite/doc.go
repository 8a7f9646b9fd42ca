// Package sqlite is the embedded ports.EventStore and ports.Wakeup: one
// SQLite file, so that webhookd runs on a machine with nothing but its own
// binary, with the same promise as on PostgreSQL — a 202 means the event is
// on disk (WAL, synchronous=FULL) and survives a crash or a power cut.
//
// One process owns the file (an exclusive lock beside it): the queue's
// multi-process guarantees are PostgreSQL's, so a second dispatcher on the
// same file refuses to start. Within the process every write goes through
// one connection, one IMMEDIATE transaction at a time, while reads use a
// pool of their own (WAL lets them run beside the writer).
//
// Because each write transaction is the only one, a transition reads the
// rows, applies core.Delivery's own method (the reference state machine, as
// the in-memory store does) and writes the result back: no SKIP LOCKED is
// needed for a claim to be exclusive, and no second copy of the state
// machine exists in SQL. The same holds for routing: an insert reads the
// endpoints and applies core.Event.Routes, and an endpoint's change is
// applied to its deliveries (core.Delivery.Cancel and Move), each in the
// transaction that writes it. An open target's shared breaker state
// (targets) is read and written the same way, with core.TargetHealth's
// methods. Wake-ups are in-process.
//
// An event (events) is stored once; its deliveries (deliveries, the queue)
// carry its id and are read with its body.
//
// The driver is modernc.org/sqlite, SQLite translated to Go: no cgo, so
// CGO_ENABLED=0 builds and the distroless image keep working.
package sqlite
