// Package clock is the real ports.Clock.
package clock

import (
	"time"

	"github.com/webhookd/webhookd/ports"
)

var _ ports.Clock = System{}

// System reads the wall clock.
type System struct{}

func (System) Now() time.Time { return time.Now() }
