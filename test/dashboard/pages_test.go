package dashboard_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// submitButton selects the button that submits the form form.
func submitButton(form string) string {
	return form + " button:not([type=button]):not([type=reset]), " + form + " input[type=submit]"
}

// statuses are the delivery statuses the overview counts.
var statuses = []string{"pending", "delivering", "succeeded", "dead"}

// TestPagesRender: every page renders with its data-page and the elements
// of the contract, from real data, on each durable store, and none writes
// an error to the console. The navigation links lead where they say.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	for _, kind := range harness.Stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, harness.NewDBOf(t, kind), stackConfig{})
			b := newBrowser(t)
			merchant := harness.StartMerchant(t)
			ep := s.createEndpoint(t, map[string]any{
				"url": merchant.URL + "/hook", "event_types": []string{"order.paid"}, "description": "render test",
			})
			plain := []string{
				s.postEvent(t, map[string]any{"n": 1}, nil),
				s.postEvent(t, map[string]any{"n": 2}, nil),
			}
			paid := s.postEvent(t, map[string]any{"order": "o-42", "amount": 1999}, map[string]any{"event_type": "order.paid"})
			all := append(slices.Clone(plain), paid)
			s.waitStatus(t, 20*time.Second, "succeeded", all...)

			// Overview.
			b.open(s.url(""), http.StatusOK, "overview")
			b.require("overview", "a#nav-overview", "a#nav-events", "a#nav-endpoints", "svg#activity-chart",
				"table#queue-depth", "#oldest-due", "#open-targets", "#queue-at", "div#open-banner")
			if b.has("form#logout") {
				t.Error("overview: form#logout without API_TOKENS")
			}
			// The queue's counts are the gauges /metrics shows, read in the
			// background: pending and delivering every METRICS_REFRESH_MS,
			// so a reload soon shows the store's; succeeded and dead once a
			// minute, so they may lag (never above the store's).
			counts := s.db.Counts(t)
			var shown map[string]string
			testkit.Eventually(t, 10*time.Second, "the overview's pending and delivering to match the store's", func() bool {
				shown = b.queueDepth()
				if shown["pending"] != strconv.Itoa(counts["pending"]) || shown["delivering"] != strconv.Itoa(counts["delivering"]) {
					b.open(s.url(""), http.StatusOK, "overview")
					return false
				}
				return true
			})
			for _, st := range []string{"succeeded", "dead"} {
				if n, err := strconv.Atoi(shown[st]); err != nil || n < 0 || n > counts[st] {
					t.Errorf("overview: %s count %q, want a number from 0 to the store's %d", st, shown[st], counts[st])
				}
			}
			t.Logf("overview: queue depth %v (store %v)", shown, counts)

			// Events, through the navigation.
			b.submitLink("a#nav-events", "events")
			b.require("events", "form#event-filters", "table#events")
			for _, name := range []string{"status", "endpoint_id", "event_type", "origin", "created_after", "created_before"} {
				if !b.has(fmt.Sprintf("form#event-filters [name=%s]", name)) {
					t.Errorf("events: form#event-filters has no field named %s", name)
				}
			}
			if m := b.attr("form#event-filters", "method"); m != "" && !strings.EqualFold(m, "get") {
				t.Errorf("events: form#event-filters method %q, want GET", m)
			}
			rows := b.attrs("table#events tr[data-event-id]", "data-event-id")
			for _, id := range all {
				if !slices.Contains(rows, id) {
					t.Errorf("events: no row for %s (rows %v)", id, rows)
				}
			}
			for _, st := range b.texts("table#events tr[data-event-id] td.status") {
				if st != "succeeded" {
					t.Errorf("events: a row's status is %q, want succeeded", st)
				}
			}
			// The filter form narrows the table.
			b.fill("form#event-filters [name=event_type]", "order.paid")
			b.submit(submitButton("form#event-filters"), http.StatusOK, "events")
			if u, _ := url.Parse(b.location()); u.Query().Get("event_type") != "order.paid" {
				t.Errorf("events: filtering by type went to %s, want ?event_type=order.paid", u)
			}
			if rows := b.attrs("table#events tr[data-event-id]", "data-event-id"); !slices.Equal(rows, []string{paid}) {
				t.Errorf("events filtered by order.paid: rows %v, want [%s]", rows, paid)
			}

			// An event, through its link.
			b.submitLink(fmt.Sprintf("table#events tr[data-event-id=%q] a.event-link", paid), "event")
			if u := b.location(); !strings.HasSuffix(u, "/dashboard/events/"+paid) {
				t.Errorf("event link went to %s", u)
			}
			b.require("event", "pre#payload", "section.delivery[data-delivery-id]", "section.delivery .delivery-status",
				"section.delivery ol.attempts > li.attempt")
			if p := b.text("pre#payload"); !strings.Contains(p, "o-42") || !strings.Contains(p, "1999") {
				t.Errorf("event: pre#payload %q does not show the payload", p)
			}
			if n := b.count("section.delivery[data-delivery-id]"); n != 1 {
				t.Errorf("event: %d deliveries, want 1 (to the order.paid endpoint)", n)
			}
			if st := b.text("section.delivery .delivery-status"); st != "succeeded" {
				t.Errorf("event: .delivery-status %q, want succeeded", st)
			}
			b.checkAttempt("section.delivery ol.attempts > li.attempt", "1", "200")
			b.require("event", "section.delivery form.replay")

			// Endpoints, through the navigation.
			b.submitLink("a#nav-endpoints", "endpoints")
			row := fmt.Sprintf("table#endpoints tr[data-endpoint-id=%q]", ep.ID)
			b.require("endpoints", "table#endpoints", row, row+" td.health", row+" td.health .success-rate",
				row+" td.health .breaker", "form#create-endpoint")
			for _, name := range []string{"url", "event_types", "rate_limit_per_second", "description"} {
				if !b.has(fmt.Sprintf("form#create-endpoint [name=%s]", name)) {
					t.Errorf("endpoints: form#create-endpoint has no field named %s", name)
				}
			}

			// An endpoint.
			b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
			b.require("endpoint", "form#edit-endpoint", "form#rotate-secret", "form#disable-endpoint", "form#test-event", "form#recover")
			if b.has("form#enable-endpoint") || b.has("code#new-secret") {
				t.Error("endpoint: an enabled endpoint's page has form#enable-endpoint or code#new-secret")
			}
			if strings.Contains(b.html(), ep.Secret) {
				t.Error("endpoint: the page contains the endpoint's secret")
			}

			// Open or not, every POST form carries the csrf field.
			for _, path := range []string{"", "/events", "/events/" + paid, "/endpoints", "/endpoints/" + ep.ID} {
				b.open(s.url(path), http.StatusOK, "")
				if bad := b.postFormsWithoutCSRF(); len(bad) > 0 {
					t.Errorf("%s: POST forms without a hidden csrf field: %v", s.url(path), bad)
				}
			}

			// An unknown event is a 404 page of the dashboard, not a crash.
			b.open(s.url("/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"), http.StatusNotFound, "")
			b.require("unknown event", "div#error")

			checkHeaders(t, s.url(""), nil)
		})
	}
}

// submitLink clicks the link sel and checks the page it leads to.
func (b *browser) submitLink(sel, want string) {
	b.t.Helper()
	b.submit(sel, http.StatusOK, want)
}

// queueDepth maps the overview's queue-depth statuses to their td.count,
// failing the test for a status that has no row.
func (b *browser) queueDepth() map[string]string {
	b.t.Helper()
	out := map[string]string{}
	for _, st := range statuses {
		sel := fmt.Sprintf("table#queue-depth tr[data-status=%s] td.count", st)
		if !b.has(sel) {
			b.t.Fatalf("overview: no %s", sel)
		}
		out[st] = b.text(sel)
	}
	return out
}

// checkAttempt checks the attempt item sel: its number, the status code
// it shows, and that it has every part of the timeline.
func (b *browser) checkAttempt(sel, number, statusCode string) {
	b.t.Helper()
	for _, part := range []string{".attempt-number", ".started-at", ".status-code", ".duration", ".verdict", ".reason", ".error", "pre.response"} {
		if !b.has(sel + " " + part) {
			b.t.Errorf("attempt %s (%s): no %s", number, sel, part)
		}
	}
	if b.has(sel+" .attempt-number") && b.text(sel+" .attempt-number") != number {
		b.t.Errorf("attempt %s: .attempt-number %q", number, b.text(sel+" .attempt-number"))
	}
	if b.has(sel+" .status-code") && b.text(sel+" .status-code") != statusCode {
		b.t.Errorf("attempt %s: .status-code %q, want %s", number, b.text(sel+" .status-code"), statusCode)
	}
}

// checkHeaders GETs url (with cookies, when given) and checks the
// security headers every dashboard page sends: a CSP that allows no
// inline script.
func checkHeaders(t *testing.T, url string, cookies []*http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	t.Logf("GET %s: %d, Content-Security-Policy %q", url, resp.StatusCode, csp)
	if csp == "" {
		t.Errorf("GET %s: no Content-Security-Policy", url)
		return
	}
	for _, directive := range strings.Split(csp, ";") {
		f := strings.Fields(directive)
		if len(f) > 0 && (f[0] == "script-src" || f[0] == "default-src") && slices.Contains(f, "'unsafe-inline'") {
			t.Errorf("GET %s: the CSP allows inline scripts: %q", url, csp)
		}
	}
}

// noRedirect is an HTTP client that reports redirects instead of
// following them.
var noRedirect = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// TestEventsPagination: a#next-page walks the whole table, one page at a
// time, without repeating or losing an event; a#first-page leads back.
func TestEventsPagination(t *testing.T) {
	t.Parallel()
	s := startStack(t, harness.NewDBOf(t, harness.KindSQLite), stackConfig{})
	b := newBrowser(t)
	const n = 130
	want := map[string]bool{}
	for _, id := range s.d.PostMany(t, n, 8) {
		want[id] = true
	}
	b.open(s.url("/events"), http.StatusOK, "events")
	if b.has("a#first-page") {
		t.Error("events: the first page links to the first page")
	}
	seen := map[string]bool{}
	pages := 0
	for {
		pages++
		ids := b.attrs("table#events tr[data-event-id]", "data-event-id")
		if len(ids) == 0 {
			t.Fatalf("page %d is empty", pages)
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("page %d repeats %s", pages, id)
			}
			seen[id] = true
		}
		if !b.has("a#next-page") {
			break
		}
		if pages > n {
			t.Fatal("a#next-page never ends")
		}
		b.submitLink("a#next-page", "events")
		b.require(fmt.Sprintf("page %d", pages+1), "a#first-page")
	}
	if len(seen) != n {
		t.Errorf("%d pages showed %d distinct events, want %d", pages, len(seen), n)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("event %s on no page", id)
		}
	}
	if pages < 2 {
		t.Errorf("%d events fit on one page: pagination untested", n)
	}
	if b.has("a#first-page") {
		b.submitLink("a#first-page", "events")
		if b.has("a#first-page") {
			t.Error("a#first-page did not lead to the first page")
		}
	}
	t.Logf("%d events on %d pages", len(seen), pages)
}

// TestEventsAppearAndProgress: events posted through the API (with the
// bearer token; the dashboard behind its login) appear in the events
// table while the receiver fails them, and, after a reload, as succeeded
// once the receiver took them. It runs on the default store: PostgreSQL
// when TEST_DATABASE_URL is set.
func TestEventsAppearAndProgress(t *testing.T) {
	t.Parallel()
	s := startStack(t, harness.NewDB(t), stackConfig{token: newToken(), env: map[string]string{
		"RETRY_BASE_MS": "300", "RETRY_MAX_BACKOFF_MS": "600", "RETRY_JITTER": "0", "MAX_ATTEMPTS": "100",
		"BREAKER_FAILURES": "1000",
	}})
	b := newBrowser(t)
	s.rcv.Control(t, map[string]any{"mode": "status", "status": 503})
	login(b, s)

	var ids []string
	for i := range 5 {
		ids = append(ids, s.postEvent(t, map[string]any{"invoice": i}, nil)) // to TARGET_URL, the mock receiver
	}
	b.open(s.url("/events"), http.StatusOK, "events")
	shown := b.rowStatuses()
	for _, id := range ids {
		st, ok := shown[id]
		switch {
		case !ok:
			t.Errorf("event %s is not in the events table (%v)", id, shown)
		case st == "succeeded" || st == "dead":
			t.Errorf("event %s is %s while the receiver answers 503", id, st)
		}
	}
	t.Logf("while the receiver fails: %v", shown)
	testkit.Eventually(t, 10*time.Second, "the overview to count the failing deliveries as waiting", func() bool {
		b.open(s.url(""), http.StatusOK, "overview")
		q := b.queueDepth()
		pending, _ := strconv.Atoi(q["pending"])
		delivering, _ := strconv.Atoi(q["delivering"])
		return pending+delivering == len(ids)
	})

	s.rcv.Control(t, map[string]any{"mode": "ok"})
	testkit.Eventually(t, 20*time.Second, "the receiver to take every event", func() bool {
		for _, id := range ids {
			if s.received(t, id) == 0 {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 15*time.Second, "the table to show every event succeeded after a reload", func() bool {
		b.open(s.url("/events"), http.StatusOK, "events")
		shown = b.rowStatuses()
		for _, id := range ids {
			if shown[id] != "succeeded" {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 10*time.Second, "the overview to count nothing waiting", func() bool {
		b.open(s.url(""), http.StatusOK, "overview")
		q := b.queueDepth()
		return q["pending"] == "0" && q["delivering"] == "0"
	})
}

// rowStatuses maps the events table's event ids to their td.status.
func (b *browser) rowStatuses() map[string]string {
	b.t.Helper()
	ids := b.attrs("table#events tr[data-event-id]", "data-event-id")
	sts := b.texts("table#events tr[data-event-id] td.status")
	if len(ids) != len(sts) {
		b.t.Fatalf("events: %d rows but %d td.status", len(ids), len(sts))
	}
	out := make(map[string]string, len(ids))
	for i, id := range ids {
		out[id] = sts[i]
	}
	return out
}
