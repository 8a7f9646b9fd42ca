package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// The delivery-policy tests: real binaries, the default test store (see
// harness.NewDB), the real mock receiver switched between modes at run
// time.

type eventView struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	AttemptedCount int       `json:"attempted_count"`
	CreatedAt      time.Time `json:"created_at"`
	Attempts       []struct {
		Number     int       `json:"number"`
		StatusCode *int      `json:"status_code"`
		Verdict    string    `json:"verdict"`
		Reason     string    `json:"reason"`
		StartedAt  time.Time `json:"started_at"`
	} `json:"attempts"`
}

func getEvent(t *testing.T, d *harness.Dispatcher, id string) eventView {
	t.Helper()
	var ev eventView
	if code := d.GetJSON(t, "/events/"+id, &ev); code != http.StatusOK {
		t.Fatalf("GET /events/%s: %d", id, code)
	}
	return ev
}

// TestOfflineMerchantIsParkedNotHammered: a merchant is down for a window
// several breaker intervals long. While it is down it receives only the
// burst that trips the breaker plus about one probe per open interval;
// afterwards every event is delivered, none dead, and attempts are not
// inflated by the outage (MAX_ATTEMPTS is small enough that plain backoff
// would have killed every event).
func TestOfflineMerchantIsParkedNotHammered(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	const (
		failures  = 3
		perTarget = 4
		openFor   = time.Second
		down      = 6 * time.Second
		n         = 50
	)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"BREAKER_FAILURES": "3", "BREAKER_OPEN_MS": "1000", "RETRY_BASE_MS": "200", "RETRY_MAX_BACKOFF_MS": "1000",
		"MAX_ATTEMPTS": "5", "MAX_IN_FLIGHT_PER_TARGET": "4", "POLL_INTERVAL_MS": "100",
	}))

	rcv.Control(t, map[string]any{"mode": "down"})
	before := rcv.Stats(t, false).Requests
	d.PostMany(t, n, 4)
	start := time.Now()
	time.Sleep(down)
	during := rcv.Stats(t, false).Requests - before
	rcv.Control(t, map[string]any{"mode": "ok"})
	elapsed := time.Since(start)

	// The trip burst is at most the in-flight cap plus the failures that
	// trip it; then one probe per open interval (+1 for the boundaries).
	limit := int64(perTarget + failures + int(elapsed/openFor) + 1)
	t.Logf("requests while down for %s: %d (limit %d; without the breaker: one per event per backoff)", elapsed.Round(time.Millisecond), during, limit)
	if during > limit {
		t.Errorf("the offline merchant received %d requests in %s, more than %d", during, elapsed, limit)
	}
	if during < failures {
		t.Fatalf("only %d requests while down: the breaker never tripped, the test proves nothing", during)
	}

	testkit.Eventually(t, time.Minute, "every event delivered after the outage", func() bool { return db.Counts(t)["succeeded"] == n })
	if dead := db.Counts(t)["dead"]; dead != 0 {
		t.Errorf("%d events died during the outage", dead)
	}
	// Attempts spent in all = every failed request while down + one success
	// each. Parked events spent none.
	attempts := db.Int(t, "SELECT coalesce(sum(attempted_count), 0) FROM deliveries")
	if extra := int64(attempts - n); extra > during {
		t.Errorf("events spent %d extra attempts but only %d requests failed: parking spent attempts", extra, during)
	}
	// At most the trip burst spent an attempt on an event; parked events
	// and failed half-open probes spend none, however long the outage.
	if most := db.Int(t, "SELECT max(attempted_count) FROM deliveries"); most > 2 {
		t.Errorf("an event spent %d attempts across the outage, want at most 2 (the trip burst, then the success)", most)
	}
	if st := rcv.Stats(t, false); st.UniqueEvents != n || st.Duplicates != 0 {
		t.Errorf("receiver after the outage: %d unique, %d duplicates", st.UniqueEvents, st.Duplicates)
	}
	var targets struct {
		Data []struct {
			Origin string `json:"origin"`
			State  string `json:"state"`
		} `json:"data"`
	}
	if code := d.GetJSON(t, "/targets", &targets); code != http.StatusOK || len(targets.Data) != 1 || targets.Data[0].State != "closed" {
		t.Errorf("GET /targets after recovery: %d %+v, want the one target closed", code, targets.Data)
	}
	if log := d.Log(); !strings.Contains(log, `"to":"open"`) {
		t.Errorf("no breaker state change in the dispatcher log")
	}
}

// TestRetryAfterIsHonoured: a 429 with Retry-After: 2 is not retried
// before 2 s, although the backoff alone would retry after 100 ms.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	rcv.Control(t, map[string]any{"mode": "status", "status": 429, "retry_after": "2"})
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"RETRY_BASE_MS": "100", "POLL_INTERVAL_MS": "50",
	}))
	_, id := d.Post(t, map[string]any{"order": "rate-limited"})
	testkit.Eventually(t, 10*time.Second, "the first attempt", func() bool { return rcv.Stats(t, false).Requests >= 1 })
	rcv.Control(t, map[string]any{"mode": "ok"})
	testkit.Eventually(t, 15*time.Second, "the retry to succeed", func() bool { return getEvent(t, d, id).Status == "succeeded" })
	ev := getEvent(t, d, id)
	if len(ev.Attempts) != 2 {
		t.Fatalf("attempts: %+v", ev.Attempts)
	}
	gap := ev.Attempts[1].StartedAt.Sub(ev.Attempts[0].StartedAt)
	if gap < 2*time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 2", gap)
	}
	if !strings.Contains(ev.Attempts[0].Reason, "Retry-After 2s") {
		t.Errorf("first attempt's reason %q does not say Retry-After", ev.Attempts[0].Reason)
	}
	if st := rcv.Stats(t, false); st.Requests != 2 {
		t.Errorf("receiver got %d requests, want 2", st.Requests)
	}
}

// TestGoneIsDeadAfterOneAttempt: 410 means never again.
func TestGoneIsDeadAfterOneAttempt(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	rcv.Control(t, map[string]any{"mode": "status", "status": 410})
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{"RETRY_BASE_MS": "100"}))
	_, id := d.Post(t, map[string]any{"order": "gone"})
	testkit.Eventually(t, 10*time.Second, "the event to die", func() bool { return getEvent(t, d, id).Status == "dead" })
	time.Sleep(500 * time.Millisecond) // five backoffs' worth: nothing more may be sent
	ev := getEvent(t, d, id)
	if ev.AttemptedCount != 1 || len(ev.Attempts) != 1 || ev.Attempts[0].Verdict != "dead" {
		t.Errorf("after a 410: %d attempts, history %+v", ev.AttemptedCount, ev.Attempts)
	}
	if st := rcv.Stats(t, false); st.Requests != 1 {
		t.Errorf("receiver got %d requests, want 1", st.Requests)
	}
}

// TestHangingMerchantDoesNotDelayOthers: one merchant hangs every request
// until the timeout; another, healthy, shares the queue. The healthy
// merchant's events arrive as fast as when it is alone.
func TestHangingMerchantDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	bins, db, hanging := harness.NewStack(t, nil)
	hanging.Control(t, map[string]any{"mode": "ok", "delay_ms": 60_000})
	healthy := harness.StartReceiver(t, bins, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, healthy.URL(), map[string]string{
		"HTTP_TIMEOUT_MS": "5000", "MAX_IN_FLIGHT_PER_TARGET": "4", "BATCH_SIZE": "10", "BREAKER_FAILURES": "1000",
	}))

	// The hanging merchant's events go first, so they are first in line.
	for i := range 40 {
		body := map[string]any{"target_url": hanging.URL(), "payload": map[string]any{"slow": i}}
		harness.PostJSON(t, d.Base+"/events", body)
	}
	// Its window starts at 2 and each 5 s timeout keeps it small: the 4th
	// request starts after the second round of timeouts, ~10 s in (9.96–
	// 9.99 s measured, before and after this round's changes), so a 10 s
	// wait failed whenever the box was a little slow.
	testkit.Eventually(t, 20*time.Second, "the hanging merchant to be busy", func() bool { return hanging.Stats(t, false).Requests >= 4 })
	posted := time.Now()
	ids := d.PostMany(t, 40, 4) // to TARGET_URL, the healthy merchant
	testkit.Eventually(t, 10*time.Second, "the healthy merchant's events", func() bool { return healthy.Stats(t, false).Accepted >= 40 })
	took := time.Since(posted)
	t.Logf("40 healthy events delivered %s after posting, beside a merchant that hangs for 5 s", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("the healthy merchant waited %s: the hanging one delayed it", took)
	}
	if st := healthy.Stats(t, false); st.UniqueEvents != len(ids) {
		t.Errorf("healthy receiver: %d unique of %d", st.UniqueEvents, len(ids))
	}
	inFlight := db.Int(t, "SELECT count(*) FROM deliveries WHERE status = 'delivering' AND target_url = $1", hanging.URL())
	if inFlight > 4 {
		t.Errorf("%d deliveries in flight to the hanging merchant, above MAX_IN_FLIGHT_PER_TARGET=4", inFlight)
	}
	d.Signal(syscall.SIGTERM)
	d.Wait(20 * time.Second)
}

// TestDeadMerchantCostsAFewRequests is the goal of the adaptive window and
// the breaker together, at default settings but BREAKER_OPEN_MS=5000: a
// merchant that drops every connection for 20 s with 200 events queued
// gets at most 10 requests (a window of 2, then one at a time until the
// breaker opens after 5 failures, then one probe per open interval), and
// afterwards every event arrives and none died.
func TestDeadMerchantCostsAFewRequests(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"BREAKER_OPEN_MS": "5000", "POLL_INTERVAL_MS": "5000",
	}))
	const n, down = 200, 20 * time.Second
	rcv.Control(t, map[string]any{"mode": "down"})
	d.PostMany(t, n, 8)
	start := time.Now()
	time.Sleep(down - time.Since(start))
	during := rcv.Stats(t, false).Requests
	rcv.Control(t, map[string]any{"mode": "ok"})
	t.Logf("requests while the merchant was down for %s: %d", time.Since(start).Round(time.Millisecond), during)
	if during > 10 {
		t.Errorf("the dead merchant got %d requests in %s, want at most 10", during, down)
	}
	if during < 5 {
		t.Fatalf("only %d requests while down: the breaker never tripped, the test proves nothing", during)
	}
	testkit.Eventually(t, time.Minute, "every event delivered after the outage", func() bool { return db.Counts(t)["succeeded"] == n })
	if dead := db.Counts(t)["dead"]; dead != 0 {
		t.Errorf("%d events died", dead)
	}
	if st := rcv.Stats(t, false); st.UniqueEvents != n || st.Duplicates != 0 {
		t.Errorf("receiver after the outage: %d unique, %d duplicates; want %d, 0", st.UniqueEvents, st.Duplicates, n)
	}
}

// TestEventsOfAMerchantThatNeverReturnsExpire: parked events do not wait
// for ever. With MAX_DELIVERY_AGE_MS=3000 every event of a merchant that
// stays down ends dead with an expired record, none by running out of
// attempts (parking spends none).
func TestEventsOfAMerchantThatNeverReturnsExpire(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"BREAKER_FAILURES": "2", "BREAKER_OPEN_MS": "500", "MAX_DELIVERY_AGE_MS": "3000", "POLL_INTERVAL_MS": "100",
	}))
	rcv.Control(t, map[string]any{"mode": "down"})
	const n = 20
	d.PostMany(t, n, 4)
	testkit.Eventually(t, 30*time.Second, "every event dead", func() bool { return db.Counts(t)["dead"] == n })
	if got := db.Int(t, "SELECT count(*) FROM delivery_attempts WHERE verdict = 'expired'"); got != n {
		t.Errorf("%d expired records, want one per event (%d)", got, n)
	}
	if got := rcv.Stats(t, false).Requests; got > 12 {
		t.Errorf("the dead merchant got %d requests in about 3 s, want a few (2 to trip, one probe per 500 ms)", got)
	}
}

// TestDeadMerchantCostsOneProbePerIntervalForTheCluster: the same outage
// with three dispatchers on one PostgreSQL database. The first breaker to
// trip parks the merchant for all of them (target health lives in the
// database), so after the few requests that trip it the merchant gets one
// probe per BREAKER_OPEN_MS for the whole cluster, not one per process;
// afterwards every event arrives and none died.
func TestDeadMerchantCostsOneProbePerIntervalForTheCluster(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	db := harness.NewPostgresDB(t)
	rcv := harness.StartReceiver(t, bins, nil)
	env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{"BREAKER_OPEN_MS": "5000", "POLL_INTERVAL_MS": "1000"})
	var ds []*harness.Dispatcher
	for i := range 3 {
		ds = append(ds, harness.StartDispatcher(t, bins, fmt.Sprintf("dispatcher-%d", i+1), env))
	}
	const n, down, open = 200, 20 * time.Second, 5 * time.Second
	rcv.Control(t, map[string]any{"mode": "down"})
	start := time.Now()
	ds[0].PostMany(t, n, 8)
	// Until every process has learnt of the outage (tripped, or seen it
	// parked), then count what the cluster sends while it lasts.
	time.Sleep(5 * time.Second)
	tripping := rcv.Stats(t, false).Requests
	time.Sleep(down - time.Since(start))
	during := rcv.Stats(t, false).Requests
	rcv.Control(t, map[string]any{"mode": "ok"})
	probes := during - tripping
	t.Logf("requests while down for %s: %d to trip the breakers, then %d in %s (BREAKER_OPEN_MS %s, 3 dispatchers)",
		time.Since(start).Round(time.Millisecond), tripping, probes, down-5*time.Second, open)
	// 15 s parked: about three intervals, one probe each for the cluster
	// (one per process would be nine).
	if probes > 4 {
		t.Errorf("the parked merchant got %d requests in 15 s from three dispatchers, want at most 4 (one probe per %s for the cluster)", probes, open)
	}
	if tripping < 5 {
		t.Fatalf("only %d requests before parking: the breaker never tripped, the test proves nothing", tripping)
	}
	testkit.Eventually(t, time.Minute, "every event delivered after the outage", func() bool { return db.Counts(t)["succeeded"] == n })
	if dead := db.Counts(t)["dead"]; dead != 0 {
		t.Errorf("%d events died", dead)
	}
	if st := rcv.Stats(t, false); st.UniqueEvents != n {
		t.Errorf("receiver after the outage: %d unique, want %d", st.UniqueEvents, n)
	}
}

// TestRetentionDeletesOldHistory: the binary's retention pass (it runs at
// start) deletes a succeeded event older than RETENTION_HOURS with its
// delivery and attempts, frees its idempotency key, and keeps a recent one.
func TestRetentionDeletesOldHistory(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{"RETENTION_HOURS": "1", "POLL_INTERVAL_MS": "100"})
	port := harness.FreePort(t)
	d := harness.StartDispatcherAt(t, bins, "dispatcher-1", port, env)
	var old, recent struct{ ID string }
	harness.PostJSONCode(t, d.Base+"/events", map[string]any{"payload": map[string]any{"n": 1}}, &old)
	harness.PostJSONCode(t, d.Base+"/events", map[string]any{"payload": map[string]any{"n": 2}}, &recent)
	testkit.Eventually(t, 10*time.Second, "both delivered", func() bool { return db.Counts(t)["succeeded"] == 2 })
	d.Signal(syscall.SIGTERM)
	if code := d.Wait(10 * time.Second); code != 0 {
		t.Fatalf("dispatcher exited %d", code)
	}
	// Age one of them by two hours, as the clock would have.
	age := "UPDATE deliveries SET updated_at = updated_at - interval '2 hours' WHERE id = $1"
	if db.Kind != harness.KindPostgres {
		age = "UPDATE deliveries SET updated_at = updated_at - 7200000000 WHERE id = ?"
	}
	if _, err := db.SQL.Exec(age, old.ID); err != nil {
		t.Fatal(err)
	}
	d = harness.StartDispatcherAt(t, bins, "dispatcher-2", port, env)
	var gone map[string]any
	testkit.Eventually(t, 10*time.Second, "the old event purged", func() bool {
		return d.GetJSON(t, "/events/"+old.ID, &gone) == http.StatusNotFound
	})
	var kept struct{ Status string }
	if code := d.GetJSON(t, "/events/"+recent.ID, &kept); code != http.StatusOK || kept.Status != "succeeded" {
		t.Errorf("the recent event: %d %+v; want kept", code, kept)
	}
	if n := db.Int(t, "SELECT count(*) FROM delivery_attempts"); n != 1 {
		t.Errorf("%d attempts left, want the recent event's 1", n)
	}
}
