package breaker

import "github.com/webhookd/webhookd/ports"

var _ ports.TargetHealth = (*Sender)(nil)

// Targets implements ports.TargetHealth (GET /targets) from States.
func (s *Sender) Targets() []ports.TargetState {
	states := s.States()
	out := make([]ports.TargetState, len(states))
	for i, st := range states {
		out[i] = ports.TargetState(st)
	}
	return out
}
