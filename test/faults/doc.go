// Package faults is webhookd's fault suite: the real dispatcher and mock
// receiver binaries against a real PostgreSQL, under kill -9, a database
// restart, several dispatchers on one database, SIGTERM with deliveries in
// flight, a worker frozen past its lease, and a chaotic receiver. Each
// scenario checks exact counts from the database and from the receiver's
// /stats and logs one SUMMARY line.
//
// The tests run only with WEBHOOKD_FAULTS=1 (`make test-faults`), one at a
// time: the database-restart scenario stops the whole throwaway cluster.
package faults
