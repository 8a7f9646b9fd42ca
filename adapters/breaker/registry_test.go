package breaker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
)

// senderFunc is a next Sender cheaper than memory.Sender, which records
// every delivery.
type senderFunc func(context.Context, core.Request) (core.Outcome, error)

func (f senderFunc) Send(ctx context.Context, d core.Request) (core.Outcome, error) {
	return f(ctx, d)
}

func origin(i int) string { return fmt.Sprintf("https://t%d.example:443", i) }

func TestEvictsIdleClosedBreakersButNeverOpenOnes(t *testing.T) {
	t.Parallel()
	const (
		open = "https://open.example:443"
		idle = "https://idle.example:443"
		busy = "https://busy.example:443"
	)
	f := newFixture(t, breaker.Config{Failures: 1, OpenFor: time.Hour, IdleTTL: time.Minute})
	f.answer(func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Origin == open {
			return core.Outcome{StatusCode: 500}, nil
		}
		return core.Outcome{StatusCode: 200}, nil
	})
	f.send(open)
	f.send(idle)
	f.clock.Advance(2 * time.Minute) // both idle past the TTL

	for range 1100 { // enough Sends for a sweep
		if _, err := f.send(busy); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, s := range f.Targets() {
		got = append(got, s.Origin+" "+s.State)
	}
	want := []string{open + " open", busy + " closed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Targets() = %v, want %v", got, want)
	}
	if _, opened := f.OpenUntil(open); !opened {
		t.Fatal("the idle open breaker lost its state")
	}
	_, err := f.send(open)
	mustRefuse(t, err, open)
}

func TestMaxTargetsCapsClosedBreakers(t *testing.T) {
	t.Parallel()
	const maxTargets = 50
	f := newFixture(t, breaker.Config{Failures: 1, OpenFor: time.Hour, IdleTTL: time.Hour, MaxTargets: maxTargets})
	const open = "https://open.example:443"
	f.answer(func(_ context.Context, d core.Request) (core.Outcome, error) {
		if d.Origin == open {
			return core.Outcome{StatusCode: 503}, nil
		}
		return core.Outcome{StatusCode: 204}, nil
	})
	f.send(open)
	for i := range 500 {
		f.clock.Advance(time.Millisecond) // nothing is idle; the cap alone evicts, least recently used first
		f.send(origin(i))
		if n := len(f.Targets()); n > maxTargets {
			t.Fatalf("after %d targets the registry holds %d breakers, cap %d", i+2, n, maxTargets)
		}
	}
	if st := f.state(open); st.State != "open" {
		t.Fatalf("open breaker evicted by the cap: %+v", st)
	}
	if st := f.state(origin(499)); st.State != "closed" {
		t.Fatal("the most recently used target was evicted")
	}
	if st := f.state(origin(0)); st.Origin != "" {
		t.Fatal("the least recently used target survived the cap")
	}
}

func TestMaxTargetsNeverEvictsOpenBreakers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, breaker.Config{Failures: 1, OpenFor: time.Hour, MaxTargets: 10})
	f.answer(status(500))
	for i := range 20 {
		f.send(origin(i))
	}
	f.answer(status(200))
	for i := 20; i < 100; i++ {
		f.send(origin(i))
	}
	open := 0
	for _, s := range f.Targets() {
		if s.State == "open" {
			open++
		}
	}
	if open != 20 {
		t.Fatalf("%d open breakers left of 20: the cap evicted open ones", open)
	}
	for i := range 20 {
		if _, opened := f.OpenUntil(origin(i)); !opened {
			t.Fatalf("%s no longer open", origin(i))
		}
	}
}

// TestRegistryStaysBoundedWithManyTargets: up to 200k distinct targets,
// each used once, a millisecond apart on the manual clock. The registry must
// hold roughly the targets of the last IdleTTL plus one sweep interval,
// not all of them.
func TestRegistryStaysBoundedWithManyTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     breaker.Config
		targets int
		bound   int
	}{
		// 1000 Sends per TTL, plus up to two sweep intervals (1024 Sends).
		{"idle TTL", breaker.Config{IdleTTL: time.Second}, 200_000, 1000 + 2*1024},
		// Nothing goes idle: the cap alone bounds it. Its sweeps sort, so
		// fewer targets keep this case quick under -race.
		{"max targets", breaker.Config{IdleTTL: time.Hour, MaxTargets: 1000}, 50_000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := memory.NewClock(t0)
			next := senderFunc(func(context.Context, core.Request) (core.Outcome, error) {
				return core.Outcome{StatusCode: 200}, nil
			})
			s, err := breaker.NewSender(next, tc.cfg, clock, memory.NewMetrics(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			largest := 0
			for i := range tc.targets {
				clock.Advance(time.Millisecond)
				if _, err := s.Send(ctx, delivery(origin(i))); err != nil {
					t.Fatal(err)
				}
				if i%5000 == 4999 {
					n := len(s.Targets())
					if n > tc.bound {
						t.Fatalf("after %d targets the registry holds %d breakers, want ≤ %d", i+1, n, tc.bound)
					}
					largest = max(largest, n)
				}
			}
			if largest < 500 {
				t.Fatalf("registry never held more than %d breakers: is it keeping any?", largest)
			}
		})
	}
}
