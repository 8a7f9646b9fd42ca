package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
)

type listBody struct {
	Data  []map[string]any `json:"data"`
	Total int              `json:"total"`
	Page  int              `json:"page"`
	Limit int              `json:"limit"`
}

func TestListNewestFirstAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	var ids []core.EventID // oldest first
	for i := range 3 {
		ids = append(ids, e.submit(t, fmt.Sprintf(`{"payload":{"n":%d}}`, i)))
		e.clock.Advance(time.Second)
	}
	newest := []string{string(ids[2]), string(ids[1]), string(ids[0])}

	tests := []struct {
		query               string
		wantPage, wantLimit int
		wantIDs             []string
	}{
		{"", 1, 20, newest},
		{"?limit=2", 1, 2, newest[:2]},
		{"?page=2&limit=2", 2, 2, newest[2:]},
		{"?page=0", 1, 20, newest},
		{"?page=-3", 1, 20, newest},
		{"?page=abc", 1, 20, newest},
		{"?page=1.5", 1, 20, newest},
		{"?page=99999999999999999999", 1_000_000, 20, nil},
		{"?page=5000000", 1_000_000, 20, nil},
		{"?limit=0", 1, 20, newest},
		{"?limit=abc", 1, 20, newest},
		{"?limit=-5", 1, 1, newest[:1]},
		{"?limit=1000", 1, 100, newest},
		{"?limit=99999999999999999999", 1, 100, newest},
		{"?limit=-99999999999999999999", 1, 1, newest[:1]},
		{"?status=", 1, 20, newest},
		{"?status=pending&limit=1&page=3", 3, 1, newest[2:]},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			rec := do(t, e.router, http.MethodGet, "/events"+tc.query, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `"data":[`) {
				t.Errorf("data must be an array, never null: %s", rec.Body)
			}
			var got listBody
			decodeJSON(t, rec, &got)
			if got.Total != 3 || got.Page != tc.wantPage || got.Limit != tc.wantLimit {
				t.Errorf("total/page/limit = %d/%d/%d, want 3/%d/%d", got.Total, got.Page, got.Limit, tc.wantPage, tc.wantLimit)
			}
			var gotIDs []string
			for _, ev := range got.Data {
				gotIDs = append(gotIDs, ev["id"].(string))
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tc.wantIDs) {
				t.Errorf("ids = %v, want %v", gotIDs, tc.wantIDs)
			}
		})
	}
}

func TestListStatusFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.submit(t, `{"payload":{"n":1}}`)
	e.clock.Advance(time.Second)
	e.complete(t, "w1", deadDecision, attemptRecord()) // the first one dies
	e.submit(t, `{"payload":{"n":2}}`)

	for status, want := range map[string]int{"pending": 1, "dead": 1, "succeeded": 0, "delivering": 0} {
		rec := do(t, e.router, http.MethodGet, "/events?status="+status, "")
		var got listBody
		decodeJSON(t, rec, &got)
		if rec.Code != http.StatusOK || got.Total != want || len(got.Data) != want {
			t.Errorf("?status=%s: %d, total %d, %d items; want %d", status, rec.Code, got.Total, len(got.Data), want)
		}
		for _, ev := range got.Data {
			if ev["status"] != status {
				t.Errorf("?status=%s returned a %v event", status, ev["status"])
			}
		}
	}

	for _, q := range []string{"?status=bogus", "?status=PENDING", "?status=pending%20"} {
		rec := do(t, e.router, http.MethodGet, "/events"+q, "")
		env := wantError(t, rec, http.StatusBadRequest, "invalid_status")
		if env.Error.Details["field"] != "status" {
			t.Errorf("%s: details = %v", q, env.Error.Details)
		}
	}
	if n := e.total(t); n != 2 {
		t.Errorf("total = %d, want 2", n)
	}
}

func TestGetEventWithAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	rec := do(t, e.router, http.MethodPost, "/events",
		`{"target_url":"https://merchant.example/hook","payload":{"amount": 1.0}}`, "Idempotency-Key", "k-1")
	var acc struct{ ID string }
	decodeJSON(t, rec, &acc)
	id := acc.ID

	// Fresh: no attempt yet, nullable fields are null.
	want := fmt.Sprintf(`{"id":%q,"target_url":"https://merchant.example/hook","payload":{"amount":1.0},`+
		`"status":"pending","attempted_count":0,"next_attempt_at":"2025-01-02T03:04:05.123Z",`+
		`"created_at":"2025-01-02T03:04:05.123Z","updated_at":"2025-01-02T03:04:05.123Z",`+
		`"last_attempted_at":null,"lease_expires_at":null,"last_status_code":null,"last_error":null,`+
		`"idempotency_key":"k-1","deliveries":[{"id":%[1]q,"endpoint_id":null,"target_url":"https://merchant.example/hook",`+
		`"status":"pending","attempted_count":0,"next_attempt_at":"2025-01-02T03:04:05.123Z","updated_at":"2025-01-02T03:04:05.123Z",`+
		`"last_attempted_at":null,"last_status_code":null,"last_error":null}],"attempts":[]}`, id)
	if got := do(t, e.router, http.MethodGet, "/events/"+id, "").Body.String(); got != want {
		t.Errorf("fresh event:\n got %s\nwant %s", got, want)
	}

	// Attempt 1 fails with a 500 and is retried.
	retry := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: 2 * time.Second,
		Reason: "backoff 2s (attempt 1 of 10)", StatusCode: 500, Error: "status 500"}
	e.complete(t, "worker-a", retry, core.Attempt{StartedAt: start, Duration: 1500 * time.Millisecond,
		StatusCode: 500, Error: "status 500", Response: "oops"})

	// Attempt 2: while it is being delivered the lease shows.
	e.clock.Advance(2 * time.Second)
	claimed := e.claim(t, "worker-b")
	got := do(t, e.router, http.MethodGet, "/events/"+id, "").Body.String()
	for _, s := range []string{`"status":"delivering"`, `"lease_expires_at":"2025-01-02T03:04:37.123Z"`, `"attempted_count":2`} {
		if !strings.Contains(got, s) {
			t.Errorf("delivering event lacks %s: %s", s, got)
		}
	}
	// It succeeds, without any error or response text.
	e.finish(t, "worker-b", claimed, core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded,
		Reason: "delivered", StatusCode: 200}, core.Attempt{StartedAt: e.clock.Now(), Duration: 20 * time.Millisecond, StatusCode: 200})

	attempts := fmt.Sprintf(`[`+
		`{"delivery_id":%[1]q,"number":1,"started_at":"2025-01-02T03:04:05.123Z","duration_ms":1500,"status_code":500,"error":"status 500",`+
		`"response":"oops","verdict":"retry","reason":"backoff 2s (attempt 1 of 10)","next_attempt_at":"2025-01-02T03:04:07.123Z","worker":"worker-a"},`+
		`{"delivery_id":%[1]q,"number":2,"started_at":"2025-01-02T03:04:07.123Z","duration_ms":20,"status_code":200,"error":null,`+
		`"response":null,"verdict":"succeeded","reason":"delivered","next_attempt_at":null,"worker":"worker-b"}]`, id)
	want = fmt.Sprintf(`{"id":%[1]q,"target_url":"https://merchant.example/hook","payload":{"amount":1.0},`+
		`"status":"succeeded","attempted_count":2,"next_attempt_at":"2025-01-02T03:04:07.123Z",`+
		`"created_at":"2025-01-02T03:04:05.123Z","updated_at":"2025-01-02T03:04:07.123Z",`+
		`"last_attempted_at":"2025-01-02T03:04:07.123Z","lease_expires_at":null,"last_status_code":200,"last_error":null,`+
		`"idempotency_key":"k-1","deliveries":[{"id":%[1]q,"endpoint_id":null,"target_url":"https://merchant.example/hook",`+
		`"status":"succeeded","attempted_count":2,"next_attempt_at":"2025-01-02T03:04:07.123Z","updated_at":"2025-01-02T03:04:07.123Z",`+
		`"last_attempted_at":"2025-01-02T03:04:07.123Z","last_status_code":200,"last_error":null,"attempts":%[2]s}],"attempts":%[2]s}`, id, attempts)
	rec = do(t, e.router, http.MethodGet, "/events/"+id, "")
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Errorf("after two attempts: %d\n got %s\nwant %s", rec.Code, rec.Body, want)
	}

	// Upper-case UUIDs are the same event.
	if rec := do(t, e.router, http.MethodGet, "/events/"+strings.ToUpper(id), ""); rec.Code != http.StatusOK {
		t.Errorf("upper-case id: status %d", rec.Code)
	}
}

func TestGetEventErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.submit(t, `{"payload":{}}`)
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"not a uuid", "/events/not-a-uuid", 400, "invalid_id"},
		{"uuid with junk hex", "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6fzz", 400, "invalid_id"},
		{"uuid too long", "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f700", 400, "invalid_id"},
		{"sql-ish", "/events/1%27%20OR%201=1", 400, "invalid_id"},
		{"unknown", "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := wantError(t, do(t, e.router, http.MethodGet, tc.path, ""), tc.status, tc.code)
			if tc.code == "invalid_id" && env.Error.Details["field"] != "id" {
				t.Errorf("details = %v, want field id", env.Error.Details)
			}
			if n := e.total(t); n != 1 {
				t.Errorf("total = %d, want 1", n)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	dead := e.submit(t, `{"payload":{"n":1}}`)
	e.complete(t, "w1", deadDecision, attemptRecord())
	e.clock.Advance(time.Second)
	pending := e.submit(t, `{"payload":{"n":2}}`)

	rec := do(t, e.router, http.MethodPost, "/events/"+string(pending)+"/retry", "")
	wantError(t, rec, http.StatusConflict, "not_replayable")
	if got := e.statusOf(t, pending); got != core.StatusPending {
		t.Errorf("pending event became %s after a refused retry", got)
	}

	e.clock.Advance(time.Second)
	rec = do(t, e.router, http.MethodPost, "/events/"+string(dead)+"/retry", "")
	want := fmt.Sprintf(`{"id":%q,"status":"pending","message":"Event queued for redelivery","deliveries":1}`, dead)
	if rec.Code != http.StatusAccepted || rec.Body.String() != want {
		t.Errorf("retry of a dead event: %d %s, want 202 %s", rec.Code, rec.Body, want)
	}
	got := do(t, e.router, http.MethodGet, "/events/"+string(dead), "").Body.String()
	for _, s := range []string{`"status":"pending"`, `"attempted_count":0`, `"last_error":null`, `"next_attempt_at":"2025-01-02T03:04:07.123Z"`, `"number":1`} {
		if !strings.Contains(got, s) {
			t.Errorf("replayed event lacks %s (history must be kept): %s", s, got)
		}
	}

	// Replaying it again while pending is a conflict.
	wantError(t, do(t, e.router, http.MethodPost, "/events/"+string(dead)+"/retry", ""), http.StatusConflict, "not_replayable")
	wantError(t, do(t, e.router, http.MethodPost, "/events/nope/retry", ""), http.StatusBadRequest, "invalid_id")
	wantError(t, do(t, e.router, http.MethodPost, "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70/retry", ""), http.StatusNotFound, "not_found")
	if n := e.total(t); n != 2 {
		t.Errorf("total = %d, want 2", n)
	}
}
