package dashboard_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/webhookd/webhookd/adapters/dashboard"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/ports"
)

// start is a non-UTC instant, so that the tests prove times are shown in
// UTC.
var start = time.Date(2026, 12, 1, 10, 30, 15, 0, time.FixedZone("CET", 3600))

const defaultTarget = "http://localhost:3001/webhook"

var sessionKey = bytes.Repeat([]byte{0x42}, 32)

// env is a dashboard over the real ingest and endpoints services on a
// memory store.
type env struct {
	dash      *dashboard.Dashboard
	deps      dashboard.Deps
	store     *memory.Store
	clock     *memory.Clock
	svc       *ingest.Service
	endpoints *endpoints.Service
	activity  *fakeActivity
}

type option func(*dashboard.Deps, *dashboard.Config)

func withTokens(tokens ...string) option {
	return func(_ *dashboard.Deps, c *dashboard.Config) { c.Tokens = tokens }
}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	clock := memory.NewClock(start)
	store := memory.NewStore(clock)
	addresses := core.AddressPolicy{AllowPrivate: true}
	svc, err := ingest.NewService(store, clock, memory.NewMetrics(), nil,
		ingest.Config{DefaultTargetURL: defaultTarget, Addresses: addresses})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{0x5a}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	eps, err := endpoints.NewService(store, box, clock, nil, endpoints.Config{Addresses: addresses, RotationGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, clock: clock, svc: svc, endpoints: eps, activity: &fakeActivity{}}
	e.deps = dashboard.Deps{Events: svc, Endpoints: eps, Activity: e.activity, Clock: clock,
		Targets: func(ctx context.Context) ([]core.TargetHealth, error) { return store.Targets(ctx) }}
	cfg := dashboard.Config{SessionKey: sessionKey}
	for _, o := range opts {
		o(&e.deps, &cfg)
	}
	e.dash, err = dashboard.New(e.deps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fakeActivity is an in-memory ports.ActivityStore.
type fakeActivity struct {
	mu   sync.Mutex
	rows []ports.ActivityCount
	err  error
}

func (f *fakeActivity) AddActivity(_ context.Context, counts []ports.ActivityCount) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, counts...)
	return nil
}

func (f *fakeActivity) Activity(_ context.Context, q ports.ActivityQuery) ([]ports.ActivityCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []ports.ActivityCount
	for _, r := range f.rows {
		if r.Minute.Before(q.From) || !r.Minute.Before(q.To) {
			continue
		}
		if (len(q.EndpointIDs) == 0 && r.EndpointID == "") || slices.Contains(q.EndpointIDs, r.EndpointID) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeActivity) PurgeActivity(context.Context, time.Time) (int, error) { return 0, nil }

// browser sends requests to a handler and keeps its cookies, as a browser
// would (the Host is example.com).
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]string
	last    *http.Response
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]string{}}
}

// do sends one request; headers come in name, value pairs.
func (b *browser) do(method, target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for name, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	b.last = rec.Result()
	for _, c := range b.last.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return rec
}

func (b *browser) get(target string, headers ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	return b.do(http.MethodGet, target, nil, headers...)
}

// post sends a form with the CSRF token of the browser's cookie (read
// from a page, as a browser's form would carry it).
func (b *browser) post(target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf())
	}
	return b.do(http.MethodPost, target, form, headers...)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the token a page's forms carry, rendering one if needed
// (a closed dashboard shows only its login page before a login).
func (b *browser) csrf() string {
	b.t.Helper()
	for _, page := range []string{"/dashboard/events", "/dashboard/login"} {
		rec := b.get(page)
		if m := csrfField.FindStringSubmatch(rec.Body.String()); m != nil {
			return html.UnescapeString(m[1])
		}
	}
	b.t.Fatal("no page with a csrf field")
	return ""
}

// wantRedirect checks a 303 and returns where it points.
func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, prefix string) string {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; body %.300s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Location = %q, want %s…", loc, prefix)
	}
	return loc
}

// --- a small HTML query kit over x/net/html ---------------------------

type doc struct {
	t    *testing.T
	root *html.Node
	raw  string
}

func parse(t *testing.T, rec *httptest.ResponseRecorder) *doc {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type = %q, want text/html", ct)
	}
	root, err := html.Parse(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &doc{t: t, root: root, raw: rec.Body.String()}
}

// match is a tiny selector: tag (or "") and conditions.
type match func(*html.Node) bool

func tag(name string, conds ...match) match {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode || (name != "" && n.Data != name) {
			return false
		}
		for _, c := range conds {
			if !c(n) {
				return false
			}
		}
		return true
	}
}

func id(v string) match { return attrIs("id", v) }

func class(v string) match {
	return func(n *html.Node) bool { return slices.Contains(strings.Fields(attr(n, "class")), v) }
}

func attrIs(k, v string) match {
	return func(n *html.Node) bool {
		for _, a := range n.Attr {
			if a.Key == k && a.Val == v {
				return true
			}
		}
		return false
	}
}

func hasAttr(k string) match {
	return func(n *html.Node) bool {
		for _, a := range n.Attr {
			if a.Key == k {
				return true
			}
		}
		return false
	}
}

func attr(n *html.Node, k string) string {
	for _, a := range n.Attr {
		if a.Key == k {
			return a.Val
		}
	}
	return ""
}

func findAll(n *html.Node, m match) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if m(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// all finds the matches of a path of selectors (descendants).
func (d *doc) all(path ...match) []*html.Node {
	nodes := []*html.Node{d.root}
	for _, m := range path {
		var next []*html.Node
		for _, n := range nodes {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				next = append(next, findAll(c, m)...)
			}
		}
		nodes = next
	}
	return nodes
}

// one is the only match of path; it fails the test otherwise.
func (d *doc) one(path ...match) *html.Node {
	d.t.Helper()
	ns := d.all(path...)
	if len(ns) != 1 {
		d.t.Fatalf("%d matches, want 1, in:\n%.2000s", len(ns), d.raw)
	}
	return ns[0]
}

func (d *doc) has(path ...match) bool { return len(d.all(path...)) > 0 }

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func (d *doc) page() string {
	d.t.Helper()
	return attr(d.one(tag("body")), "data-page")
}

// --- fixtures ---------------------------------------------------------

func (e *env) submit(t *testing.T, s ports.Submission) ports.SubmitResult {
	t.Helper()
	if s.Payload == nil {
		s.Payload = []byte(`{"order_id":"abc-123","amount":99.99}`)
	}
	res, err := e.svc.Submit(t.Context(), s)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func (e *env) createEndpoint(t *testing.T, types ...string) ports.EndpointWithSecret {
	t.Helper()
	ep, err := e.endpoints.Create(t.Context(), ports.EndpointSpec{URL: "https://user:pw@merchant.example/hooks?key=k", EventTypes: types})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	return ep
}

// attempt claims the oldest due delivery and records d with rec.
func (e *env) attempt(t *testing.T, d core.Decision, rec core.Attempt) core.Delivery {
	t.Helper()
	claimed, err := e.store.Claim(t.Context(), ports.ClaimParams{Worker: "w1", Limit: 1, Lease: 30 * time.Second, MaxAttempts: 10})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v (%d deliveries)", err, len(claimed))
	}
	c := claimed[0]
	rec.DeliveryID, rec.Number = c.ID, c.AttemptedCount
	err = e.store.Complete(t.Context(), ports.CompleteParams{Worker: "w1",
		Claim: ports.Claim{ID: c.ID, Attempt: c.AttemptedCount, Seq: c.ClaimSeq}, Decision: d, Record: rec})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	return c
}

var dead = core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead,
	Reason: "410 Gone: the receiver refuses this event", StatusCode: http.StatusGone, Error: "status 410"}

func goneAttempt() core.Attempt {
	return core.Attempt{StartedAt: start, Duration: 150 * time.Millisecond, StatusCode: http.StatusGone,
		Error: "status 410", Response: "gone for good", Verdict: core.VerdictDead, Reason: dead.Reason}
}

func (e *env) deliveryStatus(t *testing.T, id core.DeliveryID) core.Status {
	t.Helper()
	d, err := e.store.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d.Status
}
