package activity

import "github.com/webhookd/webhookd/ports"

var _ ports.Metrics = Tee(nil)

// Tee tells every Metrics in it what it is told, in order: the exporter
// and the Counter, say, so that the core is given one ports.Metrics.
type Tee []ports.Metrics

func (t Tee) EventAccepted() {
	for _, m := range t {
		m.EventAccepted()
	}
}

func (t Tee) DeliveryFinished(r ports.DeliveryReport) {
	for _, m := range t {
		m.DeliveryFinished(r)
	}
}

func (t Tee) DeliveriesParked(origin string, n int) {
	for _, m := range t {
		m.DeliveriesParked(origin, n)
	}
}

func (t Tee) BreakerChanged(origin, from, to string) {
	for _, m := range t {
		m.BreakerChanged(origin, from, to)
	}
}
