package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Cookies. All are HttpOnly, SameSite=Strict and scoped to the dashboard's
// path; Secure when the request came over TLS (directly or, by
// X-Forwarded-Proto, through a proxy).
const (
	sessionCookie = "webhookd_session"
	csrfCookie    = "webhookd_csrf"
	flashCookie   = "webhookd_flash"
)

// Each MAC the session key makes starts with its own label, so that no
// value signed for one purpose can pass for another: a session payload
// starts "v1|", a token fingerprint "token:", a CSRF token "csrf:", a
// flash "flash:".
const (
	sessionVersion  = "v1"
	fingerprintSize = 16
	csrfBytes       = 32
	maxCookieLen    = 1024
	maxFormBytes    = 64 << 10
)

var b64 = base64.RawURLEncoding

func (d *Dashboard) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, d.cfg.SessionKey)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// fingerprint names a token inside a session without revealing it: a
// session whose token is no longer in API_TOKENS is refused.
func (d *Dashboard) fingerprint(token string) (out [fingerprintSize]byte) {
	copy(out[:], d.mac("token:", token))
	return out
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

func (d *Dashboard) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	d.setCookie(w, r, name, "", -1)
}

// --- sessions ---------------------------------------------------------

// newSession is the value of a session cookie for the token whose
// fingerprint is fp: base64url(payload) "." base64url(HMAC(payload)),
// payload "v1|<expiry, Unix seconds>|<fingerprint, hex>".
func (d *Dashboard) newSession(fp [fingerprintSize]byte) string {
	payload := sessionVersion + "|" + strconv.FormatInt(d.now().Add(d.cfg.SessionTTL).Unix(), 10) + "|" + hex.EncodeToString(fp[:])
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(d.mac(payload))
}

// validSession reports whether r carries a session cookie that this key
// signed, that has not expired, and whose token is still configured.
func (d *Dashboard) validSession(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > maxCookieLen {
		return false
	}
	p, m, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	payload, err1 := b64.DecodeString(p)
	sig, err2 := b64.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, d.mac(string(payload))) {
		return false
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 3 || parts[0] != sessionVersion {
		return false
	}
	expiry, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || d.now().Unix() >= expiry {
		return false
	}
	fp, err := hex.DecodeString(parts[2])
	if err != nil || len(fp) != fingerprintSize {
		return false
	}
	match := 0
	for _, f := range d.fingerprints { // no early exit
		match |= subtle.ConstantTimeCompare(fp, f[:])
	}
	return match == 1
}

// matchToken returns the fingerprint of the configured token equal to
// given, comparing SHA-256 digests in constant time against every token,
// so that neither a token's content nor its length leaks through timing.
func (d *Dashboard) matchToken(given string) ([fingerprintSize]byte, bool) {
	var fp [fingerprintSize]byte
	if given == "" {
		return fp, false
	}
	got := sha256.Sum256([]byte(given))
	found := 0
	for i, want := range d.login {
		eq := subtle.ConstantTimeCompare(got[:], want[:])
		subtle.ConstantTimeCopy(eq, fp[:], d.fingerprints[i][:])
		found |= eq
	}
	return fp, found == 1
}

type ctxKey struct{}

func loggedIn(r *http.Request) bool {
	v, _ := r.Context().Value(ctxKey{}).(bool)
	return v
}

func withLogin(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, true))
}

// --- CSRF -------------------------------------------------------------

// csrfCookieValue is the request's CSRF cookie, if it is well formed.
func csrfCookieValue(r *http.Request) (string, bool) {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return "", false
	}
	raw, err := b64.DecodeString(c.Value)
	if err != nil || len(raw) != csrfBytes {
		return "", false
	}
	return c.Value, true
}

// ensureCSRF returns the token for the forms of the page being rendered:
// HMAC(key, "csrf:" + cookie), setting a new random cookie when the
// request has none.
func (d *Dashboard) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	v, ok := csrfCookieValue(r)
	if !ok {
		raw := make([]byte, csrfBytes)
		_, _ = rand.Read(raw) // never fails (crypto/rand panics instead)
		v = b64.EncodeToString(raw)
		d.setCookie(w, r, csrfCookie, v, 0)
		// A second render in this request (none today) must agree.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	return d.csrfToken(v)
}

func (d *Dashboard) csrfToken(cookie string) string {
	return b64.EncodeToString(d.mac("csrf:", cookie))
}

// checkCSRF verifies a parsed POST: its csrf field must be the token of
// its CSRF cookie.
func (d *Dashboard) checkCSRF(r *http.Request) bool {
	cookie, ok := csrfCookieValue(r)
	if !ok {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(d.csrfToken(cookie)))
}

// sameOrigin refuses what a browser says came from another site: a
// Sec-Fetch-Site of cross-site, or an Origin that is not this host (the
// Host the request was sent to, or the X-Forwarded-Host a proxy set; a
// browser lets no page set either header on a cross-site request).
func sameOrigin(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" among others
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	fwd := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0])
	return fwd != "" && strings.EqualFold(u.Host, fwd)
}

// --- guards -----------------------------------------------------------

// reader guards a page: without a valid session (when tokens are
// configured) it redirects to the login form, which comes back here.
func (d *Dashboard) reader(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.open {
			h(w, r)
			return
		}
		if !d.validSession(r) {
			http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, withLogin(r))
	})
}

// writer guards an action (a POST): the request must come from this site,
// with a valid session (when tokens are configured), and carry the CSRF
// token of its cookie. Anything else is a 403 and changes nothing.
func (d *Dashboard) writer(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			d.fail(w, r, "error", http.StatusForbidden, "CSRF check failed: the form was sent from another site.")
			return
		}
		if !d.open {
			if !d.validSession(r) {
				d.fail(w, r, "error", http.StatusForbidden, "Log in first: your session has ended.")
				return
			}
			r = withLogin(r)
		}
		if !d.parseForm(w, r) {
			return
		}
		if !d.checkCSRF(r) {
			d.fail(w, r, "error", http.StatusForbidden, "CSRF check failed: reload the page and try again.")
			return
		}
		h(w, r)
	})
}

// parseForm reads a POST body of at most maxFormBytes.
func (d *Dashboard) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, "error", http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// --- login ------------------------------------------------------------

type loginData struct {
	Next   string
	Failed bool // the token given was wrong
	// CrossSite: the browser came from another site, so it withheld a
	// session cookie it may hold (SameSite=Strict); a same-site link to
	// Next lets it send it.
	CrossSite bool
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeReturn(r.URL.Query().Get("next"), Prefix)
	if d.open || d.validSession(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.render(w, r, page{Name: "login", Title: "Log in", Data: loginData{Next: next,
		CrossSite: strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site")}})
}

func (d *Dashboard) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if d.open {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if !sameOrigin(r) {
		d.fail(w, r, "login", http.StatusForbidden, "CSRF check failed: the form was sent from another site.")
		return
	}
	if !d.parseForm(w, r) {
		return
	}
	next := safeReturn(r.PostFormValue("next"), Prefix)
	if !d.checkCSRF(r) {
		d.render(w, r, page{Name: "login", Title: "Log in", Status: http.StatusForbidden,
			Error: "CSRF check failed: reload the page and try again.", Data: loginData{Next: next}})
		return
	}
	fp, ok := d.matchToken(r.PostFormValue("token"))
	if !ok {
		d.deps.Logger.WarnContext(r.Context(), "dashboard: failed login", "remote", r.RemoteAddr)
		d.render(w, r, page{Name: "login", Title: "Log in", Status: http.StatusUnauthorized,
			Data: loginData{Next: next, Failed: true}})
		return
	}
	d.setCookie(w, r, sessionCookie, d.newSession(fp), int(d.cfg.SessionTTL/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session. It needs the CSRF token (a stranger's page
// must not log you out) but no valid session: ending an expired one is
// harmless.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		d.fail(w, r, "error", http.StatusForbidden, "CSRF check failed: the form was sent from another site.")
		return
	}
	if !d.parseForm(w, r) {
		return
	}
	if !d.checkCSRF(r) {
		d.fail(w, r, "error", http.StatusForbidden, "CSRF check failed: reload the page and try again.")
		return
	}
	d.clearCookie(w, r, sessionCookie)
	to := Prefix + "/login"
	if d.open {
		to = Prefix
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// safeReturn is raw if it is a path of the dashboard (with its query),
// else fallback: never another host, scheme or path, so neither a login's
// next nor a form's return can send the browser elsewhere.
func safeReturn(raw, fallback string) string {
	if raw == "" || len(raw) > 2048 || strings.ContainsAny(raw, "\\\r\n\t") || strings.HasPrefix(raw, "//") {
		return fallback
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	if u.Path != path.Clean(u.Path) || (u.Path != Prefix && !strings.HasPrefix(u.Path, Prefix+"/")) {
		return fallback
	}
	out := (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, Prefix) {
		return fallback
	}
	return out
}

// --- flash ------------------------------------------------------------

// flash is a message for the page after an action's redirect, carried in
// a signed, short-lived cookie (never in the URL, where anyone could
// write one into a link).
type flash struct {
	Error    bool   `json:"e,omitempty"`
	Message  string `json:"m"`
	Link     string `json:"l,omitempty"` // a dashboard path
	LinkText string `json:"t,omitempty"`
}

const maxFlashMessage = 600

func (d *Dashboard) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	if len(f.Message) > maxFlashMessage {
		f.Message = strings.ToValidUTF8(f.Message[:maxFlashMessage], "") + "…"
	}
	if f.Link != "" {
		f.Link = safeReturn(f.Link, "")
	}
	raw, _ := json.Marshal(f)
	d.setCookie(w, r, flashCookie, b64.EncodeToString(raw)+"."+b64.EncodeToString(d.mac("flash:", string(raw))), 60)
}

// takeFlash returns the request's flash, if it is ours, and clears it.
func (d *Dashboard) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	d.clearCookie(w, r, flashCookie)
	p, m, ok := strings.Cut(c.Value, ".")
	if !ok || len(c.Value) > 4*maxCookieLen {
		return nil
	}
	raw, err1 := b64.DecodeString(p)
	sig, err2 := b64.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, d.mac("flash:", string(raw))) {
		return nil
	}
	var f flash
	if json.Unmarshal(raw, &f) != nil || f.Message == "" {
		return nil
	}
	f.Link = safeReturn(f.Link, "")
	return &f
}

// done ends an action: the flash, then 303 to the page to show.
func (d *Dashboard) done(w http.ResponseWriter, r *http.Request, to string, f flash) {
	d.setFlash(w, r, f)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
