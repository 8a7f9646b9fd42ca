package faults

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// leaseTakenOver is the warning a worker logs when it finishes an attempt
// whose lease another worker took over meanwhile.
const leaseTakenOver = "attempt finished after our lease was taken over; newer state kept"

// TestLeaseExpiry freezes worker A (SIGSTOP) while it has deliveries in
// flight, for longer than the lease. Worker B takes A's events over and
// delivers them; when A resumes, its late completions must not overwrite
// B's: every event ends succeeded, A's events carry B's successful attempt
// and no attempt of A's, and A logs that its lease was taken over.
func TestLeaseExpiry(t *testing.T) {
	bins := setup(t)
	began := time.Now()
	const (
		total = 30
		lease = 3 * time.Second
	)
	db, rcv := okAfter(t, bins, harness.KindPostgres, 1000)
	env := func(role, id string) map[string]string {
		return harness.DispatcherEnv(db, rcv.URL(), map[string]string{
			"ROLE": role, "WORKER_ID": id, "LEASE_MS": "3000", "HTTP_TIMEOUT_MS": "2000",
			"INITIAL_IN_FLIGHT_PER_TARGET": "16", // many leases to take over, from the first second
		})
	}
	api := harness.StartDispatcher(t, bins, "api", env("api", "lease-api"))
	a := harness.StartDispatcher(t, bins, "worker-A", env("worker", "lease-A"))
	b := harness.StartDispatcher(t, bins, "worker-B", env("worker", "lease-B"))

	res := harness.StartLoad(t, harness.LoadConfig{Bases: []string{api.Base}, Total: total}).Wait()
	checkLoad(t, res, total)
	testkit.Eventually(t, 10*time.Second, "A to have deliveries in flight", func() bool {
		return db.Int(t, "SELECT count(*) FROM deliveries WHERE status = 'delivering' AND locked_by = 'lease-A'") >= 3
	})
	a.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	time.Sleep(200 * time.Millisecond) // a statement A sent just before the stop commits meanwhile
	held := ids(t, db, "SELECT CAST(id AS TEXT) FROM deliveries WHERE status = 'delivering' AND locked_by = 'lease-A'")
	if len(held) == 0 {
		t.Fatalf("A holds nothing once frozen: the test proves nothing")
	}
	testkit.Eventually(t, 20*time.Second, "B to deliver A's events", func() bool {
		n := db.Int(t, "SELECT count(*) FROM deliveries WHERE id = ANY($1::uuid[]) AND status = 'succeeded'", pgArray(held))
		return n == len(held)
	})
	if d := time.Since(frozen); d < lease+500*time.Millisecond {
		time.Sleep(lease + 500*time.Millisecond - d) // frozen well past the lease, whatever B did
	}
	a.Signal(syscall.SIGCONT)
	thawed := time.Since(frozen)

	// A's attempts in flight read their stale answers (or time out) and try
	// to record; a batch A had claimed but not started may go out now, late.
	// Once A has woken up, stop it gracefully: it finishes (and tries to
	// record) whatever it still has in flight before it exits, so that the
	// checks below see everything A did.
	// Not fatal if A stays silent: the checks below say what it did instead.
	waitFor(10*time.Second, func() bool { return strings.Contains(a.Log(), leaseTakenOver) })

	// A's attempts timed out while it was frozen; those stalled timeouts
	// say nothing about the merchant and must not trip A's breaker, which
	// would park the merchant's events for every worker.
	more := harness.StartLoad(t, harness.LoadConfig{Bases: []string{api.Base}, Total: 10, KeyPrefix: "after-thaw-"}).Wait()
	checkLoad(t, more, 10)
	afterThaw := time.Now()
	waitSucceeded(t, db, total+10, 10*time.Second)
	if d := time.Since(afterThaw); d > 5*time.Second {
		t.Errorf("events posted after A resumed took %s: a stalled worker parked a healthy merchant", d)
	}
	if strings.Contains(a.Log(), `"to":"open"`) {
		t.Errorf("A's breaker opened on its own stalled attempts")
	}
	stopGracefully(t, 15*time.Second, a)
	hist := attempts(t, db)
	evs := events(t, db)
	takenOver := 0
	for _, id := range held {
		h := hist[id]
		if len(h) != 1 || h[0].Worker != "lease-B" || h[0].Verdict != "succeeded" || h[0].Number != 2 {
			t.Errorf("event %s, held by A: history %+v, want one succeeded attempt 2 by lease-B", id, h)
		} else {
			takenOver++
		}
		if e := evs[id]; e.Attempted != 2 || e.LockedBy != "" {
			t.Errorf("event %s, held by A: %d attempts, locked by %q; want 2 and nobody", id, e.Attempted, e.LockedBy)
		}
	}
	st := rcv.Stats(t, true)
	acc := account(t, db, res.Merge(more), st)
	if acc.lost != 0 {
		t.Errorf("%d events lost", acc.lost)
	}
	if st.Duplicates > int64(len(held)) {
		t.Errorf("receiver saw %d duplicates, more than the %d events A held", st.Duplicates, len(held))
	}
	warnings := strings.Count(a.Log(), leaseTakenOver)
	if warnings < 1 || warnings > len(held) {
		t.Errorf("A logged %d taken-over leases, want 1 to %d (one per attempt it had in flight)", warnings, len(held))
	}
	stopGracefully(t, 15*time.Second, b, api)
	t.Logf("SUMMARY lease (postgres): accepted=%d delivered=%d lost=%d held_by_A=%d taken_over_by_B=%d duplicates=%d a_late_completions_refused=%d frozen=%s (lease %s) wall=%s",
		acc.accepted, acc.delivered, acc.lost, len(held), takenOver, st.Duplicates, warnings,
		secs(thawed), lease, secs(time.Since(began)))
}

// pgArray formats ids as a PostgreSQL array literal.
func pgArray(ids []string) string { return "{" + strings.Join(ids, ",") + "}" }
