package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/dashboard"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// checkPage asserts what every page must have: its data-page, the nav,
// the security headers, no inline script or style, and the open banner
// when no token is configured.
func checkPage(t *testing.T, d *doc, hdr http.Header, wantPage string, open bool) {
	t.Helper()
	if got := d.page(); got != wantPage {
		t.Errorf("data-page = %q, want %q", got, wantPage)
	}
	for _, navID := range []string{"nav-overview", "nav-events", "nav-endpoints"} {
		d.one(tag("nav"), tag("a", id(navID)))
	}
	if got := d.has(tag("div", id("open-banner"))); got != open {
		t.Errorf("open banner shown = %v, want %v", got, open)
	}
	if open && !strings.Contains(text(d.one(tag("div", id("open-banner")))), "no API_TOKENS: this dashboard is open to anyone who can reach it") {
		t.Errorf("open banner text = %q", text(d.one(tag("div", id("open-banner")))))
	}
	wantHeaders := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for k, v := range wantHeaders {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, s := range d.all(tag("script")) {
		if attr(s, "src") == "" || strings.TrimSpace(text(s)) != "" {
			t.Errorf("inline script: %v", s.Attr)
		}
	}
	if d.has(tag("style")) || d.has(tag("", hasAttr("style"))) {
		t.Error("a page has inline style, which the CSP forbids")
	}
	if strings.Contains(strings.ToLower(d.raw), "<script>") {
		t.Error("a page has an inline <script>")
	}
	// Every POST form carries the CSRF token.
	for _, f := range d.all(tag("form", attrIs("method", "post"))) {
		if len(findAll(f, tag("input", attrIs("name", "csrf"), attrIs("type", "hidden")))) != 1 {
			t.Errorf("form %s has no csrf field", attr(f, "id")+attr(f, "class"))
		}
	}
}

func TestEveryPageRenders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "order.paid")
	ev := e.submit(t, ports.Submission{EventType: "order.paid"})
	e.attempt(t, dead, goneAttempt())
	b := newBrowser(t, e.dash)

	for _, tc := range []struct {
		path, page string
		ids        []string
	}{
		{"/dashboard", "overview", []string{"activity-chart", "queue-depth", "oldest-due", "open-targets", "queue-at"}},
		{"/dashboard/events", "events", []string{"event-filters", "events", "recover"}},
		{"/dashboard/events/" + string(ev.Event.ID), "event", []string{"payload"}},
		{"/dashboard/endpoints", "endpoints", []string{"endpoints", "create-endpoint"}},
		{"/dashboard/endpoints/" + string(ep.Endpoint.ID), "endpoint",
			[]string{"edit-endpoint", "rotate-secret", "disable-endpoint", "test-event", "recover", "endpoint-chart"}},
	} {
		t.Run(tc.page, func(t *testing.T) {
			rec := b.get(tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d, body %.500s", tc.path, rec.Code, rec.Body)
			}
			d := parse(t, rec)
			checkPage(t, d, rec.Header(), tc.page, true)
			for _, want := range tc.ids {
				d.one(tag("", id(want)))
			}
			if d.has(tag("form", id("logout"))) {
				t.Error("an open dashboard shows a logout form")
			}
			if strings.Contains(rec.Body.String(), ep.Secret) {
				t.Error("the page shows the endpoint's secret")
			}
		})
	}
}

// fakeBreakers is this process's breakers.
type fakeBreakers []ports.TargetState

func (f fakeBreakers) Targets() []ports.TargetState { return f }

func TestOverview(t *testing.T) {
	t.Parallel()
	openUntil := start.Add(30 * time.Second)
	reading := dashboard.QueueReading{Pending: 3, Delivering: 1, Succeeded: 1000, Dead: 7, Finished: true, Estimated: true,
		OldestDue: 95 * time.Second, OpenTargets: 1, At: start.Add(-2 * time.Second)}
	e := newEnv(t, func(d *dashboard.Deps, _ *dashboard.Config) {
		d.Queue = func() (dashboard.QueueReading, bool) { return reading, true }
		d.Targets = func(context.Context) ([]core.TargetHealth, error) {
			return []core.TargetHealth{{Origin: "https://down.example:443", OpenUntil: openUntil, OpenedAt: start}}, nil
		}
		d.Breakers = fakeBreakers{{Origin: "https://down.example:443", State: "open", OpenUntil: openUntil},
			{Origin: "https://flaky.example:443", State: "open", OpenUntil: openUntil},
			{Origin: "https://fine.example:443", State: "closed"}}
	})
	minute := start.UTC().Truncate(time.Minute)
	_ = e.activity.AddActivity(t.Context(), []ports.ActivityCount{
		{Minute: minute, Accepted: 5, Delivered: 4, Retried: 2, Dead: 1},
		{Minute: minute.Add(-10 * time.Minute), Accepted: 3, Delivered: 3},
		{Minute: minute.Add(-2 * time.Hour), Accepted: 1000},                                 // outside the hour
		{Minute: minute, EndpointID: "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", Delivered: 500}, // an endpoint's row
	})
	rec := newBrowser(t, e.dash).get("/dashboard")
	d := parse(t, rec)
	checkPage(t, d, rec.Header(), "overview", true)

	want := map[string]string{"pending": "3", "delivering": "1", "succeeded": "1000", "dead": "7"}
	for status, count := range want {
		td := d.one(tag("table", id("queue-depth")), tag("tr", attrIs("data-status", status)), tag("td", class("count")))
		if got := text(td); got != count {
			t.Errorf("%s count = %q, want %q", status, got, count)
		}
		if estimate := slices.Contains(strings.Fields(attr(td, "class")), "estimate"); estimate != (status == "succeeded" || status == "dead") {
			t.Errorf("%s marked as an estimate: %v", status, estimate)
		}
	}
	if got := text(d.one(tag("", id("oldest-due")))); got != "1m 35s" {
		t.Errorf("oldest due = %q", got)
	}
	if got := text(d.one(tag("", id("queue-at")))); got != "2026-12-01 09:30:13 UTC" {
		t.Errorf("queue at = %q", got)
	}
	targets := text(d.one(tag("", id("open-targets"))))
	for _, s := range []string{"2", "https://down.example:443", "open until 2026-12-01 09:30:45 UTC", "https://flaky.example:443"} {
		if !strings.Contains(targets, s) {
			t.Errorf("open targets %q lack %q", targets, s)
		}
	}
	if strings.Contains(targets, "fine.example") {
		t.Errorf("open targets list a closed breaker: %q", targets)
	}

	svg := d.one(tag("svg", id("activity-chart")))
	lines := findAll(svg, tag("polyline"))
	if len(lines) != 4 {
		t.Fatalf("%d series, want 4", len(lines))
	}
	for i, name := range []string{"accepted", "delivered", "retried", "dead"} {
		if got := attr(lines[i], "data-series"); got != name {
			t.Errorf("series %d = %q, want %s", i, got, name)
		}
		if n := len(strings.Fields(attr(lines[i], "points"))); n != 60 {
			t.Errorf("%s has %d points, want 60 (one a minute, missing minutes zero)", name, n)
		}
	}
	legend := text(svg)
	for _, s := range []string{"accepted (8)", "delivered (7)", "retried (2)", "dead (1)", "minute (UTC)", "per minute"} {
		if !strings.Contains(legend, s) {
			t.Errorf("chart text lacks %q: %q", s, legend)
		}
	}
}

func TestOverviewWithoutReading(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *dashboard.Deps, _ *dashboard.Config) {
		d.Queue = func() (dashboard.QueueReading, bool) { return dashboard.QueueReading{}, false }
		d.Targets = func(context.Context) ([]core.TargetHealth, error) { return nil, errors.New("db down") }
	})
	e.activity.err = errors.New("db down")
	rec := newBrowser(t, e.dash).get("/dashboard")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	d := parse(t, rec)
	for _, id_ := range []string{"oldest-due", "queue-at"} {
		if got := text(d.one(tag("", id(id_)))); got != "no reading yet" {
			t.Errorf("#%s = %q, want no reading yet", id_, got)
		}
	}
	if len(d.all(tag("table", id("queue-depth")), tag("tr", hasAttr("data-status")))) != 4 {
		t.Error("the queue table lacks a status row")
	}
	if got := text(d.one(tag("svg", id("activity-chart")))); !strings.Contains(got, "could not be read") {
		t.Errorf("chart = %q", got)
	}
}

func eventRows(d *doc) []string {
	var out []string
	for _, tr := range d.all(tag("table", id("events")), tag("tr", hasAttr("data-event-id"))) {
		out = append(out, attr(tr, "data-event-id"))
	}
	return out
}

func TestEventsFiltersAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var paid []core.EventID
	for range 55 {
		paid = append(paid, e.submit(t, ports.Submission{TargetURL: defaultTarget, EventType: "order.paid"}).Event.ID)
		e.clock.Advance(time.Second)
	}
	middle := e.clock.Now()
	for range 3 {
		e.submit(t, ports.Submission{TargetURL: defaultTarget, EventType: "order.refunded"})
		e.clock.Advance(time.Second)
	}
	b := newBrowser(t, e.dash)

	rec := b.get("/dashboard/events")
	d := parse(t, rec)
	first := eventRows(d)
	if len(first) != 50 {
		t.Fatalf("first page has %d events, want 50", len(first))
	}
	row := d.one(tag("tr", attrIs("data-event-id", first[0])))
	if got := text(findAll(row, tag("td", class("status")))[0]); got != "pending" {
		t.Errorf("status cell = %q", got)
	}
	if href := attr(findAll(row, tag("a", class("event-link")))[0], "href"); href != "/dashboard/events/"+first[0] {
		t.Errorf("event link = %q", href)
	}
	next := attr(d.one(tag("a", id("next-page"))), "href")
	if d.has(tag("a", id("first-page"))) {
		t.Error("the first page links to the first page")
	}
	d = parse(t, b.get(next))
	if href := attr(d.one(tag("a", id("first-page"))), "href"); href != "/dashboard/events" {
		t.Errorf("first-page link = %q", href)
	}
	second := eventRows(d)
	if len(second) != 8 || d.has(tag("a", id("next-page"))) {
		t.Fatalf("second page: %d events, next link %v", len(second), d.has(tag("a", id("next-page"))))
	}
	for _, id := range second {
		if slices.Contains(first, id) {
			t.Errorf("%s is on both pages", id)
		}
	}

	// Filters, carried by the next link.
	d = parse(t, b.get("/dashboard/events?event_type=order.paid"))
	if got := len(eventRows(d)); got != 50 {
		t.Fatalf("order.paid page 1: %d", got)
	}
	next = attr(d.one(tag("a", id("next-page"))), "href")
	u, _ := url.Parse(next)
	if u.Query().Get("event_type") != "order.paid" || u.Query().Get("cursor") == "" {
		t.Errorf("next link %q lacks the filter or the cursor", next)
	}
	d = parse(t, b.get(next))
	if first := attr(d.one(tag("a", id("first-page"))), "href"); first != "/dashboard/events?event_type=order.paid" {
		t.Errorf("first-page link = %q", first)
	}
	rest := eventRows(d)
	if len(rest) != 5 {
		t.Fatalf("order.paid page 2: %d", len(rest))
	}
	for _, id := range rest {
		if !slices.Contains(paid, core.EventID(id)) {
			t.Errorf("%s is not an order.paid event", id)
		}
	}
	if got := attr(d.one(tag("form", id("event-filters")), tag("input", attrIs("name", "event_type"))), "value"); got != "order.paid" {
		t.Errorf("the filter form shows event_type %q", got)
	}

	// A datetime-local value is UTC; RFC 3339 works too.
	local := middle.UTC().Format("2006-01-02T15:04:05")
	for _, v := range []string{local, middle.Format(time.RFC3339)} {
		d = parse(t, b.get("/dashboard/events?created_after="+url.QueryEscape(v)))
		if got := len(eventRows(d)); got != 3 {
			t.Errorf("created_after %s: %d events, want 3", v, got)
		}
		if got := attr(d.one(tag("form", id("event-filters")), tag("input", attrIs("name", "created_after"))), "value"); got != local {
			t.Errorf("created_after shown as %q, want %q", got, local)
		}
	}

	// Status, after one delivery died.
	e.attempt(t, dead, goneAttempt())
	d = parse(t, b.get("/dashboard/events?status=dead"))
	if got := eventRows(d); len(got) != 1 || got[0] != string(paid[0]) {
		t.Errorf("status=dead lists %v, want [%s]", got, paid[0])
	}
	if got := text(d.one(tag("tr", attrIs("data-event-id", string(paid[0]))), tag("td", class("attempts")))); got != "1" {
		t.Errorf("attempts = %q", got)
	}
}

func TestEventsBadFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.dash)
	for _, tc := range []struct{ query, want string }{
		{"status=bogus", "status: must be one of pending, delivering, succeeded, dead"},
		{"endpoint_id=nope", "endpoint_id: must be an endpoint's id"},
		{"event_type=a..b", "event_type"},
		{"origin=ftp://x", "origin: must be an http or https URL"},
		{"created_after=yesterday", "created_after: must be a date and time"},
		{"created_after=2026-12-02T00:00&created_before=2026-12-01T00:00", "created_before must be later than created_after"},
		{"cursor=junk", "cursor: is not a cursor of this list"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			rec := b.get("/dashboard/events?" + tc.query)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", rec.Code)
			}
			d := parse(t, rec)
			if got := text(d.one(tag("div", id("error")))); !strings.Contains(got, tc.want) {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
			d.one(tag("form", id("event-filters")))
		})
	}
}

func TestEventPageShowsAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t)
	res := e.submit(t, ports.Submission{EndpointID: ep.Endpoint.ID, EventType: "order.paid", IdempotencyKey: "order-1",
		Payload: []byte(`{"n":12345678901234567890,"nested":{"a":[1,2]}}`)})
	e.attempt(t, core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: time.Second,
		Reason: "backoff 1s (attempt 1 of 10)", StatusCode: 503, Error: "status 503"},
		core.Attempt{StartedAt: start, Duration: 42 * time.Millisecond, StatusCode: 503, Error: "status 503",
			Response: "busy", Verdict: core.VerdictRetry, Reason: "backoff 1s (attempt 1 of 10)"})
	e.clock.Advance(2 * time.Second)
	e.attempt(t, dead, goneAttempt())

	b := newBrowser(t, e.dash)
	rec := b.get("/dashboard/events/" + string(res.Event.ID))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	d := parse(t, rec)
	payload := text(d.one(tag("pre", id("payload"))))
	if !strings.Contains(payload, `"n": 12345678901234567890`) {
		t.Errorf("payload = %q: not pretty-printed with its exact numbers", payload)
	}
	if got := d.raw; !strings.Contains(got, "order-1") || !strings.Contains(got, "order.paid") {
		t.Error("the page lacks the idempotency key or the type")
	}
	did := string(res.Deliveries[0].ID)
	sec := d.one(tag("section", class("delivery"), attrIs("data-delivery-id", did)))
	if got := text(findAll(sec, tag("", class("delivery-status")))[0]); got != "dead" {
		t.Errorf("delivery status = %q", got)
	}
	target := text(findAll(sec, tag("", class("target")))[0])
	if target != "https://REDACTED@merchant.example/hooks?REDACTED" || strings.Contains(d.raw, "pw@") || strings.Contains(d.raw, "key=k") {
		t.Errorf("target = %q: not redacted", target)
	}
	if href := attr(findAll(sec, tag("a", class("endpoint-link")))[0], "href"); href != "/dashboard/endpoints/"+string(ep.Endpoint.ID) {
		t.Errorf("endpoint link = %q", href)
	}
	atts := findAll(sec, tag("li", class("attempt")))
	if len(atts) != 2 {
		t.Fatalf("%d attempts, want 2", len(atts))
	}
	field := func(li int, class_ string) string {
		ns := findAll(atts[li], tag("", class(class_)))
		if len(ns) != 1 {
			t.Fatalf("attempt %d has %d .%s", li, len(ns), class_)
		}
		return text(ns[0])
	}
	for _, c := range []struct {
		li          int
		class, want string
	}{
		{0, "attempt-number", "1"}, {0, "status-code", "503"}, {0, "duration", "42"}, {0, "verdict", "retry"},
		{0, "reason", "backoff 1s (attempt 1 of 10)"}, {0, "error", "status 503"}, {0, "response", "busy"},
		{0, "started-at", "2026-12-01 09:30:15 UTC"},
		{1, "attempt-number", "2"}, {1, "status-code", "410"}, {1, "duration", "150"}, {1, "verdict", "dead"},
		{1, "response", "gone for good"},
	} {
		if got := field(c.li, c.class); got != c.want {
			t.Errorf("attempt %d .%s = %q, want %q", c.li+1, c.class, got, c.want)
		}
	}
	form := findAll(sec, tag("form", class("replay")))
	if len(form) != 1 || attr(form[0], "action") != "/dashboard/events/"+string(res.Event.ID)+"/deliveries/"+did+"/replay" {
		t.Errorf("replay form: %v", form)
	}

	for _, p := range []string{"/dashboard/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", "/dashboard/events/not-an-id"} {
		rec := b.get(p)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
		d := parse(t, rec)
		if d.page() != "event" || !d.has(tag("div", id("error"))) {
			t.Errorf("GET %s: not the event 404 page", p)
		}
	}
}

func TestHostilePayloadIsEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostile := `</pre><script>alert(1)</script><img src=x onerror=alert(2)>`
	res := e.submit(t, ports.Submission{Payload: []byte(`{"note":"` + strings.ReplaceAll(hostile, `"`, `\"`) + `","q":"\" style=\"color:red"}`)})
	e.attempt(t, dead, core.Attempt{StartedAt: start, StatusCode: 410, Error: "<b>bad</b>", Response: hostile,
		Verdict: core.VerdictDead, Reason: "<i>why</i>"})
	rec := newBrowser(t, e.dash).get("/dashboard/events/" + string(res.Event.ID))
	d := parse(t, rec)
	checkPage(t, d, rec.Header(), "event", true)
	if strings.Contains(d.raw, "<script>alert") || strings.Contains(d.raw, "<img") || strings.Contains(d.raw, "<b>bad") {
		t.Error("hostile markup reached the page unescaped")
	}
	if got := text(d.one(tag("pre", id("payload")))); !strings.Contains(got, "</pre><script>alert(1)</script>") {
		t.Errorf("payload text = %q: the hostile string should be shown as text", got)
	}
	if got := text(d.one(tag("pre", class("response")))); got != hostile {
		t.Errorf("response = %q", got)
	}
	if len(d.all(tag("script"))) != 1 {
		t.Errorf("%d scripts, want only the dashboard's own", len(d.all(tag("script"))))
	}
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens("secret-token"))
	b := newBrowser(t, e.dash)
	for file, ct := range map[string]string{"dashboard.css": "text/css", "dashboard.js": "text/javascript"} {
		rec := b.get("/dashboard/static/" + file)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ct) {
			t.Errorf("%s: status %d, type %q (public, even with tokens)", file, rec.Code, rec.Header().Get("Content-Type"))
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s: Cache-Control %q", file, cc)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing", file)
		}
	}
	for _, p := range []string{"/dashboard/static/nope.js", "/dashboard/static/"} {
		if rec := b.get(p); rec.Code == http.StatusOK {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
	// The pages link the assets with their version, for the long cache.
	e2 := newEnv(t)
	d := parse(t, newBrowser(t, e2.dash).get("/dashboard"))
	if href := attr(d.one(tag("link", attrIs("rel", "stylesheet"))), "href"); !strings.HasPrefix(href, "/dashboard/static/dashboard.css?v=") {
		t.Errorf("stylesheet href %q", href)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newBrowser(t, e.dash).get("/dashboard/nope")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	parse(t, rec).one(tag("div", id("error")))
	// A path that climbs out is sent, cleaned, to where it leads: outside
	// the dashboard, to the API's own rules.
	rec = newBrowser(t, e.dash).get("/dashboard/../events")
	if loc := rec.Header().Get("Location"); rec.Code/100 != 3 || loc != "/events" {
		t.Errorf("GET /dashboard/../events: %d to %q", rec.Code, loc)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := dashboard.New(e.deps, dashboard.Config{SessionKey: []byte("short")}); err == nil {
		t.Error("a short session key was accepted")
	}
	if _, err := dashboard.New(dashboard.Deps{}, dashboard.Config{SessionKey: sessionKey}); err == nil {
		t.Error("no Events was accepted")
	}
}
