package faults

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestDatabaseRestart stops PostgreSQL (fast shutdown) under load, keeps
// posting for 5 s and starts it again. While it is down, POST /events and
// /ready answer 503 with the JSON envelope and the dispatcher keeps
// running, logging its failed claims; afterwards the API recovers without a
// restart and everything accepted is delivered. No 202 may name a row that
// is not stored.
func TestDatabaseRestart(t *testing.T) {
	bins := setup(t)
	pg := harness.RequirePostgres(t)
	began := time.Now()
	const (
		total = 1500
		rate  = 100 // posting spreads over 15 s, the outage in the middle
		down  = 5 * time.Second
	)
	db, rcv := okAfter(t, bins, harness.KindPostgres, 20)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"WORKER_ID": "dbrestart-1", "LEASE_MS": "3000", "HTTP_TIMEOUT_MS": "1000",
	}))
	load := harness.StartLoad(t, harness.LoadConfig{Bases: []string{d.Base}, Total: total, Rate: rate, Timeout: 2 * time.Minute})
	testkit.Eventually(t, 20*time.Second, "300 events accepted", func() bool { return load.Accepted() >= 300 })
	deliveredBefore := rcv.Stats(t, false).Accepted

	pg.Stop(t)
	stopped := time.Now()
	probes := probeWhileDown(t, d, down)
	if d.Exited() {
		t.Fatalf("the dispatcher exited while the database was down")
	}
	restarting := time.Now()
	pg.Start(t)
	restarted := time.Now()
	harness.WaitHealthy(t, d.Base+"/ready", 30*time.Second)
	recovery := time.Since(restarted)
	db.ResetPool()

	res := load.Wait()
	checkLoad(t, res, total)
	// Every producer try made entirely within the outage was told 503
	// unavailable; and posting works again afterwards.
	outage, after := 0, 0
	for _, try := range res.Tries {
		switch {
		case try.Start.After(stopped) && try.End.Before(restarting):
			outage++
			if try.Status != http.StatusServiceUnavailable || try.Code != "unavailable" {
				t.Errorf("POST %s while the database was down: status %d code %q err %q, want 503 unavailable",
					try.Key, try.Status, try.Code, try.Err)
			}
		case try.Start.After(restarted) && try.Status == http.StatusAccepted:
			after++
		}
	}
	if outage == 0 || after == 0 {
		t.Fatalf("%d producer tries during the outage and %d accepted after it: the test proves nothing", outage, after)
	}

	waitSucceeded(t, db, total, time.Minute)
	st := rcv.Stats(t, true)
	a := account(t, db, res, st)
	if a.lost != 0 || a.storedWithout202 != 0 {
		t.Errorf("lost %d, stored without a 202 %d; want 0 and 0", a.lost, a.storedWithout202)
	}
	if d.Exited() {
		t.Fatalf("the dispatcher exited")
	}
	backoffs := strings.Count(d.Log(), "claim failed; backing off")
	if backoffs == 0 {
		t.Errorf("the dispatcher's log shows no failed claim while the database was down")
	}
	// A delivery whose outcome could not be recorded while the database
	// was away (or was recorded too late: its lease had been taken over) is
	// sent again: the only sources of duplicates here.
	log := d.Log()
	unrecorded := strings.Count(log, "outcome could not be recorded") + strings.Count(log, leaseTakenOver)
	if st.Duplicates > int64(unrecorded) {
		t.Errorf("receiver saw %d duplicates but only %d outcomes went unrecorded", st.Duplicates, unrecorded)
	}
	stopGracefully(t, 15*time.Second, d)
	t.Logf("SUMMARY dbrestart (postgres): accepted=%d delivered=%d lost=%d duplicates=%d (bound: unrecorded_outcomes=%d) stored_without_202=%d replayed_202=%d "+
		"down=%s producer_503s=%d probes(post=%d ready=%d all 503) claim_backoffs_logged=%d delivered_before_stop=%d api_recovery=%s wall=%s",
		a.accepted, a.delivered, a.lost, st.Duplicates, unrecorded, a.storedWithout202, res.Replayed,
		secs(restarting.Sub(stopped)), outage, probes.posts, probes.ready, backoffs, deliveredBefore,
		recovery.Round(time.Millisecond), secs(time.Since(began)))
}

type probeCounts struct{ posts, ready int }

// probeWhileDown asks d's /ready and POST /events every 250 ms for window; each must
// answer 503 with the error envelope (unavailable) and, for the POST,
// Retry-After.
func probeWhileDown(t *testing.T, d *harness.Dispatcher, window time.Duration) probeCounts {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var n probeCounts
	body, _ := json.Marshal(map[string]any{"payload": map[string]any{"probe": true}})
	check := func(what string, resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s while the database was down: %v", what, err)
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var env struct{ Error struct{ Code string } }
		_ = json.Unmarshal(raw, &env)
		if resp.StatusCode != http.StatusServiceUnavailable || env.Error.Code != "unavailable" {
			t.Errorf("%s while the database was down: %d %s, want 503 with code unavailable", what, resp.StatusCode, raw)
		}
		if what == "POST /events" && resp.Header.Get("Retry-After") == "" {
			t.Errorf("POST /events while the database was down: 503 without Retry-After")
		}
	}
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		resp, err := client.Get(d.Base + "/ready")
		check("GET /ready", resp, err)
		n.ready++
		resp, err = client.Post(d.Base+"/events", "application/json", bytes.NewReader(body))
		check("POST /events", resp, err)
		n.posts++
		if d.Exited() {
			t.Fatalf("the dispatcher exited while the database was down")
		}
	}
	return n
}
