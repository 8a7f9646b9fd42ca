package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
)

// The operator's router (ROLE=worker, METRICS_PORT) answers the probes and
// /metrics as the API does, and nothing else.
func TestOpsRouter(t *testing.T) {
	t.Parallel()
	var down error
	ready := func(context.Context) error { return down }
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("webhookd_up 1\n")) })

	open := httpapi.NewOpsRouter(ready, httpapi.Options{Metrics: metrics})
	if rec := do(t, open, http.MethodGet, "/health", ""); rec.Code != 200 || rec.Body.String() != `{"status":"ok"}` {
		t.Errorf("health: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, open, http.MethodGet, "/ready", ""); rec.Code != 200 || rec.Body.String() != `{"status":"ready"}` {
		t.Errorf("ready: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, open, http.MethodGet, "/metrics", ""); rec.Code != 200 || rec.Body.String() != "webhookd_up 1\n" {
		t.Errorf("metrics without API_TOKENS: %d %s", rec.Code, rec.Body)
	}
	wantError(t, do(t, open, http.MethodGet, "/events", ""), http.StatusNotFound, "route_not_found")
	wantError(t, do(t, open, http.MethodPost, "/metrics", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	down = core.ErrUnavailable
	wantError(t, do(t, open, http.MethodGet, "/ready", ""), http.StatusServiceUnavailable, "unavailable")

	// On the API's port, with API_TOKENS set: the probes stay open, the
	// metrics need the token.
	down = nil
	closed := httpapi.NewOpsRouter(ready, httpapi.Options{Metrics: metrics, APITokens: []string{"tok"}})
	if rec := do(t, closed, http.MethodGet, "/ready", ""); rec.Code != 200 {
		t.Errorf("ready with API_TOKENS: %d", rec.Code)
	}
	wantError(t, do(t, closed, http.MethodGet, "/metrics", ""), http.StatusUnauthorized, "unauthorized")
	if rec := do(t, closed, http.MethodGet, "/metrics", "", "Authorization", "Bearer tok"); rec.Code != 200 {
		t.Errorf("metrics with the token: %d", rec.Code)
	}

	// Without a metrics handler there is no /metrics route.
	bare := httpapi.NewOpsRouter(ready, httpapi.Options{})
	wantError(t, do(t, bare, http.MethodGet, "/metrics", ""), http.StatusNotFound, "route_not_found")
}
