// Package dashboard is webhookd's web dashboard, served under /dashboard
// by the same binary as the API: server-rendered HTML (html/template) with
// an inline SVG chart, a stylesheet and one small script, all embedded.
// Reading works without JavaScript; every change is a plain HTML POST
// form, protected against CSRF. It talks to ports.Events and
// ports.Endpoints, as the JSON API does, and reads the queue gauges and
// per-minute activity that the metrics already keep: a page view never
// counts a queue table.
//
// Routing is the standard library's http.ServeMux; the API router mounts
// the Dashboard (an http.Handler) at /dashboard and lets it do its own
// authentication: a login form that exchanges one of API_TOKENS for a
// signed, expiring session cookie.
package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the dashboard lives; every route is under it.
const Prefix = "/dashboard"

// MinSessionKey is the shortest Config.SessionKey New accepts.
const MinSessionKey = 32

// DefaultSessionTTL is how long a login lasts when Config.SessionTTL is 0.
const DefaultSessionTTL = 12 * time.Hour

// Config of the dashboard.
type Config struct {
	// Tokens are API_TOKENS: with any, the dashboard needs a login with
	// one of them. Empty: the dashboard is open (development), and says so
	// on every page.
	Tokens []string
	// SessionKey (at least MinSessionKey bytes) signs session cookies,
	// CSRF tokens and flash messages.
	SessionKey []byte
	// SessionTTL is how long a login lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
}

// Validate reports a configuration New cannot use.
func (c Config) Validate() error {
	if len(c.SessionKey) < MinSessionKey {
		return fmt.Errorf("dashboard: the session key has %d bytes, want at least %d", len(c.SessionKey), MinSessionKey)
	}
	if c.SessionTTL < 0 {
		return fmt.Errorf("dashboard: session TTL %s must not be negative", c.SessionTTL)
	}
	return nil
}

// QueueReading is the last reading of the queue gauges that /metrics
// shows. The dashboard never takes one itself: it shows the latest.
type QueueReading struct {
	Pending, Delivering, Succeeded, Dead int64
	// Finished says Succeeded and Dead were read; Estimated that they are
	// the database's estimates (PostgreSQL), not counts.
	Finished, Estimated bool
	OldestDue           time.Duration
	OpenTargets         int
	At                  time.Time
}

// Deps are what the dashboard shows and acts on.
type Deps struct {
	Events ports.Events
	// Endpoints manages merchants' endpoints; nil: the endpoint pages say
	// that endpoints are unavailable.
	Endpoints ports.Endpoints
	// Activity holds per-minute counts, for the cluster (EndpointID "")
	// and per endpoint; nil: no chart.
	Activity ports.ActivityStore
	// Queue returns the last queue reading, false before the first; nil:
	// never any.
	Queue func() (QueueReading, bool)
	// Targets lists the cluster's open targets (the shared health rows);
	// nil: none are shown.
	Targets func(ctx context.Context) ([]core.TargetHealth, error)
	// Breakers are this process's circuit breakers; may be nil.
	Breakers ports.TargetHealth
	// Clock decides session expiry and "the last hour"; nil: the system
	// clock.
	Clock ports.Clock
	// Logger receives errors the pages do not show; nil discards.
	Logger *slog.Logger
}

// Dashboard is the http.Handler serving /dashboard and /dashboard/….
type Dashboard struct {
	deps  Deps
	cfg   Config
	open  bool                // no tokens configured
	login [][sha256.Size]byte // digests of the tokens, for a constant-time check
	// fingerprints[i] is the session fingerprint of the token of login[i].
	fingerprints [][fingerprintSize]byte
	mux          *http.ServeMux
	pages        map[string]*template.Template
	assets       map[string]asset
}

var _ http.Handler = (*Dashboard)(nil)

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New returns the dashboard. deps.Events is required.
func New(deps Deps, cfg Config) (*Dashboard, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Events == nil {
		return nil, errors.New("dashboard: Deps.Events is required")
	}
	if deps.Clock == nil {
		deps.Clock = systemClock{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{deps: deps, cfg: cfg, open: len(cfg.Tokens) == 0}
	for _, t := range cfg.Tokens {
		// An empty entry (API_TOKENS="a,,b") never matches: with nothing
		// left, nobody can log in, and the dashboard stays closed.
		if t != "" {
			d.login = append(d.login, sha256.Sum256([]byte(t)))
			d.fingerprints = append(d.fingerprints, d.fingerprint(t))
		}
	}
	var err error
	if d.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if d.pages, err = d.parseTemplates(); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

func (d *Dashboard) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/static/{file}", d.static)
	m.HandleFunc("GET "+Prefix+"/login", d.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", d.loginSubmit)
	m.HandleFunc("POST "+Prefix+"/logout", d.logout)

	m.Handle("GET "+Prefix, d.reader(d.overview))
	m.Handle("GET "+Prefix+"/{$}", http.RedirectHandler(Prefix, http.StatusSeeOther))
	m.Handle("GET "+Prefix+"/events", d.reader(d.events))
	m.Handle("GET "+Prefix+"/events/{id}", d.reader(d.event))
	m.Handle("POST "+Prefix+"/events/{id}/deliveries/{delivery}/replay", d.writer(d.replay))
	m.Handle("POST "+Prefix+"/recover", d.writer(d.recoverDeliveries))
	m.Handle("GET "+Prefix+"/endpoints", d.reader(d.endpointList))
	m.Handle("POST "+Prefix+"/endpoints", d.writer(d.createEndpoint))
	m.Handle("GET "+Prefix+"/endpoints/{id}", d.reader(d.endpoint))
	m.Handle("POST "+Prefix+"/endpoints/{id}", d.writer(d.updateEndpoint))
	m.Handle("POST "+Prefix+"/endpoints/{id}/rotate", d.writer(d.rotateSecret))
	m.Handle("POST "+Prefix+"/endpoints/{id}/disable", d.writer(d.setDisabled(true)))
	m.Handle("POST "+Prefix+"/endpoints/{id}/enable", d.writer(d.setDisabled(false)))
	m.Handle("POST "+Prefix+"/endpoints/{id}/test", d.writer(d.testEvent))

	// Anything else under the prefix: a 404 page, after the same login
	// check (an unknown path tells a stranger nothing).
	notFound := func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, "error", http.StatusNotFound, "There is no such page.")
	}
	m.Handle("GET "+Prefix+"/", d.reader(notFound))
	m.Handle(Prefix+"/", d.writer(notFound))
	m.Handle(Prefix, d.writer(notFound))
	d.mux = m
}

// ServeHTTP serves the dashboard. Every answer carries the security
// headers; pages also say Cache-Control: no-store.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	d.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows nothing inline: no script, no style
// attribute, no form posting elsewhere, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// asset is one embedded static file.
type asset struct {
	body        []byte
	contentType string
	version     string // of its content, for cache busting
}

func loadAssets() (map[string]asset, error) {
	out := make(map[string]asset)
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := "application/octet-stream"
		switch path.Ext(p) {
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".txt", ".md":
			ct = "text/plain; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		out[strings.TrimPrefix(p, "static/")] = asset{body: body, contentType: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: static assets: %w", err)
	}
	return out, nil
}

// static serves an embedded asset. Its URL carries the content's version
// (?v=…), so it is cached for a year.
func (d *Dashboard) static(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func (d *Dashboard) assetURL(name string) (string, error) {
	a, ok := d.assets[name]
	if !ok {
		return "", fmt.Errorf("dashboard: no asset %q", name)
	}
	return Prefix + "/static/" + name + "?v=" + a.version, nil
}

// page is what one rendered page says, around its template's content.
type page struct {
	Name   string // data-page, and the template
	Title  string
	Status int    // 0: 200
	Error  string // shown in div#error
	Data   any
}

// view is what the layout sees.
type view struct {
	Page     string
	Nav      string
	Title    string
	Open     bool
	LoggedIn bool
	CSRF     string
	Flash    *flash
	Error    string
	Data     any
}

var navOf = map[string]string{"overview": "overview", "events": "events", "event": "events",
	"endpoints": "endpoints", "endpoint": "endpoints"}

// render writes a page: its template into a buffer first, so that an
// error never leaves half a page, then the headers and the body.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, p page) {
	t, ok := d.pages[p.Name]
	if !ok {
		t = d.pages["error"]
	}
	v := view{Page: p.Name, Nav: navOf[p.Name], Title: p.Title, Open: d.open, LoggedIn: !d.open && loggedIn(r),
		CSRF: d.ensureCSRF(w, r), Flash: d.takeFlash(w, r), Error: p.Error, Data: p.Data}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		d.deps.Logger.ErrorContext(r.Context(), "dashboard: render", slog.String("page", p.Name), slog.Any("error", err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, name string, status int, msg string) {
	d.render(w, r, page{Name: name, Title: http.StatusText(status), Status: status, Error: msg})
}

// failErr renders the page for err; see describe.
func (d *Dashboard) failErr(w http.ResponseWriter, r *http.Request, name string, err error) {
	status, msg := d.describe(r, err)
	d.fail(w, r, name, status, msg)
}

// describe is the one place that maps an error to what a page says and its
// status: validation and conflicts are shown as the services word them,
// anything unexpected is logged and shown as a generic failure.
func (d *Dashboard) describe(r *http.Request, err error) (int, string) {
	var v *core.ValidationError
	var c *core.ConflictError
	switch {
	case errors.As(err, &v):
		return http.StatusBadRequest, v.Error()
	case errors.As(err, &c):
		return http.StatusConflict, c.Message
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound, "Not found."
	case errors.Is(err, core.ErrUnavailable):
		d.deps.Logger.WarnContext(r.Context(), "dashboard: store unavailable", slog.String("path", r.URL.Path), slog.Any("error", err))
		return http.StatusServiceUnavailable, "The database is not answering; try again in a moment."
	}
	d.deps.Logger.ErrorContext(r.Context(), "dashboard: request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	return http.StatusInternalServerError, "Something went wrong; the details are in the dispatcher's log."
}

// message is describe's text for an error shown as a flash.
func (d *Dashboard) message(r *http.Request, err error) string {
	_, msg := d.describe(r, err)
	return msg
}

func (d *Dashboard) now() time.Time { return d.deps.Clock.Now() }
