package breaker

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// sweepEvery is how many Sends may pass between idle sweeps. A sweep is
// O(registry) under the registry lock, so it is amortised over many Sends.
const sweepEvery = 1024

// entry is one target's breaker and what we track beside it. The atomics
// are written by gobreaker's callbacks, under its mutex, and read without
// it, so OpenUntil, States and the sweep never advance a breaker.
type entry struct {
	origin string
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]

	lastUsed time.Time    // injected clock; guarded by registry.mu
	inflight atomic.Int32 // Sends holding this entry; such entries are never evicted

	st       atomic.Int32              // gobreaker.State last reported by OnStateChange
	openedAt atomic.Pointer[time.Time] // injected clock, at the last trip
	failures atomic.Uint32             // consecutive failures of the current outage
}

// state is the breaker's state as of its last transition. gobreaker moves
// open to half-open lazily, on the next request, so "open" may be stale;
// openUntil tells when.
func (e *entry) state() gobreaker.State { return gobreaker.State(e.st.Load()) }

// opened is when the breaker last tripped; zero if it never did.
func (e *entry) opened() time.Time {
	if t := e.openedAt.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// openUntil is when the breaker's current (or last) open period ends.
func (e *entry) openUntil(openFor time.Duration) time.Time {
	if t := e.opened(); !t.IsZero() {
		return t.Add(openFor)
	}
	return time.Time{}
}

// evictable reports whether forgetting the entry loses nothing. With no Send in flight a
// closed breaker cannot change state, and an open or half-open one must
// stay, or the target would be hammered again at once.
func (e *entry) evictable() bool {
	return e.inflight.Load() == 0 && e.state() == gobreaker.StateClosed
}

// registry maps origins to breakers and keeps their number bounded.
type registry struct {
	idleTTL  time.Duration
	max      int
	capSlack int // a cap sweep trims this far below max, so the next inserts do not sweep again

	mu        sync.Mutex
	entries   map[string]*entry
	sends     int // Sends since the last sweep
	added     int // entries created since the last sweep
	lastSweep time.Time
}

func newRegistry(cfg Config) *registry {
	return &registry{
		idleTTL:  cfg.IdleTTL,
		max:      cfg.MaxTargets,
		capSlack: max(1, cfg.MaxTargets/10),
		entries:  make(map[string]*entry),
	}
}

// acquire returns origin's entry, creating it with build, and marks it in
// use until the caller decrements inflight.
func (r *registry) acquire(origin string, now time.Time, build func(*entry) *gobreaker.TwoStepCircuitBreaker[struct{}]) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[origin]
	if e == nil {
		e = &entry{origin: origin}
		e.cb = build(e)
		r.entries[origin] = e
		r.added++
	}
	e.lastUsed = now
	e.inflight.Add(1)
	r.sends++
	if r.sweepDue(now) {
		r.sweep(now)
	}
	return e
}

// sweepDue reports whether to sweep: over the cap (at most once per
// capSlack new entries, in case nothing can be evicted), or every
// sweepEvery Sends. Nothing younger than
// idleTTL can go, so periodic sweeps closer than idleTTL/4 would only burn
// CPU under the lock.
func (r *registry) sweepDue(now time.Time) bool {
	overCap := len(r.entries) > r.max && r.added >= r.capSlack
	periodic := r.sends >= sweepEvery && now.Sub(r.lastSweep) >= r.idleTTL/4
	return overCap || periodic
}

// sweep evicts closed breakers idle longer than idleTTL, then, while still
// over the cap, the least recently used closed ones. Open and half-open
// breakers are never evicted. Call with mu held.
func (r *registry) sweep(now time.Time) {
	r.sends, r.added, r.lastSweep = 0, 0, now
	for origin, e := range r.entries {
		if e.evictable() && now.Sub(e.lastUsed) > r.idleTTL {
			delete(r.entries, origin)
		}
	}
	if len(r.entries) <= r.max {
		return
	}
	excess := len(r.entries) - (r.max - r.capSlack)
	lru := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		if e.evictable() {
			lru = append(lru, e)
		}
	}
	slices.SortFunc(lru, func(a, b *entry) int { return a.lastUsed.Compare(b.lastUsed) })
	for _, e := range lru[:min(excess, len(lru))] {
		delete(r.entries, e.origin)
	}
}

func (r *registry) lookup(origin string) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries[origin]
}

func (r *registry) snapshot() []*entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e)
	}
	return out
}
