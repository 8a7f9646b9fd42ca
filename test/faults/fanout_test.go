package faults

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// secretB is the second merchant's endpoint secret (32 bytes).
const secretB = "whsec_c2Vjb25kLW1lcmNoYW50LXNlY3JldC1mb3ItZmF1bHRz"

// TestKill9FanOut is TestKill9MidLoad with events routed to two endpoints,
// each a mock receiver that verifies with its own secret: A takes
// order.paid, B every type. The dispatcher is SIGKILLed twice while 2,000
// typed events arrive. Every accepted event must reach every endpoint it
// routes to (order.paid both, invoice.sent B only), every delivery end
// succeeded, no receiver refuse a signature (so no delivery was signed with
// the other merchant's secret), and duplicates stay within what the killed
// processes had leased.
func TestKill9FanOut(t *testing.T) {
	bins := setup(t)
	for _, store := range harness.Stores {
		t.Run(store, func(t *testing.T) { kill9FanOut(t, bins, store) })
	}
}

func kill9FanOut(t *testing.T, bins harness.Binaries, store string) {
	began := time.Now()
	const (
		total = 2000
		rate  = 250 // events/s: posting spreads over 8 s
		kills = 2
	)
	db := harness.NewDBOf(t, store)
	rcvA := harness.StartReceiver(t, bins, nil)
	rcvB := harness.StartReceiver(t, bins, map[string]string{"HMAC_SECRET": secretB})
	for _, r := range []*harness.Receiver{rcvA, rcvB} {
		r.Control(t, map[string]any{"mode": "ok", "delay_ms": 20})
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	port := harness.FreePort(t)
	start := func(n int) (*harness.Dispatcher, string) {
		id := fmt.Sprintf("fanout-%d", n)
		env := harness.DispatcherEnv(db, rcvA.URL(), map[string]string{
			"WORKER_ID": id, "LEASE_MS": "3000", "HTTP_TIMEOUT_MS": "1000", "BATCH_SIZE": "50",
			"MAX_IN_FLIGHT_PER_TARGET": "64", "ENCRYPTION_KEY": strings.Repeat("5a", 32),
		})
		return harness.StartDispatcherAt(t, bins, "dispatcher-"+id, port, env), id
	}
	d, worker := start(1)
	for _, ep := range []map[string]any{
		{"url": rcvA.URL(), "event_types": []string{"order.paid"}, "secret": harness.Secret},
		{"url": rcvB.URL(), "secret": secretB},
	} {
		if code, body := harness.PostJSONCode(t, d.Base+"/endpoints", ep, nil); code != http.StatusCreated {
			t.Fatalf("POST /endpoints: %d %s", code, body)
		}
	}
	typeOf := func(i int) string {
		if i%2 == 0 {
			return "order.paid"
		}
		return "invoice.sent"
	}
	load := harness.StartLoad(t, harness.LoadConfig{
		Bases: []string{d.Base}, Total: total, Rate: rate, Timeout: 2 * time.Minute, EventType: typeOf,
	})
	d, leased := killDuring(t, db, load, time.Now(), 7500*time.Millisecond, kills, rng, d, worker, start)
	bound := 0
	for _, n := range leased {
		bound += n
	}

	res := load.Wait()
	checkLoad(t, res, total)
	wantDeliveries := total + total/2 // B gets every event, A the order.paid half
	testkit.Eventually(t, time.Minute, fmt.Sprintf("%d deliveries succeeded", wantDeliveries), func() bool {
		return db.Counts(t)["succeeded"] == wantDeliveries
	})
	if n := db.Int(t, "SELECT count(*) FROM deliveries"); n != wantDeliveries {
		t.Errorf("%d deliveries stored, want %d (one per endpoint an event routes to)", n, wantDeliveries)
	}
	stA, stB := rcvA.Stats(t, true), rcvB.Stats(t, true)
	lost := 0
	for key, id := range res.Accepted {
		var i int
		if _, err := fmt.Sscanf(key[strings.LastIndex(key, "-")+1:], "%d", &i); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if stB.Events[id].Accepted < 1 {
			lost++
			t.Errorf("event %s (%s) never reached endpoint B", id, key)
		}
		if typeOf(i) == "order.paid" && stA.Events[id].Accepted < 1 {
			lost++
			t.Errorf("order.paid %s (%s) never reached endpoint A", id, key)
		}
		if typeOf(i) != "order.paid" && stA.Events[id].Requests > 0 {
			t.Errorf("invoice.sent %s reached endpoint A, which does not subscribe to it", id)
		}
	}
	if stA.RejectedSignature+stB.RejectedSignature != 0 {
		t.Errorf("receivers refused %d+%d signatures: a delivery was signed with another endpoint's secret",
			stA.RejectedSignature, stB.RejectedSignature)
	}
	dups := stA.Duplicates + stB.Duplicates
	if dups > int64(bound) {
		t.Errorf("receivers saw %d duplicates, more than the %d deliveries leased at the kills", dups, bound)
	}
	stopGracefully(t, 15*time.Second, d)
	t.Logf("SUMMARY kill9-fanout (%s): accepted=%d deliveries=%d lost=%d duplicates=%d (bound %d) kills=%d%s wall=%s",
		store, len(res.Accepted), wantDeliveries, lost, dups, bound, kills, integrity(t, db), secs(time.Since(began)))
}
