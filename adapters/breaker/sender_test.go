package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

func TestTripsAfterConsecutiveUnhealthyAttempts(t *testing.T) {
	t.Parallel()
	deadline := fmt.Errorf("httpsender: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		name    string
		out     core.Outcome
		err     error
		compare bool // out is returned unchanged
	}{
		{name: "500", out: core.Outcome{StatusCode: 500, Response: "boom"}},
		{name: "503", out: core.Outcome{StatusCode: 503, RetryAfter: time.Second}},
		{name: "429", out: core.Outcome{StatusCode: 429}},
		{name: "connection refused", out: core.Outcome{Err: "dial tcp: connection refused"}},
		{name: "timeout", out: core.Outcome{Err: "timeout awaiting headers", Timeout: true}},
		{name: "error from next", err: deadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const failures = 3
			f := newFixture(t, breaker.Config{Failures: failures, OpenFor: time.Hour})
			f.answer(func(context.Context, core.Request) (core.Outcome, error) { return tc.out, tc.err })

			for range failures - 1 {
				if _, err := f.send(originA); !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v passed through", err, tc.err)
				}
			}
			if _, open := f.OpenUntil(originA); open {
				t.Fatalf("open after %d of %d failures", failures-1, failures)
			}
			f.wantMetric(t, originA, "")

			out, err := f.send(originA) // the tripping attempt is made and returned as is
			if out != tc.out || !errors.Is(err, tc.err) {
				t.Fatalf("Send = %+v, %v; want %+v, %v", out, err, tc.out, tc.err)
			}
			f.wantMetric(t, originA, "open")

			for range 10 {
				_, err := f.send(originA)
				if until := mustRefuse(t, err, originA); !until.Equal(t0.Add(time.Hour)) {
					t.Fatalf("Until = %v, want opened at + OpenFor = %v", until, t0.Add(time.Hour))
				}
			}
			f.wantCalls(t, failures)
			if until, open := f.OpenUntil(originA); !open || !until.Equal(t0.Add(time.Hour)) {
				t.Fatalf("OpenUntil = %v, %v; want %v, true", until, open, t0.Add(time.Hour))
			}
		})
	}
}

func TestTripIsLoggedWithItsDetails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 2, OpenFor: time.Minute})
	f.answer(status(502))
	f.send(originA)
	f.send(originA)

	var rec map[string]any
	for _, r := range f.logs.Records(t) {
		if r["msg"] == "circuit breaker state changed" {
			rec = r
		}
	}
	if rec == nil {
		t.Fatal("no state change logged by the time Send returned")
	}
	want := map[string]any{
		"level": "WARN", "origin": originA, "from": "closed", "to": "open",
		"consecutive_failures": float64(2), "open_until": t0.Add(time.Minute).Format(time.RFC3339Nano),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log %s = %v, want %v", k, rec[k], v)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{})
	f.answer(status(500))
	for range 5 {
		if _, err := f.send(originA); err != nil {
			t.Fatalf("refused before 5 failures: %v", err)
		}
	}
	_, err := f.send(originA)
	if until := mustRefuse(t, err, originA); !until.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("Until = %v, want 30s after the trip", until)
	}
	f.wantCalls(t, 5)
}

func TestHealthyAnswersCountAsSuccess(t *testing.T) {
	t.Parallel()
	for _, code := range []int{200, 204, 301, 302, 304, 400, 401, 404, 410, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			const failures = 2
			f := newFixture(t, breaker.Config{Failures: failures, OpenFor: time.Hour})
			// Alternating: the healthy answer must reset the streak, not
			// merely be ignored, or two failures would line up.
			for range 10 {
				f.answer(status(500))
				f.send(originA)
				f.answer(status(code))
				if out, err := f.send(originA); err != nil || out.StatusCode != code {
					t.Fatalf("Send = %+v, %v; want status %d passed through", out, err, code)
				}
			}
			if st := f.state(originA); st.State != "closed" || st.ConsecutiveFailures != 0 {
				t.Fatalf("state = %+v, want closed with no failures", st)
			}
			// After the reset, exactly failures more trip it.
			f.answer(status(500))
			f.send(originA)
			f.send(originA)
			_, err := f.send(originA)
			mustRefuse(t, err, originA)
			f.wantCalls(t, 20+failures)
		})
	}
}

func TestCancellationIsNotCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 2, OpenFor: time.Hour})
	canceled := fmt.Errorf("httpsender: %w", context.Canceled)
	f.answer(fails(canceled))
	for range 5 {
		if _, err := f.send(originA); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the cancellation passed through", err)
		}
	}
	if st := f.state(originA); st.State != "closed" || st.ConsecutiveFailures != 0 {
		t.Fatalf("state = %+v, want closed with no failures", st)
	}
	// Excluded, not a success: it does not break a streak either.
	f.answer(status(500))
	f.send(originA)
	f.answer(fails(canceled))
	f.send(originA)
	f.answer(status(500))
	f.send(originA)
	_, err := f.send(originA)
	mustRefuse(t, err, originA)
	f.wantCalls(t, 8)
}

func TestHalfOpenLetsExactlyOneProbeThrough(t *testing.T) {
	t.Parallel()
	canceled := fmt.Errorf("httpsender: %w", context.Canceled)
	for _, tc := range []struct {
		name        string
		probe       reply
		state       string // after the probe
		transitions []string
	}{
		{"success closes", status(200), "closed", []string{"closed>open", "open>half-open", "half-open>closed"}},
		{"4xx closes", status(404), "closed", []string{"closed>open", "open>half-open", "half-open>closed"}},
		{"5xx re-opens", status(503), "open", []string{"closed>open", "open>half-open", "half-open>open"}},
		{"timeout re-opens", outcome(core.Outcome{Err: "timeout", Timeout: true}), "open",
			[]string{"closed>open", "open>half-open", "half-open>open"}},
		{"cancelled probe frees the slot", fails(canceled), "half-open", []string{"closed>open", "open>half-open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const failures = 2
			cfg := breaker.Config{Failures: failures, OpenFor: 30 * time.Millisecond, ProbeWait: 250 * time.Millisecond}
			f := newFixture(t, cfg)
			f.answer(status(500))
			f.send(originA)
			f.send(originA)
			f.wantMetric(t, originA, "open")

			// gobreaker times the open period with the wall clock; OpenUntil
			// and Until use the injected one. Move both. Sleeping longer (a
			// loaded machine) changes nothing: half-open has no deadline.
			time.Sleep(cfg.OpenFor + 20*time.Millisecond)
			f.clock.Advance(cfg.OpenFor)

			// The probe is held inside next until release, so every send below
			// is decided while it is in flight, however they are scheduled.
			entered, release := f.holdFirst(t, tc.probe)
			type result struct {
				out core.Outcome
				err error
			}
			probe := make(chan result, 1)
			go func() {
				out, err := f.send(originA)
				probe <- result{out, err}
			}()
			await(t, entered, "the probe to reach next")
			f.wantMetric(t, originA, "half-open") // reported while the probe is in flight

			wantUntil := f.clock.Now().Add(cfg.ProbeWait)
			if until, open := f.OpenUntil(originA); !open || !until.Equal(wantUntil) {
				t.Fatalf("OpenUntil during the probe = %v, %v; want %v, true", until, open, wantUntil)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Go(func() {
					_, err := f.send(originA)
					errs <- err
				})
			}
			awaitGroup(t, &wg, "the sends made during the probe")
			close(errs)
			f.wantCalls(t, failures+1) // before the error checks: a leak is the finding
			for err := range errs {
				if until := mustRefuse(t, err, originA); !until.Equal(wantUntil) {
					t.Fatalf("Until = %v, want now + ProbeWait = %v", until, wantUntil)
				}
			}

			release()
			r := await(t, probe, "the probe's Send to return")
			wantOut, wantErr := tc.probe(t.Context(), core.Request{})
			wantOut.Probe = wantErr == nil // the outcome of the half-open request is marked
			if r.out != wantOut || !errors.Is(r.err, wantErr) {
				t.Fatalf("probe Send = %+v, %v; want %+v, %v", r.out, r.err, wantOut, wantErr)
			}
			f.wantMetric(t, originA, tc.state)
			if got := f.transitions(t, originA); !slices.Equal(got, tc.transitions) {
				t.Fatalf("logged transitions = %v, want %v", got, tc.transitions)
			}
			st := f.state(originA)
			if st.State != tc.state {
				t.Fatalf("Targets() says %q, want %q", st.State, tc.state)
			}

			switch tc.state {
			case "open":
				reopened := f.clock.Now()
				if until, open := f.OpenUntil(originA); !open || !until.Equal(reopened.Add(cfg.OpenFor)) {
					t.Fatalf("OpenUntil after a failed probe = %v, %v; want %v, true", until, open, reopened.Add(cfg.OpenFor))
				}
				if st.ConsecutiveFailures != failures+1 || !st.OpenedAt.Equal(reopened) {
					t.Fatalf("state = %+v, want %d failures, opened at %v", st, failures+1, reopened)
				}
			case "closed", "half-open":
				if _, open := f.OpenUntil(originA); open {
					t.Fatal("OpenUntil reports open, want the target usable")
				}
				f.answer(status(200))
				if _, err := f.send(originA); err != nil {
					t.Fatalf("Send after the probe: %v", err)
				}
				f.wantCalls(t, failures+2)
				f.wantMetric(t, originA, "closed")
			}
		})
	}
}

func TestOpenUntilHasNoSideEffects(t *testing.T) {
	t.Parallel()
	t.Run("unknown origin", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, breaker.Config{})
		if _, open := f.OpenUntil(originA); open {
			t.Fatal("unknown origin reported open")
		}
		if n := len(f.Targets()); n != 0 {
			t.Fatalf("OpenUntil created %d breakers", n)
		}
	})
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, breaker.Config{})
		f.send(originA)
		if _, open := f.OpenUntil(originA); open {
			t.Fatal("closed breaker reported open")
		}
	})
	t.Run("open period over", func(t *testing.T) {
		t.Parallel()
		cfg := breaker.Config{Failures: 1, OpenFor: 20 * time.Millisecond}
		f := newFixture(t, cfg)
		f.answer(status(500))
		f.send(originA)
		if until, open := f.OpenUntil(originA); !open || !until.Equal(t0.Add(cfg.OpenFor)) {
			t.Fatalf("OpenUntil = %v, %v; want %v, true", until, open, t0.Add(cfg.OpenFor))
		}
		time.Sleep(cfg.OpenFor + 20*time.Millisecond)
		f.clock.Advance(cfg.OpenFor)
		for range 3 {
			if _, open := f.OpenUntil(originA); open {
				t.Fatal("OpenUntil reports open after the open period")
			}
		}
		// Asking did not move the breaker to half-open (gobreaker's State
		// would have): only a Send does.
		if st := f.state(originA); st.State != "open" {
			t.Fatalf("state after OpenUntil = %q, want open", st.State)
		}
		f.wantMetric(t, originA, "open")
		if got := f.transitions(t, originA); !slices.Equal(got, []string{"closed>open"}) {
			t.Fatalf("transitions = %v, want only the trip", got)
		}
		f.answer(status(200))
		if _, err := f.send(originA); err != nil {
			t.Fatalf("the probe was refused: %v", err)
		}
		f.wantMetric(t, originA, "closed")
	})
}

func TestStatesListsNonClosedFirst(t *testing.T) {
	t.Parallel()
	cfg := breaker.Config{Failures: 2, OpenFor: time.Hour}
	f := newFixture(t, cfg)
	f.answer(func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Origin == "https://a.example:443" {
			return core.Outcome{StatusCode: 200}, nil
		}
		return core.Outcome{StatusCode: 500}, nil
	})
	for _, o := range []string{"https://z.example:443", "https://b.example:443", "https://a.example:443", "https://y.example:443"} {
		f.send(o)
	}
	f.clock.Advance(time.Minute)
	f.send("https://z.example:443")
	f.send("https://y.example:443")

	opened := t0.Add(time.Minute)
	want := []ports.TargetState{
		{Origin: "https://y.example:443", State: "open", ConsecutiveFailures: 2, OpenedAt: opened, OpenUntil: opened.Add(time.Hour)},
		{Origin: "https://z.example:443", State: "open", ConsecutiveFailures: 2, OpenedAt: opened, OpenUntil: opened.Add(time.Hour)},
		{Origin: "https://a.example:443", State: "closed"},
		{Origin: "https://b.example:443", State: "closed", ConsecutiveFailures: 1},
	}
	got := f.Targets()
	if len(got) != len(want) {
		t.Fatalf("Targets() = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Origin != w.Origin || g.State != w.State || g.ConsecutiveFailures != w.ConsecutiveFailures ||
			!g.OpenedAt.Equal(w.OpenedAt) || !g.OpenUntil.Equal(w.OpenUntil) {
			t.Errorf("Targets()[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestTargetsAreIndependent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 2, OpenFor: time.Hour})
	f.answer(status(500))
	f.send(originA)
	f.send(originB) // B's single failure must not add to A's streak, nor A's to B's
	f.send(originA)
	_, err := f.send(originA)
	mustRefuse(t, err, originA)
	if st := f.state(originB); st.State != "closed" || st.ConsecutiveFailures != 1 {
		t.Fatalf("B = %+v, want closed with 1 failure", st)
	}

	f.answer(status(200))
	for range 5 {
		if _, err := f.send(originB); err != nil {
			t.Fatalf("B refused while A is open: %v", err)
		}
	}
	if _, open := f.OpenUntil(originB); open {
		t.Fatal("B reported open")
	}
	f.wantMetric(t, originA, "open")
	f.wantMetric(t, originB, "")
	f.wantCalls(t, 3+5)
}

func TestPanickingNextCountsAsFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 1, OpenFor: time.Hour})
	f.answer(func(context.Context, core.Request) (core.Outcome, error) { panic("boom") })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		f.send(originA)
	}()
	f.answer(status(200))
	_, err := f.send(originA)
	mustRefuse(t, err, originA)
}

// TestConcurrentUse is for -race: sends, gate checks and snapshots at
// once, with breakers flipping all the time. Every Send either reached
// next or was refused with a TargetOpenError.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 2, OpenFor: time.Millisecond, ProbeWait: time.Millisecond})
	f.answer(func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Attempt%3 == 0 {
			return core.Outcome{StatusCode: 200}, nil
		}
		return core.Outcome{StatusCode: 503}, nil
	})
	origins := []string{originA, originB, "https://c.example:443", "https://d.example:443"}
	const workers, each = 16, 200
	var refused sync.Map
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			n := 0
			for i := range each {
				d := delivery(origins[(w+i)%len(origins)])
				d.Attempt = i
				if _, err := f.Send(t.Context(), d); err != nil {
					if open := (*core.TargetOpenError)(nil); !errors.As(err, &open) || open.Target != d.Origin {
						t.Errorf("Send to %s: %v, want a TargetOpenError", d.Origin, err)
					}
					n++
				}
			}
			refused.Store(w, n)
		})
	}
	stop := make(chan struct{})
	stopObserver := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(stopObserver) // a failed wait below must not leave it spinning
	var observer sync.WaitGroup
	observer.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, o := range origins {
				f.OpenUntil(o)
			}
			if n := len(f.Targets()); n > len(origins) {
				t.Errorf("Targets() has %d entries for %d origins", n, len(origins))
			}
		}
	})
	awaitGroup(t, &wg, "the senders")
	stopObserver()
	awaitGroup(t, &observer, "the observer")

	total := int64(0)
	refused.Range(func(_, v any) bool { total += int64(v.(int)); return true })
	if got := f.calls.Load() + total; got != workers*each {
		t.Fatalf("calls %d + refusals %d = %d, want %d", f.calls.Load(), total, got, workers*each)
	}
	if total == 0 {
		t.Fatal("no Send was refused: the breakers never opened")
	}
}

func TestNewSenderContract(t *testing.T) {
	t.Parallel()
	next, clk, m := memory.NewSender(status(500)), memory.NewClock(t0), memory.NewMetrics()
	s, err := breaker.NewSender(next, breaker.Config{Failures: 1}, clk, m, nil) // nil log discards
	if err != nil {
		t.Fatal(err)
	}
	s.Send(t.Context(), delivery(originA))
	_, err = s.Send(t.Context(), delivery(originA))
	mustRefuse(t, err, originA)

	if _, err := breaker.NewSender(next, breaker.Config{Failures: -1}, clk, m, nil); err == nil {
		t.Error("an invalid config was accepted")
	}
	for name, build := range map[string]func() (*breaker.Sender, error){
		"next":    func() (*breaker.Sender, error) { return breaker.NewSender(nil, breaker.Config{}, clk, m, nil) },
		"clock":   func() (*breaker.Sender, error) { return breaker.NewSender(next, breaker.Config{}, nil, m, nil) },
		"metrics": func() (*breaker.Sender, error) { return breaker.NewSender(next, breaker.Config{}, clk, nil, nil) },
	} {
		if _, err := build(); err == nil {
			t.Errorf("no %s: accepted", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  breaker.Config
		ok   bool
	}{
		{"zero means defaults", breaker.Config{}, true},
		{"all set", breaker.Config{Failures: 3, OpenFor: time.Second, IdleTTL: time.Minute, MaxTargets: 10, ProbeWait: time.Second}, true},
		{"negative failures", breaker.Config{Failures: -1}, false},
		{"negative open", breaker.Config{OpenFor: -time.Second}, false},
		{"negative idle", breaker.Config{IdleTTL: -time.Second}, false},
		{"negative max", breaker.Config{MaxTargets: -1}, false},
		{"negative probe wait", breaker.Config{ProbeWait: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
