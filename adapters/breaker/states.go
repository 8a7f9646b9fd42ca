package breaker

import (
	"cmp"
	"slices"
	"time"

	"github.com/sony/gobreaker/v2"
)

// TargetState is one breaker as seen by a status endpoint.
type TargetState struct {
	Origin string
	// State is "closed", "open" or "half-open", as of the breaker's last
	// transition: an open breaker whose OpenUntil has passed half-opens on
	// its next request.
	State string
	// ConsecutiveFailures: for a closed breaker, the current streak; for an
	// open or half-open one, the failures of the outage so far (the streak
	// that tripped it plus each failed probe).
	ConsecutiveFailures int
	OpenedAt            time.Time // zero while closed
	OpenUntil           time.Time // end of the current (or last) open period; zero while closed
}

// States snapshots every known breaker: open and half-open first, then
// closed, each group by origin. It changes no breaker.
func (s *Sender) States() []TargetState {
	entries := s.reg.snapshot()
	out := make([]TargetState, 0, len(entries))
	for _, e := range entries {
		st := e.state()
		ts := TargetState{Origin: e.origin, State: st.String()}
		if st == gobreaker.StateClosed {
			ts.ConsecutiveFailures = int(e.cb.Counts().ConsecutiveFailures)
		} else {
			ts.ConsecutiveFailures = int(e.failures.Load())
			ts.OpenedAt = e.opened()
			ts.OpenUntil = e.openUntil(s.cfg.OpenFor)
		}
		out = append(out, ts)
	}
	closed := gobreaker.StateClosed.String()
	slices.SortFunc(out, func(a, b TargetState) int {
		if c := cmp.Compare(boolInt(a.State == closed), boolInt(b.State == closed)); c != 0 {
			return c
		}
		return cmp.Compare(a.Origin, b.Origin)
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
