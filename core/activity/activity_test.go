package activity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/activity"
	"github.com/webhookd/webhookd/core/dispatch"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// m0 is the minute the tests start in; T0 is 5 s into it.
var m0 = porttest.T0.Truncate(time.Minute)

const (
	epA core.EndpointID = "0190a4e0-0000-7000-8000-00000000000a"
	epB core.EndpointID = "0190a4e0-0000-7000-8000-00000000000b"
)

// store is a memory store whose AddActivity a test can take over (add
// set): to fail it, or to count meanwhile.
type store struct {
	*memory.Store
	mu    sync.Mutex
	add   func(ctx context.Context, counts []ports.ActivityCount) error
	calls int
}

func (s *store) AddActivity(ctx context.Context, counts []ports.ActivityCount) error {
	s.mu.Lock()
	s.calls++
	add := s.add
	s.mu.Unlock()
	if add != nil {
		if err := add(ctx, counts); err != nil {
			return err
		}
	}
	return s.Store.AddActivity(ctx, counts)
}

func (s *store) set(add func(ctx context.Context, counts []ports.ActivityCount) error) {
	s.mu.Lock()
	s.add = add
	s.mu.Unlock()
}

type fixture struct {
	clock   *memory.Clock
	store   *store
	counter *activity.Counter
	log     *testkit.LogBuffer
}

func newFixture(t *testing.T, cfg activity.Config) *fixture {
	t.Helper()
	f := &fixture{clock: memory.NewClock(porttest.T0), log: &testkit.LogBuffer{}}
	f.store = &store{Store: memory.NewStore(f.clock)}
	f.counter = activity.New(f.store, f.clock, cfg, slog.New(slog.NewJSONHandler(f.log, nil)))
	return f
}

func (f *fixture) flush(t *testing.T) {
	t.Helper()
	if err := f.counter.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// rows reads every row of the store in the tests' two hours.
func (f *fixture) rows(t *testing.T) []ports.ActivityCount {
	t.Helper()
	got, err := f.store.Activity(t.Context(), ports.ActivityQuery{From: m0.Add(-time.Hour), To: m0.Add(time.Hour),
		EndpointIDs: []core.EndpointID{"", epA, epB}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantRows(t *testing.T, what string, got []ports.ActivityCount, want ...ports.ActivityCount) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i].Minute.Equal(want[i].Minute) || got[i].EndpointID != want[i].EndpointID ||
			got[i].Accepted != want[i].Accepted || got[i].Delivered != want[i].Delivered ||
			got[i].Retried != want[i].Retried || got[i].Dead != want[i].Dead {
			t.Errorf("%s: row %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func report(ep core.EndpointID, v core.Verdict) ports.DeliveryReport {
	return ports.DeliveryReport{Origin: "https://x.example:443", EndpointID: ep, Verdict: v, Sent: true}
}

// Each count lands in the clock's minute, on the cluster's row and, for
// an attempt to an endpoint, on the endpoint's; lost attempts, parked
// deliveries and breaker changes are not counted.
func TestCountsLandInTheirMinuteAndEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{})
	c := f.counter
	for range 3 {
		c.EventAccepted()
	}
	c.DeliveryFinished(report(epA, core.VerdictSucceeded))
	c.DeliveryFinished(report(epA, core.VerdictSucceeded))
	c.DeliveryFinished(report(epB, core.VerdictRetry))
	c.DeliveryFinished(report(epA, core.VerdictDead))
	c.DeliveryFinished(report("", core.VerdictExpired)) // a target_url delivery: the cluster's row only
	c.DeliveryFinished(report("", core.VerdictSucceeded))
	c.DeliveryFinished(report(epA, core.VerdictLost))
	c.DeliveriesParked("https://x.example:443", 5)
	c.BreakerChanged("https://x.example:443", "closed", "open")
	f.clock.Advance(55 * time.Second) // 03:05:00: the next minute
	c.EventAccepted()
	c.DeliveryFinished(report(epB, core.VerdictExpired))
	f.flush(t)

	m1 := m0.Add(time.Minute)
	wantRows(t, "after one flush", f.rows(t),
		ports.ActivityCount{Minute: m0, Accepted: 3, Delivered: 3, Retried: 1, Dead: 2},
		ports.ActivityCount{Minute: m0, EndpointID: epA, Delivered: 2, Dead: 1},
		ports.ActivityCount{Minute: m0, EndpointID: epB, Retried: 1},
		ports.ActivityCount{Minute: m1, Accepted: 1, Dead: 1},
		ports.ActivityCount{Minute: m1, EndpointID: epB, Dead: 1},
	)

	// What a flush added is not added again; new counts add to the rows.
	f.flush(t)
	c.DeliveryFinished(report(epB, core.VerdictSucceeded))
	f.flush(t)
	wantRows(t, "after three flushes", f.rows(t)[3:],
		ports.ActivityCount{Minute: m1, Accepted: 1, Delivered: 1, Dead: 1},
		ports.ActivityCount{Minute: m1, EndpointID: epB, Delivered: 1, Dead: 1},
	)
	if f.store.calls != 2 {
		t.Errorf("%d AddActivity calls, want 2 (a flush with nothing counted does not call)", f.store.calls)
	}
}

// A failed flush keeps its counts, with those counted while it ran, for
// the next; once that one succeeds every count is in the store once.
func TestFailedFlushLosesNothingAndAddsNothingTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{})
	c := f.counter
	c.EventAccepted()
	c.DeliveryFinished(report(epA, core.VerdictSucceeded))

	f.store.set(func(context.Context, []ports.ActivityCount) error {
		// Counted while the flush is under way: into the next.
		c.EventAccepted()
		c.DeliveryFinished(report(epA, core.VerdictRetry))
		return core.ErrUnavailable
	})
	for range 2 {
		if err := c.Flush(t.Context()); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Flush with the store down: %v, want ErrUnavailable", err)
		}
	}
	wantRows(t, "with the store down", f.rows(t))

	f.store.set(nil)
	c.DeliveryFinished(report(epA, core.VerdictDead))
	f.flush(t)
	f.flush(t)
	wantRows(t, "after the outage", f.rows(t),
		ports.ActivityCount{Minute: m0, Accepted: 3, Delivered: 1, Retried: 2, Dead: 1},
		ports.ActivityCount{Minute: m0, EndpointID: epA, Delivered: 1, Retried: 2, Dead: 1},
	)

	// One warning for the outage, one line when it ends.
	logs := f.log.String()
	if n := strings.Count(logs, "cannot add the counts"); n != 1 {
		t.Errorf("%d warnings for one outage of two failed flushes, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "added to the store again"); n != 1 {
		t.Errorf("%d lines for the outage's end, want 1:\n%s", n, logs)
	}
}

// Counts of minutes the store no longer keeps are dropped when a flush
// fails, rather than kept through an outage of any length.
func TestFailedFlushDropsMinutesPastRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{})
	c := f.counter
	c.EventAccepted() // at m0
	f.store.set(func(context.Context, []ports.ActivityCount) error { return core.ErrUnavailable })
	f.clock.Advance(ports.ActivityRetention)
	c.EventAccepted() // a day later
	if err := c.Flush(t.Context()); err == nil {
		t.Fatal("Flush with the store down: no error")
	}
	f.store.set(nil)
	f.flush(t)
	got, err := f.store.Activity(t.Context(), ports.ActivityQuery{From: m0.Add(-time.Hour), To: m0.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, "after a day's outage", got, ports.ActivityCount{Minute: m0.Add(ports.ActivityRetention), Accepted: 1})
}

// Counting and flushing at once: every count lands once, whatever flush
// takes it, even when some fail.
func TestConcurrentCountsAndFlushes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{})
	c := f.counter
	var n sync.Mutex
	calls := 0
	f.store.set(func(context.Context, []ports.ActivityCount) error {
		n.Lock()
		defer n.Unlock()
		calls++
		if calls%3 == 0 {
			return core.ErrUnavailable
		}
		return nil
	})
	const counters, each = 8, 500
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range counters {
		wg.Go(func() {
			for i := range each {
				c.EventAccepted()
				ep := epA
				if i%2 == 1 {
					ep = epB
				}
				c.DeliveryFinished(report(ep, core.VerdictSucceeded))
			}
		})
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-done:
				return
			default:
				_ = c.Flush(t.Context())
			}
		}
	}()
	wg.Wait()
	close(done)
	<-flushed
	f.store.set(nil)
	f.flush(t)
	wantRows(t, "after concurrent counts and flushes", f.rows(t),
		ports.ActivityCount{Minute: m0, Accepted: counters * each, Delivered: counters * each},
		ports.ActivityCount{Minute: m0, EndpointID: epA, Delivered: counters * each / 2},
		ports.ActivityCount{Minute: m0, EndpointID: epB, Delivered: counters * each / 2},
	)
}

// Run flushes every FlushEvery and purges the minutes older than the
// retention; when its context ends it flushes once more and returns nil.
func TestRunFlushesPurgesAndFlushesOnShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{FlushEvery: 5 * time.Millisecond})
	old := m0.Add(-ports.ActivityRetention - time.Minute)
	if err := f.store.Store.AddActivity(t.Context(), []ports.ActivityCount{{Minute: old, Delivered: 9}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- f.counter.Run(ctx) }()

	f.counter.EventAccepted()
	testkit.Eventually(t, 5*time.Second, "the count flushed and the old minute purged", func() bool {
		got, err := f.store.Activity(t.Context(), ports.ActivityQuery{From: old, To: m0.Add(time.Hour)})
		return err == nil && len(got) == 1 && got[0].Minute.Equal(m0) && got[0].Accepted == 1
	})

	// Counted just before shutdown: the last flush adds it, though the
	// store answers slowly.
	f.store.set(func(context.Context, []ports.ActivityCount) error { time.Sleep(20 * time.Millisecond); return nil })
	f.counter.DeliveryFinished(report(epA, core.VerdictSucceeded))
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	wantRows(t, "after shutdown", f.rows(t),
		ports.ActivityCount{Minute: m0, Accepted: 1, Delivered: 1},
		ports.ActivityCount{Minute: m0, EndpointID: epA, Delivered: 1},
	)
}

// With the store down at shutdown, Run still returns (within the last
// flush's bound) and says what was lost.
func TestRunReturnsWhenTheLastFlushFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{FlushEvery: time.Hour})
	f.store.set(func(ctx context.Context, _ []ports.ActivityCount) error {
		<-ctx.Done() // hangs until the bound
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.counter.EventAccepted()
	start := time.Now()
	if err := f.counter.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Run took %s to return with the store hanging, want about 2s", took)
	}
	if !strings.Contains(f.log.String(), "they are lost") {
		t.Errorf("no warning about the lost counts:\n%s", f.log.String())
	}
}

// Fed by a worker, through a Tee beside another Metrics, the Counter
// counts each endpoint's attempts on its own row.
func TestCountsAWorkersDeliveriesPerEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, activity.Config{})
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := func(url string) core.Endpoint {
		e := porttest.NewEndpoint(t, url)
		e.Secret = box.Seal([]byte("key"), string(e.ID))
		got, err := f.store.CreateEndpoint(t.Context(), e, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ok, failing := endpoint("https://ok.example/hook"), endpoint("https://failing.example/hook")
	sender := memory.NewSender(func(_ context.Context, r core.Request) (core.Outcome, error) {
		if r.TargetURL == failing.URL {
			return core.Outcome{StatusCode: 500}, nil
		}
		return core.Outcome{StatusCode: 200}, nil
	})
	other := memory.NewMetrics()
	w, err := dispatch.NewWorker(dispatch.Ports{Store: f.store, Sender: sender, Clock: f.clock, Box: box,
		Metrics: activity.Tee{other, f.counter}}, slog.New(slog.DiscardHandler), dispatch.Config{
		WorkerID: "w1", BatchSize: 10, Concurrency: 10, PerTarget: 10, InitialWindow: 10,
		PollInterval: time.Hour, AttemptTimeout: 10 * time.Second, Lease: time.Minute, ShutdownGrace: time.Second,
		Policy: core.RetryPolicy{Base: 2 * time.Second, Max: time.Hour, MaxAttempts: 3, MaxRetryAfter: time.Hour},
		Rand:   func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Insert(t.Context(), ports.InsertParams{Event: porttest.NewTypedEvent(t, "order.paid", `{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.flush(t)
	got, err := f.store.Activity(t.Context(), ports.ActivityQuery{From: m0, To: m0.Add(time.Minute),
		EndpointIDs: []core.EndpointID{ok.ID, failing.ID}})
	if err != nil {
		t.Fatal(err)
	}
	want := []ports.ActivityCount{{Minute: m0, EndpointID: ok.ID, Delivered: 1}, {Minute: m0, EndpointID: failing.ID, Retried: 1}}
	if failing.ID < ok.ID {
		want[0], want[1] = want[1], want[0]
	}
	wantRows(t, "endpoints' rows", got, want...)
	if len(other.Reports()) != 2 {
		t.Errorf("the Tee's other Metrics got %d reports, want 2", len(other.Reports()))
	}
}

// A Tee tells each of its Metrics everything, in order.
func TestTee(t *testing.T) {
	t.Parallel()
	a, b := memory.NewMetrics(), memory.NewMetrics()
	tee := activity.Tee{a, b}
	tee.EventAccepted()
	tee.DeliveryFinished(report(epA, core.VerdictDead))
	tee.DeliveriesParked("o", 3)
	tee.BreakerChanged("o", "closed", "open")
	for _, m := range []*memory.Metrics{a, b} {
		if m.Accepted() != 1 || m.Deliveries(core.VerdictDead) != 1 || m.Parked("o") != 3 || m.BreakerState("o") != "open" {
			t.Errorf("a Metrics of the Tee: accepted %d, dead %d, parked %d, breaker %q", m.Accepted(),
				m.Deliveries(core.VerdictDead), m.Parked("o"), m.BreakerState("o"))
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  activity.Config
		ok   bool
	}{
		{"default", activity.Config{}, true},
		{"set", activity.Config{FlushEvery: time.Second}, true},
		{"negative", activity.Config{FlushEvery: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate(%+v) = %v", tc.cfg, err)
			}
		})
	}
}
