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

// Store is an EventStore in maps. Every transition is core.Delivery's own
// method (core is the reference state machine), so it has by construction
// the semantics the SQL stores mirror. It is its own Wakeup: inserts,
// replays and releases due at once signal C().
type Store struct {
	clock ports.Clock

	mu         sync.Mutex
	events     map[core.EventID]*core.Event
	deliveries map[core.DeliveryID]*core.Delivery // Body not kept: it is the event's
	byEvent    map[core.EventID][]core.DeliveryID // oldest first
	byKey      map[string]core.EventID
	attempts   map[core.DeliveryID][]core.Attempt
	targets    map[string]core.TargetHealth // open targets, by origin
	down       error

	// endpoints is the EndpointStore's table (endpoints.go), under mu too.
	endpoints map[core.EndpointID]*core.Endpoint
	// activity is the ActivityStore's table (activity.go), under mu too;
	// made by its first add.
	activity map[activityKey]ports.ActivityCount

	wake *wait.Signal
}

// NewStore returns an empty store that reads "now" from clock.
func NewStore(clock ports.Clock) *Store {
	return &Store{
		clock:      clock,
		events:     make(map[core.EventID]*core.Event),
		deliveries: make(map[core.DeliveryID]*core.Delivery),
		byEvent:    make(map[core.EventID][]core.DeliveryID),
		byKey:      make(map[string]core.EventID),
		attempts:   make(map[core.DeliveryID][]core.Attempt),
		targets:    make(map[string]core.TargetHealth),
		endpoints:  make(map[core.EndpointID]*core.Endpoint),
		wake:       wait.NewSignal(),
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

func (s *Store) Insert(_ context.Context, p ports.InsertParams) (ports.Inserted, error) {
	if err := s.lock(); err != nil {
		return ports.Inserted{}, err
	}
	defer s.mu.Unlock()
	if k := p.Event.IdempotencyKey; k != "" {
		if id, ok := s.byKey[k]; ok {
			rec := s.record(id)
			return ports.Inserted{Event: rec.Event, Deliveries: rec.Deliveries}, nil
		}
	}
	if _, dup := s.events[p.Event.ID]; dup {
		return ports.Inserted{}, &core.ConflictError{Code: "duplicate_id", Message: "event " + string(p.Event.ID) + " exists"}
	}
	now := s.now(p.Now)
	ev := cloneEvent(&p.Event)
	ev.CreatedAt = now
	due := now
	if !p.DueAt.IsZero() {
		due = p.DueAt.UTC()
	}
	var ds []*core.Delivery
	newDelivery := func(id core.DeliveryID, ep core.EndpointID, url, origin string) {
		ds = append(ds, &core.Delivery{ID: id, EventID: ev.ID, EndpointID: ep, TargetURL: url, Origin: origin,
			Status: core.StatusPending, NextAttemptAt: due, ActiveSince: now, CreatedAt: now, UpdatedAt: now})
	}
	if ev.RoutedToEndpoints() {
		var eps []*core.Endpoint
		for _, ep := range s.endpoints {
			if ev.Routes(*ep) {
				eps = append(eps, ep)
			}
		}
		slices.SortFunc(eps, func(a, b *core.Endpoint) int { return strings.Compare(string(a.ID), string(b.ID)) })
		for _, ep := range eps {
			newDelivery(core.NewEventID(now), ep.ID, ep.URL, ep.Origin)
		}
	} else {
		newDelivery(ev.ID, "", ev.TargetURL, ev.Origin)
	}
	for _, d := range ds {
		if _, dup := s.deliveries[d.ID]; dup {
			return ports.Inserted{}, &core.ConflictError{Code: "duplicate_id", Message: "delivery " + string(d.ID) + " exists"}
		}
	}
	s.events[ev.ID] = &ev
	for _, d := range ds {
		s.deliveries[d.ID] = d
		s.byEvent[ev.ID] = append(s.byEvent[ev.ID], d.ID)
	}
	if ev.IdempotencyKey != "" {
		s.byKey[ev.IdempotencyKey] = ev.ID
	}
	if len(ds) > 0 {
		s.wake.Notify()
	}
	rec := s.record(ev.ID)
	return ports.Inserted{Event: rec.Event, Deliveries: rec.Deliveries, Created: true}, nil
}

// record copies an event and its deliveries (without their body).
func (s *Store) record(id core.EventID) ports.EventRecord {
	rec := ports.EventRecord{Event: cloneEvent(s.events[id])}
	for _, did := range s.byEvent[id] {
		d := clone(s.deliveries[did])
		rec.Deliveries = append(rec.Deliveries, d)
	}
	return rec
}

// withBody copies a delivery with its event's body.
func (s *Store) withBody(d *core.Delivery) core.Delivery {
	c := clone(d)
	c.Body = bytes.Clone(s.events[d.EventID].Body)
	return c
}

func (s *Store) Event(_ context.Context, id core.EventID) (ports.EventRecord, error) {
	if err := s.lock(); err != nil {
		return ports.EventRecord{}, err
	}
	defer s.mu.Unlock()
	if _, ok := s.events[id]; !ok {
		return ports.EventRecord{}, fmt.Errorf("memory: event %s: %w", id, core.ErrNotFound)
	}
	return s.record(id), nil
}

func (s *Store) Get(_ context.Context, id core.DeliveryID) (core.Delivery, error) {
	if err := s.lock(); err != nil {
		return core.Delivery{}, err
	}
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		return core.Delivery{}, fmt.Errorf("memory: delivery %s: %w", id, core.ErrNotFound)
	}
	return s.withBody(d), nil
}

func (s *Store) Attempts(_ context.Context, id core.DeliveryID) ([]core.Attempt, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.deliveries[id]; !ok {
		return nil, fmt.Errorf("memory: delivery %s: %w", id, core.ErrNotFound)
	}
	return slices.Clone(s.attempts[id]), nil
}

func (s *Store) Claim(_ context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.now(p.Now)
	out := s.claimProbes(p, now)
	probed := make(map[core.DeliveryID]bool, len(out))
	for _, c := range out {
		probed[c.ID] = true
	}
	var due []*core.Delivery
	for _, e := range s.deliveries {
		if !e.Claimable(now) || slices.Contains(p.ExcludeOrigins, e.Origin) || probed[e.ID] {
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
	slices.SortFunc(due, func(a, b *core.Delivery) int {
		if c := dueAt(a).Compare(dueAt(b)); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	due = core.FirstPerOrigin(due, p.MaxPerOrigin, p.OriginCaps, func(e *core.Delivery) string { return e.Origin })
	for _, e := range due[:min(len(due), max(p.Limit-len(out), 0))] {
		claimed, err := e.Claim(p.Worker, now, p.Lease)
		if err != nil {
			return nil, fmt.Errorf("memory: claim: %w", err)
		}
		*e = claimed
		c := s.equip(e)
		if h, open := s.targets[e.Origin]; open {
			until := h.OpenUntil
			c.TargetOpenUntil = &until
		}
		out = append(out, c)
	}
	return out, nil
}

// claimProbes takes the probe of each open target whose probe is due (up
// to p.Limit): its oldest pending delivery, due or parked. A target with
// no pending delivery left is forgotten.
func (s *Store) claimProbes(p ports.ClaimParams, now time.Time) []core.Delivery {
	var origins []string
	for origin, h := range s.targets {
		if h.ProbeDue(now) && !slices.Contains(p.ExcludeOrigins, origin) {
			origins = append(origins, origin)
		}
	}
	slices.Sort(origins)
	var out []core.Delivery
	for _, origin := range origins {
		if len(out) >= p.Limit {
			break
		}
		var oldest *core.Delivery
		for _, e := range s.deliveries {
			if e.Origin == origin && e.Status == core.StatusPending &&
				(oldest == nil || e.NextAttemptAt.Before(oldest.NextAttemptAt) ||
					e.NextAttemptAt.Equal(oldest.NextAttemptAt) && e.ID < oldest.ID) {
				oldest = e
			}
		}
		if oldest == nil {
			delete(s.targets, origin)
			continue
		}
		probe, err := oldest.ClaimProbe(p.Worker, now, p.Lease)
		if err != nil {
			continue
		}
		probe.Probe = false // a mark on this answer, not on the row
		*oldest = probe
		s.targets[origin] = s.targets[origin].StartProbe(p.Lease, now)
		c := s.equip(oldest)
		c.Probe = true
		out = append(out, c)
	}
	return out
}

// equip copies a claimed delivery with what its worker needs: the body
// and, for an endpoint delivery, the endpoint as it is now.
func (s *Store) equip(e *core.Delivery) core.Delivery {
	c := s.withBody(e)
	if e.EndpointID != "" {
		c.Endpoint = nil
		if ep, ok := s.endpoints[e.EndpointID]; ok && !ep.Disabled {
			c.Endpoint = core.StateOf(cloneEndpoint(ep))
			c.TargetURL, c.Origin = ep.URL, ep.Origin
		}
	}
	return c
}

func dueAt(e *core.Delivery) time.Time {
	if e.Status == core.StatusDelivering && e.LeaseExpiresAt != nil {
		return *e.LeaseExpiresAt
	}
	return e.NextAttemptAt
}

func (s *Store) abandon(e *core.Delivery, now time.Time) {
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
	e, ok := s.deliveries[p.Claim.ID]
	if !ok {
		return fmt.Errorf("memory: complete %s: %w", p.Claim.ID, core.ErrNotFound)
	}
	now := s.now(p.Now)
	done, err := e.Complete(p.Worker, p.Claim.Seq, p.Decision, now)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	rec := p.Record
	rec.DeliveryID, rec.Number, rec.Worker = e.ID, p.Claim.Attempt, p.Worker
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
		e, ok := s.deliveries[c.ID]
		if !ok {
			continue
		}
		due := until
		if e.Origin == p.ParkOrigin {
			due = e.ParkedUntil(until, p.ParkFor)
		}
		released, err := e.Release(p.Worker, c.Seq, due, now)
		if err != nil {
			continue // no longer ours: someone else's state wins
		}
		*e = released
		res.Released++
	}
	if p.ParkOrigin != "" {
		h := s.targets[p.ParkOrigin].Open(until, now)
		h.Origin = p.ParkOrigin
		s.targets[p.ParkOrigin] = h
		res.Parked = s.park(p.ParkOrigin, until, p.ParkFor, now)
	}
	if until.Equal(now) && res.Released > 0 {
		s.wake.Notify()
	}
	return res, nil
}

// park parks origin's pending deliveries due before until.
func (s *Store) park(origin string, until time.Time, parkFor time.Duration, now time.Time) int {
	n := 0
	for _, e := range s.deliveries {
		if e.Origin != origin {
			continue
		}
		if parked, changed := e.Park(until, parkFor, now); changed {
			*e = parked
			n++
		}
	}
	return n
}

func (s *Store) Probed(_ context.Context, p ports.ProbedParams) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.now(p.Now)
	if !p.OK {
		h := s.targets[p.Origin].Reopen(p.Until.UTC(), now)
		h.Origin = p.Origin
		s.targets[p.Origin] = h
		s.park(p.Origin, p.Until.UTC(), p.ParkFor, now)
		return nil
	}
	delete(s.targets, p.Origin)
	woke := false
	for _, e := range s.deliveries {
		if e.Origin != p.Origin {
			continue
		}
		if unparked, changed := e.Unpark(now); changed {
			*e, woke = unparked, true
		}
	}
	if woke {
		s.wake.Notify()
	}
	return nil
}

func (s *Store) Targets(context.Context) ([]core.TargetHealth, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]core.TargetHealth, 0, len(s.targets))
	for _, h := range s.targets {
		c := h
		if h.ProbeUntil != nil {
			t := *h.ProbeUntil
			c.ProbeUntil = &t
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b core.TargetHealth) int { return strings.Compare(a.Origin, b.Origin) })
	return out, nil
}

func (s *Store) Replay(_ context.Context, p ports.ReplayParams) (core.Delivery, error) {
	if err := s.lock(); err != nil {
		return core.Delivery{}, err
	}
	defer s.mu.Unlock()
	e, ok := s.deliveries[p.ID]
	if !ok {
		return core.Delivery{}, fmt.Errorf("memory: delivery %s: %w", p.ID, core.ErrNotFound)
	}
	replayed, err := e.Replay(s.now(p.Now))
	if err != nil {
		return core.Delivery{}, err
	}
	*e = replayed
	s.wake.Notify()
	return s.withBody(e), nil
}

func (s *Store) Ping(context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// cloneEvent deep-copies an event so that callers never share memory with
// the store.
func cloneEvent(e *core.Event) core.Event {
	c := *e
	c.Body = bytes.Clone(e.Body)
	return c
}

// clone deep-copies a delivery so that callers never share memory with the
// store. Probe and TargetOpenUntil belong to one claim's answer only.
func clone(e *core.Delivery) core.Delivery {
	c := *e
	c.Body = bytes.Clone(e.Body)
	c.Endpoint, c.Probe, c.TargetOpenUntil = nil, false, nil
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
