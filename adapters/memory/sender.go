package memory

import (
	"context"
	"sync"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Sender = (*Sender)(nil)

// Sender is a scripted ports.Sender: Respond decides each outcome, and
// every delivery is recorded.
type Sender struct {
	respond func(context.Context, core.Request) (core.Outcome, error)

	mu   sync.Mutex
	sent []core.Request
}

// NewSender returns a Sender answering with respond; nil answers 200.
func NewSender(respond func(context.Context, core.Request) (core.Outcome, error)) *Sender {
	if respond == nil {
		respond = func(context.Context, core.Request) (core.Outcome, error) {
			return core.Outcome{StatusCode: 200}, nil
		}
	}
	return &Sender{respond: respond}
}

func (s *Sender) Send(ctx context.Context, d core.Request) (core.Outcome, error) {
	out, err := s.respond(ctx, d)
	if err == nil {
		s.mu.Lock()
		s.sent = append(s.sent, d)
		s.mu.Unlock()
	}
	return out, err
}

// Sent returns the deliveries made (those that returned no error).
func (s *Sender) Sent() []core.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]core.Request(nil), s.sent...)
}
