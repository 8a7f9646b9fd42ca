package receiver

import (
	"net/http"
	"sync"
	"time"
)

// Stats is what GET /stats answers.
//
// Requests counts every POST /webhook, dropped and refused ones included.
// RejectedSignature counts those refused before any chaos (missing or bad
// signature headers, stale timestamp, body id ≠ webhook-id); they are not
// deliveries and create no event entry. Accepted counts 2xx answers, and
// Duplicates is the sum over events of max(0, accepted-1), so
// Accepted - Duplicates is the number of events delivered at least once.
type Stats struct {
	Requests          int64                 `json:"requests"`
	Accepted          int64                 `json:"accepted"`
	RejectedSignature int64                 `json:"rejected_signature"`
	UniqueEvents      int                   `json:"unique_events"`
	Duplicates        int64                 `json:"duplicates"`
	Events            map[string]EventStats `json:"events,omitzero"`
}

// EventStats is one event id's record: verified requests and 2xx answers.
type EventStats struct {
	Requests int       `json:"requests"`
	Accepted int       `json:"accepted"`
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
}

// stats is guarded by one mutex: every operation is a few map updates, far
// cheaper than the HTTP round trip around it, even at 10k+ events.
type stats struct {
	mu     sync.Mutex
	totals Stats // Events and UniqueEvents unused here
	events map[string]*EventStats
}

func newStats() *stats { return &stats{events: make(map[string]*EventStats)} }

func (s *stats) request() {
	s.mu.Lock()
	s.totals.Requests++
	s.mu.Unlock()
}

func (s *stats) rejected() {
	s.mu.Lock()
	s.totals.RejectedSignature++
	s.mu.Unlock()
}

// begin records a verified request for id and returns its attempt number.
// The time is read under the lock so that first_at ≤ last_at holds even
// for concurrent requests.
func (s *stats) begin(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	e := s.events[id]
	if e == nil {
		e = &EventStats{FirstAt: now}
		s.events[id] = e
	}
	e.Requests++
	e.LastAt = now
	return e.Requests
}

// finish records the answer given to a request begun for id.
func (s *stats) finish(id string, status int) {
	if status < 200 || status > 299 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events[id]
	if e == nil { // reset between begin and finish
		return
	}
	e.Accepted++
	s.totals.Accepted++
	if e.Accepted > 1 {
		s.totals.Duplicates++
	}
}

func (s *stats) snapshot(withEvents bool) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.totals
	out.UniqueEvents = len(s.events)
	if withEvents {
		out.Events = make(map[string]EventStats, len(s.events))
		for id, e := range s.events {
			out.Events[id] = *e
		}
	}
	return out
}

func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals = Stats{}
	clear(s.events)
}

// Stats returns the counters; withEvents adds the per-event map.
func (r *Receiver) Stats(withEvents bool) Stats { return r.stats.snapshot(withEvents) }

// ResetStats clears every counter.
func (r *Receiver) ResetStats() { r.stats.reset() }

func (r *Receiver) handleStats(w http.ResponseWriter, req *http.Request) {
	summary := req.URL.Query().Get("summary")
	writeJSON(w, http.StatusOK, r.Stats(summary != "1" && summary != "true"))
}

func (r *Receiver) handleStatsReset(w http.ResponseWriter, _ *http.Request) {
	r.ResetStats()
	writeJSON(w, http.StatusOK, r.Stats(true))
}
