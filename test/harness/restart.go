package harness

import (
	"maps"
	"strconv"
	"testing"
	"time"
)

// StartDispatcherAt is StartDispatcher on a chosen port, so that a
// dispatcher restarted after a crash answers where its producers already
// post. A ROLE=worker process is not waited for (it serves only /health,
// /ready and /metrics, on METRICS_PORT when that is set).
func StartDispatcherAt(t testing.TB, bins Binaries, name string, port int, env map[string]string) *Dispatcher {
	t.Helper()
	e := maps.Clone(env)
	e["DISPATCHER_PORT"] = strconv.Itoa(port)
	d := &Dispatcher{Proc: Start(t, name, bins.Dispatcher, e), Base: "http://" + addr(port)}
	if e["ROLE"] != "worker" {
		WaitHealthy(t, d.Base+"/ready", 30*time.Second)
	}
	return d
}

// PortNumber is the dispatcher's API port as a number.
func (d *Dispatcher) PortNumber() int {
	n, _ := strconv.Atoi(d.Port())
	return n
}
