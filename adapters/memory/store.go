package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

var (
	_ ports.EventStore = (*Store)(nil)
	_ ports.Wakeup     = (*Store)(nil)
)

// Store is an EventStore in a map. Every transition is core.Event's own
// method (core is the reference state machine), so it has by construction
// the semantics the SQL stores mirror. It is its own Wakeup: inserts,
// replays and releases due at once signal C().
type Store struct {
	clock ports.Clock

	mu       sync.Mutex
	events   map[core.EventID]*core.Event
	byKey    map[string]core.EventID
	attempts map[core.EventID][]core.Attempt
	down     error

	// endpoints is the EndpointStore's table (endpoints.go), under mu too.
	endpoints map[core.EndpointID]*core.Endpoint

	wake *wait.Signal
}

// NewStore returns an empty store that reads "now" from clock.
func NewStore(clock ports.Clock) *Store {
	return &Store{
		clock:     clock,
		events:    make(map[core.EventID]*core.Event),
		byKey:     make(map[string]core.EventID),
		attempts:  make(map[core.EventID][]core.Attempt),
		endpoints: make(map[core.EndpointID]*core.Endpoint),
		wake:      wait.NewSignal(),
	}
}

// SetDown makes every call fail with core.ErrUnavailable (down=true), as a
// database outage would, or restores service.
func (s *Store) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = nil
	if down {
		s.down = fmt.Errorf("memory: store is down: %w", core.ErrUnavailable)
	}
}

// C implements ports.Wakeup.
func (s *Store) C() <-chan struct{} { return s.wake.C() }

func (s *Store) now(p *time.Time) time.Time {
	if p != nil {
		return p.UTC()
	}
	return s.clock.Now().UTC()
}

func (s *Store) lock() error {
	s.mu.Lock()
	if err := s.down; err != nil {
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Store) Insert(_ context.Context, p ports.InsertParams) (core.Event, bool, error) {
	if err := s.lock(); err != nil {
		return core.Event{}, false, err
	}
	defer s.mu.Unlock()
	if k := p.Event.IdempotencyKey; k != "" {
		if id, ok := s.byKey[k]; ok {
			return clone(s.events[id]), false, nil
		}
	}
	if _, dup := s.events[p.Event.ID]; dup {
		return core.Event{}, false, &core.ConflictError{Code: "duplicate_id", Message: "event " + string(p.Event.ID) + " exists"}
	}
	now := s.now(p.Now)
	e := clone(&p.Event)
	e.Status = core.StatusPending
	e.CreatedAt, e.UpdatedAt, e.ActiveSince = now, now, now
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = now
	}
	s.events[e.ID] = &e
	if e.IdempotencyKey != "" {
		s.byKey[e.IdempotencyKey] = e.ID
	}
	s.wake.Notify()
	return clone(&e), true, nil
}

func (s *Store) Get(_ context.Context, id core.EventID) (core.Event, error) {
	if err := s.lock(); err != nil {
		return core.Event{}, err
	}
	defer s.mu.Unlock()
	e, ok := s.events[id]
	if !ok {
		return core.Event{}, fmt.Errorf("memory: event %s: %w", id, core.ErrNotFound)
	}
	return clone(e), nil
}

func (s *Store) Attempts(_ context.Context, id core.EventID) ([]core.Attempt, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.events[id]; !ok {
		return nil, fmt.Errorf("memory: event %s: %w", id, core.ErrNotFound)
	}
	return slices.Clone(s.attempts[id]), nil
}

func (s *Store) List(_ context.Context, f ports.ListFilter) (ports.ListResult, error) {
	if err := s.lock(); err != nil {
		return ports.ListResult{}, err
	}
	defer s.mu.Unlock()
	var all []*core.Event
	for _, e := range s.events {
		if f.Status == "" || e.Status == f.Status {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, newestFirst)
	res := ports.ListResult{Total: len(all)}
	from := (f.Page - 1) * f.Limit
	for i := from; i >= 0 && i < len(all) && i < from+f.Limit; i++ {
		res.Events = append(res.Events, clone(all[i]))
	}
	return res, nil
}

func newestFirst(a, b *core.Event) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(string(b.ID), string(a.ID))
}

func (s *Store) Claim(_ context.Context, p ports.ClaimParams) ([]core.Event, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.now(p.Now)
	var due []*core.Event
	for _, e := range s.events {
		if !e.Claimable(now) || slices.Contains(p.ExcludeOrigins, e.Origin) {
			continue
		}
		if e.Status == core.StatusDelivering && e.AttemptedCount >= p.MaxAttempts {
			s.abandon(e, now)
			continue
		}
		due = append(due, e)
	}
	// Oldest due first: a pending event is due at NextAttemptAt, an
	// expired lease at LeaseExpiresAt.
	slices.SortFunc(due, func(a, b *core.Event) int {
		if c := dueAt(a).Compare(dueAt(b)); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	due = core.FirstPerOrigin(due, p.MaxPerOrigin, func(e *core.Event) string { return e.Origin })
	out := make([]core.Event, 0, min(len(due), p.Limit))
	for _, e := range due[:min(len(due), p.Limit)] {
		claimed, err := e.Claim(p.Worker, now, p.Lease)
		if err != nil {
			return nil, fmt.Errorf("memory: claim: %w", err)
		}
		*e = claimed
		out = append(out, clone(e))
	}
	return out, nil
}

func dueAt(e *core.Event) time.Time {
	if e.Status == core.StatusDelivering && e.LeaseExpiresAt != nil {
		return *e.LeaseExpiresAt
	}
	return e.NextAttemptAt
}

func (s *Store) abandon(e *core.Event, now time.Time) {
	dead, lost, err := e.Abandon(now)
	if err != nil {
		return
	}
	s.attempts[e.ID] = append(s.attempts[e.ID], lost)
	*e = dead
}

func (s *Store) Complete(_ context.Context, p ports.CompleteParams) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	e, ok := s.events[p.Claim.ID]
	if !ok {
		return fmt.Errorf("memory: complete %s: %w", p.Claim.ID, core.ErrNotFound)
	}
	now := s.now(p.Now)
	done, err := e.Complete(p.Worker, p.Claim.Seq, p.Decision, now)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	rec := p.Record
	rec.EventID, rec.Number, rec.Worker = e.ID, p.Claim.Attempt, p.Worker
	rec.Verdict = p.Decision.Verdict
	rec.Reason = core.StorableText(p.Decision.Reason)
	rec.Error, rec.Response = core.StorableText(rec.Error), core.StorableText(rec.Response)
	rec.NextAttemptAt = nil
	if p.Decision.Status == core.StatusPending {
		next := done.NextAttemptAt
		rec.NextAttemptAt = &next
	}
	done.LastError = core.StorableText(done.LastError)
	*e = done
	s.attempts[e.ID] = append(s.attempts[e.ID], rec)
	return nil
}

func (s *Store) Release(_ context.Context, p ports.ReleaseParams) (ports.ReleaseResult, error) {
	if err := s.lock(); err != nil {
		return ports.ReleaseResult{}, err
	}
	defer s.mu.Unlock()
	now := s.now(p.Now)
	until := p.Until.UTC()
	if p.Until.IsZero() {
		until = now
	}
	var res ports.ReleaseResult
	for _, c := range p.Claims {
		e, ok := s.events[c.ID]
		if !ok {
			continue
		}
		released, err := e.Release(p.Worker, c.Seq, until, now)
		if err != nil {
			continue // no longer ours: someone else's state wins
		}
		*e = released
		res.Released++
	}
	if p.ParkOrigin != "" {
		for _, e := range s.events {
			if e.Origin != p.ParkOrigin {
				continue
			}
			if parked, changed := e.Park(until, now); changed {
				*e = parked
				res.Parked++
			}
		}
	}
	if until.Equal(now) && res.Released > 0 {
		s.wake.Notify()
	}
	return res, nil
}

func (s *Store) Replay(_ context.Context, p ports.ReplayParams) (core.Event, error) {
	if err := s.lock(); err != nil {
		return core.Event{}, err
	}
	defer s.mu.Unlock()
	e, ok := s.events[p.ID]
	if !ok {
		return core.Event{}, fmt.Errorf("memory: event %s: %w", p.ID, core.ErrNotFound)
	}
	replayed, err := e.Replay(s.now(p.Now))
	if err != nil {
		return core.Event{}, err
	}
	*e = replayed
	s.wake.Notify()
	return clone(e), nil
}

func (s *Store) Ping(context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// clone deep-copies an event so that callers never share memory with the
// store.
func clone(e *core.Event) core.Event {
	c := *e
	c.Body = bytes.Clone(e.Body)
	if e.LastAttemptedAt != nil {
		t := *e.LastAttemptedAt
		c.LastAttemptedAt = &t
	}
	if e.LeaseExpiresAt != nil {
		t := *e.LeaseExpiresAt
		c.LeaseExpiresAt = &t
	}
	return c
}
