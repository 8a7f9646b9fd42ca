package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// BenchmarkClaimAndComplete is a worker's store work per batch on a real
// PostgreSQL (TEST_DATABASE_URL): one claim of 100 due deliveries from a
// backlog of thousands, then their 100 outcomes recorded concurrently, as
// a worker's deliveries record them (group commit: a few statements).
func BenchmarkClaimAndComplete(b *testing.B) {
	s, _, _ := newTestStore(b)
	ctx := context.Background()
	const batch, refill = 100, 10_000
	left := 0
	ok := core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200}
	for b.Loop() {
		if left < batch {
			b.StopTimer()
			bulkDue(b, s, refill)
			left += refill
			b.StartTimer()
		}
		claimed, err := s.Claim(ctx, ports.ClaimParams{Worker: "bench", Limit: batch, Lease: time.Minute, MaxAttempts: 10})
		if err != nil || len(claimed) != batch {
			b.Fatalf("claim: %d rows, %v", len(claimed), err)
		}
		left -= batch
		var wg sync.WaitGroup
		for _, d := range claimed {
			wg.Go(func() {
				err := s.Complete(ctx, ports.CompleteParams{Worker: "bench", Claim: ports.Claim{ID: d.ID, Attempt: d.AttemptedCount, Seq: d.ClaimSeq},
					Record: core.Attempt{StartedAt: time.Now(), Duration: time.Millisecond, StatusCode: 200}, Decision: ok})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
