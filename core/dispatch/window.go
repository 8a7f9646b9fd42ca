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
	// rtt is the smoothed time the target takes to answer (TCP's SRTT,
	// gain 1/8); 0 until its first answer.
	rtt time.Duration
}

// windows holds every target's window. The worker's mutex guards it.
type windows struct {
	initial, max float64
	fixed        bool // every window is max (PER_TARGET_WINDOW=fixed)
	// horizon and deepest bound what a worker holds of a target claimed
	// ahead (ahead.go); horizon 0 turns claiming ahead off.
	horizon  time.Duration
	deepest  int
	byOrigin map[string]*window
}

func newWindows(initial, max int, fixed bool, horizon time.Duration, deepest int) windows {
	return windows{
		initial: float64(min(initial, max)), max: float64(max), fixed: fixed,
		horizon: horizon, deepest: deepest, byOrigin: make(map[string]*window),
	}
}

// limit is how many deliveries to origin may be in flight at now.
func (ws windows) limit(origin string, now time.Time) int {
	if ws.fixed {
		return int(ws.max)
	}
	return int(ws.get(origin, now).size)
}

// ahead is how many of origin's deliveries a worker may hold claimed
// ahead of its window: as many as the target takes in horizon at its
// window and round-trip time, at least a window (all a target not yet
// answered gets) and at most deepest. A fast target is then refilled a
// batch at a time, one claim per batch rather than one per window; a
// slow one never has more queued than it sends well within the time a
// delivery may wait claimed ahead.
func (ws windows) ahead(origin string, now time.Time) int {
	if ws.horizon <= 0 {
		return 0
	}
	limit := ws.limit(origin, now)
	rtt := ws.get(origin, now).rtt // a fixed window's limit reads no entry
	if rtt <= 0 {
		return limit
	}
	paced := float64(limit) * float64(ws.horizon) / float64(rtt)
	return max(limit, int(min(paced, float64(ws.deepest))))
}

// hold is how many of origin's deliveries a worker may hold: its window
// in flight and what may be claimed ahead of it.
func (ws windows) hold(origin string, now time.Time) int {
	return ws.limit(origin, now) + ws.ahead(origin, now)
}

// claimCap is how many events of any one target a claim may take: the
// most room any known target has (what it may hold less what is held),
// and what a target not seen yet may hold. caps lists the known targets
// with less room than that, and their room: a claim that fills one
// target's queue must not take more of another than it can queue, only
// to hand the rest back.
func (ws windows) claimCap(held map[string]int, now time.Time) (most int, caps map[string]int) {
	unseen := int(ws.initial)
	if ws.fixed {
		unseen = int(ws.max)
	}
	most = unseen
	if ws.horizon > 0 {
		most += unseen // ahead: a window, as for any target not yet answered
	}
	room := make(map[string]int, len(ws.byOrigin))
	for origin, w := range ws.byOrigin {
		if now.Sub(w.lastUsed) <= windowIdle {
			room[origin] = ws.hold(origin, now) - held[origin]
			most = max(most, room[origin])
		}
	}
	for origin, n := range room {
		if n >= most || n <= 0 { // n <= 0: full, left out of the claim
			delete(room, origin)
		}
	}
	return most, room
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
	if out.StatusCode != 0 && out.Duration > 0 {
		if w.rtt == 0 {
			w.rtt = out.Duration
		} else {
			w.rtt += (out.Duration - w.rtt) / 8
		}
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
