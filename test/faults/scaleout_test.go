package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/test/harness"
)

// TestSeveralDispatchers: three dispatchers share one database; 10,000
// events are posted through their three APIs. Nothing crashes, so nothing
// may be delivered twice, and each process delivers a fair share.
func TestSeveralDispatchers(t *testing.T) {
	bins := setup(t)
	const (
		total    = 10_000
		replicas = 3
		minShare = 0.10
	)
	db, rcv := okAfter(t, bins, harness.KindPostgres, 5)
	var ds []*harness.Dispatcher
	var bases []string
	for i := range replicas {
		id := fmt.Sprintf("scale-%d", i+1)
		d := harness.StartDispatcher(t, bins, "dispatcher-"+id, harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"WORKER_ID": id, "BATCH_SIZE": "20",
		}))
		ds = append(ds, d)
		bases = append(bases, d.Base)
	}

	began := time.Now()
	load := harness.StartLoad(t, harness.LoadConfig{Bases: bases, Total: total, Clients: 12, Timeout: 2 * time.Minute})
	res := load.Wait()
	checkLoad(t, res, total)
	waitSucceeded(t, db, total, 2*time.Minute)
	wall := time.Since(began)

	st := rcv.Stats(t, true)
	a := account(t, db, res, st)
	if a.lost != 0 || a.storedWithout202 != 0 {
		t.Errorf("lost %d, stored without a 202 %d; want 0 and 0", a.lost, a.storedWithout202)
	}
	if st.Requests != total || st.Accepted != total || st.UniqueEvents != total || st.Duplicates != 0 {
		t.Errorf("receiver: %d requests, %d accepted, %d unique, %d duplicates; want %d, %d, %d, 0",
			st.Requests, st.Accepted, st.UniqueEvents, st.Duplicates, total, total, total)
	}
	if n := db.Int(t, "SELECT count(*) FROM delivery_attempts"); n != total {
		t.Errorf("%d attempt rows, want %d (one per event)", n, total)
	}
	var shares []string
	for _, d := range ds {
		id := strings.TrimPrefix(d.Name, "dispatcher-")
		n := db.Int(t, "SELECT count(*) FROM delivery_attempts WHERE worker = $1 AND verdict = 'succeeded'", id)
		share := float64(n) / total
		shares = append(shares, fmt.Sprintf("%s=%d(%.0f%%)", id, n, 100*share))
		if share < minShare {
			t.Errorf("%s delivered %d events (%.1f%%), less than %.0f%%: the work is not spread", id, n, 100*share, 100*minShare)
		}
		if d.Exited() {
			t.Errorf("%s exited during the run", d.Name)
		}
	}
	stopGracefully(t, 15*time.Second, ds...)
	t.Logf("SUMMARY scaleout (postgres): accepted=%d delivered=%d lost=%d duplicates=%d dispatchers=%d shares=[%s] posting=%s (%.0f/s) wall=%s (%.0f events/s end to end)",
		a.accepted, a.delivered, a.lost, st.Duplicates, replicas, strings.Join(shares, " "),
		secs(res.Elapsed), float64(total)/res.Elapsed.Seconds(), secs(wall), float64(total)/wall.Seconds())
}
