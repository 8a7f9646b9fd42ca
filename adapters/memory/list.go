package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

func (s *Store) List(_ context.Context, f ports.ListFilter) (ports.ListResult, error) {
	if err := s.lock(); err != nil {
		return ports.ListResult{}, err
	}
	defer s.mu.Unlock()
	var all []*core.Event
	for _, e := range s.events {
		if s.matches(e, f) {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, newestFirst)
	res := ports.ListResult{Total: min(len(all), ports.ListTotalCap), TotalExact: len(all) <= ports.ListTotalCap}
	if f.After != nil {
		// Keyset paging: what follows the cursor, in the list's order.
		all = slices.DeleteFunc(all, func(e *core.Event) bool { return !follows(e, *f.After) })
	}
	from := (f.Page - 1) * f.Limit
	for i := from; i >= 0 && i < len(all) && i < from+f.Limit; i++ {
		rec := s.record(all[i].ID)
		rec.BodySize = len(rec.Event.Body)
		if rec.BodySize > ports.ListBodyMax {
			rec.Event.Body = nil
		}
		res.Events = append(res.Events, rec)
	}
	if n := len(res.Events); n > 0 && from+n < len(all) {
		last := res.Events[n-1].Event
		res.Next = &ports.ListCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return res, nil
}

// matches reports whether e passes f: its type and creation, and one
// delivery that is in the status, to the endpoint and to the origin asked
// for.
func (s *Store) matches(e *core.Event, f ports.ListFilter) bool {
	if f.EventType != "" && e.EventType != f.EventType || !f.Window.Contains(e.CreatedAt) {
		return false
	}
	if f.Status == "" && f.EndpointID == "" && f.Origin == "" {
		return true
	}
	for _, id := range s.byEvent[e.ID] {
		if deliveryMatches(s.deliveries[id], f.Status, f.EndpointID, f.Origin) {
			return true
		}
	}
	return false
}

func deliveryMatches(d *core.Delivery, status core.Status, endpoint core.EndpointID, origin string) bool {
	return (status == "" || d.Status == status) && (endpoint == "" || d.EndpointID == endpoint) &&
		(origin == "" || d.Origin == origin)
}

func newestFirst(a, b *core.Event) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(string(b.ID), string(a.ID))
}

// follows reports whether e comes after the cursor, newest first.
func follows(e *core.Event, c ports.ListCursor) bool {
	return e.CreatedAt.Before(c.CreatedAt) || e.CreatedAt.Equal(c.CreatedAt) && string(e.ID) < string(c.ID)
}

func (s *Store) Recover(_ context.Context, p ports.RecoverParams) (ports.RecoverResult, error) {
	if err := s.lock(); err != nil {
		return ports.RecoverResult{}, err
	}
	defer s.mu.Unlock()
	f := p.Filter
	var matched []*core.Delivery
	for _, d := range s.deliveries {
		if deliveryMatches(d, f.Status, f.EndpointID, f.Origin) && f.Window.Contains(d.CreatedAt) {
			matched = append(matched, d)
		}
	}
	slices.SortFunc(matched, func(a, b *core.Delivery) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	res := ports.RecoverResult{More: len(matched) > p.Limit}
	matched = matched[:min(len(matched), p.Limit)]
	now := s.now(p.Now)
	turn := make(map[string]int) // per origin
	recovered := make([]core.Delivery, len(matched))
	for i, d := range matched {
		r, err := d.Recover(now, core.RecoverPace(now, turn[d.Origin], p.RatePerSecond))
		if err != nil {
			return ports.RecoverResult{}, fmt.Errorf("memory: recover %s: %w", d.ID, err)
		}
		turn[d.Origin]++
		recovered[i] = r
	}
	for i, d := range matched { // all or nothing
		*d = recovered[i]
	}
	res.Queued = len(matched)
	if res.Queued > 0 {
		s.wake.Notify()
	}
	return res, nil
}
