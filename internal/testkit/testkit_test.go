package testkit_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	testkit.Eventually(t, 5*time.Second, "three increments", func() bool { return n.Load() == 3 })
}

func TestLogBufferConcurrentRecords(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { log.Info("line", "i", i) })
	}
	wg.Wait()
	recs := buf.Records(t)
	if len(recs) != 20 {
		t.Fatalf("%d records, want 20:\n%s", len(recs), buf.String())
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[fmt.Sprint(r["i"])] = true
	}
	if len(seen) != 20 {
		t.Errorf("lines interleaved or lost: %d distinct of 20", len(seen))
	}
}
