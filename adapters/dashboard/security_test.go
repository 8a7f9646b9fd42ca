package dashboard_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/dashboard"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

const (
	tokenOne = "t0ken-one-0123456789"
	tokenTwo = "t0ken-two-0123456789"
)

func sessionCookieOf(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == "webhookd_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", res.Header["Set-Cookie"])
	return nil
}

// login logs b in with token and returns the answer.
func login(t *testing.T, b *browser, token, next string, headers ...string) *http.Response {
	t.Helper()
	form := url.Values{"token": {token}}
	if next != "" {
		form.Set("next", next)
	}
	b.post("/dashboard/login", form, headers...)
	return b.last
}

func TestLoginRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens(tokenOne, tokenTwo))
	b := newBrowser(t, e.dash)

	for path, next := range map[string]string{
		"/dashboard":                      "/dashboard",
		"/dashboard/events?status=dead":   "/dashboard/events?status=dead",
		"/dashboard/endpoints":            "/dashboard/endpoints",
		"/dashboard/events/whatever/else": "/dashboard/events/whatever/else",
	} {
		loc := wantRedirect(t, b.get(path), "/dashboard/login?next=")
		u, _ := url.Parse(loc)
		if got := u.Query().Get("next"); got != next {
			t.Errorf("GET %s: next = %q, want %q", path, got, next)
		}
	}
	// An action without a session is refused outright.
	rec := b.post("/dashboard/recover", url.Values{"endpoint_id": {"0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"}})
	if rec.Code != http.StatusForbidden {
		t.Errorf("POST without a session: %d, want 403", rec.Code)
	}

	// The login page.
	rec = b.get("/dashboard/login?next=%2Fdashboard%2Fendpoints")
	if rec.Code != http.StatusOK {
		t.Fatalf("login page: %d", rec.Code)
	}
	d := parse(t, rec)
	checkPage(t, d, rec.Header(), "login", false)
	d.one(tag("form", id("login")), tag("input", attrIs("name", "token"), attrIs("type", "password")))
	if got := attr(d.one(tag("input", attrIs("name", "next"))), "value"); got != "/dashboard/endpoints" {
		t.Errorf("next = %q", got)
	}
	if d.has(tag("form", id("logout"))) {
		t.Error("a logout form before the login")
	}

	// Arriving from another site, the browser withheld a session it may
	// have (SameSite=Strict): a same-site link lets it send it.
	d = parse(t, b.get("/dashboard/login?next=%2Fdashboard%2Fevents", "Sec-Fetch-Site", "cross-site"))
	if got := attr(d.one(tag("a", id("continue"))), "href"); got != "/dashboard/events" {
		t.Errorf("continue link %q", got)
	}

	// A wrong token: 401, no detail, no session.
	res := login(t, b, "wrong", "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", res.StatusCode)
	}
	if _, ok := b.cookies["webhookd_session"]; ok {
		t.Fatal("a wrong token got a session")
	}
	rec = b.post("/dashboard/login", url.Values{"token": {"wrong"}})
	d = parse(t, rec)
	if got := text(d.one(tag("div", id("login-error")))); got != "That token is not valid." {
		t.Errorf("login error = %q", got)
	}
	if strings.Contains(rec.Body.String(), "wrong") {
		t.Error("the page repeats the token given")
	}

	// Without the CSRF token, even the right token is refused.
	rec = b.do(http.MethodPost, "/dashboard/login", url.Values{"token": {tokenOne}})
	if rec.Code != http.StatusForbidden || b.cookies["webhookd_session"] != "" {
		t.Fatalf("login without csrf: %d", rec.Code)
	}
	if got := text(parse(t, rec).one(tag("div", id("error")))); !strings.Contains(got, "CSRF check failed") {
		t.Errorf("error = %q", got)
	}

	// The right token.
	res = login(t, b, tokenTwo, "/dashboard/events?status=dead")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/events?status=dead" {
		t.Fatalf("login: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	c := sessionCookieOf(t, res)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/dashboard" || c.Secure ||
		c.MaxAge != int((12*time.Hour)/time.Second) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/dashboard, not Secure over http, Max-Age 12h", c)
	}
	rec = b.get("/dashboard")
	if rec.Code != http.StatusOK {
		t.Fatalf("after login: %d", rec.Code)
	}
	d = parse(t, rec)
	checkPage(t, d, rec.Header(), "overview", false)
	d.one(tag("form", id("logout"), attrIs("method", "post")))
	for _, p := range []string{"/dashboard", "/dashboard/events", "/dashboard/endpoints", "/dashboard/login"} {
		body := b.get(p).Body.String()
		if strings.Contains(body, tokenOne) || strings.Contains(body, tokenTwo) || strings.Contains(body, c.Value) {
			t.Errorf("%s shows a token or the session", p)
		}
	}
	// Logged in, the login page sends the browser on.
	wantRedirect(t, b.get("/dashboard/login?next=%2Fdashboard%2Fendpoints"), "/dashboard/endpoints")

	// Logout ends it.
	rec = b.post("/dashboard/logout", nil)
	wantRedirect(t, rec, "/dashboard/login")
	if c := sessionCookieOf(t, b.last); c.MaxAge >= 0 {
		t.Errorf("logout left the cookie: %+v", c)
	}
	wantRedirect(t, b.get("/dashboard"), "/dashboard/login")
}

func TestSessionCookieOverTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens(tokenOne))
	b := newBrowser(t, e.dash)
	res := login(t, b, tokenOne, "", "X-Forwarded-Proto", "https")
	if c := sessionCookieOf(t, res); !c.Secure {
		t.Errorf("session cookie behind TLS is not Secure: %+v", c)
	}
}

func TestLoginNextStaysOnTheDashboard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens(tokenOne))
	for _, next := range []string{"https://evil.example/dashboard", "//evil.example/dashboard", "/dashboardevil",
		"/events", "/dashboard/../events", `/dashboard\..\x`, "javascript:alert(1)", "/\\evil.example"} {
		b := newBrowser(t, e.dash)
		res := login(t, b, tokenOne, next)
		if got := res.Header.Get("Location"); got != "/dashboard" {
			t.Errorf("next %q: redirected to %q, want /dashboard", next, got)
		}
	}
}

// forge signs a session payload with key, as the dashboard would.
func forge(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func fingerprint(key []byte, token string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("token:" + token))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func TestSessionsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens(tokenOne, tokenTwo))
	b := newBrowser(t, e.dash)
	login(t, b, tokenOne, "")
	good := b.cookies["webhookd_session"]
	if good == "" {
		t.Fatal("no session")
	}
	exp := strconv.FormatInt(e.clock.Now().Add(time.Hour).Unix(), 10)
	payload, sig, _ := strings.Cut(good, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	tampered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "v1|", "v1|9", 1))) + "." + sig
	otherKey := []byte(strings.Repeat("k", 32))

	for name, value := range map[string]string{
		"garbage":            "garbage",
		"empty":              "",
		"tampered payload":   tampered,
		"signature dropped":  payload + ".",
		"signed by another":  forge(otherKey, "v1|"+exp+"|"+fingerprint(otherKey, tokenOne)),
		"unknown token":      forge(sessionKey, "v1|"+exp+"|"+fingerprint(sessionKey, "not-a-token")),
		"other version":      forge(sessionKey, "v2|"+exp+"|"+fingerprint(sessionKey, tokenOne)),
		"expired, well made": forge(sessionKey, "v1|"+strconv.FormatInt(e.clock.Now().Unix(), 10)+"|"+fingerprint(sessionKey, tokenOne)),
		"a CSRF token":       strings.Repeat("A", 43),
	} {
		t.Run(name, func(t *testing.T) {
			other := newBrowser(t, e.dash)
			other.cookies["webhookd_session"] = value
			wantRedirect(t, other.get("/dashboard/events"), "/dashboard/login")
		})
	}
	// The forging helper is right: the same recipe with the real key
	// passes.
	ok := newBrowser(t, e.dash)
	ok.cookies["webhookd_session"] = forge(sessionKey, "v1|"+exp+"|"+fingerprint(sessionKey, tokenOne))
	if rec := ok.get("/dashboard/events"); rec.Code != http.StatusOK {
		t.Fatalf("a well-made session was refused: %d", rec.Code)
	}

	// Expiry: 12 hours.
	if rec := b.get("/dashboard"); rec.Code != http.StatusOK {
		t.Fatalf("fresh session: %d", rec.Code)
	}
	e.clock.Advance(12*time.Hour - time.Second)
	if rec := b.get("/dashboard"); rec.Code != http.StatusOK {
		t.Fatalf("session before its expiry: %d", rec.Code)
	}
	e.clock.Advance(time.Second)
	wantRedirect(t, b.get("/dashboard"), "/dashboard/login")
}

func TestRemovedTokenEndsItsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens(tokenOne, tokenTwo))
	one, two := newBrowser(t, e.dash), newBrowser(t, e.dash)
	login(t, one, tokenOne, "")
	login(t, two, tokenTwo, "")

	// The dispatcher restarts with API_TOKENS=tokenTwo, same key.
	after, err := dashboard.New(e.deps, dashboard.Config{Tokens: []string{tokenTwo}, SessionKey: sessionKey})
	if err != nil {
		t.Fatal(err)
	}
	one.h, two.h = after, after
	wantRedirect(t, one.get("/dashboard"), "/dashboard/login")
	if rec := two.get("/dashboard"); rec.Code != http.StatusOK {
		t.Errorf("the kept token's session: %d", rec.Code)
	}
	// A new session key ends every session.
	rekeyed, err := dashboard.New(e.deps, dashboard.Config{Tokens: []string{tokenTwo}, SessionKey: []byte(strings.Repeat("n", 32))})
	if err != nil {
		t.Fatal(err)
	}
	two.h = rekeyed
	wantRedirect(t, two.get("/dashboard"), "/dashboard/login")
}

func TestEmptyTokensKeepTheDashboardClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens("", ""))
	b := newBrowser(t, e.dash)
	wantRedirect(t, b.get("/dashboard"), "/dashboard/login")
	if res := login(t, b, "", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("empty token: %d, want 401", res.StatusCode)
	}
}

// deadDelivery makes a target_url event whose one delivery is dead.
func deadDelivery(t *testing.T, e *env) (core.EventID, core.DeliveryID) {
	t.Helper()
	res := e.submit(t, ports.Submission{})
	e.attempt(t, dead, goneAttempt())
	return res.Event.ID, res.Deliveries[0].ID
}

func TestReplayNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev, did := deadDelivery(t, e)
	path := "/dashboard/events/" + string(ev) + "/deliveries/" + string(did) + "/replay"
	b := newBrowser(t, e.dash)
	token := b.csrf()
	stranger := newBrowser(t, e.dash)
	strangerToken := stranger.csrf()

	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
		cookies map[string]string
	}{
		{name: "no token", form: url.Values{}},
		{name: "wrong token", form: url.Values{"csrf": {"AAAA"}}},
		{name: "empty token", form: url.Values{"csrf": {""}}},
		{name: "another browser's token", form: url.Values{"csrf": {strangerToken}}},
		{name: "no cookie", form: url.Values{"csrf": {token}}, cookies: map[string]string{}},
		{name: "cross-site", form: url.Values{"csrf": {token}}, headers: []string{"Sec-Fetch-Site", "cross-site"}},
		{name: "foreign origin", form: url.Values{"csrf": {token}}, headers: []string{"Origin", "https://evil.example"}},
		{name: "null origin", form: url.Values{"csrf": {token}}, headers: []string{"Origin", "null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &browser{t: t, h: e.dash, cookies: map[string]string{}}
			for k, v := range b.cookies {
				c.cookies[k] = v
			}
			if tc.cookies != nil {
				c.cookies = tc.cookies
			}
			rec := c.do(http.MethodPost, path, tc.form, tc.headers...)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", rec.Code)
			}
			if got := text(parse(t, rec).one(tag("div", id("error")))); !strings.Contains(got, "CSRF check failed") {
				t.Errorf("error = %q", got)
			}
			if st := e.deliveryStatus(t, did); st != core.StatusDead {
				t.Errorf("the delivery is %s: a refused POST changed it", st)
			}
		})
	}
	// A GET never changes anything.
	if rec := b.get(path); rec.Code == http.StatusSeeOther || e.deliveryStatus(t, did) != core.StatusDead {
		t.Errorf("GET replay: %d", rec.Code)
	}

	// The right token, from this site.
	rec := b.post(path, url.Values{}, "Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
	wantRedirect(t, rec, "/dashboard/events/"+string(ev))
	if st := e.deliveryStatus(t, did); st != core.StatusPending {
		t.Errorf("after the replay the delivery is %s, want pending", st)
	}
	d := parse(t, b.get("/dashboard/events/"+string(ev)))
	if got := text(d.one(tag("div", id("flash")))); got != "delivery queued again" {
		t.Errorf("flash = %q", got)
	}
	if d.has(tag("form", class("replay"))) {
		t.Error("a pending delivery offers a replay")
	}
	if parse(t, b.get("/dashboard/events/"+string(ev))).has(tag("div", id("flash"))) {
		t.Error("the flash is shown twice")
	}

	// Replaying a pending delivery is a conflict, shown as a flash error.
	rec = b.post(path, nil)
	wantRedirect(t, rec, "/dashboard/events/"+string(ev))
	d = parse(t, b.get("/dashboard/events/"+string(ev)))
	if got := text(d.one(tag("div", id("flash")), tag("div", id("error")))); !strings.Contains(got, "only succeeded or dead") {
		t.Errorf("flash error = %q", got)
	}
	// An unknown delivery is a 404.
	rec = b.post("/dashboard/events/"+string(ev)+"/deliveries/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70/replay", nil)
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown delivery: %d", rec.Code)
	}
}

func TestCSRFCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.dash)
	b.get("/dashboard/events")
	var c *http.Cookie
	for _, k := range b.last.Cookies() {
		if k.Name == "webhookd_csrf" {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/dashboard" || len(c.Value) < 40 {
		t.Fatalf("csrf cookie %+v", c)
	}
	// It is kept while it is there.
	b.get("/dashboard/events")
	for _, k := range b.last.Cookies() {
		if k.Name == "webhookd_csrf" {
			t.Errorf("the csrf cookie was replaced: %+v", k)
		}
	}
	// The token in the forms is not the cookie.
	if strings.Contains(b.get("/dashboard/events").Body.String(), c.Value) {
		t.Error("the page shows the csrf cookie itself")
	}
}
