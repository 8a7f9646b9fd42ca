package retention_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/retention"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

const (
	target = "https://a.example/hook"
	day    = 24 * time.Hour
)

// recorder is a Purger that remembers every call it passes on.
type recorder struct {
	ports.Purger
	mu    sync.Mutex
	calls []ports.PurgeParams
}

func (r *recorder) Purge(ctx context.Context, p ports.PurgeParams) (ports.PurgeResult, error) {
	r.mu.Lock()
	r.calls = append(r.calls, p)
	r.mu.Unlock()
	return r.Purger.Purge(ctx, p)
}

func (r *recorder) taken() []ports.PurgeParams {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

type fixture struct {
	clock *memory.Clock
	store *memory.Store
	calls *recorder
	logs  *testkit.LogBuffer
}

func newFixture() fixture {
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	return fixture{clock: clk, store: st, calls: &recorder{Purger: st}, logs: &testkit.LogBuffer{}}
}

func (f fixture) runner(t *testing.T, cfg retention.Config) *retention.Runner {
	t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	r, err := retention.NewRunner(f.calls, f.clock, slog.New(slog.NewJSONHandler(f.logs, nil)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// finished stores n target_url events now and finishes their deliveries a
// second later with decision d; the clock is left there.
func (f fixture) finished(t *testing.T, n int, d core.Decision) []core.EventID {
	t.Helper()
	ctx := t.Context()
	var out []core.EventID
	for i := range n {
		in, err := f.store.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, target, fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in.Event.ID)
	}
	f.clock.Advance(time.Second)
	claimed, err := f.store.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: n, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(claimed) != n {
		t.Fatalf("Claim = %d, %v; want %d", len(claimed), err, n)
	}
	for _, c := range claimed {
		err := f.store.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: c.ID, Attempt: 1, Seq: c.ClaimSeq},
			Decision: d, Record: core.Attempt{StartedAt: f.clock.Now(), StatusCode: d.StatusCode}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var (
	succeeded = core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200}
	dead      = core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead, StatusCode: 410, Error: "status 410"}
)

func (f fixture) kept(t *testing.T, ids ...core.EventID) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		_, err := f.store.Event(t.Context(), id)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, core.ErrNotFound):
			t.Fatal(err)
		}
	}
	return n
}

// A pass purges in batches until one comes back short, logs what it did
// and counts it.
func TestPassPurgesInBatchesUntilOneIsShort(t *testing.T) {
	t.Parallel()
	f := newFixture()
	old := f.finished(t, 7, succeeded)
	f.clock.Advance(3 * day)
	young := f.finished(t, 2, succeeded)
	r := f.runner(t, retention.Config{Succeeded: 7 * day, Dead: 30 * day, BatchSize: 3})

	f.clock.Advance(5 * day) // old: 8 days, young: 5 days
	res, err := r.Pass(t.Context())
	if err != nil || res != (ports.PurgeResult{Events: 7, Deliveries: 7}) {
		t.Fatalf("Pass = %+v, %v; want the 7 old events", res, err)
	}
	if n := f.kept(t, old...); n != 0 {
		t.Errorf("%d old events kept", n)
	}
	if n := f.kept(t, young...); n != 2 {
		t.Errorf("%d of 2 young events kept", n)
	}
	calls := f.calls.taken()
	if len(calls) != 3 {
		t.Errorf("Purge called %d times, want 3 (3, 3, then 1 event)", len(calls))
	}
	for _, c := range calls {
		if c.Succeeded != 7*day || c.Dead != 30*day || c.Limit != 3 || c.Now != nil || !c.Unrouted {
			t.Errorf("Purge(%+v), want the config's retentions, batch size, the store's clock, and unrouted events", c)
		}
	}
	if got := r.Totals(); got != (retention.Totals{Events: 7, Deliveries: 7, Passes: 1}) {
		t.Errorf("Totals = %+v", got)
	}
	var logged bool
	for _, rec := range f.logs.Records(t) {
		if rec["msg"] == "retention: purged" {
			logged = true
			if rec["events"] != 7.0 || rec["deliveries"] != 7.0 || rec["batches"] != 3.0 || rec["took_ms"] == nil {
				t.Errorf("pass logged as %v", rec)
			}
		}
	}
	if !logged {
		t.Errorf("the pass was not logged: %s", f.logs.String())
	}

	// Nothing left to purge: one call, nothing logged.
	res, err = r.Pass(t.Context())
	if err != nil || res != (ports.PurgeResult{}) || len(f.calls.taken()) != 1 {
		t.Errorf("second Pass = %+v, %v", res, err)
	}
	if n := len(f.logs.Records(t)); n != 1 {
		t.Errorf("%d log records, want the first pass's only", n)
	}
}

// Each status has its own retention; 0 keeps.
func TestRetentionPerStatus(t *testing.T) {
	t.Parallel()
	f := newFixture()
	ok := f.finished(t, 2, succeeded)
	gone := f.finished(t, 3, dead)
	f.clock.Advance(100 * day)

	keepSucceeded := f.runner(t, retention.Config{Succeeded: 0, Dead: 30 * day})
	if res, err := keepSucceeded.Pass(t.Context()); err != nil || res.Events != 3 {
		t.Fatalf("Pass with RETENTION_HOURS=0 = %+v, %v; want the 3 dead events", res, err)
	}
	if f.kept(t, ok...) != 2 || f.kept(t, gone...) != 0 {
		t.Errorf("after purging the dead: %d of 2 succeeded, %d of 3 dead kept", f.kept(t, ok...), f.kept(t, gone...))
	}
	f.calls.taken()
	off := f.runner(t, retention.Config{})
	if res, err := off.Pass(t.Context()); err != nil || res.Events != 0 || len(f.calls.taken()) != 0 {
		t.Errorf("Pass with both retentions 0 = %+v, %v; want no call at all", res, err)
	}
	if f.kept(t, ok...) != 2 {
		t.Errorf("both retentions 0 deleted events")
	}
}

// Events routed to nobody are looked for on the first pass, then once per
// UnroutedEvery.
func TestUnroutedLookedForSeldom(t *testing.T) {
	t.Parallel()
	f := newFixture()
	r := f.runner(t, retention.Config{Succeeded: 7 * day, Dead: 30 * day, UnroutedEvery: time.Hour})
	unrouted := func() []bool {
		var out []bool
		for _, c := range f.calls.taken() {
			out = append(out, c.Unrouted)
		}
		return out
	}
	for _, step := range []struct {
		advance time.Duration
		want    bool
	}{{0, true}, {time.Minute, false}, {58 * time.Minute, false}, {time.Minute, true}, {time.Minute, false}} {
		f.clock.Advance(step.advance)
		if _, err := r.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := unrouted(); len(got) != 1 || got[0] != step.want {
			t.Errorf("after %s: Unrouted %v, want [%v]", step.advance, got, step.want)
		}
	}

	in, err := f.store.Insert(t.Context(), ports.InsertParams{Event: porttest.NewTypedEvent(t, "nobody.listens", `{}`)})
	if err != nil || len(in.Deliveries) != 0 {
		t.Fatalf("Insert = %+v, %v", in, err)
	}
	f.clock.Advance(8 * day)
	if res, err := r.Pass(t.Context()); err != nil || res != (ports.PurgeResult{Events: 1}) {
		t.Errorf("Pass an hour later = %+v, %v; want the event routed to nobody", res, err)
	}
}

// A store error ends the pass, is counted, and the next pass works.
func TestFailedPass(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.finished(t, 2, succeeded)
	f.clock.Advance(8 * day)
	r := f.runner(t, retention.Config{Succeeded: 7 * day})
	f.store.SetDown(true)
	if _, err := r.Pass(t.Context()); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Pass with the store down = %v, want ErrUnavailable", err)
	}
	f.store.SetDown(false)
	if res, err := r.Pass(t.Context()); err != nil || res.Events != 2 {
		t.Errorf("Pass after the outage = %+v, %v", res, err)
	}
	if got := r.Totals(); got != (retention.Totals{Events: 2, Deliveries: 2, Passes: 1, Failures: 1}) {
		t.Errorf("Totals = %+v", got)
	}
}

// Run purges at once and then every Interval, survives a failed pass, and
// returns when its context ends.
func TestRunLoopsUntilCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.finished(t, 3, succeeded)
	f.clock.Advance(8 * day)
	r := f.runner(t, retention.Config{Succeeded: 7 * day, Dead: 30 * day, Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	testkit.Eventually(t, 5*time.Second, "the first pass", func() bool { return r.Totals().Events == 3 })
	f.store.SetDown(true)
	testkit.Eventually(t, 5*time.Second, "a failed pass", func() bool { return r.Totals().Failures > 0 })
	f.store.SetDown(false)
	f.finished(t, 2, dead)
	f.clock.Advance(31 * day)
	testkit.Eventually(t, 5*time.Second, "a later pass", func() bool { return r.Totals().Events == 5 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	var warned bool
	for _, rec := range f.logs.Records(t) {
		warned = warned || rec["msg"] == "retention pass failed; next pass as usual"
	}
	if !warned {
		t.Errorf("the failed pass was not logged: %s", f.logs.String())
	}
}

func TestRunOffReturnsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture()
	r := f.runner(t, retention.Config{})
	if err := r.Run(t.Context()); err != nil {
		t.Errorf("Run with retention off = %v", err)
	}
	if calls := f.calls.taken(); len(calls) != 0 {
		t.Errorf("Purge called %d times with retention off", len(calls))
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	d := retention.DefaultConfig()
	if d.Succeeded != 168*time.Hour || d.Dead != 720*time.Hour || d.Interval != time.Minute || d.BatchSize != 500 ||
		d.UnroutedEvery != time.Hour || !d.Enabled() {
		t.Errorf("DefaultConfig = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultConfig invalid: %v", err)
	}
	st := memory.NewStore(memory.NewClock(porttest.T0))
	for _, bad := range []retention.Config{
		{Succeeded: -time.Hour}, {Dead: -time.Hour}, {Interval: -time.Second}, {BatchSize: -1},
		{BatchSize: retention.MaxBatchSize + 1}, {UnroutedEvery: -time.Minute},
	} {
		if _, err := retention.NewRunner(st, memory.NewClock(porttest.T0), nil, bad); err == nil {
			t.Errorf("NewRunner(%+v) accepted", bad)
		}
	}
	if _, err := retention.NewRunner(nil, memory.NewClock(porttest.T0), nil, d); err == nil {
		t.Error("NewRunner without a purger accepted")
	}
	if (retention.Config{}).Enabled() {
		t.Error("a zero config purges")
	}
}
