package core

import "time"

// TargetHealth is a target's shared breaker state, one row per open
// target in the store, seen by every dispatcher. A worker whose circuit
// breaker (per process, gobreaker) trips opens the row and parks the
// target's pending deliveries (Delivery.Park) until the row is probed:
//
//	(no row) --a breaker trips--> open until OpenUntil
//	open --OpenUntil passes, one claim takes one delivery--> probing until ProbeUntil
//	probing --the probe succeeds--> (no row; every parked delivery unparked)
//	probing --the probe fails--> open until the next interval
//	probing --its worker is lost: ProbeUntil passes--> probed again
//
// so an outage costs one request per open interval for the whole cluster,
// and its deliveries are written when parked and when released, never in
// between.
type TargetHealth struct {
	Origin     string
	OpenUntil  time.Time
	ProbeUntil *time.Time // set while a probe is in flight
	OpenedAt   time.Time
	UpdatedAt  time.Time
}

// Open opens (or keeps open) the target until at least until. A probe in
// flight is left to finish.
func (h TargetHealth) Open(until, now time.Time) TargetHealth {
	if h.OpenedAt.IsZero() {
		h.OpenedAt = now
	}
	if until.After(h.OpenUntil) {
		h.OpenUntil = until
	}
	h.UpdatedAt = now
	return h
}

// ProbeDue reports whether a claim at now may take the target's probe.
func (h TargetHealth) ProbeDue(now time.Time) bool {
	return !h.OpenUntil.After(now) && (h.ProbeUntil == nil || !h.ProbeUntil.After(now))
}

// StartProbe records that a claim took the probe, leased until now+lease.
func (h TargetHealth) StartProbe(lease time.Duration, now time.Time) TargetHealth {
	until := now.Add(lease)
	h.ProbeUntil = &until
	h.UpdatedAt = now
	return h
}

// Reopen records a failed probe: open again until until, no probe in
// flight.
func (h TargetHealth) Reopen(until, now time.Time) TargetHealth {
	if h.OpenedAt.IsZero() {
		h.OpenedAt = now
	}
	h.OpenUntil, h.ProbeUntil, h.UpdatedAt = until, nil, now
	return h
}
