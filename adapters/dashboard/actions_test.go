package dashboard_test

import (
	"context"
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

// flashOf reads the flash the page after an action shows.
func flashOf(t *testing.T, b *browser, page string) (msg string, isError bool, d *doc) {
	t.Helper()
	d = parse(t, b.get(page))
	f := d.one(tag("div", id("flash")))
	return text(f), slices.Contains(strings.Fields(attr(f, "class")), "flash-error"), d
}

func TestCreateEndpointShowsTheSecretOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.dash)
	rec := b.post("/dashboard/endpoints", url.Values{"url": {"https://merchant.example/hooks"},
		"event_types": {"order.paid, order.refunded  invoice.sent"}, "rate_limit_per_second": {"5"}, "description": {"Shop"}})
	if rec.Code != http.StatusOK || rec.Header().Get("Location") != "" {
		t.Fatalf("create: status %d, Location %q: want 200, no redirect", rec.Code, rec.Header().Get("Location"))
	}
	d := parse(t, rec)
	checkPage(t, d, rec.Header(), "endpoint", true)
	secret := text(d.one(tag("code", id("new-secret"))))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret = %q", secret)
	}
	btn := d.one(tag("button", id("copy-secret")))
	if attr(btn, "type") != "button" || attr(btn, "data-copy") != "new-secret" {
		t.Errorf("copy button %v", btn.Attr)
	}
	list, err := e.endpoints.List(t.Context(), ports.EndpointFilter{Page: 1, Limit: 10})
	if err != nil || len(list.Endpoints) != 1 {
		t.Fatalf("endpoints: %v %v", list, err)
	}
	ep := list.Endpoints[0]
	if stored, _ := e.endpoints.Secret(t.Context(), ep.ID); stored != secret {
		t.Error("the secret shown is not the endpoint's")
	}
	if !slices.Equal(ep.EventTypes, []string{"invoice.sent", "order.paid", "order.refunded"}) || ep.RateLimitPerSecond != 5 || ep.Description != "Shop" {
		t.Errorf("created %+v", ep)
	}

	// Never again.
	for _, p := range []string{"/dashboard/endpoints/" + string(ep.ID), "/dashboard/endpoints", "/dashboard"} {
		body := b.get(p).Body.String()
		if strings.Contains(body, secret) || strings.Contains(body, "whsec_") || strings.Contains(body, `id="new-secret"`) {
			t.Errorf("%s shows the secret", p)
		}
	}

	d = parse(t, b.get("/dashboard/endpoints"))
	row := d.one(tag("table", id("endpoints")), tag("tr", attrIs("data-endpoint-id", string(ep.ID))))
	for class_, want := range map[string]string{"event-types": "invoice.sent, order.paid, order.refunded", "rate-limit": "5/s",
		"success-rate": "—", "breaker": "closed", "disabled-reason": "enabled", "failing-since": "—"} {
		if got := text(findAll(row, tag("", class(class_)))[0]); got != want {
			t.Errorf(".%s = %q, want %q", class_, got, want)
		}
	}
	if len(findAll(row, tag("td", class("health")))) != 1 {
		t.Error("no td.health")
	}
}

func TestCreateEndpointRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.dash)
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no url", url.Values{"url": {""}}, "url: is required"},
		{"bad url", url.Values{"url": {"ftp://merchant.example"}}, "url:"},
		{"bad type", url.Values{"url": {"https://merchant.example/h"}, "event_types": {"order..paid"}}, "event_types:"},
		{"bad rate", url.Values{"url": {"https://merchant.example/h"}, "rate_limit_per_second": {"fast"}}, "rate_limit_per_second:"},
		{"rate too high", url.Values{"url": {"https://merchant.example/h"}, "rate_limit_per_second": {"1000000"}}, "rate_limit_per_second:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.post("/dashboard/endpoints", tc.form)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rec.Code)
			}
			d := parse(t, rec)
			if d.page() != "endpoints" || d.has(tag("", id("new-secret"))) {
				t.Fatal("not the endpoints page with the error")
			}
			if got := text(d.one(tag("div", id("error")))); !strings.Contains(got, tc.want) {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
			if got := attr(d.one(tag("form", id("create-endpoint")), tag("input", attrIs("name", "url"))), "value"); got != tc.form.Get("url") {
				t.Errorf("the form lost the url: %q", got)
			}
		})
	}
	if list, _ := e.endpoints.List(t.Context(), ports.EndpointFilter{Page: 1, Limit: 10}); list.Total != 0 {
		t.Errorf("%d endpoints created", list.Total)
	}
}

func TestRotateShowsTheNewSecretOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t)
	b := newBrowser(t, e.dash)
	path := "/dashboard/endpoints/" + string(ep.Endpoint.ID)
	rec := b.post(path+"/rotate", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("rotate: %d", rec.Code)
	}
	d := parse(t, rec)
	secret := text(d.one(tag("code", id("new-secret"))))
	if secret == ep.Secret || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("rotated secret %q", secret)
	}
	if stored, _ := e.endpoints.Secret(t.Context(), ep.Endpoint.ID); stored != secret {
		t.Error("the secret shown is not the new one")
	}
	if !strings.Contains(d.raw, "still signs beside the current one until") {
		t.Error("the page does not say the previous secret still signs")
	}
	body := b.get(path).Body.String()
	if strings.Contains(body, secret) || strings.Contains(body, ep.Secret) {
		t.Error("the endpoint page shows a secret")
	}
	if rec := b.post("/dashboard/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70/rotate", nil); rec.Code != http.StatusNotFound {
		t.Errorf("rotate an unknown endpoint: %d", rec.Code)
	}
}

func TestEditEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "order.paid")
	b := newBrowser(t, e.dash)
	path := "/dashboard/endpoints/" + string(ep.Endpoint.ID)

	d := parse(t, b.get(path))
	if got := attr(d.one(tag("form", id("edit-endpoint")), tag("input", attrIs("name", "event_types"))), "value"); got != "order.paid" {
		t.Errorf("edit form shows %q", got)
	}
	wantRedirect(t, b.post(path, url.Values{"event_types": {"invoice.sent,order.paid"}, "rate_limit_per_second": {"7"}, "description": {"new"}}), path)
	if msg, isErr, _ := flashOf(t, b, path); msg != "endpoint updated" || isErr {
		t.Errorf("flash %q (error %v)", msg, isErr)
	}
	got, _ := e.endpoints.Get(t.Context(), ep.Endpoint.ID)
	if !slices.Equal(got.EventTypes, []string{"invoice.sent", "order.paid"}) || got.RateLimitPerSecond != 7 || got.Description != "new" {
		t.Errorf("updated %+v", got)
	}
	// Empty fields: every type, no limit.
	wantRedirect(t, b.post(path, url.Values{"event_types": {""}, "rate_limit_per_second": {""}, "description": {""}}), path)
	got, _ = e.endpoints.Get(t.Context(), ep.Endpoint.ID)
	if len(got.EventTypes) != 0 || got.RateLimitPerSecond != 0 {
		t.Errorf("cleared %+v", got)
	}
	// Refused: the service's message, nothing changed.
	wantRedirect(t, b.post(path, url.Values{"event_types": {"bad!type"}}), path)
	if msg, isErr, _ := flashOf(t, b, path); !isErr || !strings.Contains(msg, "event_types:") {
		t.Errorf("flash %q (error %v)", msg, isErr)
	}
}

func TestDisableEnable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t)
	b := newBrowser(t, e.dash)
	path := "/dashboard/endpoints/" + string(ep.Endpoint.ID)

	wantRedirect(t, b.post(path+"/disable", nil), path)
	msg, _, d := flashOf(t, b, path)
	if !strings.HasPrefix(msg, "endpoint disabled") {
		t.Errorf("flash %q", msg)
	}
	if got, _ := e.endpoints.Get(t.Context(), ep.Endpoint.ID); !got.Disabled {
		t.Fatal("not disabled")
	}
	d.one(tag("form", id("enable-endpoint")))
	if d.has(tag("form", id("disable-endpoint"))) {
		t.Error("a disabled endpoint offers to disable it")
	}
	if got := text(d.one(tag("", class("disabled-reason")))); got != "disabled: disabled through the API" {
		t.Errorf("disabled reason %q", got)
	}

	wantRedirect(t, b.post(path+"/enable", nil), path)
	msg, _, d = flashOf(t, b, path)
	if msg != "endpoint enabled" {
		t.Errorf("flash %q", msg)
	}
	if got, _ := e.endpoints.Get(t.Context(), ep.Endpoint.ID); got.Disabled {
		t.Fatal("still disabled")
	}
	d.one(tag("form", id("disable-endpoint")))
	if got := text(d.one(tag("", class("disabled-reason")))); got != "enabled" {
		t.Errorf("state %q", got)
	}
}

func TestTestEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "order.paid") // not subscribed to webhookd.test: the event names it
	e.createEndpoint(t)                     // every type, but not named: it gets nothing
	b := newBrowser(t, e.dash)
	path := "/dashboard/endpoints/" + string(ep.Endpoint.ID)

	wantRedirect(t, b.post(path+"/test", nil), path)
	_, isErr, d := flashOf(t, b, path)
	if isErr {
		t.Fatalf("flash error: %s", text(d.one(tag("div", id("flash")))))
	}
	link := attr(d.one(tag("div", id("flash")), tag("a", class("flash-link"))), "href")
	evID := core.EventID(strings.TrimPrefix(link, "/dashboard/events/"))
	det, err := e.svc.Get(t.Context(), evID)
	if err != nil {
		t.Fatalf("the flash links to %q: %v", link, err)
	}
	if det.Event.EventType != "webhookd.test" || det.Event.EndpointID != ep.Endpoint.ID || len(det.Deliveries) != 1 ||
		det.Deliveries[0].Delivery.EndpointID != ep.Endpoint.ID {
		t.Errorf("test event %+v", det)
	}
	if p := string(det.Event.Payload()); !strings.Contains(p, `"test":true`) || !strings.Contains(p, `"sent_at":"2026-12-01T09:30:15Z"`) {
		t.Errorf("payload %s", p)
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t)
	var dels []core.DeliveryID
	for range 3 {
		res := e.submit(t, ports.Submission{EndpointID: ep.Endpoint.ID, EventType: "order.paid"})
		dels = append(dels, res.Deliveries[0].ID)
		e.attempt(t, dead, goneAttempt())
	}
	b := newBrowser(t, e.dash)
	path := "/dashboard/endpoints/" + string(ep.Endpoint.ID)

	// The endpoint page's form names the endpoint.
	d := parse(t, b.get(path))
	form := d.one(tag("form", id("recover")))
	if got := attr(findAll(form, tag("input", attrIs("name", "endpoint_id")))[0], "type"); got != "hidden" {
		t.Errorf("endpoint_id input is %q, want hidden", got)
	}

	wantRedirect(t, b.post("/dashboard/recover", url.Values{"status": {"dead"}, "endpoint_id": {string(ep.Endpoint.ID)},
		"return": {path}, "rate_per_second": {"2.5"}}), path)
	if msg, isErr, _ := flashOf(t, b, path); isErr || msg != "3 deliveries queued (at most 2.5/s per target)" {
		t.Errorf("flash %q (error %v)", msg, isErr)
	}
	for _, id := range dels {
		if st := e.deliveryStatus(t, id); st != core.StatusPending {
			t.Errorf("%s is %s after the recovery", id, st)
		}
	}

	for _, tc := range []struct {
		name     string
		form     url.Values
		wantTo   string
		wantFlsh string
	}{
		{"no filter", url.Values{"return": {"/dashboard/events?status=dead"}}, "/dashboard/events?status=dead",
			"say what to recover: endpoint_id, origin or created_after"},
		{"pending", url.Values{"status": {"pending"}, "endpoint_id": {string(ep.Endpoint.ID)}}, "/dashboard/events",
			"status: must be dead or succeeded"},
		{"bad rate", url.Values{"origin": {"https://merchant.example"}, "rate_per_second": {"fast"}}, "/dashboard/events", "rate_per_second:"},
		{"rate too high", url.Values{"origin": {"https://merchant.example"}, "rate_per_second": {"5000"}}, "/dashboard/events",
			"rate_per_second: must be more than 0 and at most 1000"},
		{"bad time", url.Values{"created_after": {"soon"}}, "/dashboard/events", "created_after:"},
		{"foreign return", url.Values{"origin": {"https://merchant.example"}, "return": {"https://evil.example/x"}}, "/dashboard/events", "0 deliveries queued"},
		{"protocol-relative return", url.Values{"origin": {"https://merchant.example"}, "return": {"//evil.example/dashboard"}}, "/dashboard/events", "0 deliveries"},
		{"return off the dashboard", url.Values{"origin": {"https://merchant.example"}, "return": {"/events"}}, "/dashboard/events", "0 deliveries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.post("/dashboard/recover", tc.form)
			if got := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || got != tc.wantTo {
				t.Fatalf("status %d to %q, want 303 to %q", rec.Code, got, tc.wantTo)
			}
			msg, _, _ := flashOf(t, b, tc.wantTo)
			if !strings.Contains(msg, tc.wantFlsh) {
				t.Errorf("flash %q, want %q", msg, tc.wantFlsh)
			}
		})
	}
}

func TestEndpointHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *dashboard.Deps, _ *dashboard.Config) {
		d.Targets = func(context.Context) ([]core.TargetHealth, error) {
			return []core.TargetHealth{{Origin: "https://merchant.example:443", OpenUntil: start.Add(time.Minute)}}, nil
		}
	})
	ep := e.createEndpoint(t)
	failing := start.Add(-time.Hour)
	if _, err := e.store.UpdateEndpoint(t.Context(), ep.Endpoint.ID, nil, func(x *core.Endpoint) error {
		x.FailingSince = &failing
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	minute := start.UTC().Truncate(time.Minute)
	_ = e.activity.AddActivity(t.Context(), []ports.ActivityCount{
		{Minute: minute, EndpointID: ep.Endpoint.ID, Delivered: 6, Retried: 1},
		{Minute: minute.Add(-5 * time.Minute), EndpointID: ep.Endpoint.ID, Delivered: 3},
		{Minute: minute, Delivered: 1000, Dead: 1000}, // the cluster's
	})
	b := newBrowser(t, e.dash)
	for _, p := range []string{"/dashboard/endpoints", "/dashboard/endpoints/" + string(ep.Endpoint.ID)} {
		d := parse(t, b.get(p))
		for class_, want := range map[string]string{"success-rate": "90.0%", "breaker": "open until 2026-12-01 09:31:15 UTC",
			"failing-since": "2026-12-01 08:30:15 UTC"} {
			if got := text(d.one(tag("", class(class_)))); got != want {
				t.Errorf("%s: .%s = %q, want %q", p, class_, got, want)
			}
		}
	}
	d := parse(t, b.get("/dashboard/endpoints/"+string(ep.Endpoint.ID)))
	if got := len(findAll(d.one(tag("svg", id("endpoint-chart"))), tag("polyline"))); got != 3 {
		t.Errorf("endpoint chart: %d series", got)
	}
}

func TestEndpointsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *dashboard.Deps, _ *dashboard.Config) { d.Endpoints = nil })
	b := newBrowser(t, e.dash)
	for _, p := range []string{"/dashboard/endpoints", "/dashboard/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"} {
		rec := b.get(p)
		d := parse(t, rec)
		if !strings.Contains(text(d.one(tag("div", id("error")))), "Endpoints are unavailable") {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if rec := b.post("/dashboard/endpoints", url.Values{"url": {"https://merchant.example"}}); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("create: %d", rec.Code)
	}
}

func TestRecoverFromTheEventsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.dash)
	// The events page's form, as a visitor leaves it: the list's filters,
	// or the last 24 hours.
	for range 2 {
		e.submit(t, ports.Submission{})
		e.attempt(t, dead, goneAttempt())
	}
	d := parse(t, b.get("/dashboard/events?status=dead"))
	form := d.one(tag("form", id("recover")))
	fields := url.Values{}
	for _, in := range findAll(form, tag("input")) {
		fields.Set(attr(in, "name"), attr(in, "value"))
	}
	for _, opt := range findAll(form, tag("option", hasAttr("selected"))) {
		fields.Set("status", attr(opt, "value"))
	}
	if fields.Get("created_after") != "2026-11-30T09:30:00" || fields.Get("status") != "dead" || fields.Get("return") != "/dashboard/events?status=dead" {
		t.Errorf("the events page's recover form: %v", fields)
	}
	wantRedirect(t, b.do(http.MethodPost, "/dashboard/recover", fields), "/dashboard/events?status=dead")
	if msg, isErr, _ := flashOf(t, b, "/dashboard/events?status=dead"); isErr || msg != "2 deliveries queued (at most 20/s per target)" {
		t.Errorf("flash %q (error %v)", msg, isErr)
	}

	d = parse(t, b.get("/dashboard/events?endpoint_id=0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"))
	form = d.one(tag("form", id("recover")))
	if got := attr(findAll(form, tag("input", attrIs("name", "created_after")))[0], "value"); got != "" {
		t.Errorf("with an endpoint, the recover form starts at %q, want no start", got)
	}
	if got := attr(findAll(form, tag("input", attrIs("name", "endpoint_id")))[0], "value"); got != "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70" {
		t.Errorf("endpoint_id = %q", got)
	}
}
