package dashboard_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestScreenshots writes the README's screenshots of the dashboard when
// WEBHOOKD_SCREENSHOTS names a directory (relative to the module root):
// dashboard-overview.png, the overview after a few minutes of traffic
// (bursts of events to a flaky receiver, and a few to a target that is
// down, so that every series of the chart and an open breaker show), and
// dashboard-event.png, an event whose delivery failed twice before it
// succeeded. Full-page PNGs, 1280 px wide. It takes about two minutes.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("WEBHOOKD_SCREENSHOTS")
	if dir == "" {
		t.Skip("WEBHOOKD_SCREENSHOTS is not set: no screenshots to write (WEBHOOKD_SCREENSHOTS=docs writes the README's)")
	}
	if !filepath.IsAbs(dir) {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", dir)
	}
	t.Parallel()
	s := startStack(t, harness.NewDBOf(t, harness.KindSQLite), stackConfig{
		receiverEnv: map[string]string{"FAIL_RATE": "0.15", "MIN_DELAY_MS": "5", "MAX_DELAY_MS": "80"},
		env: map[string]string{
			"MAX_ATTEMPTS": "3", "RETRY_BASE_MS": "1500", "RETRY_MAX_BACKOFF_MS": "4000",
			"BREAKER_FAILURES": "5", "BREAKER_OPEN_MS": "600000",
		},
	})
	b := newBrowserFor(t, 6*time.Minute)
	flaky := harness.StartReceiver(t, harness.Build(t), map[string]string{"FAIL_FIRST_N": "2", "FIRST_HANG_RATE": "0"})
	shop, billing, gone := harness.StartMerchant(t), harness.StartMerchant(t), harness.StartMerchant(t)
	gone.Status.Store(http.StatusGone) // 410: dead at once
	s.createEndpoint(t, map[string]any{"url": shop.URL + "/webhooks", "event_types": []string{"order.paid", "order.refunded"},
		"description": "Shop backend", "rate_limit_per_second": 50})
	s.createEndpoint(t, map[string]any{"url": billing.URL + "/hooks/webhookd", "event_types": []string{"invoice.sent"}, "description": "Billing"})

	// The showcase event: two 500s, then a 200.
	showcase := s.postEvent(t, map[string]any{
		"id": "ord_8f3k2", "customer": "cus_1042", "amount": 4999, "currency": "EUR", "items": []string{"sku_basic_tee", "sku_socks"},
	}, map[string]any{"target_url": flaky.URL(), "event_type": "order.shipped"})
	posted := 1

	// Traffic: bursts over a few minutes, so that the chart has several
	// points: most to the default target (the mock receiver, failing 15%
	// of first tries), some to the endpoints, a few to a merchant that
	// answers 410 (dead at once) and to a port where nothing listens
	// (retried until its breaker opens).
	down := fmt.Sprintf("http://127.0.0.1:%d/hook", harness.FreePort(t))
	types := []string{"", "", "order.paid", "", "invoice.sent", "order.refunded"}
	bursts := []int{40, 120, 70, 160, 90, 130}
	for i, n := range bursts {
		if i > 0 {
			time.Sleep(35 * time.Second)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for j := w; j < n; j += 8 {
					fields := map[string]any{}
					if typ := types[j%len(types)]; typ != "" {
						fields["event_type"] = typ
					}
					s.postEvent(t, map[string]any{"seq": strconv.Itoa(i*1000 + j)}, fields)
				}
			})
		}
		wg.Wait()
		for j := range 2 {
			s.postEvent(t, map[string]any{"seq": j}, map[string]any{"target_url": gone.URL + "/old-hook"})
			s.postEvent(t, map[string]any{"seq": j}, map[string]any{"target_url": down})
		}
		posted += n + 4
	}
	s.waitStatus(t, time.Minute, "succeeded", showcase)
	testkit.Eventually(t, time.Minute, "the bursts delivered or dead", func() bool {
		c := s.db.Counts(t)
		return c["delivering"] == 0 && c["pending"] <= 2*len(bursts) // the dead port's, deferred by its open breaker
	})
	// Activity is flushed to the store every few seconds: wait until the
	// chart counts every event.
	testkit.Eventually(t, 30*time.Second, "the chart to count every event accepted", func() bool {
		b.open(s.url(""), http.StatusOK, "overview")
		return strings.Contains(b.text("svg#activity-chart"), fmt.Sprintf("accepted (%d)", posted))
	})

	b.open(s.url(""), http.StatusOK, "overview")
	write(t, filepath.Join(dir, "dashboard-overview.png"), b.screenshot())
	b.open(s.url("/events/"+showcase), http.StatusOK, "event")
	if n := b.count("section.delivery ol.attempts > li.attempt"); n != 3 {
		t.Errorf("the showcase event shows %d attempts, want 3", n)
	}
	write(t, filepath.Join(dir, "dashboard-event.png"), b.screenshot())
}

func write(t *testing.T, path string, png []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
