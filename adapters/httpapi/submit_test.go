package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/ports"
)

func TestSubmitKeepsPayloadBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	const payload = `{"amount": 12345678901234567890, "rate": 1.0, "z": 1, "a": "<&>"}`
	body := `{"target_url": "https://merchant.example/hook", "payload": ` + payload + `}`

	rec := do(t, e.router, http.MethodPost, "/events", body, "Content-Type", "application/json")

	if rec.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", rec.Code, rec.Body)
	}
	var out struct{ ID string }
	decodeJSON(t, rec, &out)
	want := fmt.Sprintf(`{"id":%q,"status":"pending","message":"Event accepted for processing","deliveries":1}`, out.ID)
	if got := rec.Body.String(); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("a first submission must not carry Idempotent-Replayed")
	}
	d, err := e.svc.Get(t.Context(), mustID(t, out.ID))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got := d.Event.Payload(); !bytes.Equal(got, []byte(payload)) {
		t.Errorf("stored payload = %s, want exactly %s", got, payload)
	}
	if d.Event.TargetURL != "https://merchant.example/hook" {
		t.Errorf("target = %q", d.Event.TargetURL)
	}

	// The API shows the values unchanged too (big integer, 1.0, key order).
	got := do(t, e.router, http.MethodGet, "/events/"+out.ID, "").Body.String()
	if !strings.Contains(got, `"payload":{"amount":12345678901234567890,"rate":1.0,"z":1,"a":"\u003c\u0026\u003e"}`) {
		t.Errorf("GET payload not preserved: %s", got)
	}
}

func TestSubmitAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		headers    []string
		wantTarget string
	}{
		{"empty payload", `{"payload":{}}`, nil, defaultTarget},
		{"target_url absent uses the default", `{"payload":{"a":1}}`, nil, defaultTarget},
		{"target_url given", `{"target_url":"http://example.com:8080/x?y=1","payload":{"a":1}}`, nil, "http://example.com:8080/x?y=1"},
		{"unknown fields ignored", `{"payload":{"a":1},"extra":[1,2],"Target_URL":5}`, nil, defaultTarget},
		{"surrounding white space", " \n\t{\"payload\":{\"a\":1}} \r\n", nil, defaultTarget},
		{"no content type", `{"payload":{"a":1}}`, []string{"Content-Type", ""}, defaultTarget},
		{"json with charset", `{"payload":{"a":1}}`, []string{"Content-Type", "application/json; charset=UTF-8"}, defaultTarget},
		{"upper-case json", `{"payload":{"a":1}}`, []string{"Content-Type", "APPLICATION/JSON"}, defaultTarget},
		{"+json suffix", `{"payload":{"a":1}}`, []string{"Content-Type", "application/cloudevents+json"}, defaultTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, httpapi.Options{})
			headers := tc.headers
			if headers == nil {
				headers = []string{"Content-Type", "application/json"}
			}
			rec := do(t, e.router, http.MethodPost, "/events", tc.body, headers...)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body %s", rec.Code, rec.Body)
			}
			var out struct{ ID, Status, Message string }
			decodeJSON(t, rec, &out)
			if out.Status != "pending" || out.Message != "Event accepted for processing" {
				t.Errorf("body = %s", rec.Body)
			}
			d, err := e.svc.Get(t.Context(), mustID(t, out.ID))
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if d.Event.TargetURL != tc.wantTarget {
				t.Errorf("target = %q, want %q", d.Event.TargetURL, tc.wantTarget)
			}
		})
	}
}

func TestSubmitRejected(t *testing.T) {
	t.Parallel()
	const ct = "application/json"
	longURL := `"https://example.com/` + strings.Repeat("a", 2048) + `"`
	tests := []struct {
		name       string
		body       string
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"malformed JSON", `{"payload":{"a":1}`, nil, 400, "invalid_json", ""},
		{"syntax error", `{"payload":{"a":1},}`, nil, 400, "invalid_json", ""},
		{"trailing garbage", `{"payload":{"a":1}} x`, nil, 400, "invalid_json", ""},
		{"two objects", `{"payload":{"a":1}}{"payload":{"a":1}}`, nil, 400, "invalid_json", ""},
		{"empty body", ``, nil, 400, "invalid_json", ""},
		{"blank body", "  \n ", nil, 400, "invalid_json", ""},
		{"invalid UTF-8", "{\"payload\":{\"a\":\"\xff\"}}", nil, 400, "invalid_json", ""},
		{"body is an array", `[{"payload":{}}]`, nil, 400, "invalid_request", ""},
		{"body is a string", `"hello"`, nil, 400, "invalid_request", ""},
		{"body is null", `null`, nil, 400, "invalid_request", ""},
		{"body is a number", `42`, nil, 400, "invalid_request", ""},
		{"payload array", `{"payload":[1,2]}`, nil, 400, "invalid_payload", "payload"},
		{"payload string", `{"payload":"x"}`, nil, 400, "invalid_payload", "payload"},
		{"payload number", `{"payload":12}`, nil, 400, "invalid_payload", "payload"},
		{"payload null", `{"payload":null}`, nil, 400, "missing_payload", "payload"},
		{"payload missing", `{"target_url":"http://example.com/"}`, nil, 400, "missing_payload", "payload"},
		{"payload with event_id", `{"payload":{"event_id":"mine","a":1}}`, nil, 400, "reserved_event_id", "payload"},
		{"payload with escaped event_id", `{"payload":{"event\u005fid":"mine"}}`, nil, 400, "reserved_event_id", "payload"},
		{"payload with Event_Id", `{"payload":{"Event_Id":"forged"}}`, nil, 400, "reserved_event_id", "payload"},
		{"payload 65 levels deep", `{"payload":` + strings.Repeat(`{"a":`, 65) + `1` + strings.Repeat(`}`, 65) + `}`, nil, 400, "payload_too_deep", "payload"},
		{"target_url number", `{"target_url":123,"payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"target_url object", `{"target_url":{},"payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"target_url null", `{"target_url":null,"payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"target_url empty", `{"target_url":"","payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"a delivery (webhook-signature)", `{"payload":{}}`, []string{"Content-Type", ct, "webhook-signature", "v1,abc"}, 400, "delivery_loop", ""},
		{"a delivery (X-Signature)", `{"payload":{}}`, []string{"Content-Type", ct, "X-Signature", "ab12"}, 400, "delivery_loop", ""},
		{"ftp scheme", `{"target_url":"ftp://x","payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"javascript scheme", `{"target_url":"javascript:alert(1)","payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"relative URL", `{"target_url":"/hook","payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"missing host", `{"target_url":"http://","payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"URL too long", `{"target_url":` + longURL + `,"payload":{}}`, nil, 400, "invalid_target_url", "target_url"},
		{"idempotency key too long", `{"payload":{}}`, []string{"Content-Type", ct, "Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", "Idempotency-Key"},
		{"text/plain", `{"payload":{}}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"form", `payload=1`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"garbage content type", `{"payload":{}}`, []string{"Content-Type", ";;;"}, 415, "unsupported_media_type", ""},
		{"body too large", `{"payload":{"a":"` + strings.Repeat("x", 5000) + `"}}`, nil, 413, "payload_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, httpapi.Options{MaxBodyBytes: 4096})
			headers := tc.headers
			if headers == nil {
				headers = []string{"Content-Type", ct}
			}
			rec := do(t, e.router, http.MethodPost, "/events", tc.body, headers...)
			env := wantError(t, rec, tc.wantStatus, tc.wantCode)
			if got := env.Error.Details["field"]; got != tc.wantField {
				t.Errorf("details.field = %q, want %q", got, tc.wantField)
			}
			if n := e.total(t); n != 0 {
				t.Errorf("%d events stored, want 0", n)
			}
		})
	}
}

// The SSRF guard lives in the service; the API must answer its refusal as
// a 400 naming the field.
func TestSubmitPrivateTargetRefused(t *testing.T) {
	t.Parallel()
	clock := memory.NewClock(start)
	svc, err := ingest.NewService(memory.NewStore(clock), clock, memory.NewMetrics(), nil, ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	router := httpapi.NewRouter(svc, httpapi.Options{})
	for _, body := range []string{`{"target_url":"http://localhost:3001/webhook","payload":{}}`,
		`{"target_url":"http://169.254.169.254/latest","payload":{}}`, `{"target_url":"http://[::ffff:10.0.0.1]/","payload":{}}`} {
		rec := do(t, router, http.MethodPost, "/events", body)
		env := wantError(t, rec, http.StatusBadRequest, "private_target")
		if env.Error.Details["field"] != "target_url" {
			t.Errorf("details = %v", env.Error.Details)
		}
	}
	res, err := svc.List(t.Context(), ports.ListFilter{Page: 1, Limit: 10})
	if err != nil || res.Total != 0 {
		t.Errorf("stored %d events (err %v), want 0", res.Total, err)
	}
}

func TestSubmitInvalidJSONSaysWhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	rec := do(t, e.router, http.MethodPost, "/events", `{"payload":{"a":1},}`)
	env := wantError(t, rec, http.StatusBadRequest, "invalid_json")
	if !strings.Contains(env.Error.Message, "at byte 20") {
		t.Errorf("message %q does not say where parsing failed", env.Error.Message)
	}
	rec = do(t, e.router, http.MethodPost, "/events", `{"payload":{}}  x`)
	env = wantError(t, rec, http.StatusBadRequest, "invalid_json")
	if !strings.Contains(env.Error.Message, "at byte 16") {
		t.Errorf("message %q does not say where the trailing data starts", env.Error.Message)
	}
}

// A streamed body has no Content-Length: the limit must hold while reading.
func TestSubmitTooLargeWithoutContentLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{MaxBodyBytes: 64})
	body := `{"payload":{"a":"` + strings.Repeat("x", 100) + `"}}`
	req := newRequest(http.MethodPost, "/events", body)
	req.ContentLength = -1
	rec := serve(e.router, req)
	wantError(t, rec, http.StatusRequestEntityTooLarge, "payload_too_large")
	if n := e.total(t); n != 0 {
		t.Errorf("%d events stored, want 0", n)
	}

	// Exactly at the limit is fine.
	small := `{"payload":{"a":"` + strings.Repeat("x", 64-len(`{"payload":{"a":""}}`)) + `"}}`
	req = newRequest(http.MethodPost, "/events", small)
	req.ContentLength = -1
	if rec := serve(e.router, req); rec.Code != http.StatusAccepted {
		t.Errorf("body of exactly MaxBodyBytes: status %d, body %s", rec.Code, rec.Body)
	}
}

func TestSubmitDefaultBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	big := `{"payload":{"a":"` + strings.Repeat("x", int(httpapi.DefaultMaxBodyBytes)) + `"}}`
	rec := do(t, e.router, http.MethodPost, "/events", big)
	wantError(t, rec, http.StatusRequestEntityTooLarge, "payload_too_large")
	if n := e.total(t); n != 0 {
		t.Errorf("%d events stored, want 0", n)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	const body = `{"payload":{"order":42}}`
	post := func(body string) *httptest.ResponseRecorder {
		return do(t, e.router, http.MethodPost, "/events", body, "Idempotency-Key", "order-42")
	}
	idOf := func(rec *httptest.ResponseRecorder) string {
		var out struct{ ID string }
		decodeJSON(t, rec, &out)
		return out.ID
	}

	rec := post(body)
	if rec.Code != http.StatusAccepted || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("first submission: %d %s, Idempotent-Replayed=%q", rec.Code, rec.Body, rec.Header().Get("Idempotent-Replayed"))
	}
	first := idOf(rec)
	e.clock.Advance(time.Second)
	rec = post(body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("replay: status %d, body %s", rec.Code, rec.Body)
	}
	if second := idOf(rec); second != first {
		t.Fatalf("replay id = %s, want %s", second, first)
	}
	if got := rec.Header().Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", got)
	}
	want := fmt.Sprintf(`{"id":%q,"status":"pending","message":"Event already accepted (Idempotency-Key replay)","deliveries":1}`, first)
	if got := rec.Body.String(); got != want {
		t.Errorf("replay body = %s, want %s", got, want)
	}
	if n := e.total(t); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}

	// The replay reports the event's current status, not "pending".
	e.complete(t, "w1", deadDecision, attemptRecord())
	rec = post(body)
	if !strings.Contains(rec.Body.String(), `"status":"dead"`) || rec.Code != http.StatusAccepted {
		t.Errorf("replay of a dead event: %d %s", rec.Code, rec.Body)
	}

	rec = post(`{"payload":{"order":43}}`)
	wantError(t, rec, http.StatusConflict, "idempotency_key_reused")
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("a conflict must not be marked as replayed")
	}
	if n := e.total(t); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}
