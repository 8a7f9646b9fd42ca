package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestReceiverChaos: the mock receiver's seed-like chaos, scaled down in
// time (forced first failures, random 500s, hangs past the client timeout).
// Every event ends succeeded or, only once its attempts ran out with every
// one failed, dead; and for every event the attempt history, the attempt
// count and the receiver's own request count agree exactly.
func TestReceiverChaos(t *testing.T) {
	bins := setup(t)
	began := time.Now()
	const (
		total       = 500
		maxAttempts = 6
	)
	db := harness.NewPostgresDB(t)
	rcv := harness.StartReceiver(t, bins, map[string]string{
		"FAIL_FIRST_N": "2", "FIRST_HANG_RATE": "0.2", "MIN_DELAY_MS": "0", "MAX_DELAY_MS": "50",
		"FAIL_RATE": "0.3", "HANG_RATE": "0.2", "HANG_MS": "1500",
	})
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"WORKER_ID": "chaos-1", "HTTP_TIMEOUT_MS": "1000", "MAX_ATTEMPTS": fmt.Sprint(maxAttempts),
		"RETRY_BASE_MS": "50", "RETRY_MAX_BACKOFF_MS": "400", "BREAKER_FAILURES": "1000",
		"WORKER_CONCURRENCY": "128", "MAX_IN_FLIGHT_PER_TARGET": "128", "POLL_INTERVAL_MS": "100",
		// The accounting under chaos is the point here, not the window: an
		// adaptive one would keep this receiver's 20 % hangs at a few in
		// flight, and the run at many minutes.
		"PER_TARGET_WINDOW": "fixed",
	}))
	res := harness.StartLoad(t, harness.LoadConfig{Bases: []string{d.Base}, Total: total}).Wait()
	checkLoad(t, res, total)
	testkit.Eventually(t, 2*time.Minute, "every event succeeded or dead", func() bool {
		c := db.Counts(t)
		return c["succeeded"]+c["dead"] == total
	})

	st := rcv.Stats(t, true)
	hist := attempts(t, db)
	evs := events(t, db)
	succeeded, dead, lost, attemptsTotal, hangs := 0, 0, 0, 0, 0
	var bad []string
	for _, id := range res.Accepted {
		e, h, r := evs[id], hist[id], st.Events[id]
		attemptsTotal += len(h)
		if problem := chaosProblem(e, h, r.Requests, r.Accepted, maxAttempts); problem != "" {
			bad = append(bad, fmt.Sprintf("event %s: %s (history %+v)", id, problem, h))
		}
		switch e.Status {
		case "succeeded":
			succeeded++
		case "dead":
			dead++
		default:
			lost++
		}
		for _, a := range h {
			if a.StatusCode == 0 {
				hangs++
			}
		}
	}
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more", len(bad)-10)
			break
		}
		t.Error(b)
	}
	if st.Requests != int64(attemptsTotal) || st.RejectedSignature != 0 || st.Duplicates != 0 {
		t.Errorf("receiver: %d requests (history has %d attempts), %d bad signatures, %d duplicates",
			st.Requests, attemptsTotal, st.RejectedSignature, st.Duplicates)
	}
	if dead == 0 || hangs == 0 {
		t.Errorf("%d dead events and %d timed-out attempts: the chaos did not bite", dead, hangs)
	}
	stopGracefully(t, 15*time.Second, d)
	t.Logf("SUMMARY chaos (postgres): accepted=%d succeeded=%d dead=%d lost=%d attempts=%d receiver_requests=%d timeouts=%d mismatched_events=%d duplicates=%d wall=%s",
		len(res.Accepted), succeeded, dead, lost, attemptsTotal, st.Requests, hangs, len(bad), st.Duplicates, secs(time.Since(began)))
}

// chaosProblem says what is wrong with one event's final state, or "".
func chaosProblem(e event, h []attempt, requests, accepted, maxAttempts int) string {
	if len(h) != e.Attempted || len(h) != requests {
		return fmt.Sprintf("%d attempt rows, attempted_count %d, receiver saw %d requests", len(h), e.Attempted, requests)
	}
	if len(h) == 0 {
		return "status " + e.Status + " without any attempt"
	}
	for i, a := range h {
		if a.Number != i+1 {
			return fmt.Sprintf("attempt %d is numbered %d", i+1, a.Number)
		}
		if last := i == len(h)-1; !last && a.Verdict != "retry" {
			return fmt.Sprintf("attempt %d before the last has verdict %s", a.Number, a.Verdict)
		}
	}
	last := h[len(h)-1]
	switch e.Status {
	case "succeeded":
		if last.Verdict != "succeeded" || last.StatusCode != 200 || accepted != 1 {
			return fmt.Sprintf("succeeded, but the last attempt is %s/%d and the receiver accepted %d", last.Verdict, last.StatusCode, accepted)
		}
	case "dead":
		if e.Attempted != maxAttempts || last.Verdict != "dead" || accepted != 0 {
			return fmt.Sprintf("dead after %d attempts (last %s), receiver accepted %d; want %d failed attempts",
				e.Attempted, last.Verdict, accepted, maxAttempts)
		}
	default:
		return "status " + e.Status
	}
	return ""
}
