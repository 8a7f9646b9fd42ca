package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestRecoverIsPacedForTheMerchant: a merchant refuses 30 events (410,
// dead at once), comes back, and POST /events/recover sends them all
// again at the pace asked, 10 per second, never faster.
func TestRecoverIsPacedForTheMerchant(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"ENCRYPTION_KEY": testEncryptionKey, "POLL_INTERVAL_MS": "100",
	}))
	m := harness.StartMerchant(t)
	m.Status.Store(http.StatusGone)
	ep := createEndpoint(t, d, map[string]any{"url": m.URL + "/hook"})
	const n, rate = 30, 10
	for i := range n {
		sendEvent(t, d, "order.paid", i)
	}
	deadTotal := func() int {
		resp, err := http.Get(d.Base + "/events?status=dead&endpoint_id=" + ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct{ Total int }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /events: %d %v", resp.StatusCode, err)
		}
		return page.Total
	}
	testkit.Eventually(t, 30*time.Second, "every event dead at the merchant", func() bool { return deadTotal() == n })

	m.Status.Store(http.StatusOK)
	var res struct {
		Queued int
		More   bool
	}
	called := time.Now()
	code, raw := harness.PostJSONCode(t, d.Base+"/events/recover", map[string]any{"endpoint_id": ep.ID, "rate_per_second": rate}, &res)
	if code != http.StatusAccepted || res.Queued != n || res.More {
		t.Fatalf("POST /events/recover: %d %s", code, raw)
	}
	testkit.Eventually(t, 30*time.Second, "every recovered delivery received", func() bool { return len(m.Requests()) >= 2*n })
	got := m.Requests()[n:]
	// The i-th is due i/rate s after the recovery (the store's clock, read
	// after called): a worker can only be late, never early, so by any
	// moment the merchant has had at most rate per second since the call,
	// however busy the machine (a late worker catches up, within that).
	for i, r := range got {
		if early := called.Add(time.Duration(i) * time.Second / rate).Sub(r.At); early > 20*time.Millisecond {
			t.Errorf("recovered delivery %d arrived %s after the call, %s before its turn at %d/s", i, r.At.Sub(called), early, rate)
		}
	}
	span := got[n-1].At.Sub(got[0].At)
	if left := deadTotal(); left != 0 {
		t.Errorf("%d events still dead after the recovery", left)
	}
	t.Logf("recovered %d deliveries over %s at %d/s", n, span.Round(time.Millisecond), rate)
}
