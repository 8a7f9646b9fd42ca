package breaker

import (
	"cmp"
	"slices"

	"github.com/sony/gobreaker/v2"

	"github.com/webhookd/webhookd/ports"
)

var _ ports.TargetHealth = (*Sender)(nil)

// Targets implements ports.TargetHealth (GET /targets): a snapshot of
// every known breaker, open and half-open first, then closed, each group
// by origin. It changes no breaker. State is as of the breaker's last
// transition: an open breaker whose OpenUntil has passed half-opens on its
// next request. ConsecutiveFailures is the current streak when closed, the
// outage's failures so far (the trip plus failed probes) otherwise.
func (s *Sender) Targets() []ports.TargetState {
	entries := s.reg.snapshot()
	out := make([]ports.TargetState, 0, len(entries))
	for _, e := range entries {
		st := e.state()
		ts := ports.TargetState{Origin: e.origin, State: st.String()}
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
	slices.SortFunc(out, func(a, b ports.TargetState) int {
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
