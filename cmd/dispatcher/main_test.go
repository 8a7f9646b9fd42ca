package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
	"github.com/webhookd/webhookd/wiring"
)

func TestRunFailsFastNamingTheVariable(t *testing.T) {
	t.Parallel()
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"MAX_ATTEMPTS": "zero", "BATCH_SIZE": "-3"}[k]
		return v, ok
	}
	err := run(t.Context(), nil, lookup, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "MAX_ATTEMPTS") || !strings.Contains(err.Error(), "BATCH_SIZE") {
		t.Fatalf("run = %v, want an error naming MAX_ATTEMPTS and BATCH_SIZE", err)
	}
	secretOnly := func(k string) (string, bool) { return harness.Secret, k == "HMAC_SECRET" }
	if err := run(t.Context(), []string{"-role", "boss"}, secretOnly, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "role") {
		t.Fatalf("run -role boss = %v, want an error about the role", err)
	}
}

// TestEndToEnd: the real binaries, the default test store (PostgreSQL when
// there is one, see harness.NewDB) and the real mock receiver. 1,000
// events are accepted, every one is delivered exactly once (nothing
// crashed, so nothing is sent twice) and verified.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{"BATCH_SIZE": "50"}))

	const n = 1000
	ids := d.PostMany(t, n, 8)
	if len(ids) != n {
		t.Fatalf("accepted %d of %d", len(ids), n)
	}
	testkit.Eventually(t, 2*time.Minute, "every event delivered", func() bool { return db.Counts(t)["succeeded"] == n })
	st := rcv.Stats(t, true)
	if st.Accepted != n || st.UniqueEvents != n || st.Duplicates != 0 || st.RejectedSignature != 0 {
		t.Fatalf("receiver: %d accepted, %d unique, %d duplicates, %d bad signatures; want %d, %d, 0, 0",
			st.Accepted, st.UniqueEvents, st.Duplicates, st.RejectedSignature, n, n)
	}
	for _, id := range ids {
		if e, ok := st.Events[id]; !ok || e.Accepted != 1 {
			t.Fatalf("event %s: receiver record %+v, want accepted once", id, e)
		}
	}
	if got := db.Int(t, "SELECT count(*) FROM delivery_attempts"); got != n {
		t.Errorf("%d attempt rows, want %d", got, n)
	}
	var page struct {
		Total int
		Data  []struct{ Status string }
	}
	if code := d.GetJSON(t, "/events?status=succeeded&limit=100", &page); code != http.StatusOK || page.Total != n || len(page.Data) != 100 {
		t.Errorf("GET /events: %d total %d len %d", code, page.Total, len(page.Data))
	}
	// The container health check: `dispatcher healthcheck` exits 0 while
	// the API is ready, 1 once it is gone.
	health := func() int {
		p := harness.Start(t, "healthcheck", bins.Dispatcher, map[string]string{"DISPATCHER_PORT": d.Port()}, "healthcheck")
		return p.Wait(10 * time.Second)
	}
	if code := health(); code != 0 {
		t.Errorf("healthcheck of a ready dispatcher exited %d", code)
	}
	stop(t, d)
	if code := health(); code == 0 {
		t.Error("healthcheck of a stopped dispatcher exited 0")
	}
}

// TestEndToEndSQLite runs the binaries on the embedded store whatever the
// default store is (CI has PostgreSQL): 300 events delivered exactly once,
// a graceful stop, a second dispatcher on the same file delivering 50
// more, and a sound file at the end.
func TestEndToEndSQLite(t *testing.T) {
	t.Parallel()
	db := harness.NewSQLiteDB(t)
	bins := harness.Build(t)
	rcv := harness.StartReceiver(t, bins, nil)
	env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{"BATCH_SIZE": "50"})
	var ids []string
	deliver := func(d *harness.Dispatcher, n int) {
		t.Helper()
		posted := d.PostMany(t, n, 8)
		if len(posted) != n {
			t.Fatalf("accepted %d of %d", len(posted), n)
		}
		ids = append(ids, posted...)
		testkit.Eventually(t, 2*time.Minute, fmt.Sprintf("%d events delivered", len(ids)), func() bool {
			return db.Counts(t)["succeeded"] == len(ids)
		})
		st := rcv.Stats(t, true)
		if int(st.Accepted) != len(ids) || st.UniqueEvents != len(ids) || st.Duplicates != 0 || st.RejectedSignature != 0 {
			t.Fatalf("receiver: %d accepted, %d unique, %d duplicates, %d bad signatures; want %d, %d, 0, 0",
				st.Accepted, st.UniqueEvents, st.Duplicates, st.RejectedSignature, len(ids), len(ids))
		}
		for _, id := range ids {
			if e := st.Events[id]; e.Accepted != 1 {
				t.Fatalf("event %s: receiver record %+v, want accepted once", id, e)
			}
		}
	}
	first := harness.StartDispatcher(t, bins, "dispatcher-1", env)
	deliver(first, 300)
	stop(t, first)
	second := harness.StartDispatcher(t, bins, "dispatcher-2", env)
	deliver(second, 50)
	if got := db.Int(t, "SELECT count(*) FROM delivery_attempts"); got != len(ids) {
		t.Errorf("%d attempt rows, want %d", got, len(ids))
	}
	stop(t, second)
	db.IntegrityCheck(t)
}

// TestSecondDispatcherOnOneSQLiteFileRefuses: the SQLite store serves one
// process per file. A second dispatcher on a file in use exits at once,
// saying why, and the first one keeps serving.
func TestSecondDispatcherOnOneSQLiteFileRefuses(t *testing.T) {
	t.Parallel()
	db := harness.NewSQLiteDB(t)
	bins := harness.Build(t)
	target := "http://127.0.0.1:9/webhook" // nothing is delivered
	first := harness.StartDispatcher(t, bins, "dispatcher-1", harness.DispatcherEnv(db, target, nil))
	// Not StartDispatcher: this one never becomes ready.
	second := harness.Start(t, "dispatcher-2", bins.Dispatcher, harness.DispatcherEnv(db, target, map[string]string{
		"DISPATCHER_PORT": strconv.Itoa(harness.FreePort(t)),
	}))
	if code := second.Wait(10 * time.Second); code == 0 || !strings.Contains(second.Log(), "another dispatcher") {
		t.Errorf("second dispatcher on %s: exit %d, output %q; want a failure naming another dispatcher", db.Path, code, second.Log())
	}
	if code, _ := first.Post(t, map[string]any{"still": "serving"}); code != http.StatusAccepted || first.Exited() {
		t.Errorf("the first dispatcher after the refusal: POST /events %d, exited %v", code, first.Exited())
	}
	stop(t, first)
}

// stop sends SIGTERM and expects d to exit 0 promptly.
func stop(t *testing.T, d *harness.Dispatcher) {
	t.Helper()
	d.Signal(syscall.SIGTERM)
	if code := d.Wait(15 * time.Second); code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", d.Name, code)
	}
}

// TestRestartDeliversEverything stops the dispatcher (SIGTERM) while a slow
// receiver still has work queued, starts it again, and checks that every
// event is delivered and that the stop left nothing leased.
func TestRestartDeliversEverything(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	rcv.Control(t, map[string]any{"mode": "ok", "delay_ms": 100})
	env := harness.DispatcherEnv(db, rcv.URL(), map[string]string{"BATCH_SIZE": "5", "WORKER_CONCURRENCY": "5"})
	first := harness.StartDispatcher(t, bins, "dispatcher-1", env)

	const n = 200
	first.PostMany(t, n, 4)
	testkit.Eventually(t, time.Minute, "some deliveries", func() bool { return rcv.Stats(t, false).Accepted >= 20 })
	first.Signal(syscall.SIGTERM)
	if code := first.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
	counts := db.Counts(t)
	if counts["delivering"] != 0 {
		t.Fatalf("after a graceful stop %d events are still delivering (leased)", counts["delivering"])
	}
	if counts["pending"] == 0 {
		t.Fatalf("nothing left pending at the stop (%v): the test proves nothing", counts)
	}
	t.Logf("stopped with %v", counts)

	second := harness.StartDispatcher(t, bins, "dispatcher-2", env)
	testkit.Eventually(t, 2*time.Minute, "every event delivered after the restart", func() bool { return db.Counts(t)["succeeded"] == n })
	st := rcv.Stats(t, false)
	if st.UniqueEvents != n || st.Duplicates != 0 {
		t.Errorf("receiver: %d unique, %d duplicates; want %d and 0 (a graceful stop loses and repeats nothing)", st.UniqueEvents, st.Duplicates, n)
	}
	second.Signal(syscall.SIGTERM)
	second.Wait(15 * time.Second)
}

// TestMigrateCommand: `dispatcher migrate status|up|down` on a fresh
// database of each store.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	for _, store := range harness.Stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			migrateCommand(t, harness.NewDBOf(t, store))
		})
	}
}

func migrateCommand(t *testing.T, db *harness.DB) {
	bins := harness.Build(t)
	env := harness.DispatcherEnv(db, "", nil)
	migrate := func(args ...string) (int, string) {
		p := harness.Start(t, "migrate-"+strings.Join(args, "-"), bins.Dispatcher, env, append([]string{"migrate"}, args...)...)
		code := p.Wait(30 * time.Second)
		return code, p.Log()
	}
	if code, out := migrate("up"); code != 0 || !strings.Contains(out, "create_events") {
		t.Fatalf("migrate up: %d %s", code, out)
	}
	if code, out := migrate("up"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("second migrate up: %d %s", code, out)
	}
	if code, out := migrate("status"); code != 0 || !strings.Contains(out, "create_events") || !strings.Contains(out, "applied") {
		t.Errorf("migrate status: %d %s", code, out)
	}
	if n := db.Int(t, "SELECT count(*) FROM events"); n != 0 {
		t.Errorf("events table has %d rows", n)
	}
	if code, out := migrate("down"); code != 0 {
		t.Errorf("migrate down: %d %s", code, out)
	}
	for _, table := range []string{"events", "deliveries"} {
		if db.HasTable(t, table) {
			t.Errorf("%s table still exists after migrate down", table)
		}
	}
	if code, out := migrate("sideways"); code == 0 || !strings.Contains(out, "sideways") {
		t.Errorf("migrate sideways: %d %s", code, out)
	}
}

func TestPrintMerchantSecrets(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	cfg := wiring.SigningConfig{Secret: "abc", ExtraSecrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	if err := printMerchantSecrets(cfg, &out); err != nil {
		t.Fatal(err)
	}
	want := "HMAC_SECRET\twhsec_YWJj\nHMAC_EXTRA_SECRETS[0]\twhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// serve applies GOGC, read with the rest of the configuration, before it
// starts anything.
func TestServeAppliesGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // serve returns as soon as it has started
	vars := map[string]string{"HMAC_SECRET": harness.Secret, "STORE": "memory", "DISPATCHER_PORT": "0", "GOGC": "123"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	_ = run(ctx, nil, lookup, io.Discard, io.Discard)
	if got := debug.SetGCPercent(100); got != 123 {
		t.Errorf("after serve with GOGC=123 the collector's percent is %d", got)
	}
}
