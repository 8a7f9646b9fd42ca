package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// setup skips unless the fault suite was asked for, and builds the
// binaries. Each scenario then asks for its store (okAfter): PostgreSQL
// skips without TEST_DATABASE_URL, or fails under WEBHOOKD_REQUIRE_DB
// (`make test-faults`); SQLite needs nothing. Tests here never call
// t.Parallel: one scenario stops the database every other one uses, and
// each wants the machine's CPU to itself for its timings.
func setup(t *testing.T) harness.Binaries {
	t.Helper()
	if os.Getenv("WEBHOOKD_FAULTS") != "1" {
		t.Skip("the fault suite takes minutes and stops the test database: run `make test-faults`")
	}
	return harness.Build(t)
}

// okAfter is a fresh database of the store and a receiver that answers
// every signed delivery 200 after delayMS.
func okAfter(t *testing.T, bins harness.Binaries, store string, delayMS int) (*harness.DB, *harness.Receiver) {
	t.Helper()
	db := harness.NewDBOf(t, store)
	rcv := harness.StartReceiver(t, bins, nil)
	rcv.Control(t, map[string]any{"mode": "ok", "delay_ms": delayMS})
	return db, rcv
}

// event is one delivery, as the fault tests see it (their events all go
// to a target_url: one delivery each, with the event's id).
type event struct {
	ID, Key, Status, LockedBy string
	Attempted                 int
}

// events reads every delivery with its event's idempotency key, by id.
func events(t *testing.T, db *harness.DB) map[string]event {
	t.Helper()
	rows, err := db.SQL.Query(`SELECT CAST(d.id AS TEXT), coalesce(e.idempotency_key, ''), d.status, coalesce(d.locked_by, ''), d.attempted_count
		FROM deliveries d JOIN events e ON e.id = d.event_id`)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	defer rows.Close()
	out := map[string]event{}
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.ID, &e.Key, &e.Status, &e.LockedBy, &e.Attempted); err != nil {
			t.Fatal(err)
		}
		out[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// attempt is one row of delivery_attempts.
type attempt struct {
	Number     int
	Worker     string
	Verdict    string
	StatusCode int // 0: no HTTP answer
}

// attempts reads the whole history, per event id, in attempt order.
func attempts(t *testing.T, db *harness.DB) map[string][]attempt {
	t.Helper()
	rows, err := db.SQL.Query(`SELECT CAST(delivery_id AS TEXT), number, worker, verdict, coalesce(status_code, 0)
		FROM delivery_attempts ORDER BY delivery_id, id`)
	if err != nil {
		t.Fatalf("read attempts: %v", err)
	}
	defer rows.Close()
	out := map[string][]attempt{}
	for rows.Next() {
		var id string
		var a attempt
		if err := rows.Scan(&id, &a.Number, &a.Worker, &a.Verdict, &a.StatusCode); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ids returns the ids of a query's rows.
func ids(t *testing.T, db *harness.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.SQL.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// waitSucceeded waits until n events are succeeded.
func waitSucceeded(t *testing.T, db *harness.DB, n int, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, fmt.Sprintf("%d events succeeded", n), func() bool {
		return db.Counts(t)["succeeded"] == n
	})
}

// accounting compares what the producers were told (202s) with the
// database and the receiver.
type accounting struct {
	accepted, delivered, lost, storedWithout202 int
}

// account checks that every 202 names a stored row of its key, that every
// such event succeeded and reached the receiver, and counts the rows no
// producer got a 202 for. Mismatches are reported (at most 10 of each).
func account(t *testing.T, db *harness.DB, res harness.LoadResult, st receiver.Stats) accounting {
	t.Helper()
	evs := events(t, db)
	byKey := make(map[string]event, len(evs))
	for _, e := range evs {
		byKey[e.Key] = e
	}
	var a accounting
	var problems []string
	for key, id := range res.Accepted {
		a.accepted++
		e, ok := evs[id]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("202 for %s named event %s, which is not stored", key, id))
		case e.Key != key:
			problems = append(problems, fmt.Sprintf("202 for %s named event %s, stored with key %q", key, id, e.Key))
		case e.Status != "succeeded":
			problems = append(problems, fmt.Sprintf("event %s (%s) is %s", id, key, e.Status))
		case st.Events[id].Accepted < 1:
			problems = append(problems, fmt.Sprintf("event %s (%s) is succeeded but the receiver never accepted it", id, key))
		default:
			a.delivered++
			continue
		}
		a.lost++
	}
	for key, e := range byKey {
		if id, ok := res.Accepted[key]; !ok || id != e.ID {
			a.storedWithout202++
		}
	}
	for i, p := range problems {
		if i == 10 {
			t.Errorf("… and %d more", len(problems)-10)
			break
		}
		t.Error(p)
	}
	return a
}

// checkLoad fails on producer answers that were neither 202, 503 nor a
// dropped connection, and on events never accepted.
func checkLoad(t *testing.T, res harness.LoadResult, total int) {
	t.Helper()
	if len(res.Problems) > 0 {
		t.Errorf("%d unexpected answers to producers, e.g. %v", len(res.Problems), res.Problems[:min(5, len(res.Problems))])
	}
	if len(res.Accepted) != total || len(res.Unaccepted) > 0 {
		t.Fatalf("accepted %d of %d events (%d never accepted, e.g. %v)", len(res.Accepted), total,
			len(res.Unaccepted), res.Unaccepted[:min(5, len(res.Unaccepted))])
	}
}

// logRecord finds the first JSON log line whose msg is msg.
func logRecord(p *harness.Proc, msg string) (map[string]any, bool) {
	for line := range strings.SplitSeq(p.Log(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec, true
		}
	}
	return nil, false
}

// stopGracefully sends SIGTERM and expects exit code 0 within timeout.
func stopGracefully(t *testing.T, timeout time.Duration, ds ...*harness.Dispatcher) {
	t.Helper()
	for _, d := range ds {
		d.Signal(syscall.SIGTERM)
	}
	for _, d := range ds {
		if code := d.Wait(timeout); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", d.Name, code)
		}
	}
}

// waitFor polls cond every 50 ms until it holds or timeout passes, and
// reports whether it held: for waits whose failure the checks after them
// explain better than a timeout would.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// integrity checks a SQLite file once its scenario is over, for the
// SUMMARY line; "" on PostgreSQL.
func integrity(t *testing.T, db *harness.DB) string {
	t.Helper()
	if v := db.IntegrityCheck(t); v != "" {
		return " integrity=" + v
	}
	return ""
}

// secs formats a duration as seconds with one decimal, for summaries.
func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// killDuring SIGKILLs the dispatcher d (lease owner worker) kills times
// while load runs: once in each share of [1 s, end) after loadStart, at a
// random point that leaves 1.5 s before the next share (time for the
// restart to work), restarting it with start(k) on the same port each
// time. It returns the running dispatcher and, per kill, how many
// deliveries the dead process held leased: every delivery it may have
// made without recording it (a statement it sent just before dying may
// still commit, which only loosens that bound).
func killDuring(t *testing.T, db *harness.DB, load *harness.Load, loadStart time.Time, end time.Duration, kills int,
	rng *rand.Rand, d *harness.Dispatcher, worker string, start func(k int) (*harness.Dispatcher, string)) (*harness.Dispatcher, []int) {
	t.Helper()
	slot := (end - time.Second) / time.Duration(kills)
	var leasedAtKills []int
	for k := range kills {
		at := time.Second + time.Duration(k)*slot + time.Duration(rng.Float64()*float64(slot-1500*time.Millisecond))
		time.Sleep(time.Until(loadStart.Add(at)))
		d.Kill()
		leased := db.Int(t, "SELECT count(*) FROM deliveries WHERE status = 'delivering' AND locked_by = $1", worker)
		leasedAtKills = append(leasedAtKills, leased)
		t.Logf("kill %d at %s: %d accepted so far, %d deliveries leased by %s",
			k+1, at.Round(time.Millisecond), load.Accepted(), leased, worker)
		d, worker = start(k + 2)
	}
	return d, leasedAtKills
}
