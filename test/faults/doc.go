// Package faults is webhookd's fault suite: the real dispatcher and mock
// receiver binaries against a real store, under kill -9, a database
// restart, several dispatchers on one database, SIGTERM with deliveries in
// flight, a worker frozen past its lease, and a chaotic receiver. The
// kill -9 and SIGTERM scenarios run on both durable stores (PostgreSQL and
// a SQLite file, which must then pass its integrity check); the others need
// what only PostgreSQL offers (a server to stop, several processes on one
// database). Each scenario checks exact counts from the database and from
// the receiver's /stats and logs one SUMMARY line naming its store.
//
// The tests run only with WEBHOOKD_FAULTS=1 (`make test-faults`), one at a
// time: the database-restart scenario stops the whole throwaway cluster.
package faults
