// Package core is webhookd's domain: the event and its lifecycle, the retry
// policy, outcome classification, validation and the domain errors.
//
// It is pure Go and imports only the standard library. Adapters persist and
// transport what core decides; they never decide it themselves.
package core
