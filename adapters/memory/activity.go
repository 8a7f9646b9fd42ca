package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.ActivityStore = (*Store)(nil)

// activityKey is a row's key: the minute's start in unix seconds (a
// time.Time is no map key: its location would count) and the endpoint.
type activityKey struct {
	minute   int64
	endpoint core.EndpointID
}

// AddActivity adds counts under the store's lock: one transaction.
func (s *Store) AddActivity(_ context.Context, counts []ports.ActivityCount) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, c := range ports.MergeActivity(counts) {
		if s.activity == nil {
			s.activity = make(map[activityKey]ports.ActivityCount)
		}
		k := activityKey{c.Minute.Unix(), c.EndpointID}
		row, ok := s.activity[k]
		if !ok {
			row = ports.ActivityCount{Minute: c.Minute, EndpointID: c.EndpointID}
		}
		row.Accepted += c.Accepted
		row.Delivered += c.Delivered
		row.Retried += c.Retried
		row.Dead += c.Dead
		s.activity[k] = row
	}
	return nil
}

// Activity reads every row: there are at most a day's.
func (s *Store) Activity(_ context.Context, q ports.ActivityQuery) ([]ports.ActivityCount, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	eps := q.EndpointKeys()
	var out []ports.ActivityCount
	for _, row := range s.activity {
		if !row.Minute.Before(q.From) && row.Minute.Before(q.To) && slices.Contains(eps, row.EndpointID) {
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b ports.ActivityCount) int {
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		return strings.Compare(string(a.EndpointID), string(b.EndpointID))
	})
	return out, nil
}

func (s *Store) PurgeActivity(_ context.Context, before time.Time) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for k, row := range s.activity {
		if row.Minute.Before(before) {
			delete(s.activity, k)
			n++
		}
	}
	return n, nil
}
