package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/core"
)

// TestOfflineTargetGetsOneRequestPerOpenInterval is the product promise
// under contention: senders hammer an origin that always fails, and next
// checks that no two requests ever overlap and that each starts a full
// OpenFor after the previous one ended. Both are measured on the wall
// clock, as gobreaker times the open period; a slow machine only widens
// the gaps checked, so scheduling cannot make it pass or fail wrongly.
func TestOfflineTargetGetsOneRequestPerOpenInterval(t *testing.T) {
	t.Parallel()
	const (
		openFor = 2 * time.Millisecond
		senders = 8
		watch   = 12 // requests to observe before stopping: the trip, then probes
	)
	f := newFixture(t, breaker.Config{Failures: 1, OpenFor: openFor, ProbeWait: time.Millisecond})

	var (
		mu       sync.Mutex
		inNext   int
		requests int
		lastEnd  time.Time
		problems []string
	)
	enough := make(chan struct{})
	f.answer(func(context.Context, core.Request) (core.Outcome, error) {
		mu.Lock()
		start := time.Now()
		inNext++
		if inNext > 1 {
			problems = append(problems, fmt.Sprintf("%d requests in flight at once", inNext))
		}
		if gap := start.Sub(lastEnd); !lastEnd.IsZero() && gap < openFor {
			problems = append(problems, fmt.Sprintf("a request %s after the previous failure, within OpenFor", gap))
		}
		requests++
		if requests == watch {
			close(enough)
		}
		mu.Unlock()

		time.Sleep(200 * time.Microsecond) // hold the slot while the others contend
		mu.Lock()
		inNext--
		lastEnd = time.Now()
		mu.Unlock()
		return core.Outcome{StatusCode: 503}, nil
	})

	// Trip it first: while closed, concurrent requests are legitimate.
	f.send(originA)
	f.wantMetric(t, originA, "open")

	var stop atomic.Bool
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for !stop.Load() {
				_, err := f.send(originA)
				var open *core.TargetOpenError
				switch {
				case err == nil:
				case errors.As(err, &open):
					refused.Add(1)
				default:
					t.Errorf("Send: %v, want a 503 or a TargetOpenError", err)
					return
				}
			}
		})
	}
	t.Cleanup(func() { stop.Store(true) }) // a failed wait must not leave them spinning
	await(t, enough, fmt.Sprintf("%d requests to reach next", watch))
	stop.Store(true)
	awaitGroup(t, &wg, "the senders")

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	if refused.Load() == 0 {
		t.Fatal("no Send was refused: the probes never had competition")
	}
}
