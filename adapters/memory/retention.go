package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Purger = (*Store)(nil)

// Purge deletes up to p.Limit events that ports.Purger's rule allows,
// oldest first, with their deliveries, attempts and idempotency keys.
func (s *Store) Purge(_ context.Context, p ports.PurgeParams) (ports.PurgeResult, error) {
	if err := s.lock(); err != nil {
		return ports.PurgeResult{}, err
	}
	defer s.mu.Unlock()
	if p.Limit < 1 {
		return ports.PurgeResult{}, nil
	}
	now := s.now(p.Now)
	var doomed []*core.Event
	for id, e := range s.events {
		if s.purgeable(id, e.CreatedAt, now, p) {
			doomed = append(doomed, e)
		}
	}
	slices.SortFunc(doomed, func(a, b *core.Event) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	var res ports.PurgeResult
	for _, e := range doomed[:min(len(doomed), p.Limit)] {
		for _, did := range s.byEvent[e.ID] {
			delete(s.deliveries, did)
			delete(s.attempts, did)
			res.Deliveries++
		}
		delete(s.byEvent, e.ID)
		if k := e.IdempotencyKey; k != "" && s.byKey[k] == e.ID {
			delete(s.byKey, k)
		}
		delete(s.events, e.ID)
		res.Events++
	}
	return res, nil
}

// purgeable applies ports.Purger's rule to one event: every delivery
// finished before its status's cutoff, or, with none (and p.Unrouted),
// created before the succeeded cutoff. A retention of 0 has no cutoff: it
// keeps.
func (s *Store) purgeable(id core.EventID, created, now time.Time, p ports.PurgeParams) bool {
	old := func(at time.Time, retention time.Duration) bool {
		return retention > 0 && at.Before(now.Add(-retention))
	}
	ds := s.byEvent[id]
	if len(ds) == 0 {
		return p.Unrouted && old(created, p.Succeeded)
	}
	for _, did := range ds {
		d := s.deliveries[did]
		switch d.Status {
		case core.StatusSucceeded:
			if !old(d.UpdatedAt, p.Succeeded) {
				return false
			}
		case core.StatusDead:
			if !old(d.UpdatedAt, p.Dead) {
				return false
			}
		default:
			return false // pending or delivering: never
		}
	}
	return true
}
