// Package memory holds in-memory implementations of every driven port.
// They are real implementations, not mocks: Store passes the same contract
// suite (ports/porttest) as the PostgreSQL store. They back the tests and
// STORE=memory, which is not durable.
package memory
