package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// testEncryptionKey is ENCRYPTION_KEY for the endpoint tests (64 hex).
const testEncryptionKey = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

type createdEndpoint struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func createEndpoint(t *testing.T, d *harness.Dispatcher, body map[string]any) createdEndpoint {
	t.Helper()
	var out createdEndpoint
	if code, raw := harness.PostJSONCode(t, d.Base+"/endpoints", body, &out); code != http.StatusCreated {
		t.Fatalf("POST /endpoints: %d %s", code, raw)
	}
	return out
}

func sendEvent(t *testing.T, d *harness.Dispatcher, eventType string, seq int) string {
	t.Helper()
	var out struct {
		ID         string
		Deliveries int
	}
	code, raw := harness.PostJSONCode(t, d.Base+"/events", map[string]any{"event_type": eventType, "payload": map[string]any{"seq": seq}}, &out)
	if code != http.StatusAccepted {
		t.Fatalf("POST /events: %d %s", code, raw)
	}
	return out.ID
}

// verifies checks r the way a merchant holding secret would: Standard
// Webhooks with webhookd's own verifier, and X-Signature by hand: the hex
// HMAC-SHA256 of the body keyed by the secret's key bytes (the base64 part
// decoded). X-Signature carries the current secret's signature only.
func verifies(t *testing.T, secret string, r harness.Received) (standard, xSignature bool) {
	t.Helper()
	v, err := signing.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write(r.Body)
	return v.VerifyStandard(r.Header, r.Body) == nil,
		hmac.Equal([]byte(r.Header.Get(signing.HeaderSignature)), []byte(hex.EncodeToString(m.Sum(nil))))
}

// TestFanOutSignedPerEndpoint: three merchants subscribe to different
// event types, each with its own secret; every delivery verifies with its
// merchant's secret (in Go and with the official Standard Webhooks
// library) and with no other merchant's; a rotation mid-stream signs with
// both secrets during its grace; webhook-id is the event's id everywhere.
func TestFanOutSignedPerEndpoint(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"ENCRYPTION_KEY": testEncryptionKey, "POLL_INTERVAL_MS": "100",
	}))
	paid, invoices, all := harness.StartMerchant(t), harness.StartMerchant(t), harness.StartMerchant(t)
	epPaid := createEndpoint(t, d, map[string]any{"url": paid.URL + "/hook", "event_types": []string{"order.paid"}})
	epInv := createEndpoint(t, d, map[string]any{"url": invoices.URL + "/hook", "event_types": []string{"invoice.sent"}})
	epAll := createEndpoint(t, d, map[string]any{"url": all.URL + "/hook"})

	const n = 4
	var paidIDs []string
	for i := range n {
		paidIDs = append(paidIDs, sendEvent(t, d, "order.paid", i))
		sendEvent(t, d, "invoice.sent", i)
	}
	received := func(m *harness.Merchant, want int) func() bool {
		return func() bool { return len(m.Requests()) >= want }
	}
	testkit.Eventually(t, 20*time.Second, "the first events at every endpoint", func() bool {
		return received(paid, n)() && received(invoices, n)() && received(all, 2*n)()
	})

	// Rotate the order.paid merchant's secret mid-stream.
	var rotated struct{ Secret string }
	if code, raw := harness.PostJSONCode(t, d.Base+"/endpoints/"+epPaid.ID+"/secret/rotate", map[string]any{}, &rotated); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	for i := range n {
		paidIDs = append(paidIDs, sendEvent(t, d, "order.paid", n+i))
	}
	testkit.Eventually(t, 20*time.Second, "the events after the rotation", func() bool {
		return received(paid, 2*n)() && received(all, 3*n)()
	})

	official := harness.StandardWebhooksJS(t)
	secrets := map[*harness.Merchant]string{paid: epPaid.Secret, invoices: epInv.Secret, all: epAll.Secret}
	for m, own := range secrets {
		for i, r := range m.Requests() {
			var body struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil || body.EventID == "" || r.Header.Get("webhook-id") != body.EventID {
				t.Errorf("request %d: webhook-id %q, body %s; want the event's id in both", i, r.Header.Get("webhook-id"), r.Body)
			}
			secret := own
			if m == paid && i >= n {
				secret = rotated.Secret
				if std, _ := verifies(t, epPaid.Secret, r); !std {
					t.Errorf("request %d after the rotation does not verify with the previous secret during its grace", i)
				}
			}
			if std, xsig := verifies(t, secret, r); !std || !xsig {
				t.Errorf("request %d to %s: verifies with its endpoint's secret: webhook-signature %v, X-Signature %v; want both", i, m.URL, std, xsig)
			}
			for other, s := range secrets {
				if std, xsig := verifies(t, s, r); other != m && (std || xsig) {
					t.Errorf("request %d to %s verifies with another endpoint's secret: any merchant could forge it", i, m.URL)
				}
			}
			if official != nil {
				if err := official(secret, r); err != nil {
					t.Errorf("request %d to %s: rejected by the official Standard Webhooks library: %v", i, m.URL, err)
				}
				if i == 0 {
					for other, s := range secrets {
						if other != m && official(s, r) == nil {
							t.Errorf("the official library accepts a delivery to %s with another endpoint's secret", m.URL)
						}
					}
				}
			}
		}
	}
	if official == nil {
		t.Log("SIGNING_INTEROP_DIR is not set: verified in Go only (make test and CI install the official library)")
	}

	// Each order.paid event went to two endpoints under one webhook-id.
	var ev struct {
		Status     string
		Deliveries []struct {
			EndpointID string `json:"endpoint_id"`
			Status     string
		}
	}
	if code := d.GetJSON(t, "/events/"+paidIDs[0], &ev); code != http.StatusOK || ev.Status != "succeeded" || len(ev.Deliveries) != 2 {
		t.Errorf("GET /events/%s: %d %+v; want succeeded with 2 deliveries", paidIDs[0], code, ev)
	}
	seen := map[string]int{}
	for _, m := range []*harness.Merchant{paid, all} {
		for _, r := range m.Requests() {
			seen[r.Header.Get("webhook-id")]++
		}
	}
	for _, id := range paidIDs {
		if seen[id] < 2 {
			t.Errorf("order.paid %s reached %d of its 2 endpoints", id, seen[id])
		}
	}
	if got := len(rcv.Stats(t, false).Events); got != 0 {
		t.Errorf("the default target_url received %d events routed to endpoints", got)
	}
	t.Logf("fan-out: %d+%d+%d deliveries verified per endpoint", len(paid.Requests()), len(invoices.Requests()), len(all.Requests()))
}

// TestFailingEndpointIsDisabledAndTheOperatorTold: an endpoint that answers
// 500 for longer than ENDPOINT_DISABLE_AFTER_MS is disabled with a reason,
// its pending deliveries end dead, and OPERATIONAL_WEBHOOK_URL receives
// endpoint.disabled (one notice for the endpoint, not one per delivery it
// ended) and, for a delivery that died of its answer (a 410),
// delivery.dead; both signed with HMAC_SECRET.
func TestFailingEndpointIsDisabledAndTheOperatorTold(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	ops, broken, gone := harness.StartMerchant(t), harness.StartMerchant(t), harness.StartMerchant(t)
	broken.Status.Store(http.StatusInternalServerError)
	gone.Status.Store(http.StatusGone)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"ENCRYPTION_KEY": testEncryptionKey, "POLL_INTERVAL_MS": "100", "ENDPOINT_DISABLE_AFTER_MS": "1500",
		"OPERATIONAL_WEBHOOK_URL": ops.URL + "/ops", "RETRY_BASE_MS": "200", "RETRY_MAX_BACKOFF_MS": "400",
		"MAX_ATTEMPTS": "50", "BREAKER_FAILURES": "1000",
	}))
	ep := createEndpoint(t, d, map[string]any{"url": broken.URL + "/hook"})
	ids := []string{sendEvent(t, d, "order.paid", 1), sendEvent(t, d, "order.paid", 2)}
	harness.PostJSON(t, d.Base+"/events", map[string]any{"target_url": gone.URL + "/hook", "payload": map[string]any{"n": 3}})

	var got struct {
		Disabled       bool    `json:"disabled"`
		DisabledReason *string `json:"disabled_reason"`
		FailingSince   *string `json:"failing_since"`
	}
	testkit.Eventually(t, 20*time.Second, "the failing endpoint to be disabled", func() bool {
		return d.GetJSON(t, "/endpoints/"+ep.ID, &got) == http.StatusOK && got.Disabled
	})
	if got.DisabledReason == nil || !strings.Contains(*got.DisabledReason, "without a success since") || got.FailingSince == nil {
		t.Errorf("disabled endpoint: %+v; want the reason and when the failures began", got)
	}
	for _, id := range ids {
		var ev struct{ Status string }
		testkit.Eventually(t, 5*time.Second, "its deliveries to be dead", func() bool {
			return d.GetJSON(t, "/events/"+id, &ev) == http.StatusOK && ev.Status == "dead"
		})
	}
	// The operator hears of both, through signed webhooks.
	want := map[string]bool{"endpoint.disabled": false, "delivery.dead": false}
	testkit.Eventually(t, 10*time.Second, "endpoint.disabled and delivery.dead at the operational URL", func() bool {
		for _, r := range ops.Requests() {
			var n struct{ Type string }
			if json.Unmarshal(r.Body, &n) == nil {
				if _, ok := want[n.Type]; ok {
					want[n.Type] = true
				}
			}
		}
		return want["endpoint.disabled"] && want["delivery.dead"]
	})
	v, err := signing.NewVerifier(harness.Secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ops.Requests() {
		if err := v.VerifyStandard(r.Header, r.Body); err != nil {
			t.Errorf("operational webhook not signed with HMAC_SECRET: %v", err)
		}
	}
	before := len(broken.Requests())
	time.Sleep(time.Second)
	if after := len(broken.Requests()); after != before {
		t.Errorf("a disabled endpoint received %d more requests", after-before)
	}
}

// TestEndpointRateLimitIsHonoured: an endpoint limited to 5 requests a
// second gets 40 queued events at that pace (a second's burst, then 5/s),
// while an unlimited endpoint beside it gets them at once.
func TestEndpointRateLimitIsHonoured(t *testing.T) {
	t.Parallel()
	bins, db, rcv := harness.NewStack(t, nil)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), map[string]string{
		"ENCRYPTION_KEY": testEncryptionKey, "POLL_INTERVAL_MS": "100",
	}))
	slow, fast := harness.StartMerchant(t), harness.StartMerchant(t)
	createEndpoint(t, d, map[string]any{"url": slow.URL + "/hook", "rate_limit_per_second": 5})
	createEndpoint(t, d, map[string]any{"url": fast.URL + "/hook"})
	const n = 40
	for i := range n {
		sendEvent(t, d, "order.paid", i)
	}
	testkit.Eventually(t, 30*time.Second, "every event at both endpoints", func() bool {
		return len(slow.Requests()) >= n && len(fast.Requests()) >= n
	})
	got := slow.Requests()
	span := got[n-1].At.Sub(got[0].At)
	// 5 in the first second's burst, then 35 more at 5/s: at least 7 s.
	if span < 6*time.Second {
		t.Errorf("40 requests to an endpoint limited to 5/s arrived within %s, want about 7 s", span)
	}
	// A token bucket of 5 filled at 5/s: any k consecutive requests span
	// at least (k-5)/5 s (one request of slack for timing).
	for i := range got {
		for j := i + 6; j < len(got); j++ {
			k, w := j-i+1, got[j].At.Sub(got[i].At).Seconds()
			if float64(k) > 5+5*w+1 {
				t.Fatalf("%d requests within %.2fs (requests %d to %d): more than the burst of 5 plus 5/s", k, w, i, j)
			}
		}
	}
	fastSpan := fast.Requests()[n-1].At.Sub(fast.Requests()[0].At)
	t.Logf("limited endpoint: %d requests over %s; unlimited one: over %s", len(got), span.Round(time.Millisecond), fastSpan.Round(time.Millisecond))
}
