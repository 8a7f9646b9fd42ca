package wiring

import (
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Metrics = metricsNotExported{}

// metricsNotExported is the ports.Metrics of every process until a
// Prometheus adapter serves /metrics: it drops each observation on
// purpose, rather than counting into memory that nobody reads.
type metricsNotExported struct{}

func (metricsNotExported) EventAccepted()                                       {}
func (metricsNotExported) DeliveryFinished(string, core.Verdict, time.Duration) {}
func (metricsNotExported) BreakerChanged(string, string, string)                {}
