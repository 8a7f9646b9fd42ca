package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.EndpointStore = (*Store)(nil)

func (s *Store) CreateEndpoint(_ context.Context, e core.Endpoint, now *time.Time) (core.Endpoint, error) {
	if err := s.lock(); err != nil {
		return core.Endpoint{}, err
	}
	defer s.mu.Unlock()
	if _, dup := s.endpoints[e.ID]; dup {
		return core.Endpoint{}, &core.ConflictError{Code: "duplicate_id", Message: "endpoint " + string(e.ID) + " exists"}
	}
	c := cloneEndpoint(&e)
	c.CreatedAt = s.now(now)
	c.UpdatedAt = c.CreatedAt
	s.endpoints[c.ID] = &c
	return cloneEndpoint(&c), nil
}

func (s *Store) GetEndpoint(_ context.Context, id core.EndpointID) (core.Endpoint, error) {
	if err := s.lock(); err != nil {
		return core.Endpoint{}, err
	}
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return core.Endpoint{}, fmt.Errorf("memory: endpoint %s: %w", id, core.ErrNotFound)
	}
	return cloneEndpoint(e), nil
}

func (s *Store) ListEndpoints(_ context.Context, f ports.EndpointFilter) (ports.EndpointList, error) {
	if err := s.lock(); err != nil {
		return ports.EndpointList{}, err
	}
	defer s.mu.Unlock()
	all := make([]*core.Endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *core.Endpoint) int { // newest first
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(string(b.ID), string(a.ID))
	})
	res := ports.EndpointList{Total: len(all)}
	from := (f.Page - 1) * f.Limit
	for i := from; i >= 0 && i < len(all) && i < from+f.Limit; i++ {
		res.Endpoints = append(res.Endpoints, cloneEndpoint(all[i]))
	}
	return res, nil
}

// UpdateEndpoint runs change under the store's lock, on a copy, so that
// concurrent updates apply in turn and a refused change leaves no trace.
func (s *Store) UpdateEndpoint(_ context.Context, id core.EndpointID, now *time.Time, change func(*core.Endpoint) error) (core.Endpoint, error) {
	if err := s.lock(); err != nil {
		return core.Endpoint{}, err
	}
	defer s.mu.Unlock()
	old, ok := s.endpoints[id]
	if !ok {
		return core.Endpoint{}, fmt.Errorf("memory: endpoint %s: %w", id, core.ErrNotFound)
	}
	c := cloneEndpoint(old)
	if err := change(&c); err != nil {
		return core.Endpoint{}, err
	}
	// change's slices may alias the caller's memory: store a copy.
	c = cloneEndpoint(&c)
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, s.now(now)
	s.followEndpoint(c, s.now(now))
	s.endpoints[id] = &c
	return cloneEndpoint(&c), nil
}

func (s *Store) DeleteEndpoint(_ context.Context, id core.EndpointID) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.endpoints[id]; !ok {
		return fmt.Errorf("memory: endpoint %s: %w", id, core.ErrNotFound)
	}
	delete(s.endpoints, id)
	for _, d := range s.deliveries {
		if d.EndpointID == id {
			*d, _ = d.Cancel(core.ErrorEndpointDeleted, s.now(nil))
		}
	}
	return nil
}

// followEndpoint applies an endpoint's change to its deliveries: disabled,
// its pending deliveries end; moved, its unfinished ones move with it.
func (s *Store) followEndpoint(ep core.Endpoint, now time.Time) {
	for _, d := range s.deliveries {
		if d.EndpointID != ep.ID {
			continue
		}
		if ep.Disabled {
			*d, _ = d.Cancel(core.ErrorEndpointDisabled, now)
		}
		*d, _ = d.Move(ep.URL, ep.Origin, now)
	}
}

// cloneEndpoint deep-copies an endpoint so that callers never share memory
// with the store.
func cloneEndpoint(e *core.Endpoint) core.Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.Metadata = bytes.Clone(e.Metadata)
	c.Secret = bytes.Clone(e.Secret)
	c.PreviousSecret = bytes.Clone(e.PreviousSecret)
	if e.FailingSince != nil {
		t := *e.FailingSince
		c.FailingSince = &t
	}
	if e.PreviousSecretUntil != nil {
		t := *e.PreviousSecretUntil
		c.PreviousSecretUntil = &t
	}
	return c
}
