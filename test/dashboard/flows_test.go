package dashboard_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// TestReplayAndRecover: with one attempt allowed and a receiver answering
// 500, events die. Once the receiver is fixed, the replay button of one
// event's delivery sends that event again (the receiver gets it, and only
// it), and the recover form of the events page queues the other dead
// deliveries, saying how many.
func TestReplayAndRecover(t *testing.T) {
	t.Parallel()
	s := startStack(t, harness.NewDBOf(t, harness.KindSQLite), stackConfig{env: map[string]string{"MAX_ATTEMPTS": "1"}})
	b := newBrowser(t)
	s.rcv.Control(t, map[string]any{"mode": "status", "status": 500})
	first := s.postEvent(t, map[string]any{"order": "replay-me"}, nil)
	rest := []string{
		s.postEvent(t, map[string]any{"order": "recover-me-1"}, nil),
		s.postEvent(t, map[string]any{"order": "recover-me-2"}, nil),
	}
	s.waitStatus(t, 20*time.Second, "dead", append([]string{first}, rest...)...)
	s.rcv.Control(t, map[string]any{"mode": "ok"})

	b.open(s.url("/events/"+first), http.StatusOK, "event")
	if st := b.text("section.delivery .delivery-status"); st != "dead" {
		t.Errorf("dead event: .delivery-status %q, want dead", st)
	}
	b.checkAttempt("section.delivery ol.attempts > li.attempt", "1", "500")
	b.submit(submitButton("section.delivery form.replay"), http.StatusOK, "event")
	if u := b.location(); !strings.HasSuffix(u, "/dashboard/events/"+first) {
		t.Errorf("replay landed on %s, want the event's page", u)
	}
	b.require("after the replay", "div#flash")
	t.Logf("replay flash: %q", b.textIf("div#flash"))

	testkit.Eventually(t, 20*time.Second, "the replayed event at the receiver", func() bool { return s.received(t, first) == 1 })
	testkit.Eventually(t, 10*time.Second, "the event page to show the replayed delivery succeeded", func() bool {
		b.open(s.url("/events/"+first), http.StatusOK, "event")
		return b.text("section.delivery .delivery-status") == "succeeded"
	})
	// The timeline shows the attempts the API lists, in order (a replay
	// numbers its attempts afresh).
	attempts := s.event(t, first).Deliveries[0].Attempts
	if n := b.count("section.delivery ol.attempts > li.attempt"); n != 2 || len(attempts) != 2 {
		t.Errorf("after the replay: %d attempts shown, the API lists %d; want 2", n, len(attempts))
	} else {
		for i, code := range []string{"500", "200"} {
			b.checkAttempt(fmt.Sprintf("section.delivery ol.attempts > li.attempt:nth-child(%d)", i+1), strconv.Itoa(attempts[i].Number), code)
		}
	}
	for _, id := range rest {
		if n := s.received(t, id); n != 0 {
			t.Errorf("event %s reached the receiver %d times before its recovery", id, n)
		}
	}

	// Recover the rest from the events page, filtered to the dead ones.
	b.open(s.url("/events?status=dead"), http.StatusOK, "events")
	if rows := b.attrs("table#events tr[data-event-id]", "data-event-id"); !sameSet(rows, rest) {
		t.Errorf("events?status=dead: rows %v, want %v", rows, rest)
	}
	b.require("events", "form#recover")
	for _, name := range []string{"status", "endpoint_id", "origin", "created_after", "created_before", "rate_per_second"} {
		if !b.has(fmt.Sprintf("form#recover [name=%s]", name)) {
			t.Errorf("events: form#recover has no field named %s", name)
		}
	}
	b.fill("form#recover [name=status]", "dead")
	b.submit(submitButton("form#recover"), http.StatusOK, "events")
	flash := b.textIf("div#flash")
	if !regexp.MustCompile(`\b2 deliveries queued`).MatchString(flash) {
		t.Errorf("recover: div#flash %q, want \"2 deliveries queued…\"", flash)
	}
	testkit.Eventually(t, 20*time.Second, "the recovered events at the receiver", func() bool {
		return s.received(t, rest[0]) == 1 && s.received(t, rest[1]) == 1
	})
	if st := s.rcv.Stats(t, false); st.Accepted != 3 || st.Duplicates != 0 {
		t.Errorf("receiver: %d accepted, %d duplicates; want 3 and 0", st.Accepted, st.Duplicates)
	}
}

// textIf is the text of sel, or "" when nothing matches.
func (b *browser) textIf(sel string) string {
	b.t.Helper()
	if !b.has(sel) {
		return ""
	}
	return b.text(sel)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

var secretPattern = regexp.MustCompile(`^whsec_[A-Za-z0-9+/=]{20,}$`)

// TestEndpointSecretShownOnce: creating an endpoint through the form shows
// its secret once (code#new-secret, with a working copy button); neither
// the endpoint's page nor the list shows it again, and a rotation shows
// the new one once in the same way. The endpoint page's other forms edit,
// disable, enable and test the endpoint.
func TestEndpointSecretShownOnce(t *testing.T) {
	t.Parallel()
	s := startStack(t, harness.NewDBOf(t, harness.KindSQLite), stackConfig{})
	b := newBrowser(t)
	merchant := harness.StartMerchant(t)

	b.open(s.url("/endpoints"), http.StatusOK, "endpoints")
	b.fill("form#create-endpoint [name=url]", merchant.URL+"/hook")
	b.fill("form#create-endpoint [name=event_types]", "order.paid, order.refunded")
	b.fill("form#create-endpoint [name=rate_limit_per_second]", "5")
	b.fill("form#create-endpoint [name=description]", "made in the browser")
	resp := b.submit(submitButton("form#create-endpoint"), 0, "endpoint")
	t.Logf("create: %d %s, Cache-Control %q", resp.Status, resp.URL, resp.Headers["Cache-Control"])
	shown := b.text("code#new-secret")
	if !secretPattern.MatchString(shown) {
		t.Fatalf("code#new-secret %q is not a whsec_ secret", shown)
	}
	b.require("new endpoint", "button#copy-secret")

	var ep endpointJSON
	for _, e := range s.endpoints(t) {
		if e.URL == merchant.URL+"/hook" {
			ep = e
		}
	}
	if ep.ID == "" {
		t.Fatal("the endpoint made in the browser is not in GET /endpoints")
	}
	if got := s.secret(t, ep.ID); got != shown {
		t.Errorf("the page showed %q, the endpoint's secret is %q", shown, got)
	}
	if !slices.Equal(ep.EventTypes, []string{"order.paid", "order.refunded"}) || ep.Description != "made in the browser" ||
		ep.RateLimitPerSecond == nil || *ep.RateLimitPerSecond != 5 {
		t.Errorf("the endpoint made in the browser: %+v", ep)
	}

	// The copy button puts the secret on the clipboard.
	origin := s.d.Base
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin,
		}); err != nil {
			t.Fatalf("grant %s: %v", perm, err)
		}
	}
	b.step("click button#copy-secret", chromedp.Click(chromedp.CSS("button#copy-secret"), chromedp.NodeVisible))
	var clip string
	testkit.Eventually(t, 5*time.Second, "the secret on the clipboard", func() bool {
		clip = run(b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		return clip == shown
	})
	b.check("button#copy-secret")

	// Never again: not on the endpoint's page, not in the list.
	b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
	if b.has("code#new-secret") || strings.Contains(b.html(), shown) {
		t.Error("the endpoint's page shows the secret again")
	}
	b.open(s.url("/endpoints"), http.StatusOK, "endpoints")
	if strings.Contains(b.html(), shown) {
		t.Error("the endpoints list shows a secret")
	}
	b.require("endpoints", fmt.Sprintf("table#endpoints tr[data-endpoint-id=%q]", ep.ID))

	// Rotation: the new secret once, then never again.
	b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
	b.submit(submitButton("form#rotate-secret"), 0, "endpoint")
	rotated := b.textIf("code#new-secret")
	if !secretPattern.MatchString(rotated) || rotated == shown {
		t.Fatalf("after the rotation code#new-secret is %q (the first was %q)", rotated, shown)
	}
	if got := s.secret(t, ep.ID); got != rotated {
		t.Errorf("the rotation showed %q, the endpoint's secret is %q", rotated, got)
	}
	b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
	if html := b.html(); b.has("code#new-secret") || strings.Contains(html, rotated) || strings.Contains(html, shown) {
		t.Error("the endpoint's page shows a secret after the rotation")
	}

	// Edit.
	b.fill("form#edit-endpoint [name=description]", "edited in the browser")
	b.submit(submitButton("form#edit-endpoint"), 0, "endpoint")
	if got := s.endpoint(t, ep.ID).Description; got != "edited in the browser" {
		t.Errorf("after the edit the description is %q", got)
	}

	// Disable, then enable.
	b.submit(submitButton("form#disable-endpoint"), http.StatusOK, "endpoint")
	if !s.endpoint(t, ep.ID).Disabled {
		t.Error("form#disable-endpoint did not disable the endpoint")
	}
	b.require("disabled endpoint", "form#enable-endpoint")
	b.open(s.url("/endpoints"), http.StatusOK, "endpoints")
	b.require("endpoints", fmt.Sprintf("table#endpoints tr[data-endpoint-id=%q] td.health .disabled-reason", ep.ID))
	b.open(s.url("/endpoints/"+ep.ID), http.StatusOK, "endpoint")
	b.submit(submitButton("form#enable-endpoint"), http.StatusOK, "endpoint")
	if s.endpoint(t, ep.ID).Disabled {
		t.Error("form#enable-endpoint did not enable the endpoint")
	}
	b.require("enabled endpoint", "form#disable-endpoint")

	// A test event reaches the merchant.
	b.submit(submitButton("form#test-event"), http.StatusOK, "endpoint")
	t.Logf("test event flash: %q", b.textIf("div#flash"))
	testkit.Eventually(t, 20*time.Second, "the test event at the merchant", func() bool { return len(merchant.Requests()) >= 1 })
}

// newToken is an API token for one test.
func newToken() string {
	return "dash-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
