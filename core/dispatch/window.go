package dispatch

import (
	"time"

	"github.com/webhookd/webhookd/core"
)

// Adaptive per-target concurrency, after TCP's congestion control: each
// target has a window of deliveries allowed in flight, between 1 and
// Config.PerTarget (MAX_IN_FLIGHT_PER_TARGET).
//
//   - A target with no recent success starts at Config.InitialWindow, so a
//     merchant that is down (or just came back) is not hit by a full window
//     at once.
//   - Each answer that proves the target healthy grows the window: by one
//     per answer while below the threshold (slow start: it doubles every
//     round trip, so a healthy merchant reaches full speed within a few),
//     then by one per window's worth of answers (additive increase).
//   - No answer at all (connection refused, reset, timeout) drops it to 1:
//     a merchant that dies then costs about BREAKER_FAILURES requests in
//     turn, not a whole window of them. A 5xx or 429 halves it. Either
//     cut counts once per round trip, as in TCP: answers to requests sent
//     before the cut say nothing new and change nothing.
//
// Windows of targets idle longer than windowIdle are forgotten.

// windowIdle is how long a target's window outlives its last delivery.
const windowIdle = time.Minute

type window struct {
	size       float64
	threshold  float64
	sent       uint64 // requests started, numbered from 1
	cutAfter   uint64 // answers to requests numbered up to this one predate the last cut
	overloaded bool   // the latest answer was a sign of overload
	lastUsed   time.Time
}

// windows holds every target's window. The worker's mutex guards it.
type windows struct {
	initial, max float64
	fixed        bool // every window is max (PER_TARGET_WINDOW=fixed)
	byOrigin     map[string]*window
}

func newWindows(initial, max int, fixed bool) windows {
	return windows{initial: float64(min(initial, max)), max: float64(max), fixed: fixed, byOrigin: make(map[string]*window)}
}

// limit is how many deliveries to origin may be in flight at now.
func (ws windows) limit(origin string, now time.Time) int {
	if ws.fixed {
		return int(ws.max)
	}
	return int(ws.get(origin, now).size)
}

// claimCap is how many events of any one target a claim may take, when
// a worker may hold factor windows of each (ahead.go): the most room any
// known target has (factor windows less held), and factor initial
// windows for a target not seen yet.
func (ws windows) claimCap(held map[string]int, factor int, now time.Time) int {
	if ws.fixed {
		return factor * int(ws.max)
	}
	most := factor * int(ws.initial)
	for origin, w := range ws.byOrigin {
		if now.Sub(w.lastUsed) <= windowIdle {
			most = max(most, factor*int(w.size)-held[origin])
		}
	}
	return most
}

// start numbers n requests about to be sent to origin and returns the
// first number.
func (ws windows) start(origin string, n int, now time.Time) uint64 {
	w := ws.get(origin, now)
	w.lastUsed = now
	first := w.sent + 1
	w.sent += uint64(n)
	return first
}

// observe adjusts origin's window after the answer (or its absence) to
// request number seq.
func (ws windows) observe(origin string, seq uint64, out core.Outcome, now time.Time) {
	w := ws.get(origin, now)
	w.lastUsed = now
	if out.Stalled {
		return // our own process was frozen: nothing learnt about the target
	}
	overload := overloaded(out)
	switch {
	case overload && seq > w.cutAfter:
		if w.overloaded { // twice in a row: it looks down
			w.size = 1
		} else {
			w.threshold = max(w.size/2, 2)
			w.size = max(w.size/2, 1)
		}
		w.cutAfter = w.sent
	case overload:
		// Sent before the last cut: already accounted for.
	case out.TargetUnhealthy():
		// Up but failing (a 500): no sign of load either way.
	case w.size < w.threshold:
		w.size = min(w.size+1, ws.max)
	default:
		w.size = min(w.size+1/w.size, ws.max)
	}
	w.overloaded = overload
}

// overloaded reports an answer that says the target cannot take more:
// none at all, or one of the statuses a saturated server or its proxy
// gives.
func overloaded(out core.Outcome) bool {
	switch out.StatusCode {
	case 0:
		return out.Err != ""
	case 429, 502, 503, 504:
		return true
	}
	return false
}

// get is origin's window, a fresh one if it has none or was idle.
func (ws windows) get(origin string, now time.Time) *window {
	w, ok := ws.byOrigin[origin]
	if !ok || now.Sub(w.lastUsed) > windowIdle {
		w = &window{size: ws.initial, threshold: ws.max, lastUsed: now}
		ws.byOrigin[origin] = w
	}
	return w
}

// forget drops windows idle past windowIdle, keeping the map bounded by
// the targets recently delivered to.
func (ws windows) forget(now time.Time) {
	for origin, w := range ws.byOrigin {
		if now.Sub(w.lastUsed) > windowIdle {
			delete(ws.byOrigin, origin)
		}
	}
}
