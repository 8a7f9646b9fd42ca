package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	if rec := do(t, e.router, http.MethodGet, "/health", ""); rec.Code != 200 || rec.Body.String() != `{"status":"ok"}` {
		t.Errorf("health: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, e.router, http.MethodGet, "/ready", ""); rec.Code != 200 || rec.Body.String() != `{"status":"ready"}` {
		t.Errorf("ready: %d %s", rec.Code, rec.Body)
	}
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	id := e.submit(t, `{"payload":{"n":1}}`)
	e.store.SetDown(true)

	tests := []struct{ method, path, body string }{
		{http.MethodPost, "/events", `{"payload":{"n":2}}`},
		{http.MethodGet, "/events", ""},
		{http.MethodGet, "/events/" + string(id), ""},
		{http.MethodPost, "/events/" + string(id) + "/retry", ""},
		{http.MethodGet, "/ready", ""},
	}
	for _, tc := range tests {
		rec := do(t, e.router, tc.method, tc.path, tc.body)
		env := wantError(t, rec, http.StatusServiceUnavailable, "unavailable")
		if got := rec.Header().Get("Retry-After"); got != "5" {
			t.Errorf("%s %s: Retry-After = %q, want 5", tc.method, tc.path, got)
		}
		if strings.Contains(env.Error.Message, "memory") {
			t.Errorf("%s %s: message leaks internals: %q", tc.method, tc.path, env.Error.Message)
		}
		// A commit cut short may have landed: never claim nothing was stored.
		if strings.Contains(env.Error.Message, "nothing was") || !strings.Contains(env.Error.Message, "Idempotency-Key") {
			t.Errorf("%s %s: message %q promises what a broken commit cannot", tc.method, tc.path, env.Error.Message)
		}
	}
	// Liveness never touches the store.
	if rec := do(t, e.router, http.MethodGet, "/health", ""); rec.Code != http.StatusOK {
		t.Errorf("health while the store is down: %d", rec.Code)
	}

	e.store.SetDown(false)
	if n := e.total(t); n != 1 {
		t.Errorf("total = %d after the outage, want 1 (nothing stored while down)", n)
	}
	if rec := do(t, e.router, http.MethodGet, "/ready", ""); rec.Code != http.StatusOK {
		t.Errorf("ready after recovery: %d %s", rec.Code, rec.Body)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, "/nope", 404, "route_not_found", ""},
		{http.MethodGet, "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70/attempts", 404, "route_not_found", ""},
		{http.MethodDelete, "/events", 405, "method_not_allowed", "GET, POST"},
		{http.MethodPut, "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", 405, "method_not_allowed", "GET"},
		{http.MethodGet, "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70/retry", 405, "method_not_allowed", "POST"},
		{http.MethodPost, "/health", 405, "method_not_allowed", "GET"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			rec := do(t, e.router, tc.method, tc.path, `{"payload":{}}`)
			wantError(t, rec, tc.status, tc.code)
			if got := rec.Header().Get("Allow"); tc.allow != "" && !sameSet(got, tc.allow) {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if n := e.total(t); n != 0 {
				t.Errorf("total = %d, want 0", n)
			}
		})
	}
}

func sameSet(a, b string) bool {
	split := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, p := range strings.Split(s, ",") {
			m[strings.TrimSpace(p)] = true
		}
		return m
	}
	x, y := split(a), split(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{APITokens: []string{"s3cret", "other-token"}})
	id := e.submitAuth(t, "s3cret")

	denied := []struct {
		name, method, path, auth string
	}{
		{"no header", http.MethodPost, "/events", ""},
		{"wrong token", http.MethodPost, "/events", "Bearer nope"},
		{"prefix of a token", http.MethodPost, "/events", "Bearer s3cre"},
		{"token plus junk", http.MethodPost, "/events", "Bearer s3cretX"},
		{"basic scheme", http.MethodPost, "/events", "Basic czNjcmV0"},
		{"bare token", http.MethodPost, "/events", "s3cret"},
		{"empty bearer", http.MethodPost, "/events", "Bearer "},
		{"list", http.MethodGet, "/events", "Bearer nope"},
		{"get", http.MethodGet, "/events/" + string(id), ""},
		{"retry", http.MethodPost, "/events/" + string(id) + "/retry", ""},
		{"unknown route", http.MethodGet, "/admin", ""},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, e.router, tc.method, tc.path, `{"payload":{}}`, "Authorization", tc.auth)
			wantError(t, rec, http.StatusUnauthorized, "unauthorized")
			if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
			if n := e.total(t); n != 1 {
				t.Errorf("total = %d, want 1", n)
			}
		})
	}

	allowed := []struct {
		name, method, path, auth string
		status                   int
	}{
		{"first token", http.MethodGet, "/events", "Bearer s3cret", 200},
		{"second token, lower-case scheme", http.MethodGet, "/events/" + string(id), "bearer other-token", 200},
		{"health is open", http.MethodGet, "/health", "", 200},
		{"ready is open", http.MethodGet, "/ready", "", 200},
		{"ready ignores a bad token", http.MethodGet, "/ready", "Bearer nope", 200},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, e.router, tc.method, tc.path, "", "Authorization", tc.auth)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
}

// An empty token in the list (API_TOKENS="a,,b") must not let a request
// without a token in, and a list of only empty tokens keeps the API closed.
func TestAuthEmptyTokensNeverMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{APITokens: []string{""}})
	for _, auth := range []string{"", "Bearer ", "Bearer"} {
		rec := do(t, e.router, http.MethodGet, "/events", "", "Authorization", auth)
		wantError(t, rec, http.StatusUnauthorized, "unauthorized")
	}
	if rec := do(t, e.router, http.MethodGet, "/health", ""); rec.Code != http.StatusOK {
		t.Errorf("health: %d", rec.Code)
	}
}

func (e *env) submitAuth(t *testing.T, token string) core.EventID {
	t.Helper()
	rec := do(t, e.router, http.MethodPost, "/events", `{"payload":{"a":1}}`, "Authorization", "Bearer "+token)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	var out struct{ ID string }
	decodeJSON(t, rec, &out)
	return core.EventID(out.ID)
}

// fakeEvents is a ports.Events whose methods the test scripts; only for
// failures the real service cannot produce on demand.
type fakeEvents struct {
	submit func() (ports.SubmitResult, error)
	list   func() (ports.ListResult, error)
	ready  func() error
}

var _ ports.Events = (*fakeEvents)(nil)

func (f *fakeEvents) Submit(context.Context, ports.Submission) (ports.SubmitResult, error) {
	return f.submit()
}
func (f *fakeEvents) Get(context.Context, core.EventID) (ports.EventDetail, error) {
	return ports.EventDetail{}, core.ErrNotFound
}
func (f *fakeEvents) List(context.Context, ports.ListFilter) (ports.ListResult, error) {
	return f.list()
}
func (f *fakeEvents) Replay(context.Context, core.EventID) (ports.EventRecord, error) {
	return ports.EventRecord{}, core.ErrNotFound
}
func (f *fakeEvents) ReplayDelivery(context.Context, core.EventID, core.DeliveryID) (core.Delivery, error) {
	return core.Delivery{}, core.ErrNotFound
}
func (f *fakeEvents) Recover(context.Context, ports.RecoverRequest) (ports.RecoverResult, error) {
	return ports.RecoverResult{}, core.ErrUnavailable
}
func (f *fakeEvents) Ready(context.Context) error { return f.ready() }

func TestInternalErrorsAreLoggedNotLeaked(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	fake := &fakeEvents{
		submit: func() (ports.SubmitResult, error) {
			return ports.SubmitResult{}, errors.New("pq: password authentication failed for user hunter2")
		},
		list:  func() (ports.ListResult, error) { panic("boom: secret stack detail") },
		ready: func() error { return context.DeadlineExceeded },
	}
	router := httpapi.NewRouter(fake, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	rec := do(t, router, http.MethodPost, "/events", `{"payload":{}}`)
	env := wantError(t, rec, http.StatusInternalServerError, "internal")
	if strings.Contains(rec.Body.String(), "hunter2") || env.Error.Message != "internal server error" {
		t.Errorf("500 leaks the cause: %s", rec.Body)
	}

	rec = do(t, router, http.MethodGet, "/events", "")
	wantError(t, rec, http.StatusInternalServerError, "internal")
	if strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("panic leaks: %s", rec.Body)
	}

	// A ping that times out (not ErrUnavailable itself) still means "not ready".
	wantError(t, do(t, router, http.MethodGet, "/ready", ""), http.StatusServiceUnavailable, "unavailable")

	for _, want := range []string{"hunter2", "boom: secret stack detail", "goroutine", "deadline exceeded"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRequestLogAtDebug(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	fake := &fakeEvents{ready: func() error { return nil }}
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	router := httpapi.NewRouter(fake, httpapi.Options{Logger: log})
	do(t, router, http.MethodGet, "/ready", "")
	for _, want := range []string{`"msg":"http request"`, `"path":"/ready"`, `"status":200`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("debug log lacks %s: %s", want, logs.String())
		}
	}
}

// fakeTargets is a fixed ports.TargetHealth.
type fakeTargets []ports.TargetState

func (f fakeTargets) Targets() []ports.TargetState { return f }

func TestTargetsListsBreakers(t *testing.T) {
	t.Parallel()
	opened := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, httpapi.Options{Targets: fakeTargets{
		{Origin: "https://down.example:443", State: "open", ConsecutiveFailures: 5, OpenedAt: opened, OpenUntil: opened.Add(30 * time.Second)},
		{Origin: "https://up.example:443", State: "closed"},
	}})
	rec := do(t, e.router, "GET", "/targets", "")
	if rec.Code != 200 {
		t.Fatalf("GET /targets: %d %s", rec.Code, rec.Body)
	}
	want := `{"data":[{"origin":"https://down.example:443","state":"open","consecutive_failures":5,"opened_at":"2030-01-01T00:00:00.000Z","open_until":"2030-01-01T00:00:30.000Z"},` +
		`{"origin":"https://up.example:443","state":"closed","consecutive_failures":0,"opened_at":null,"open_until":null}]}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	empty := newEnv(t, httpapi.Options{})
	if rec := do(t, empty.router, "GET", "/targets", ""); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"data":[]}` {
		t.Errorf("without breakers: %d %s", rec.Code, rec.Body)
	}
}
