package faults

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestGracefulShutdown sends SIGTERM while deliveries are in flight. Either
// they finish within SHUTDOWN_GRACE_MS and are recorded, or they are
// cancelled and released with their attempt unspent. Either way the
// process exits 0 promptly, leaves no live lease behind, and a restarted
// dispatcher delivers the rest, each event exactly once. Both cases run on
// each durable store.
func TestGracefulShutdown(t *testing.T) {
	bins := setup(t)
	for _, store := range harness.Stores {
		t.Run(store, func(t *testing.T) {
			t.Run("in-flight finish within the grace", func(t *testing.T) { shutdownFinishes(t, bins, store) })
			t.Run("in-flight outlast the grace", func(t *testing.T) { shutdownReleases(t, bins, store) })
		})
	}
}

// shutdownFinishes: receiver latency 300 ms, grace 3 s.
func shutdownFinishes(t *testing.T, bins harness.Binaries, store string) {
	began := time.Now()
	const (
		total = 300
		grace = 3 * time.Second
	)
	db, rcv := okAfter(t, bins, store, 300)
	env := func(id string) map[string]string {
		return harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"WORKER_ID": id, "SHUTDOWN_GRACE_MS": "3000", "LOG_LEVEL": "info",
		})
	}
	d := harness.StartDispatcher(t, bins, "dispatcher-1", env("shutdown-a-1"))
	res := harness.StartLoad(t, harness.LoadConfig{Bases: []string{d.Base}, Total: total}).Wait()
	checkLoad(t, res, total)
	testkit.Eventually(t, 20*time.Second, "50 deliveries and more in flight", func() bool {
		return rcv.Stats(t, false).Accepted >= 50 && db.Counts(t)["delivering"] > 0
	})

	sent := time.Now()
	d.Signal(syscall.SIGTERM)
	code := d.Wait(grace + 5*time.Second)
	exit := time.Since(sent)
	inFlight := stoppedInFlight(t, d)
	live := db.LiveLeases(t)
	delivering := db.Counts(t)["delivering"]
	// Every request the receiver got was answered within the grace, so
	// every one of them is in the history.
	requests, recorded := rcv.Stats(t, false).Requests, db.Int(t, "SELECT count(*) FROM delivery_attempts")
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if inFlight == 0 {
		t.Fatalf("nothing was in flight at the SIGTERM: the test proves nothing")
	}
	if live != 0 || delivering != 0 {
		t.Errorf("after the stop %d events are delivering (%d with a live lease), want 0", delivering, live)
	}
	if int64(recorded) != requests {
		t.Errorf("the receiver got %d requests but %d attempts are recorded: in-flight deliveries were not recorded", requests, recorded)
	}
	if strings.Contains(d.Log(), "grace period over") {
		t.Errorf("deliveries of 300 ms did not finish within a %s grace", grace)
	}
	pending := db.Counts(t)["pending"]

	d2 := harness.StartDispatcher(t, bins, "dispatcher-2", env("shutdown-a-2"))
	waitSucceeded(t, db, total, time.Minute)
	st := rcv.Stats(t, true)
	a := account(t, db, res, st)
	if st.Requests != total || st.Duplicates != 0 || a.lost != 0 {
		t.Errorf("receiver: %d requests, %d duplicates, %d lost; want %d, 0, 0", st.Requests, st.Duplicates, a.lost, total)
	}
	stopGracefully(t, grace+5*time.Second, d2)
	t.Logf("SUMMARY shutdown-finish (%s): accepted=%d delivered=%d lost=%d duplicates=%d in_flight_at_sigterm=%d recorded_before_exit=%d "+
		"left_pending=%d delivering_after_exit=%d exit_code=%d exit_after=%s (grace %s)%s wall=%s",
		store, a.accepted, a.delivered, a.lost, st.Duplicates, inFlight, recorded, pending, delivering, code,
		exit.Round(time.Millisecond), grace, integrity(t, db), secs(time.Since(began)))
}

// shutdownReleases: receiver latency 5 s, grace 500 ms, lease 40 s (the
// default), so that only the release, not an expired lease, lets the
// restarted dispatcher deliver the interrupted events at once.
func shutdownReleases(t *testing.T, bins harness.Binaries, store string) {
	began := time.Now()
	const (
		total   = 40
		perTgt  = 16
		grace   = 500 * time.Millisecond
		latency = 5000
	)
	db, rcv := okAfter(t, bins, store, latency)
	env := func(id string) map[string]string {
		return harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"WORKER_ID": id, "SHUTDOWN_GRACE_MS": "500", "HTTP_TIMEOUT_MS": "10000", "LOG_LEVEL": "info",
			// A full window at once: 5 s answers would take 15 s to grow it.
			"INITIAL_IN_FLIGHT_PER_TARGET": "16",
		})
	}
	d := harness.StartDispatcher(t, bins, "dispatcher-1", env("shutdown-b-1"))
	res := harness.StartLoad(t, harness.LoadConfig{Bases: []string{d.Base}, Total: total}).Wait()
	checkLoad(t, res, total)
	// A window in flight, and one more claimed ahead (core/dispatch/ahead.go).
	testkit.Eventually(t, 10*time.Second, "16 requests hanging at the receiver, 16 more claimed ahead", func() bool {
		return rcv.Stats(t, false).Requests >= perTgt && db.Counts(t)["delivering"] == 2*perTgt
	})
	held := ids(t, db, "SELECT CAST(id AS TEXT) FROM deliveries WHERE status = 'delivering' AND locked_by = 'shutdown-b-1'")

	sent := time.Now()
	d.Signal(syscall.SIGTERM)
	code := d.Wait(grace + 3*time.Second)
	exit := time.Since(sent)
	inFlight := stoppedInFlight(t, d)
	live := db.LiveLeases(t)
	evs := events(t, db)
	recorded := db.Int(t, "SELECT count(*) FROM delivery_attempts")
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if len(held) != 2*perTgt || inFlight != perTgt {
		t.Fatalf("%d events leased and %d in flight at the SIGTERM, want %d and %d", len(held), inFlight, 2*perTgt, perTgt)
	}
	if live != 0 {
		t.Errorf("after the stop %d events are delivering with a live lease, want 0", live)
	}
	for _, id := range held {
		if e := evs[id]; e.Status != "pending" || e.Attempted != 0 || e.LockedBy != "" {
			t.Errorf("interrupted event %s after the stop: %s, %d attempts, locked by %q; want pending, 0, none",
				id, e.Status, e.Attempted, e.LockedBy)
		}
	}
	if recorded != 0 {
		t.Errorf("%d attempts recorded for cancelled deliveries, want 0", recorded)
	}
	if !strings.Contains(d.Log(), "grace period over") {
		t.Errorf("the dispatcher's log does not say it cancelled the in-flight deliveries")
	}
	if st := rcv.Stats(t, false); st.Accepted != 0 {
		t.Errorf("the receiver accepted %d deliveries the dispatcher cancelled", st.Accepted)
	}

	rcv.Control(t, map[string]any{"mode": "ok"})
	restarted := time.Now()
	d2 := harness.StartDispatcher(t, bins, "dispatcher-2", env("shutdown-b-2"))
	waitSucceeded(t, db, total, 30*time.Second)
	drained := time.Since(restarted)
	st := rcv.Stats(t, true)
	a := account(t, db, res, st)
	if st.Accepted != total || st.Duplicates != 0 || a.lost != 0 {
		t.Errorf("receiver: %d accepted, %d duplicates, %d lost; want %d, 0, 0", st.Accepted, st.Duplicates, a.lost, total)
	}
	if n := db.Int(t, "SELECT count(*) FROM deliveries WHERE attempted_count <> 1"); n != 0 {
		t.Errorf("%d events spent more than one attempt: the cancelled attempt was counted", n)
	}
	stopGracefully(t, 10*time.Second, d2)
	t.Logf("SUMMARY shutdown-release (%s): accepted=%d delivered=%d lost=%d duplicates=%d in_flight_at_sigterm=%d released=%d "+
		"attempts_spent_by_cancelled=%d live_leases_after_exit=%d exit_code=%d exit_after=%s (grace %s) restart_drained_in=%s%s wall=%s",
		store, a.accepted, a.delivered, a.lost, st.Duplicates, inFlight, len(held), recorded, live, code,
		exit.Round(time.Millisecond), grace, drained.Round(time.Millisecond), integrity(t, db), secs(time.Since(began)))
}

// stoppedInFlight reads how many deliveries the worker had in flight when
// it stopped claiming, from its log (LOG_LEVEL=info).
func stoppedInFlight(t *testing.T, d *harness.Dispatcher) int {
	t.Helper()
	rec, ok := logRecord(d.Proc, "worker stopping: no more claims")
	if !ok {
		t.Fatalf("%s never logged that it stopped claiming", d.Name)
	}
	n, _ := rec["in_flight"].(float64)
	return int(n)
}
