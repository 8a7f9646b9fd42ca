package ports

import (
	"time"

	"github.com/webhookd/webhookd/core"
)

// Metrics receives what the core observes. Implementations must be cheap
// and safe for concurrent use.
type Metrics interface {
	EventAccepted()
	DeliveryFinished(origin string, v core.Verdict, took time.Duration)
	BreakerChanged(origin string, from, to string)
}
