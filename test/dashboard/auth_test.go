package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// login signs b in to s's dashboard with s.token through the login form.
func login(b *browser, s *stack) {
	b.t.Helper()
	b.open(s.url(""), http.StatusOK, "login")
	b.fill("form#login input[name=token]", s.token)
	b.submit(submitButton("form#login"), http.StatusOK, "overview")
}

// TestLoginAndCSRF: with API_TOKENS set the dashboard is behind a login
// form (a wrong token is a 401 with #login-error, the right one reaches
// the overview with a strict, HttpOnly session cookie), every POST form
// carries a csrf field, and a POST without a valid one changes nothing:
// neither a stranger's page auto-submitting a form at the logged-in
// browser (another origin on the same host, so SameSite lets the session
// cookie through and only the CSRF defence stands in the way), nor a
// direct request holding the session cookie.
func TestLoginAndCSRF(t *testing.T) {
	t.Parallel()
	s := startStack(t, harness.NewDBOf(t, harness.KindSQLite), stackConfig{token: newToken(), env: map[string]string{"MAX_ATTEMPTS": "1"}})
	b := newBrowser(t)
	merchant := harness.StartMerchant(t)
	ep := s.createEndpoint(t, map[string]any{"url": merchant.URL + "/hook", "event_types": []string{"order.paid"}})
	s.rcv.Control(t, map[string]any{"mode": "status", "status": 500})
	dead := s.postEvent(t, map[string]any{"order": "csrf"}, nil)
	s.waitStatus(t, 20*time.Second, "dead", dead)
	s.rcv.Control(t, map[string]any{"mode": "ok"})

	// Signed out: every page leads to the login form.
	for _, path := range []string{"", "/events", "/events/" + dead, "/endpoints", "/endpoints/" + ep.ID} {
		resp, err := noRedirect.Get(s.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.Contains(loc, "/dashboard/login") {
			t.Errorf("GET %s signed out: %d Location %q, want a redirect to the login form", s.url(path), resp.StatusCode, loc)
		}
	}
	b.open(s.url(""), http.StatusOK, "login")
	b.require("login", "form#login", "form#login input[name=token]", "form#login input[type=hidden][name=csrf]")
	for _, sel := range []string{"form#logout", "div#open-banner", "#login-error"} {
		if b.has(sel) {
			t.Errorf("login page: %s present", sel)
		}
	}
	checkHeaders(t, s.url("/login"), nil)

	// A wrong token.
	b.fill("form#login input[name=token]", "wrong-"+s.token)
	b.submit(submitButton("form#login"), http.StatusUnauthorized, "login")
	b.require("failed login", "div#login-error")
	for _, c := range b.cookies(s.url("")) {
		if c.Name == "webhookd_session" {
			t.Errorf("a wrong token got a session cookie")
		}
	}

	// The right one, from a deep link: back where the visitor was going.
	b.open(s.url("/events/"+dead), http.StatusOK, "login")
	b.fill("form#login input[name=token]", s.token)
	b.submit(submitButton("form#login"), http.StatusOK, "event")
	b.require("after login", "form#logout", "section.delivery form.replay")
	if b.has("div#open-banner") {
		t.Error("div#open-banner shown with API_TOKENS set")
	}
	var session, csrfCookie *network.Cookie
	for _, c := range b.cookies(s.url("")) {
		switch c.Name {
		case "webhookd_session":
			session = c
		case "webhookd_csrf":
			csrfCookie = c
		}
	}
	if session == nil || csrfCookie == nil {
		t.Fatalf("after login: session cookie %v, csrf cookie %v", session, csrfCookie)
	}
	if !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Errorf("webhookd_session: HttpOnly %v SameSite %q, want HttpOnly and Strict", session.HTTPOnly, session.SameSite)
	}
	if strings.Contains(session.Value, s.token) {
		t.Error("webhookd_session holds the API token itself")
	}
	t.Logf("cookies: webhookd_session path %s HttpOnly %v SameSite %s; webhookd_csrf path %s HttpOnly %v SameSite %s",
		session.Path, session.HTTPOnly, session.SameSite, csrfCookie.Path, csrfCookie.HTTPOnly, csrfCookie.SameSite)

	// Every POST form of every page carries the csrf field.
	for _, p := range []struct{ path, page string }{
		{"", "overview"}, {"/events", "events"}, {"/events/" + dead, "event"}, {"/endpoints", "endpoints"}, {"/endpoints/" + ep.ID, "endpoint"},
	} {
		b.open(s.url(p.path), http.StatusOK, p.page)
		if bad := b.postFormsWithoutCSRF(); len(bad) > 0 {
			t.Errorf("%s: POST forms without a hidden csrf field: %v", p.page, bad)
		}
	}
	cookies := []*http.Cookie{{Name: session.Name, Value: session.Value}, {Name: csrfCookie.Name, Value: csrfCookie.Value}}
	checkHeaders(t, s.url(""), cookies)

	// The actions the attacks aim at, as the dashboard's own forms name them.
	b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
	disableURL := b.formAction("form#disable-endpoint")
	disableCSRF := b.attr("form#disable-endpoint input[name=csrf]", "value")
	b.open(s.url("/events/"+dead), http.StatusOK, "event")
	replayURL := b.formAction("section.delivery form.replay")
	replayFields := b.formFields("section.delivery form.replay")
	t.Logf("disable: POST %s; replay: POST %s %v", disableURL, replayURL, replayFields)

	unchanged := func(after string) {
		t.Helper()
		if s.endpoint(t, ep.ID).Disabled {
			t.Fatalf("%s: the endpoint was disabled", after)
		}
		if ev := s.event(t, dead); ev.Status != "dead" || ev.Deliveries[0].AttemptedCount != 1 {
			t.Fatalf("%s: the dead event is %s after %d attempts, want still dead after 1", after, ev.Status, ev.Deliveries[0].AttemptedCount)
		}
	}

	// A stranger's page posts the dashboard's forms without the csrf field
	// (for the replay, with every other field of the real form),
	// submitting itself as soon as it loads: from another port of this
	// host (another origin of the same site, so SameSite=Strict lets the
	// session cookie through and only the CSRF defence stands in the way),
	// and from another site (localhost: the browser withholds the cookie).
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, fields := disableURL, map[string]string{}
		if r.URL.Path == "/replay" {
			target, fields = replayURL, replayFields
		}
		var inputs strings.Builder
		for k, v := range fields {
			if k != "csrf" {
				fmt.Fprintf(&inputs, `<input type="hidden" name=%q value=%q>`, k, v)
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><h1>You won a prize</h1>
<form id="f" method="post" action=%q>%s<button>claim</button></form>
<script>document.getElementById("f").submit()</script></body></html>`, target, inputs.String())
	}))
	t.Cleanup(attacker.Close)
	for _, origin := range []string{attacker.URL, strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1)} {
		for _, path := range []string{"/disable", "/replay"} {
			what := "the stranger's " + path + " form from " + origin
			resp := b.followAttack(origin+path, s.d.Base)
			if resp.Status != http.StatusForbidden {
				t.Errorf("%s: the dispatcher answered %d %s, want 403", what, resp.Status, resp.URL)
			}
			b.require(what, "div#error")
			t.Logf("%s: %d, div#error %q", what, resp.Status, b.textIf("div#error"))
			b.check(what, failedLoad(http.StatusForbidden))
			unchanged(what)
		}
	}

	// Direct requests with the session cookie: no csrf field, the raw
	// cookie value as the field, no session at all.
	post := func(target string, cookies []*http.Cookie, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", target, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		name    string
		cookies []*http.Cookie
		form    url.Values
	}{
		{"session, no csrf field", cookies, url.Values{}},
		{"session, the csrf cookie's raw value as the field", cookies, url.Values{"csrf": {csrfCookie.Value}}},
		{"session, an empty csrf field", cookies, url.Values{"csrf": {""}}},
		{"no session, a valid csrf", cookies[1:], url.Values{"csrf": {disableCSRF}}},
	} {
		code, body := post(disableURL, tc.cookies, tc.form)
		if code != http.StatusForbidden || !strings.Contains(body, `id="error"`) {
			t.Errorf("direct POST %s (%s): %d, div#error in the page %v; want 403 with div#error", disableURL, tc.name, code, strings.Contains(body, `id="error"`))
		}
		unchanged("direct POST (" + tc.name + ")")
	}
	// The same request with the page's csrf value works: the refusals above
	// were the CSRF defence, not a wrong URL.
	if code, _ := post(disableURL, cookies, url.Values{"csrf": {disableCSRF}}); code != http.StatusSeeOther {
		t.Errorf("direct POST %s with the page's csrf: %d, want 303", disableURL, code)
	}
	testkit.Eventually(t, 5*time.Second, "the endpoint disabled by the valid POST", func() bool { return s.endpoint(t, ep.ID).Disabled })

	// Log out: the login form again, and the pages are closed.
	b.open(s.url(""), http.StatusOK, "overview")
	b.submit(submitButton("form#logout"), http.StatusOK, "login")
	b.open(s.url("/endpoints"), http.StatusOK, "login")
	for _, c := range b.cookies(s.url("")) {
		if c.Name == "webhookd_session" {
			t.Error("the session cookie survived the logout")
		}
	}
	// Sessions are signed, not stored: a copy of the cookie taken before
	// the logout still opens the pages until it expires. Reported, not
	// failed: the contract does not ask for server-side revocation.
	req, _ := http.NewRequest(http.MethodGet, s.url(""), nil)
	req.AddCookie(cookies[0])
	if resp, err := noRedirect.Do(req); err == nil {
		resp.Body.Close()
		t.Logf("a copy of the session cookie after the logout: GET /dashboard answers %d", resp.StatusCode)
	}
}

// formAction is the absolute URL the form sel posts to.
func (b *browser) formAction(sel string) string {
	b.t.Helper()
	return run(b, "action of "+sel, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const f = document.querySelector(%q); if (!f) throw new Error("no form " + %q); return f.action; })()`, sel, sel)))
}

// formFields are the named fields of the form sel and their values.
func (b *browser) formFields(sel string) map[string]string {
	b.t.Helper()
	return run(b, "fields of "+sel, chromedp.Evaluate[map[string]string](fmt.Sprintf(
		`Object.fromEntries(new FormData(document.querySelector(%q)))`, sel)))
}

// postFormsWithoutCSRF names the page's POST forms that lack a hidden
// csrf input.
func (b *browser) postFormsWithoutCSRF() []string {
	b.t.Helper()
	return run(b, "POST forms without csrf", chromedp.Evaluate[[]string](
		`Array.from(document.forms).filter(f => f.method === "post" && !f.querySelector('input[type=hidden][name=csrf]')).map(f => f.id || f.className || f.action)`))
}

// followAttack opens the stranger's page at url, which submits a form
// at once, and returns the response of the document it leads to on the
// origin target, once that page has loaded.
func (b *browser) followAttack(url, target string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	responses := chromedp.Events(ctx, network.ResponseReceived)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	var got *network.Response
	for ev, err := range responses {
		if err != nil {
			b.t.Fatalf("waiting for the form's answer from %s: %v", target, err)
		}
		if ev.Type == network.ResourceTypeDocument && strings.HasPrefix(ev.Response.URL, target) {
			got = ev.Response
			break
		}
	}
	testkit.Eventually(b.t, stepTimeout, "the answer to the stranger's form to load", func() bool {
		loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.href : ""`))
		return strings.HasPrefix(loc, target)
	})
	return got
}
