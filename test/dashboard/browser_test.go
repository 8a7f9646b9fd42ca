package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds everything one test does in its browser: the
// browser process dies with the context, so a hung page cannot outlive it.
const browserTimeout = 2 * time.Minute

// stepTimeout bounds one navigation, query or click.
const stepTimeout = 20 * time.Second

// chromiumPath finds a Chromium or Chrome: CHROMIUM_PATH when set, else
// the usual names on PATH. Without one the test skips, unless
// WEBHOOKD_REQUIRE_BROWSER is set (CI): then it fails, so that the browser
// tests can never silently not run. Under -short the test skips too: it
// runs the real binaries.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a browser test of the real binaries")
	}
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("CHROMIUM_PATH=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WEBHOOKD_REQUIRE_BROWSER") != "" {
		t.Fatal("WEBHOOKD_REQUIRE_BROWSER is set but no chromium is on PATH: install it (apt-get install chromium) or set CHROMIUM_PATH")
	}
	t.Skip("no chromium on PATH: skipping the dashboard's browser tests (apt-get install chromium, or set CHROMIUM_PATH; CI sets WEBHOOKD_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// browser is one headless Chromium with a profile of its own and one tab.
// It records what the page writes to the console (errors, uncaught
// exceptions, browser log entries such as CSP violations and failed
// loads); check fails the test on any it was not told to expect.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []consoleMessage
	checked  int // messages before this index were checked already
}

type consoleMessage struct {
	level string // "error", "warning", …
	text  string
	url   string
}

func (m consoleMessage) String() string {
	if m.url != "" {
		return fmt.Sprintf("%s: %s (%s)", m.level, m.text, m.url)
	}
	return m.level + ": " + m.text
}

// newBrowser starts Chromium for t (skipping without one, see
// chromiumPath), 1280 px wide. It stops when the test ends or after
// browserTimeout, whichever comes first.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	return newBrowserFor(t, browserTimeout)
}

// newBrowserFor is newBrowser with a browser that lives at most d.
func newBrowserFor(t *testing.T, d time.Duration) *browser {
	t.Helper()
	path := chromiumPath(t)
	b := &browser{t: t}
	base, cancelBase := context.WithTimeout(context.Background(), d)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		b.check("the end of the test")
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		cancelBase()
	})
	b.ctx = ctx
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	// Keep the layout at 1280 px whatever the window manager does.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	t.Logf("chromium %s started in %s", path, time.Since(start).Round(time.Millisecond))
	return b
}

// listen runs in the tab's message loop: it must return fast.
func (b *browser) listen(ev any) {
	var m consoleMessage
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			switch {
			case len(a.Value) > 0:
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			case a.Description != "":
				parts = append(parts, a.Description)
			default:
				parts = append(parts, string(a.Type))
			}
		}
		m = consoleMessage{level: string(ev.Type), text: strings.Join(parts, " ")}
		if ev.Type == runtime.ConsoleAPICalledTypeAssert {
			m.level = "error"
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		m = consoleMessage{level: "error", text: "uncaught exception: " + text, url: d.URL}
	case *log.EventEntryAdded:
		m = consoleMessage{level: string(ev.Entry.Level), text: "[" + string(ev.Entry.Source) + "] " + ev.Entry.Text, url: ev.Entry.URL}
	default:
		return
	}
	b.mu.Lock()
	b.messages = append(b.messages, m)
	b.mu.Unlock()
}

// check fails the test for every console error since the last check,
// except those matching one of the allowed patterns (for a page that is
// meant to answer 401 or 403, whose load Chromium logs as an error).
// Warnings are logged, not failed.
func (b *browser) check(where string, allowed ...*regexp.Regexp) {
	b.t.Helper()
	b.mu.Lock()
	msgs := slices.Clone(b.messages[b.checked:])
	b.checked = len(b.messages)
	b.mu.Unlock()
	for _, m := range msgs {
		if m.level != "error" {
			b.t.Logf("console at %s: %s", where, m)
			continue
		}
		if slices.ContainsFunc(allowed, func(re *regexp.Regexp) bool { return re.MatchString(m.text) }) {
			b.t.Logf("console at %s (expected): %s", where, m)
			continue
		}
		b.t.Errorf("console error at %s: %s", where, m)
	}
}

// failedLoad matches Chromium's log entry for a document answered with
// status code.
func failedLoad(code int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`Failed to load resource: the server responded with a status of %d`, code))
}

// step runs actions with stepTimeout, failing the test with what on error.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// run is step for an action with a result.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open navigates to url, checks the response status and that the page is
// the dashboard page want (body[data-page]; "" for any), then checks the
// console.
func (b *browser) open(url string, status int, want string) {
	b.t.Helper()
	resp := run(b, "open "+url, chromedp.NavigateResponse(url))
	b.expectPage("GET "+url, resp, status, want)
}

// submit clicks sel (a button, or a link) and waits for the navigation
// it causes; like open, it checks the final response (status 0: any 2xx)
// and page. A POST answered 303 is followed: resp is the page it lands on.
func (b *browser) submit(sel string, status int, want string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	b.expectPage("click "+sel, resp, status, want)
	return resp
}

func (b *browser) expectPage(what string, resp *network.Response, status int, want string) {
	b.t.Helper()
	if resp == nil {
		b.t.Fatalf("%s: no response", what)
	}
	if status == 0 && resp.Status/100 != 2 || status != 0 && int(resp.Status) != status {
		b.t.Errorf("%s: landed on %s with status %d, want %d", what, resp.URL, int(resp.Status), status)
	}
	if got := b.attr("body", "data-page"); want != "" && got != want {
		b.t.Fatalf("%s: landed on %s, body[data-page]=%q, want %q", what, resp.URL, got, want)
	}
	var allowed []*regexp.Regexp
	if resp.Status >= 400 {
		allowed = append(allowed, failedLoad(int(resp.Status)))
	}
	b.check(what, allowed...)
}

// attr is the attribute of the first element matching sel ("" when the
// element has none), failing when no element matches.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	return run(b, "attribute "+name+" of "+sel, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element matches " + %q); return e.getAttribute(%q) ?? ""; })()`,
		sel, sel, name)))
}

// count is the number of elements matching sel, at once (no waiting).
func (b *browser) count(sel string) int {
	b.t.Helper()
	return run(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// has reports whether sel matches an element now.
func (b *browser) has(sel string) bool {
	b.t.Helper()
	return b.count(sel) > 0
}

// require fails the test unless every selector matches an element.
func (b *browser) require(where string, sels ...string) {
	b.t.Helper()
	for _, sel := range sels {
		if !b.has(sel) {
			b.t.Errorf("%s: no element matches %s", where, sel)
		}
	}
}

// text is the trimmed textContent of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, "text of "+sel, chromedp.Evaluate[string](fmt.Sprintf(
		`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element matches " + %q); return e.textContent.trim(); })()`,
		sel, sel)))
}

// texts is the trimmed textContent of every element matching sel.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	return run(b, "texts of "+sel, chromedp.Evaluate[[]string](fmt.Sprintf(
		`Array.from(document.querySelectorAll(%q), e => e.textContent.trim())`, sel)))
}

// attrs is the attribute name of every element matching sel.
func (b *browser) attrs(sel, name string) []string {
	b.t.Helper()
	return run(b, "attributes of "+sel, chromedp.Evaluate[[]string](fmt.Sprintf(
		`Array.from(document.querySelectorAll(%q), e => e.getAttribute(%q) ?? "")`, sel, name)))
}

// html is the document's markup.
func (b *browser) html() string {
	b.t.Helper()
	return run(b, "page markup", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// location is the tab's URL.
func (b *browser) location() string {
	b.t.Helper()
	return run(b, "location", chromedp.Location())
}

// fill sets the value of the form field sel (an input, select or
// textarea) the way a user's typing would end up.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.step("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), value, chromedp.NodeReady))
}

// cookies are the browser's cookies for url.
func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("cookies: %v", err)
	}
	return res.Cookies
}

// screenshot is a full-page PNG of the tab.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	return run(b, "screenshot", chromedp.FullScreenshot(100))
}
