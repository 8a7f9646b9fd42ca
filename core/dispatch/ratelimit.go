package dispatch

import (
	"time"

	"github.com/webhookd/webhookd/core"
)

// An endpoint's rate_limit_per_second is a token bucket per endpoint, in
// this worker: a second's worth of burst, refilled at the rate. With
// several dispatchers each keeps its own bucket, so an endpoint may
// receive up to (dispatchers × its rate) per second (see README).

type bucket struct {
	tokens float64
	at     time.Time
}

// rateLimits are the buckets of the endpoints this worker delivered to.
type rateLimits map[core.EndpointID]*bucket

// take spends a token of endpoint id limited to rate per second, if it has
// one, and otherwise returns when the next one comes.
func (r rateLimits) take(id core.EndpointID, rate int, now time.Time) (bool, time.Time) {
	capacity := float64(rate) // a second's worth
	b, ok := r[id]
	if !ok {
		b = &bucket{tokens: capacity, at: now}
		r[id] = b
	}
	b.tokens = min(capacity, b.tokens+now.Sub(b.at).Seconds()*float64(rate))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, now
	}
	wait := time.Duration((1 - b.tokens) / float64(rate) * float64(time.Second))
	return false, now.Add(wait)
}

// forget drops the buckets that are full again: an idle endpoint costs
// nothing.
func (r rateLimits) forget(now time.Time) {
	for id, b := range r {
		if now.Sub(b.at) > time.Second {
			delete(r, id)
		}
	}
}

// rateLimit splits group (one origin's) into the deliveries that may be
// sent now and those of rate-limited endpoints that must wait; these are
// held, attempts unspent, until their endpoint's next token, and the
// origin is left out of claims until the soonest of those (so that a
// worker does not claim and give back the same rows in a loop).
func (w *Worker) rateLimit(group []core.Delivery) (send []core.Delivery, held map[time.Time][]core.Delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	send = group[:0] // in place: each is read before its slot is written
	for _, e := range group {
		if e.Endpoint == nil || e.Endpoint.RateLimitPerSecond <= 0 {
			send = append(send, e)
			continue
		}
		ok, next := w.rates.take(e.EndpointID, e.Endpoint.RateLimitPerSecond, now)
		if ok {
			send = append(send, e)
			continue
		}
		if held == nil {
			held = make(map[time.Time][]core.Delivery)
		}
		held[next] = append(held[next], e)
		if until, ok := w.rateBlocked[e.Origin]; !ok || next.Before(until) {
			w.rateBlocked[e.Origin] = next
		}
	}
	return send, held
}
