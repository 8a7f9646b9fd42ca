package wiring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/wiring"
)

const testSecret = "whsec_dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tkLWUyZS1tZW1vcnktc3RvcmU="

func env(kv map[string]string) wiring.Lookup {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

// startReceiver runs the real mock receiver in-process on 127.0.0.1.
func startReceiver(t *testing.T, cfg receiver.Config) (*receiver.Receiver, string) {
	t.Helper()
	cfg.Secret = testSecret
	r, err := receiver.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close() })
	return r, srv.URL + "/webhook"
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

type eventJSON struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	AttemptedCount  int       `json:"attempted_count"`
	NextAttemptAt   time.Time `json:"next_attempt_at"`
	LastAttemptedAt time.Time `json:"last_attempted_at"`
	Attempts        []struct {
		Number  int    `json:"number"`
		Verdict string `json:"verdict"`
		Reason  string `json:"reason"`
	} `json:"attempts"`
}

// TestEndToEndMemory runs the real wiring on the memory store against the
// real mock receiver over real HTTP. Time is a manual clock, so the
// backoff of a failing event is checked exactly without sleeping seconds.
func TestEndToEndMemory(t *testing.T) {
	t.Parallel()
	healthy, healthyURL := startReceiver(t, receiver.Config{})
	flaky, flakyURL := startReceiver(t, receiver.Config{FailFirstN: 2}) // 500, 500, then 200

	cfg, err := wiring.LoadConfig(env(map[string]string{
		"STORE": "memory", "DISPATCHER_PORT": "0", "HMAC_SECRET": testSecret, "ALLOW_PRIVATE_TARGETS": "true",
		"POLL_INTERVAL_MS": "20", "RETRY_JITTER": "0", "LOG_LEVEL": "error", "TARGET_URL": healthyURL,
	}))
	if err != nil {
		t.Fatal(err)
	}
	clk := memory.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	app, cleanup, err := wiring.InitializeMemoryApp(t.Context(), cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	api := client{t: t, base: "http://" + app.Addr()}

	// 100 events, half with an explicit target, half on TARGET_URL.
	for i := range 100 {
		body := map[string]any{"payload": map[string]any{"order": i}}
		if i%2 == 0 {
			body["target_url"] = healthyURL
		}
		var res struct{ ID, Status, Message string }
		if code := api.do("POST", "/events", body, &res); code != http.StatusAccepted || res.Status != "pending" {
			t.Fatalf("POST /events: %d %+v", code, res)
		}
	}
	testkit.Eventually(t, 20*time.Second, "100 deliveries", func() bool { return healthy.Stats(false).Accepted >= 100 })
	st := healthy.Stats(false)
	if st.Accepted != 100 || st.UniqueEvents != 100 || st.Duplicates != 0 || st.RejectedSignature != 0 {
		t.Errorf("receiver saw %+v; want 100 accepted, 100 unique, 0 duplicates, 0 bad signatures", st)
	}
	var list struct{ Total int }
	testkit.Eventually(t, 20*time.Second, "100 succeeded", func() bool {
		api.do("GET", "/events?status=succeeded&limit=1", nil, &list)
		return list.Total == 100
	})

	// A failing event: 500, 500, 200 with backoff 2 s then 4 s, driven by
	// the manual clock.
	var res struct{ ID string }
	api.do("POST", "/events", map[string]any{"target_url": flakyURL, "payload": map[string]any{"n": 1}}, &res)
	var ev eventJSON
	for attempt, backoff := range []time.Duration{2 * time.Second, 4 * time.Second} {
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("attempt %d", attempt+1), func() bool {
			api.do("GET", "/events/"+res.ID, nil, &ev)
			return ev.AttemptedCount == attempt+1 && ev.Status == "pending"
		})
		if got := ev.NextAttemptAt.Sub(ev.LastAttemptedAt); got != backoff {
			t.Fatalf("after attempt %d: next attempt %s after the last, want %s", attempt+1, got, backoff)
		}
		clk.Advance(backoff - time.Millisecond)
		time.Sleep(100 * time.Millisecond) // five polls: nothing is due yet
		if n := flaky.Stats(false).Requests; n != int64(attempt+1) {
			t.Fatalf("receiver got %d requests before the backoff ended, want %d", n, attempt+1)
		}
		clk.Advance(time.Millisecond)
	}
	testkit.Eventually(t, 20*time.Second, "the third attempt to succeed", func() bool {
		api.do("GET", "/events/"+res.ID, nil, &ev)
		return ev.Status == "succeeded"
	})
	if len(ev.Attempts) != 3 || ev.Attempts[0].Verdict != "retry" || ev.Attempts[1].Verdict != "retry" || ev.Attempts[2].Verdict != "succeeded" {
		t.Fatalf("attempt history: %+v", ev.Attempts)
	}
	if !strings.Contains(ev.Attempts[0].Reason, "backoff 2s") || !strings.Contains(ev.Attempts[1].Reason, "backoff 4s") {
		t.Errorf("reasons: %q, %q", ev.Attempts[0].Reason, ev.Attempts[1].Reason)
	}
	if fs := flaky.Stats(false); fs.Requests != 3 || fs.Accepted != 1 || fs.RejectedSignature != 0 {
		t.Errorf("flaky receiver: %+v", fs)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
