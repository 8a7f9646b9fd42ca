package dispatch_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/dispatch"
)

// switchable answers with whatever outcome it was last set to, counting
// requests.
type switchable struct {
	out      atomic.Value // core.Outcome
	requests atomic.Int64
}

func (s *switchable) set(o core.Outcome) { s.out.Store(o) }

func (s *switchable) respond(context.Context, core.Request) (core.Outcome, error) {
	s.requests.Add(1)
	return s.out.Load().(core.Outcome), nil
}

// adaptiveFixture has 300 due events for one target, windows from 2 to 16
// and a batch larger than any window, so that each RunOnce sends exactly
// the target's window: a lease with no room beyond one attempt turns
// claiming ahead off (ahead_test.go covers it).
func adaptiveFixture(t *testing.T) (*fixture, *switchable) {
	t.Helper()
	s := &switchable{}
	s.set(core.Outcome{StatusCode: 200})
	f := newFixture(t, s.respond, func(c *dispatch.Config) {
		c.InitialWindow, c.PerTarget, c.BatchSize, c.Concurrency = 2, 16, 40, 64
		c.Lease = c.AttemptTimeout + time.Second
	})
	for range 300 {
		f.add(t, targetA)
	}
	return f, s
}

// round runs one claim and returns how many requests it sent.
func round(t *testing.T, f *fixture, s *switchable) int64 {
	t.Helper()
	before := s.requests.Load()
	f.runOnce(t)
	return s.requests.Load() - before
}

func rounds(t *testing.T, f *fixture, s *switchable, n int) []int64 {
	t.Helper()
	out := make([]int64, n)
	for i := range out {
		out[i] = round(t, f, s)
	}
	return out
}

func TestWindowSlowStartsToTheCap(t *testing.T) {
	t.Parallel()
	f, s := adaptiveFixture(t)
	if got, want := rounds(t, f, s, 5), []int64{2, 4, 8, 16, 16}; !slices.Equal(got, want) {
		t.Errorf("requests per round %v, want %v: a healthy target doubles each round trip up to MAX_IN_FLIGHT_PER_TARGET", got, want)
	}
}

// A target that stops answering costs one window, then one request at a
// time (the breaker, not modelled here, then opens after BREAKER_FAILURES).
func TestWindowDropsToOneWhenTheTargetStopsAnswering(t *testing.T) {
	t.Parallel()
	f, s := adaptiveFixture(t)
	rounds(t, f, s, 4) // at 16
	s.set(core.Outcome{Err: "connection refused"})
	if got := rounds(t, f, s, 4); !slices.Equal(got, []int64{16, 8, 1, 1}) {
		t.Errorf("requests per round after the target died: %v, want [16 8 1 1] (halved, then down to 1)", got)
	}
	// Back up: slow start again, but only to half the old window, then
	// one more per window's worth of answers.
	s.set(core.Outcome{StatusCode: 200})
	if got := rounds(t, f, s, 6); !slices.Equal(got, []int64{1, 2, 4, 8, 8, 9}) {
		t.Errorf("requests per round after recovery: %v, want [1 2 4 8 8 9] (slow start to 8, then additive)", got)
	}
}

func TestWindowHalvesOnOverloadOncePerRoundTrip(t *testing.T) {
	t.Parallel()
	f, s := adaptiveFixture(t)
	rounds(t, f, s, 4) // at 16
	s.set(core.Outcome{StatusCode: 503})
	round(t, f, s) // 16 answers of 503 in one round trip
	s.set(core.Outcome{StatusCode: 200})
	if got := rounds(t, f, s, 3); !slices.Equal(got, []int64{8, 8, 9}) {
		t.Errorf("requests per round after a round of 503s: %v, want [8 8 9]: halved once, not once per answer, then additive", got)
	}
}

// A 500 is a bug at the merchant, not load: the window stays.
func TestWindowIgnoresServerErrorsThatAreNotOverload(t *testing.T) {
	t.Parallel()
	f, s := adaptiveFixture(t)
	rounds(t, f, s, 4) // at 16
	s.set(core.Outcome{StatusCode: 500})
	if got := rounds(t, f, s, 2); !slices.Equal(got, []int64{16, 16}) {
		t.Errorf("requests per round under 500s: %v, want [16 16]", got)
	}
}

func TestFixedWindow(t *testing.T) {
	t.Parallel()
	s := &switchable{}
	s.set(core.Outcome{Err: "connection refused"})
	f := newFixture(t, s.respond, func(c *dispatch.Config) {
		c.InitialWindow, c.PerTarget, c.BatchSize, c.Concurrency, c.FixedWindow = 2, 16, 40, 64, true
		c.Lease = c.AttemptTimeout + time.Second // no claiming ahead: a round is one window
	})
	for range 100 {
		f.add(t, targetA)
	}
	if got := rounds(t, f, s, 2); !slices.Equal(got, []int64{16, 16}) {
		t.Errorf("requests per round with a fixed window: %v, want [16 16]", got)
	}
}

func TestWindowOfAnIdleTargetStartsSmallAgain(t *testing.T) {
	t.Parallel()
	f, s := adaptiveFixture(t)
	rounds(t, f, s, 4) // at 16
	f.clock.Advance(2 * time.Minute)
	if got := round(t, f, s); got != 2 {
		t.Errorf("after two idle minutes the target got %d requests at once, want the initial window 2", got)
	}
}
