package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/adapters/httpapi"
)

// TestDashboardMount: Options.Dashboard is served at /dashboard and under
// it, every method, without the bearer token (it has its own login),
// while every other route still needs one; without it /dashboard is not a
// route, and the token rule is unchanged.
func TestDashboardMount(t *testing.T) {
	t.Parallel()
	const token = "mount-test-token"
	var seen []string
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusTeapot) // unmistakably the dashboard's answer
	})
	e := newEnv(t, httpapi.Options{APITokens: []string{token}, Dashboard: dash})

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/dashboard"},
		{http.MethodGet, "/dashboard/"},
		{http.MethodGet, "/dashboard/events?status=dead"},
		{http.MethodGet, "/dashboard/static/dashboard.css"},
		{http.MethodPost, "/dashboard/login"},
		{http.MethodPost, "/dashboard/events/x/deliveries/y/replay"},
	} {
		seen = nil
		rec := do(t, e.router, tc.method, tc.path, "")
		want := tc.method + " " + strings.SplitN(tc.path, "?", 2)[0]
		if rec.Code != http.StatusTeapot || !slices.Equal(seen, []string{want}) {
			t.Errorf("%s %s without a token: %d, dashboard saw %v; want it to reach the dashboard", tc.method, tc.path, rec.Code, seen)
		}
	}

	// Everything else still needs the token, including paths that only
	// look like the dashboard's.
	for _, path := range []string{"/events", "/dashboardx", "/dashboard.json"} {
		seen = nil
		wantError(t, do(t, e.router, http.MethodGet, path, ""), http.StatusUnauthorized, "unauthorized")
		if len(seen) != 0 {
			t.Errorf("GET %s reached the dashboard", path)
		}
	}
	if rec := do(t, e.router, http.MethodGet, "/events", "", "Authorization", "Bearer "+token); rec.Code != http.StatusOK {
		t.Errorf("GET /events with the token: %d", rec.Code)
	}
	// A path that climbs out of /dashboard is the dashboard's to answer (it
	// redirects to the cleaned path, where the token applies): it never
	// reaches an API handler without the token.
	seen = nil
	rec := do(t, e.router, http.MethodGet, "/dashboard/../events", "")
	if rec.Code != http.StatusTeapot || !slices.Equal(seen, []string{"GET /dashboard/../events"}) {
		t.Errorf("GET /dashboard/../events without a token: %d %s, dashboard saw %v", rec.Code, rec.Body, seen)
	}

	// The dashboard's routes are not the API's: the OpenAPI comparison
	// leaves them out.
	for _, r := range routesOf(e.router.(*gin.Engine)) {
		if strings.Contains(r, "/dashboard") {
			t.Errorf("routesOf lists %s", r)
		}
	}
}

func TestNoDashboard(t *testing.T) {
	t.Parallel()
	open := newEnv(t, httpapi.Options{})
	for _, path := range []string{"/dashboard", "/dashboard/events"} {
		wantError(t, do(t, open.router, http.MethodGet, path, ""), http.StatusNotFound, "route_not_found")
	}
	// With tokens, an unmounted /dashboard is like any unknown route.
	closed := newEnv(t, httpapi.Options{APITokens: []string{"tok"}})
	wantError(t, do(t, closed.router, http.MethodGet, "/dashboard", ""), http.StatusUnauthorized, "unauthorized")
	wantError(t, do(t, closed.router, http.MethodGet, "/dashboard", "", "Authorization", "Bearer tok"), http.StatusNotFound, "route_not_found")
	// The operator's router never serves it.
	ops := httpapi.NewOpsRouter(open.svc.Ready, httpapi.Options{Dashboard: http.NotFoundHandler()})
	wantError(t, do(t, ops, http.MethodGet, "/dashboard", ""), http.StatusNotFound, "route_not_found")
}
