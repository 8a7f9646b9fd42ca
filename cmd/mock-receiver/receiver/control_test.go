package receiver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
)

func TestControlStatus(t *testing.T) {
	t.Parallel()
	h := start(t, quietConfig())
	h.setMode(`{"mode":"status","status":429,"retry_after":"2"}`)
	var ctl receiver.Control
	h.getJSON("/control", &ctl)
	if want := (receiver.Control{Mode: receiver.ModeStatus, Status: 429, RetryAfter: "2"}); ctl != want {
		t.Fatalf("GET /control = %+v, want %+v", ctl, want)
	}

	a := h.deliver("evt_429")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
		t.Fatalf("deliver = %d Retry-After %q, want 429 with Retry-After 2", a.status, a.header.Get("Retry-After"))
	}
	h.setMode(`{"mode":"status","status":202}`)
	if a := h.deliver("evt_429"); a.status != http.StatusAccepted || a.header.Get("Retry-After") != "" {
		t.Fatalf("deliver = %d Retry-After %q, want 202 without Retry-After", a.status, a.header.Get("Retry-After"))
	}
	s := h.stats()
	if e := s.Events["evt_429"]; e.Requests != 2 || e.Accepted != 1 || s.Accepted != 1 {
		t.Errorf("stats = %+v, want 2 requests and only the 2xx accepted", s)
	}

	h.setMode(`{"mode":"chaos"}`)
	h.getJSON("/control", &ctl)
	if ctl.Mode != receiver.ModeChaos {
		t.Errorf("mode after reset = %q, want chaos", ctl.Mode)
	}
	if a := h.deliver("evt_chaos"); a.status != 500 { // FAIL_FIRST_N again
		t.Errorf("chaos attempt 1 = %d, want 500", a.status)
	}
}

func TestControlDelay(t *testing.T) {
	t.Parallel()
	h := start(t, quietConfig())
	h.setMode(`{"mode":"ok","delay_ms":60}`)
	began := time.Now()
	if a := h.deliver("evt"); a.status != 200 {
		t.Fatalf("status = %d, want 200", a.status)
	}
	if took := time.Since(began); took < 60*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 60ms", took)
	}
}

func TestControlDown(t *testing.T) {
	t.Parallel()
	h := start(t, quietConfig())
	h.setMode(`{"mode":"down"}`)

	resp, err := h.srv.Client().Do(h.signed("evt_down", eventBody("evt_down"), time.Now()))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("client got %d, want a connection error", resp.StatusCode)
	}
	if s := h.stats(); s.Requests != 1 || s.Accepted != 0 || s.UniqueEvents != 0 {
		t.Errorf("stats = %+v, want one request and no delivery", s)
	}

	h.setMode(`{"mode":"ok"}`)
	if a := h.deliver("evt_down"); a.status != 200 {
		t.Errorf("after recovery = %d, want 200", a.status)
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"not json", `ok`},
		{"unknown mode", `{"mode":"flaky"}`},
		{"no mode", `{}`},
		{"status without code", `{"mode":"status"}`},
		{"status code out of range", `{"mode":"status","status":99}`},
		{"status code for mode ok", `{"mode":"ok","status":500}`},
		{"retry_after for mode down", `{"mode":"down","retry_after":"5"}`},
		{"negative delay", `{"mode":"ok","delay_ms":-1}`},
		{"delay for chaos", `{"mode":"chaos","delay_ms":5}`},
		{"unknown field", `{"mode":"ok","delay":5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, quietConfig())
			a := h.postControl(tc.body)
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, `"error"`) {
				t.Errorf("POST /control %s = %d %s, want 400 with an error", tc.body, a.status, a.body)
			}
			if got := h.rcv.Control(); got.Mode != receiver.ModeChaos {
				t.Errorf("mode changed to %+v", got)
			}
		})
	}
}
