package dispatch

import "github.com/webhookd/webhookd/core"

// A claim asks for as many deliveries as the worker has room for, but takes
// of each target at most that target's cap (claimCap). A store finds them
// by locking due deliveries in due order, up to the ask, and then keeps
// each target's first ones up to its cap: when one fast target fills the
// queue's head, a claim of 400 locked 400 rows to keep the ~200 that
// target had room for (PostgreSQL writes a WAL record for each row it
// locks). capHint remembers a claim cut short by caps, so that the next
// ask is what the caps allow, not more.
type capHint struct {
	capped   map[string]bool // targets whose cap the last claim reached
	uncapped int             // what it took of the other targets
}

// ask bounds a claim's limit: the capped targets' caps now, what the
// others took last time, and one more. The one more tells the hint
// whether caps still cut the claim: a claim that comes back full (the
// queue's head changed) makes the next one ask for everything again.
func (h capHint) ask(limit, most int, caps map[string]int) int {
	if h.capped == nil {
		return limit
	}
	want := h.uncapped + 1
	for origin := range h.capped {
		want += capOf(origin, most, caps)
	}
	return min(limit, want)
}

// capHintOf reads a claim of asked deliveries that returned got: a hint
// when it came back short and some target had reached its cap, none when
// it came back full or the queue simply ran short.
func capHintOf(got []core.Delivery, asked, most int, caps map[string]int) capHint {
	if len(got) >= asked {
		return capHint{}
	}
	per := make(map[string]int)
	for _, e := range got {
		per[e.Origin]++
	}
	h := capHint{capped: make(map[string]bool)}
	for origin, n := range per {
		if c := capOf(origin, most, caps); c > 0 && n >= c {
			h.capped[origin] = true
		} else {
			h.uncapped += n
		}
	}
	if len(h.capped) == 0 {
		return capHint{}
	}
	return h
}

// capOf is origin's cap in a claim (ports.ClaimParams.OriginCaps, else
// MaxPerOrigin); 0 when there is none.
func capOf(origin string, most int, caps map[string]int) int {
	if c, ok := caps[origin]; ok {
		return c
	}
	return max(most, 0)
}
