package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
)

// Claiming ahead. A target's window bounds its requests in flight; the
// worker also holds more of its deliveries claimed ahead, queued in claim
// order. When a request to the target is answered, the next queued
// delivery starts at once, in the answering goroutine's wake, without
// waiting for a round trip to the store.
//
// How many are queued follows the target's pace (windows.ahead): what it
// answers within aheadHorizon, at least a window, at most a batch. The
// queue is refilled when it has run down by half (refillDue): claims are
// then made a batch at a time, not one per freed slot. One claim of one or
// two rows every few milliseconds held a drain to one merchant near 700
// deliveries/s whatever the window; a claim per window of 16, ~3,500/s;
// a claim per half batch, ~5,800/s (BENCHMARKS.md). Each claim and each
// group of outcomes has a fixed cost in the store that the batch shares.
//
// A delivery waits in a queue at most aheadWait, half the lease's room
// beyond one attempt: past that it is released unspent, so that it is
// never sent with too little of its lease left. Claiming ahead is off
// when the lease leaves less than minAheadWait of such room.
//
// Concurrency bounds what a worker holds: deliveries in flight plus those
// claimed ahead.

// minAheadWait is the shortest queueing time worth claiming ahead for.
const minAheadWait = time.Second

// maxAheadHorizon bounds how long a target's queue is expected to last:
// well inside aheadWait, so that an estimate that is off by a few times
// still sends every queued delivery before it goes stale.
const maxAheadHorizon = time.Second

// aheadWaitOf is how long a delivery may wait claimed ahead under cfg; 0
// turns claiming ahead off.
func aheadWaitOf(cfg Config) time.Duration {
	d := (cfg.Lease - cfg.AttemptTimeout) / 2
	if d < minAheadWait {
		return 0
	}
	return d
}

// aheadHorizon is how long a target's queue claimed ahead should last
// when a delivery may wait aheadWait in it; 0 when claiming ahead is off.
func aheadHorizon(aheadWait time.Duration) time.Duration {
	return min(maxAheadHorizon, aheadWait/2)
}

// refillDue reports whether a freed slot makes a claim worth its cost:
// the worker holds nothing, or some target it holds has room for half of
// what it may queue ahead (so a queue is refilled before it runs dry, in
// one claim of half a batch rather than many of a slot or two), within
// Concurrency. Wake-ups, retries coming due and the poll still claim at
// once; this only paces the claims that freed slots would set off.
func (w *Worker) refillDue() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.cfg.Concurrency - w.inFlight - w.nAhead
	if room <= 0 {
		return false
	}
	held := w.held()
	if len(held) == 0 {
		return true
	}
	now := w.clock.Now()
	for origin, n := range held {
		want := max(1, min(w.windows.ahead(origin, now)/2, w.cfg.Concurrency/4))
		if min(w.windows.hold(origin, now)-n, room) >= want {
			return true
		}
	}
	return false
}

// held counts each origin's deliveries this worker holds. The caller
// holds w.mu.
func (w *Worker) held() map[string]int {
	out := make(map[string]int, len(w.perOrigin)+len(w.ahead))
	for origin, n := range w.perOrigin {
		out[origin] += n
	}
	for origin, q := range w.ahead {
		out[origin] += q.len()
	}
	return out
}

// admit splits a claimed group of origin's deliveries: those to start
// now (free slots in its window), with the window's number of the first,
// those queued ahead, and the excess to release. Queueing happens before
// any of the group starts, so an answer always finds what was queued.
func (w *Worker) admit(origin string, group []core.Delivery) (start []core.Delivery, first uint64, excess []core.Delivery) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	n := min(len(group), max(w.windows.limit(origin, now)-w.perOrigin[origin], 0))
	if w.aheadOf(origin) > 0 {
		n = 0 // older deliveries are queued: they go first
	}
	start, rest := group[:n], group[n:]
	w.inFlight += n
	w.perOrigin[origin] += n
	first = w.windows.start(origin, n, now)
	if !w.stopping {
		room := w.windows.hold(origin, now) - w.perOrigin[origin] - w.aheadOf(origin)
		k := min(max(room, 0), len(rest))
		if k > 0 {
			q := w.ahead[origin]
			if q == nil {
				q = &fifo{}
				w.ahead[origin] = q
			}
			q.push(rest[:k])
			w.nAhead += k
			rest = rest[k:]
		}
	}
	return start, first, rest
}

// start runs one delivery, the seq-th request of its target's window, in
// a goroutine of wg (runners.go); its answer frees the target's slot (and
// starts what was queued behind it), its end a slot of Concurrency.
func (w *Worker) start(ctx context.Context, e core.Delivery, seq uint64, wg *sync.WaitGroup) {
	w.runners.run(wg, func() {
		answered := sync.OnceFunc(func() { w.targetAnswered(ctx, e.Origin, wg) })
		defer w.deliveryDone()
		defer answered()
		w.deliver(ctx, &e, seq, answered)
	})
}

// targetAnswered frees origin's slot in its window: the request is over
// (answered, failed, or never made). Recording the outcome is the
// database's work, not the merchant's, so it does not hold the slot. The
// deliveries queued ahead for origin start in the slots now free; those
// that waited too long are released.
func (w *Worker) targetAnswered(ctx context.Context, origin string, wg *sync.WaitGroup) {
	type next struct {
		e   core.Delivery
		seq uint64
	}
	var room [2]next // an answer usually starts one: no allocation for it
	starts := room[:0]
	var stale []core.Delivery
	w.mu.Lock()
	if w.perOrigin[origin]--; w.perOrigin[origin] <= 0 {
		delete(w.perOrigin, origin)
	}
	now := w.clock.Now()
	for w.aheadOf(origin) > 0 && !w.stopping && w.perOrigin[origin] < w.windows.limit(origin, now) {
		e := w.popAhead(origin)
		if e.LeaseExpiresAt != nil && now.Add(w.cfg.AttemptTimeout+w.aheadWait).After(*e.LeaseExpiresAt) {
			stale = append(stale, e)
			continue
		}
		w.inFlight++
		w.perOrigin[origin]++
		starts = append(starts, next{e, w.windows.start(origin, 1, now)})
	}
	w.mu.Unlock()
	for _, s := range starts {
		w.start(ctx, s.e, s.seq, wg)
	}
	if len(stale) > 0 {
		w.release(ctx, w.log, claimsOf(stale), "claimed ahead too long: lease too short to send")
	}
	w.freed.Notify()
}

// popAhead takes origin's oldest queued delivery. The caller holds w.mu.
func (w *Worker) popAhead(origin string) core.Delivery {
	q := w.ahead[origin]
	e := q.pop()
	if q.len() == 0 {
		delete(w.ahead, origin) // an idle target keeps no array
	}
	w.nAhead--
	return e
}

// aheadOf is how many of origin's deliveries are queued ahead. The caller
// holds w.mu.
func (w *Worker) aheadOf(origin string) int {
	if q := w.ahead[origin]; q != nil {
		return q.len()
	}
	return 0
}

// takeAhead empties origin's queue ("" empties every queue) and returns
// what it held; stop also keeps anything from being queued or started
// from a queue again (shutdown).
func (w *Worker) takeAhead(origin string, stop bool) []core.Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopping = w.stopping || stop
	var out []core.Delivery
	for o, q := range w.ahead {
		if origin == "" || o == origin {
			out = append(out, q.items()...)
			w.nAhead -= q.len()
			delete(w.ahead, o)
		}
	}
	return out
}

// deliveryDone frees one of Concurrency's slots: the delivery is over,
// its outcome recorded (or given up). It wakes the loop if it waits for a
// slot.
func (w *Worker) deliveryDone() {
	w.mu.Lock()
	w.inFlight--
	w.mu.Unlock()
	w.freed.Notify()
}
