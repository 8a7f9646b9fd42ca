package receiver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/testkit"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// harness is one receiver on an httptest server, with its logs captured.
type harness struct {
	t      *testing.T
	rcv    *receiver.Receiver
	srv    *httptest.Server
	signer *signing.Signer
	logs   *testkit.LogBuffer
}

// quietConfig is the seed's odds with no delays; tests set Rand and the
// knobs they exercise.
func quietConfig() receiver.Config {
	cfg := receiver.DefaultConfig()
	cfg.Secret = testSecret
	cfg.MinDelay, cfg.MaxDelay = 0, 0
	return cfg
}

func constRand(x float64) func() float64 { return func() float64 { return x } }

func start(t *testing.T, cfg receiver.Config) *harness {
	t.Helper()
	logs := &testkit.LogBuffer{}
	rcv, err := receiver.New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("receiver.New: %v", err)
	}
	srv := httptest.NewServer(rcv)
	t.Cleanup(func() {
		rcv.Close()
		srv.Close()
	})
	signer, err := signing.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, rcv: rcv, srv: srv, signer: signer, logs: logs}
}

func eventBody(id string) []byte { return fmt.Appendf(nil, `{"event_id":%q,"amount":42}`, id) }

// signed builds a POST /webhook for id, signed the way webhookd signs.
func (h *harness) signed(id string, body []byte, at time.Time) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/webhook", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	h.signer.Sign(req.Header, id, at, body)
	return req
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(client *http.Client, req *http.Request) answer {
	h.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// deliver sends one signed delivery of id, signed now.
func (h *harness) deliver(id string) answer {
	h.t.Helper()
	return h.do(h.srv.Client(), h.signed(id, eventBody(id), time.Now()))
}

func (h *harness) getJSON(path string, v any) {
	h.t.Helper()
	resp, err := h.srv.Client().Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}

func (h *harness) stats() receiver.Stats {
	h.t.Helper()
	var s receiver.Stats
	h.getJSON("/stats", &s)
	return s
}

func (h *harness) postControl(body string) answer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/control", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(h.srv.Client(), req)
}

func (h *harness) setMode(body string) {
	h.t.Helper()
	if a := h.postControl(body); a.status != http.StatusOK {
		h.t.Fatalf("POST /control %s: %d %s", body, a.status, a.body)
	}
}

// logLines decodes the captured JSON log lines of POST /webhook.
func (h *harness) logLines() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for _, m := range h.logs.Records(h.t) {
		if m["msg"] == "webhook" {
			out = append(out, m)
		}
	}
	return out
}

func TestOKModeAcceptsSignedDelivery(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailRate, cfg.HangRate = 1, 0 // chaos would refuse everything: "ok" must bypass it
	h := start(t, cfg)
	h.setMode(`{"mode":"ok"}`)
	var ctl receiver.Control
	h.getJSON("/control", &ctl)
	if ctl.Mode != receiver.ModeOK {
		t.Fatalf("GET /control mode = %q, want ok", ctl.Mode)
	}

	a := h.deliver("evt_ok")
	if a.status != http.StatusOK || strings.TrimSpace(a.body) != `{"received":true}` {
		t.Fatalf("deliver = %d %q, want 200 {\"received\":true}", a.status, a.body)
	}
	s := h.stats()
	if s.Requests != 1 || s.Accepted != 1 || s.RejectedSignature != 0 || s.UniqueEvents != 1 || s.Duplicates != 0 {
		t.Errorf("stats = %+v", s)
	}
	e := s.Events["evt_ok"]
	if e.Requests != 1 || e.Accepted != 1 || e.FirstAt.IsZero() || e.LastAt.Before(e.FirstAt) {
		t.Errorf("events[evt_ok] = %+v", e)
	}
	lines := h.logLines()
	if len(lines) != 1 || lines[0]["decision"] != "ACCEPTED" || lines[0]["event_id"] != "evt_ok" || lines[0]["attempt"] != 1.0 {
		t.Errorf("log lines = %v", lines)
	}
	if _, ok := lines[0]["latency_ms"]; !ok {
		t.Errorf("log line has no latency_ms: %v", lines[0])
	}
}

func TestExtraSecretsAccepted(t *testing.T) {
	t.Parallel()
	const rotated = "rotated-in-secret"
	cfg := quietConfig()
	cfg.ExtraSecrets = []string{rotated}
	h := start(t, cfg)
	h.setMode(`{"mode":"ok"}`)
	signer, err := signing.NewSigner(rotated) // signs with the extra secret only
	if err != nil {
		t.Fatal(err)
	}
	h.signer = signer
	if a := h.deliver("evt_rot"); a.status != http.StatusOK {
		t.Fatalf("delivery signed with HMAC_EXTRA_SECRETS = %d %s, want 200", a.status, a.body)
	}
}

func TestWebhookRefusesBadDeliveries(t *testing.T) {
	t.Parallel()
	other, err := signing.NewSigner("some-other-secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		build  func(h *harness) *http.Request
		status int
	}{
		{"no signature headers", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			for _, k := range []string{signing.HeaderSignature, signing.HeaderWebhookID, signing.HeaderWebhookTimestamp, signing.HeaderWebhookSignature} {
				r.Header.Del(k)
			}
			return r
		}, 400},
		{"X-Signature missing", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Header.Del(signing.HeaderSignature)
			return r
		}, 400},
		{"webhook-signature missing", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Header.Del(signing.HeaderWebhookSignature)
			return r
		}, 400},
		{"webhook-timestamp not a number", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Header.Set(signing.HeaderWebhookTimestamp, "soon")
			return r
		}, 400},
		{"X-Signature from another secret", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Header.Set(signing.HeaderSignature, wrongHeaders(other, "e1").Get(signing.HeaderSignature))
			return r
		}, 401},
		{"webhook-signature from another secret", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Header.Set(signing.HeaderWebhookSignature, wrongHeaders(other, "e1").Get(signing.HeaderWebhookSignature))
			return r
		}, 401},
		{"tampered body", func(h *harness) *http.Request {
			r := h.signed("e1", eventBody("e1"), time.Now())
			r.Body = io.NopCloser(strings.NewReader(`{"event_id":"e1","amount":4200}`))
			r.ContentLength = -1
			return r
		}, 401},
		{"stale timestamp", func(h *harness) *http.Request {
			return h.signed("e1", eventBody("e1"), time.Now().Add(-10*time.Minute))
		}, 401},
		{"body event_id differs from webhook-id", func(h *harness) *http.Request {
			return h.signed("e1", eventBody("e2"), time.Now())
		}, 400},
		{"body without event_id", func(h *harness) *http.Request {
			return h.signed("e1", []byte(`{"Event_ID":"e1"}`), time.Now())
		}, 400},
		{"body not an object", func(h *harness) *http.Request {
			return h.signed("e1", []byte(`["e1"]`), time.Now())
		}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Chaos with forced failures: a 500 here would mean chaos ran
			// before verification.
			cfg := quietConfig()
			cfg.Rand = constRand(0.99)
			h := start(t, cfg)
			a := h.do(h.srv.Client(), tc.build(h))
			if a.status != tc.status {
				t.Fatalf("status = %d %s, want %d", a.status, a.body, tc.status)
			}
			s := h.stats()
			if s.Requests != 1 || s.RejectedSignature != 1 || s.Accepted != 0 || s.UniqueEvents != 0 {
				t.Errorf("stats = %+v, want one rejected request and no event", s)
			}
			if lines := h.logLines(); len(lines) != 1 || lines[0]["decision"] != "BAD_SIGNATURE" {
				t.Errorf("log lines = %v, want one BAD_SIGNATURE", lines)
			}
		})
	}
}

func wrongHeaders(s *signing.Signer, id string) http.Header {
	h := http.Header{}
	s.Sign(h, id, time.Now(), eventBody(id))
	return h
}

func TestFailFirstNThenSuccess(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailFirstN = 3
	cfg.Rand = constRand(0.99) // never a first-hang, never a chaos failure
	h := start(t, cfg)

	want := []int{500, 500, 500, 200, 200}
	for i, w := range want {
		if a := h.deliver("evt_a"); a.status != w {
			t.Fatalf("attempt %d of evt_a = %d, want %d", i+1, a.status, w)
		}
	}
	if a := h.deliver("evt_b"); a.status != 500 {
		t.Fatalf("attempt 1 of evt_b = %d, want 500 (FAIL_FIRST_N counts per event)", a.status)
	}

	s := h.stats()
	if s.Requests != 6 || s.Accepted != 2 || s.UniqueEvents != 2 || s.Duplicates != 1 {
		t.Errorf("stats = %+v, want requests 6, accepted 2, unique 2, duplicates 1", s)
	}
	if e := s.Events["evt_a"]; e.Requests != 5 || e.Accepted != 2 {
		t.Errorf("events[evt_a] = %+v, want 5 requests, 2 accepted", e)
	}
	var got []string
	for _, l := range h.logLines() {
		got = append(got, fmt.Sprintf("%v#%v=%v/%v", l["event_id"], l["attempt"], l["decision"], l["status"]))
	}
	wantLog := "evt_a#1=REJECTED/500 evt_a#2=REJECTED/500 evt_a#3=REJECTED/500 evt_a#4=ACCEPTED/200 evt_a#5=ACCEPTED/200 evt_b#1=REJECTED/500"
	if strings.Join(got, " ") != wantLog {
		t.Errorf("log = %s\nwant  %s", strings.Join(got, " "), wantLog)
	}
}

func TestChaosOdds(t *testing.T) {
	t.Parallel()
	const hang = 500 * time.Millisecond // long enough that "no hang" is unambiguous under -race
	tests := []struct {
		name       string
		failFirstN int
		draw       float64
		status     int
		decision   string
		minLatency time.Duration
	}{
		{"forced failure", 1, 0.25, 500, "REJECTED", 0},
		{"forced failure after a hang", 1, 0.15, 500, "HANG", hang},
		{"fail", 0, 0.39, 500, "REJECTED", 0},
		{"hang, low edge", 0, 0.40, 500, "HANG", hang},
		{"hang, high edge", 0, 0.69, 500, "HANG", hang},
		{"accept", 0, 0.70, 200, "ACCEPTED", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := quietConfig() // FIRST_HANG_RATE .2, FAIL_RATE .4, HANG_RATE .3
			cfg.FailFirstN, cfg.Hang, cfg.Rand = tc.failFirstN, hang, constRand(tc.draw)
			h := start(t, cfg)
			began := time.Now()
			a := h.deliver("evt")
			took := time.Since(began)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d", a.status, tc.status)
			}
			if took < tc.minLatency {
				t.Errorf("answered after %v, want ≥ %v", took, tc.minLatency)
			}
			if tc.minLatency == 0 && took >= hang {
				t.Errorf("answered after %v, want no hang", took)
			}
			if l := h.logLines(); len(l) != 1 || l[0]["decision"] != tc.decision {
				t.Errorf("log = %v, want decision %s", l, tc.decision)
			}
		})
	}
}

func TestDelayDrawnBetweenMinAndMax(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailFirstN, cfg.FailRate, cfg.HangRate = 0, 0, 0
	cfg.MinDelay, cfg.MaxDelay = 20*time.Millisecond, 120*time.Millisecond
	cfg.Rand = constRand(0.5) // → 70 ms
	h := start(t, cfg)
	began := time.Now()
	if a := h.deliver("evt"); a.status != 200 {
		t.Fatalf("status = %d, want 200", a.status)
	}
	if took := time.Since(began); took < 70*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 70ms", took)
	}
}

func TestHangEndsWhenClientGivesUp(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailFirstN, cfg.FirstHangRate, cfg.Hang, cfg.Rand = 1, 1, time.Minute, constRand(0)
	h := start(t, cfg)

	client := &http.Client{Timeout: 100 * time.Millisecond}
	if resp, err := client.Do(h.signed("evt_hang", eventBody("evt_hang"), time.Now())); err == nil {
		resp.Body.Close()
		t.Fatalf("client got %d, want a timeout", resp.StatusCode)
	}
	// The handler logs once the hang is over; it must not take the minute.
	testkit.Eventually(t, 5*time.Second, "the hang to end", func() bool { return strings.Contains(h.logs.String(), `"decision":"HANG"`) })
	l := h.logLines()
	if ms, _ := l[0]["latency_ms"].(float64); ms >= 5000 {
		t.Errorf("hang lasted %v ms after the client left", ms)
	}
	if s := h.stats(); s.Accepted != 0 || s.Events["evt_hang"].Requests != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCloseEndsHangs(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailFirstN, cfg.FirstHangRate, cfg.Hang, cfg.Rand = 1, 1, time.Minute, constRand(0)
	h := start(t, cfg)

	done := make(chan answer, 1)
	go func() { done <- h.do(h.srv.Client(), h.signed("evt_hang", eventBody("evt_hang"), time.Now())) }()
	testkit.Eventually(t, 5*time.Second, "the request to start hanging", func() bool { return h.rcv.Stats(false).UniqueEvents == 1 })
	h.rcv.Close()
	select {
	case a := <-done:
		if a.status != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", a.status)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end the hang")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := start(t, quietConfig())
	var body map[string]string
	h.getJSON("/health", &body)
	if body["status"] != "ok" {
		t.Errorf("GET /health = %v", body)
	}
}
