package memory

import (
	"sync"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Metrics = (*Metrics)(nil)

// Metrics counts what it is told, for tests and for processes run without
// a metrics exporter.
type Metrics struct {
	mu       sync.Mutex
	accepted int
	verdicts map[core.Verdict]int
	reports  []ports.DeliveryReport
	parked   map[string]int
	breakers map[string]string
}

func NewMetrics() *Metrics {
	return &Metrics{verdicts: map[core.Verdict]int{}, parked: map[string]int{}, breakers: map[string]string{}}
}

func (m *Metrics) EventAccepted() {
	m.mu.Lock()
	m.accepted++
	m.mu.Unlock()
}

func (m *Metrics) DeliveryFinished(r ports.DeliveryReport) {
	m.mu.Lock()
	m.verdicts[r.Verdict]++
	m.reports = append(m.reports, r)
	m.mu.Unlock()
}

func (m *Metrics) DeliveriesParked(origin string, n int) {
	m.mu.Lock()
	m.parked[origin] += n
	m.mu.Unlock()
}

func (m *Metrics) BreakerChanged(origin, _, to string) {
	m.mu.Lock()
	m.breakers[origin] = to
	m.mu.Unlock()
}

// Accepted is the number of EventAccepted calls.
func (m *Metrics) Accepted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.accepted
}

// Deliveries is the number of DeliveryFinished calls with verdict v.
func (m *Metrics) Deliveries(v core.Verdict) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.verdicts[v]
}

// Reports are the DeliveryFinished calls, in order.
func (m *Metrics) Reports() []ports.DeliveryReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ports.DeliveryReport(nil), m.reports...)
}

// Parked is the number of deliveries of origin reported parked.
func (m *Metrics) Parked(origin string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parked[origin]
}

// BreakerState is the last state reported for origin ("" if never).
func (m *Metrics) BreakerState(origin string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.breakers[origin]
}
