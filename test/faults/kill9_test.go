package faults

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/test/harness"
)

// TestKill9MidLoad: producers post 5,000 events at a steady rate while the
// dispatcher is SIGKILLed three times at random moments and restarted on
// the same port. Every event accepted with a 202 ends succeeded and reached
// the receiver; duplicates are bounded by what the killed process had
// leased (its in-flight deliveries, whose outcome it could not record).
// It runs on each durable store; a SQLite file must also pass its
// integrity check after the crashes.
func TestKill9MidLoad(t *testing.T) {
	bins := setup(t)
	for _, store := range harness.Stores {
		t.Run(store, func(t *testing.T) { kill9(t, bins, store) })
	}
}

func kill9(t *testing.T, bins harness.Binaries, store string) {
	began := time.Now()
	const (
		total = 5000
		rate  = 400 // events/s: posting spreads over 12.5 s
		kills = 3
	)
	db, rcv := okAfter(t, bins, store, 20)
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	port := harness.FreePort(t)
	start := func(n int) (*harness.Dispatcher, string) {
		id := fmt.Sprintf("kill9-%d", n)
		env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"WORKER_ID": id, "LEASE_MS": "3000", "HTTP_TIMEOUT_MS": "1000",
			"BATCH_SIZE": "50", "MAX_IN_FLIGHT_PER_TARGET": "64",
		})
		return harness.StartDispatcherAt(t, bins, "dispatcher-"+id, port, env), id
	}
	d, worker := start(1)

	load := harness.StartLoad(t, harness.LoadConfig{
		Bases: []string{d.Base}, Total: total, Rate: rate, Timeout: 2 * time.Minute,
	})
	d, leased := killDuring(t, db, load, time.Now(), 11500*time.Millisecond, kills, rng, d, worker, start)
	bound := 0
	var leasedAtKills []string
	for _, n := range leased {
		bound += n
		leasedAtKills = append(leasedAtKills, fmt.Sprint(n))
	}

	res := load.Wait()
	checkLoad(t, res, total)
	waitSucceeded(t, db, total, time.Minute)
	st := rcv.Stats(t, true)
	a := account(t, db, res, st)
	if st.RejectedSignature != 0 {
		t.Errorf("receiver refused %d signatures", st.RejectedSignature)
	}
	// No event may have run out of attempts through the crashes.
	if n := db.Int(t, "SELECT count(*) FROM delivery_attempts WHERE verdict IN ('lost', 'dead')"); n != 0 {
		t.Errorf("%d attempts were declared lost or dead, want 0", n)
	}
	failed := db.Int(t, "SELECT count(*) FROM delivery_attempts WHERE verdict <> 'succeeded'")
	if st.Duplicates > int64(bound) {
		t.Errorf("receiver saw %d duplicates, more than the %d events leased at the kills", st.Duplicates, bound)
	}
	if a.lost != 0 || a.storedWithout202 != 0 {
		t.Errorf("lost %d, stored without a 202 %d; want 0 and 0", a.lost, a.storedWithout202)
	}
	stopGracefully(t, 15*time.Second, d)
	t.Logf("SUMMARY kill9 (%s): accepted=%d delivered=%d lost=%d duplicates=%d (bound %d = leased at kills %s) stored_without_202=%d replayed_202=%d failed_attempts=%d producer_retries=%d kills=%d%s posting=%s wall=%s",
		store, a.accepted, a.delivered, a.lost, st.Duplicates, bound, strings.Join(leasedAtKills, "+"), a.storedWithout202, res.Replayed, failed, res.Retries, kills,
		integrity(t, db), secs(res.Elapsed), secs(time.Since(began)))
}
