package memory

import (
	"sync"
	"time"

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
	breakers map[string]string
}

func NewMetrics() *Metrics {
	return &Metrics{verdicts: map[core.Verdict]int{}, breakers: map[string]string{}}
}

func (m *Metrics) EventAccepted() {
	m.mu.Lock()
	m.accepted++
	m.mu.Unlock()
}

func (m *Metrics) DeliveryFinished(_ string, v core.Verdict, _ time.Duration) {
	m.mu.Lock()
	m.verdicts[v]++
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

// BreakerState is the last state reported for origin ("" if never).
func (m *Metrics) BreakerState(origin string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.breakers[origin]
}
