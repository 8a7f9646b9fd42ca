package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/prom"
	"github.com/webhookd/webhookd/ports"
)

// The contract test: openapi.json is checked against the real router over
// the real services (memory store), so that it cannot drift from the code.
// Every request is validated against the document before it is served (and
// must be refused by it when the server refuses it for a reason the
// document can state), every response after, and the test fails when a
// route or a documented status is on one side only.

const (
	contractToken = "contract-token"
	// contractBase matches the document's server, so that its router finds
	// the operations.
	contractBase = "http://localhost:3000"
	// contractMaxBody is MAX_PAYLOAD_BYTES here: small, so that a 413 is cheap.
	contractMaxBody = 4096
)

// contractTargets is GET /targets' breakers: one open, one closed, or a panic
// (the one way to reach a 500 through the real handlers).
type contractTargets struct{ panics bool }

func (f *contractTargets) Targets() []ports.TargetState {
	if f.panics {
		panic("contractTargets: asked to panic")
	}
	opened := start.Add(-time.Minute)
	return []ports.TargetState{
		{Origin: "https://down.example:443", State: "open", ConsecutiveFailures: 5, OpenedAt: opened, OpenUntil: start.Add(time.Minute)},
		{Origin: "https://up.example:443", State: "closed"},
	}
}

// apiReq is one request of the contract test.
type apiReq struct {
	method, path, body string
	contentType        string   // default application/json when there is a body
	header             []string // name, value pairs
	noAuth             bool     // send no Authorization header
	// invalid: the document itself refuses the request, as the server does.
	invalid bool
}

// contract serves requests through the router and checks them against doc.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	h      http.Handler
	opts   *openapi3filter.Options
	seen   map[string]bool // operationId + " " + status
}

func loadContract(t *testing.T, h http.Handler) *contract {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status is a failure
		MultiError:            true,
		SkipSettingDefaults:   true, // validate the request as sent
		// The document's bearer scheme, checked as the server checks it.
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if in.RequestValidationInput.Request.Header.Get("Authorization") != "Bearer "+contractToken {
				return errors.New("no valid bearer token")
			}
			return nil
		},
	}
	return &contract{doc: doc, router: router, h: h, opts: opts, seen: map[string]bool{}}
}

func (r apiReq) build() *http.Request {
	req := newRequest(r.method, contractBase+r.path, r.body)
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if !r.noAuth {
		req.Header.Set("Authorization", "Bearer "+contractToken)
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		req.Header.Set(r.header[i], r.header[i+1])
	}
	return req
}

// call validates r, serves it, wants status and validates the response.
func (c *contract) call(t *testing.T, status int, r apiReq) *httptest.ResponseRecorder {
	t.Helper()
	vreq := r.build() // validation reads the body: serve a twin
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.json: %v", r.method, r.path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts}
	err = openapi3filter.ValidateRequest(t.Context(), in)
	switch {
	case r.invalid && err == nil:
		t.Errorf("%s %s %s: openapi.json accepts this request, which the server refuses", r.method, r.path, r.body)
	case !r.invalid && err != nil:
		t.Errorf("%s %s %s: openapi.json refuses this request: %v", r.method, r.path, r.body, err)
	}
	rec := serve(c.h, r.build())
	if rec.Code != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, rec.Code, status, rec.Body)
	}
	c.checkResponse(t, in, rec)
	c.seen[route.Operation.OperationID+" "+strconv.Itoa(rec.Code)] = true
	return rec
}

// callUndocumented serves a request for a path or method that the document
// does not list, and checks the answer against the named component
// response (RouteNotFound, MethodNotAllowed).
func (c *contract) callUndocumented(t *testing.T, status int, r apiReq, component string) {
	t.Helper()
	if _, _, err := c.router.FindRoute(r.build()); err == nil {
		t.Fatalf("%s %s is in openapi.json", r.method, r.path)
	}
	resp := c.doc.Components.Responses[component]
	if resp == nil {
		t.Fatalf("openapi.json has no components.responses.%s", component)
	}
	rec := serve(c.h, r.build())
	if rec.Code != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, rec.Code, status, rec.Body)
	}
	op := &openapi3.Operation{OperationID: component, Responses: openapi3.NewResponses(openapi3.WithStatus(status, resp))}
	route := &routers.Route{Spec: c.doc, Path: r.path, Method: r.method, Operation: op}
	c.checkResponse(t, &openapi3filter.RequestValidationInput{Request: r.build(), Route: route, Options: c.opts}, rec)
}

func (c *contract) checkResponse(t *testing.T, in *openapi3filter.RequestValidationInput, rec *httptest.ResponseRecorder) {
	t.Helper()
	what := in.Request.Method + " " + in.Request.URL.Path + " " + strconv.Itoa(rec.Code)
	if err := c.validateResponse(t, in, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Errorf("%s: the response does not match openapi.json: %v\nbody: %s", what, err, rec.Body)
		return
	}
	resp := in.Route.Operation.Responses.Status(rec.Code).Value
	// kin-openapi checks the documented headers; this checks that every
	// header the handler sets is documented.
	for name := range rec.Header() {
		if name == "Content-Type" || name == "Content-Length" {
			continue // HTTP's own, not the API's
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(resp.Headers)), func(k string) bool { return strings.EqualFold(k, name) }) {
			t.Errorf("%s: header %s is not documented", what, name)
		}
	}
	// kin-openapi ignores a body that the document does not describe.
	if len(resp.Content) == 0 && rec.Body.Len() > 0 {
		t.Errorf("%s: a body that openapi.json does not describe: %s", what, rec.Body)
	}
	if in.Route.Operation.OperationID == "openapi" {
		return // the document itself is an open object
	}
	// Closed schemas: the same body with one unknown member in any object
	// (but the client's own payload and metadata) must be refused, so that
	// a member added to a handler without the document fails this test.
	var body any
	if json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		return
	}
	forEachObject(body, func(obj map[string]any) {
		obj["unexpected_member"] = true
		defer delete(obj, "unexpected_member")
		mutated, _ := json.Marshal(body)
		if c.validateResponse(t, in, rec.Code, rec.Header(), mutated) == nil {
			t.Errorf("%s: openapi.json accepts an unknown member in %s", what, mutated)
		}
	})
}

func (c *contract) validateResponse(t *testing.T, in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: c.opts}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(t.Context(), out)
}

// forEachObject calls f on every JSON object in v but free ones.
func forEachObject(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for k, sub := range v {
			if k != "payload" && k != "metadata" {
				forEachObject(sub, f)
			}
		}
	case []any:
		for _, sub := range v {
			forEachObject(sub, f)
		}
	}
}

// ginParam turns gin's :name into OpenAPI's {name}.
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// metricsHandler is the real /metrics handler, so that the document is
// checked against what it really answers.
func metricsHandler(t *testing.T) http.Handler {
	t.Helper()
	m, err := prom.New(prom.Sources{}, prom.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Handler()
}

// routesOf lists a router's routes as the document names them. The
// dashboard's (/dashboard and under it) are HTML pages, not the API: the
// document leaves them out, and so does this list.
func routesOf(r *gin.Engine) []string {
	var out []string
	for _, rt := range r.Routes() {
		if rt.Path == "/dashboard" || strings.HasPrefix(rt.Path, "/dashboard/") {
			continue
		}
		out = append(out, rt.Method+" "+ginParam.ReplaceAllString(rt.Path, "{$1}"))
	}
	return out
}

// TestOpenAPIRoutes fails when a route is in the router but not in the
// document, or the other way round, and when the operator's router
// (ROLE=worker, METRICS_PORT) serves a route the document lacks.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEndpointsEnv(t, httpapi.Options{Metrics: metricsHandler(t)}, openAddresses)
	c := loadContract(t, e.router)
	var inDoc []string
	inRouter := routesOf(e.router.(*gin.Engine))
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc = append(inDoc, method+" "+path)
		}
	}
	slices.Sort(inRouter)
	slices.Sort(inDoc)
	for _, r := range inRouter {
		if !slices.Contains(inDoc, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, r := range inDoc {
		if !slices.Contains(inRouter, r) {
			t.Errorf("openapi.json has %s, which the router does not serve", r)
		}
	}
	ops := routesOf(httpapi.NewOpsRouter(func(context.Context) error { return nil }, httpapi.Options{Metrics: metricsHandler(t)}))
	slices.Sort(ops)
	if want := []string{"GET /health", "GET /metrics", "GET /ready"}; !slices.Equal(ops, want) {
		t.Errorf("the operator's router serves %v, want %v", ops, want)
	}
}

// TestOpenAPIContract exercises every operation with its success and its
// documented failures, against the document.
func TestOpenAPIContract(t *testing.T) {
	targets := &contractTargets{}
	e := newEndpointsEnv(t, httpapi.Options{APITokens: []string{contractToken}, MaxBodyBytes: contractMaxBody, Targets: targets,
		Metrics: metricsHandler(t)}, openAddresses)
	c := loadContract(t, e.router)
	const unknownID = "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"
	// pad makes a body valid for the document but over MAX_PAYLOAD_BYTES:
	// JSON white space is free.
	pad := func(obj string) string { return obj[:len(obj)-1] + strings.Repeat(" ", contractMaxBody) + "}" }
	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

	// Operations.
	c.call(t, 200, apiReq{method: "GET", path: "/health", noAuth: true})
	c.call(t, 200, apiReq{method: "GET", path: "/ready", noAuth: true})
	rec := c.call(t, 200, apiReq{method: "GET", path: "/openapi.json"})
	if want, _ := os.ReadFile("openapi.json"); !bytes.Equal(rec.Body.Bytes(), want) {
		t.Error("GET /openapi.json does not serve openapi.json")
	}
	c.call(t, 200, apiReq{method: "GET", path: "/targets"})
	rec = c.call(t, 200, apiReq{method: "GET", path: "/metrics", header: []string{"Accept", "application/openmetrics-text;version=1.0.0"}})
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") ||
		!strings.Contains(rec.Body.String(), "webhookd_events_accepted_total") {
		t.Errorf("GET /metrics: %s, %.200s; want the Prometheus text format the document states", ct, rec.Body)
	}
	targets.panics = true
	c.call(t, 500, apiReq{method: "GET", path: "/targets"})
	targets.panics = false

	// Endpoints.
	var a, b struct{ ID, Secret string }
	decode := func(rec *httptest.ResponseRecorder, v any) {
		t.Helper()
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatal(err)
		}
	}
	decode(c.call(t, 201, apiReq{method: "POST", path: "/endpoints", body: `{"url":"https://merchant.example/a","event_types":["order.paid"],` +
		`"description":"A","rate_limit_per_second":10,"metadata":{"team":"payments"}}`}), &a)
	decode(c.call(t, 201, apiReq{method: "POST", path: "/endpoints",
		body: `{"url":"https://merchant.example/b","event_types":["order.paid","order.refunded"],"secret":"` + secret + `"}`}), &b)
	c.call(t, 400, apiReq{method: "POST", path: "/endpoints", body: `{"url":`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/endpoints", body: `{"url":"https://merchant.example/c","event_type":"order.paid"}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/endpoints", body: `{"event_types":[]}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/endpoints", body: `{"url":"https://merchant.example/c","secret":"whsec_short"}`, invalid: true})
	c.call(t, 413, apiReq{method: "POST", path: "/endpoints", body: pad(`{"url":"https://merchant.example/c"}`)})
	c.call(t, 415, apiReq{method: "POST", path: "/endpoints", body: `url=x`, contentType: "application/x-www-form-urlencoded", invalid: true})

	c.call(t, 200, apiReq{method: "GET", path: "/endpoints"})
	c.call(t, 200, apiReq{method: "GET", path: "/endpoints?page=2&limit=1"})

	c.call(t, 200, apiReq{method: "GET", path: "/endpoints/" + a.ID})
	c.call(t, 400, apiReq{method: "GET", path: "/endpoints/not-a-uuid", invalid: true})
	c.call(t, 404, apiReq{method: "GET", path: "/endpoints/" + unknownID})

	c.call(t, 200, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{"description":null,"rate_limit_per_second":null,"metadata":null,"event_types":["order.paid","order.shipped"]}`})
	c.call(t, 200, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{}`})
	c.call(t, 400, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{"disabled":null}`, invalid: true})
	c.call(t, 400, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{"rate_limit_per_second":0}`, invalid: true})
	c.call(t, 400, apiReq{method: "PATCH", path: "/endpoints/NOPE", body: `{}`, invalid: true})
	c.call(t, 404, apiReq{method: "PATCH", path: "/endpoints/" + unknownID, body: `{"disabled":true}`})
	c.call(t, 413, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: pad(`{"disabled":false}`)})
	c.call(t, 415, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{}`, contentType: "text/plain", invalid: true})

	rec = c.call(t, 200, apiReq{method: "GET", path: "/endpoints/" + b.ID + "/secret"})
	if !strings.Contains(rec.Body.String(), secret) {
		t.Errorf("secret of b = %s, want %s", rec.Body, secret)
	}
	c.call(t, 400, apiReq{method: "GET", path: "/endpoints/42/secret", invalid: true})
	c.call(t, 404, apiReq{method: "GET", path: "/endpoints/" + unknownID + "/secret"})

	rotate := "/endpoints/" + a.ID + "/secret/rotate"
	c.call(t, 200, apiReq{method: "POST", path: rotate})
	c.call(t, 200, apiReq{method: "POST", path: rotate, body: `{}`})
	c.call(t, 200, apiReq{method: "POST", path: rotate, body: `{"secret":"` + secret + `"}`})
	c.call(t, 400, apiReq{method: "POST", path: rotate, body: `{"secret":"s3cret"}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: rotate, body: `[]`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/endpoints/x/secret/rotate", invalid: true})
	c.call(t, 404, apiReq{method: "POST", path: "/endpoints/" + unknownID + "/secret/rotate"})
	c.call(t, 413, apiReq{method: "POST", path: rotate, body: pad(`{}`)})
	c.call(t, 415, apiReq{method: "POST", path: rotate, body: `secret`, contentType: "text/plain", invalid: true})

	// Events: to both endpoints, to the default target (idempotently), to
	// nobody, to one endpoint.
	var fanout, keyed struct{ ID string }
	decode(c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"event_type":"order.paid","payload":{"order_id":"abc-123","amount":99.99}}`}), &fanout)
	idem := []string{"Idempotency-Key", "order-abc-123"}
	decode(c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"payload":{"n":1}}`, header: idem}), &keyed)
	rec = c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"payload":{"n":1}}`, header: idem})
	if rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: no Idempotent-Replayed header")
	}
	c.call(t, 409, apiReq{method: "POST", path: "/events", body: `{"payload":{"n":2}}`, header: idem})
	c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"event_type":"nobody.listens","payload":{}}`})
	c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"endpoint_id":"` + b.ID + `","event_type":"order.paid","payload":{}}`})
	c.call(t, 202, apiReq{method: "POST", path: "/events", body: `{"target_url":"https://merchant.example/direct","event_type":"order.paid","payload":{"a":[1,2]}}`})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"payload":`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"payload":{"Event_ID":"mine"}}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"target_url":"https://merchant.example/x","endpoint_id":"` + a.ID + `","payload":{}}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"event_type":"order paid","payload":{}}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"endpoint_id":"` + unknownID + `","payload":{}}`})
	c.call(t, 400, apiReq{method: "POST", path: "/events", body: `{"payload":{}}`, header: []string{"Idempotency-Key", "é"}, invalid: true})
	c.call(t, 413, apiReq{method: "POST", path: "/events", body: pad(`{"payload":{}}`)})
	c.call(t, 415, apiReq{method: "POST", path: "/events", body: `<event/>`, contentType: "application/xml", invalid: true})

	c.call(t, 200, apiReq{method: "GET", path: "/events"})
	c.call(t, 200, apiReq{method: "GET", path: "/events?status=pending&event_type=order.paid&endpoint_id=" + strings.ToUpper(a.ID) + "&page=1&limit=5"})
	c.call(t, 400, apiReq{method: "GET", path: "/events?status=lost", invalid: true})
	c.call(t, 400, apiReq{method: "GET", path: "/events?endpoint_id=42", invalid: true})
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	decode(c.call(t, 200, apiReq{method: "GET", path: "/events?limit=1"}), &page)
	if page.NextCursor == nil {
		t.Fatal("GET /events?limit=1 of several events: no next_cursor")
	}
	c.call(t, 200, apiReq{method: "GET", path: "/events?limit=1&cursor=" + *page.NextCursor})
	c.call(t, 200, apiReq{method: "GET", path: "/events?origin=https://merchant.example&created_after=2020-01-01T00:00:00Z&created_before=2100-01-01T00:00:00.5Z"})
	c.call(t, 400, apiReq{method: "GET", path: "/events?cursor=garbage"})
	c.call(t, 400, apiReq{method: "GET", path: "/events?page=2&cursor=" + *page.NextCursor})
	c.call(t, 400, apiReq{method: "GET", path: "/events?origin=ftp://merchant.example"})
	c.call(t, 400, apiReq{method: "GET", path: "/events?created_after=yesterday", invalid: true})
	c.call(t, 400, apiReq{method: "GET", path: "/events?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z"})

	// A delivery of the fan-out dies: it has an attempt, and can be replayed.
	dead := e.complete(t, "w1", deadDecision, attemptRecord())
	c.call(t, 200, apiReq{method: "GET", path: "/events/" + dead.EventID.String()})
	c.call(t, 200, apiReq{method: "GET", path: "/events/" + keyed.ID})
	c.call(t, 400, apiReq{method: "GET", path: "/events/abc", invalid: true})
	c.call(t, 404, apiReq{method: "GET", path: "/events/" + unknownID})

	c.call(t, 202, apiReq{method: "POST", path: "/events/" + dead.EventID.String() + "/retry"})
	c.call(t, 409, apiReq{method: "POST", path: "/events/" + keyed.ID + "/retry"})
	c.call(t, 400, apiReq{method: "POST", path: "/events/abc/retry", invalid: true})
	c.call(t, 404, apiReq{method: "POST", path: "/events/" + unknownID + "/retry"})

	dead = e.complete(t, "w1", deadDecision, attemptRecord())
	c.call(t, 202, apiReq{method: "POST", path: "/events/" + dead.EventID.String() + "/deliveries/" + dead.ID.String() + "/retry"})
	c.call(t, 409, apiReq{method: "POST", path: "/events/" + keyed.ID + "/deliveries/" + keyed.ID + "/retry"})
	c.call(t, 400, apiReq{method: "POST", path: "/events/" + keyed.ID + "/deliveries/abc/retry", invalid: true})
	c.call(t, 404, apiReq{method: "POST", path: "/events/" + keyed.ID + "/deliveries/" + unknownID + "/retry"})

	// Bulk recovery of the dead.
	c.call(t, 202, apiReq{method: "POST", path: "/events/recover", body: `{"endpoint_id":"` + a.ID + `","created_after":"2020-01-01T00:00:00Z","rate_per_second":5}`})
	c.call(t, 202, apiReq{method: "POST", path: "/events/recover", body: `{"status":"succeeded","origin":"https://merchant.example"}`})
	c.call(t, 400, apiReq{method: "POST", path: "/events/recover", body: `{}`})
	c.call(t, 400, apiReq{method: "POST", path: "/events/recover", body: `{"status":"pending","origin":"https://merchant.example"}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events/recover", body: `{"origin":"https://merchant.example","rate_per_second":0}`, invalid: true})
	c.call(t, 400, apiReq{method: "POST", path: "/events/recover", body: `{"origin":"https://merchant.example","since":"2020-01-01T00:00:00Z"}`, invalid: true})
	c.call(t, 413, apiReq{method: "POST", path: "/events/recover", body: pad(`{"origin":"https://merchant.example"}`)})
	c.call(t, 415, apiReq{method: "POST", path: "/events/recover", body: `origin=x`, contentType: "text/plain", invalid: true})

	c.call(t, 200, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{"disabled":true}`}) // disabled_reason set
	c.call(t, 204, apiReq{method: "DELETE", path: "/endpoints/" + b.ID})
	c.call(t, 404, apiReq{method: "DELETE", path: "/endpoints/" + b.ID})
	c.call(t, 400, apiReq{method: "DELETE", path: "/endpoints/b", invalid: true})

	// Without a token, every operation but the probes is 401.
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			p := strings.NewReplacer("{id}", a.ID, "{delivery_id}", a.ID).Replace(path)
			c.call(t, 401, apiReq{method: method, path: p, noAuth: true, invalid: true})
		}
	}
	c.call(t, 401, apiReq{method: "GET", path: "/events", header: []string{"Authorization", "Bearer wrong"}, noAuth: true, invalid: true})

	// The database is down: every operation that reads or writes it is 503.
	e.store.SetDown(true)
	c.call(t, 503, apiReq{method: "GET", path: "/ready", noAuth: true})
	c.call(t, 503, apiReq{method: "POST", path: "/events", body: `{"payload":{}}`})
	c.call(t, 503, apiReq{method: "GET", path: "/events"})
	c.call(t, 503, apiReq{method: "GET", path: "/events/" + keyed.ID})
	c.call(t, 503, apiReq{method: "POST", path: "/events/" + keyed.ID + "/retry"})
	c.call(t, 503, apiReq{method: "POST", path: "/events/" + keyed.ID + "/deliveries/" + keyed.ID + "/retry"})
	c.call(t, 503, apiReq{method: "POST", path: "/events/recover", body: `{"origin":"https://merchant.example"}`})
	c.call(t, 503, apiReq{method: "POST", path: "/endpoints", body: `{"url":"https://merchant.example/d"}`})
	c.call(t, 503, apiReq{method: "GET", path: "/endpoints"})
	c.call(t, 503, apiReq{method: "GET", path: "/endpoints/" + a.ID})
	c.call(t, 503, apiReq{method: "PATCH", path: "/endpoints/" + a.ID, body: `{"disabled":false}`})
	c.call(t, 503, apiReq{method: "DELETE", path: "/endpoints/" + a.ID})
	c.call(t, 503, apiReq{method: "GET", path: "/endpoints/" + a.ID + "/secret"})
	c.call(t, 503, apiReq{method: "POST", path: rotate})
	e.store.SetDown(false)

	// What the document states outside its operations.
	c.callUndocumented(t, 404, apiReq{method: "GET", path: "/nope"}, "RouteNotFound")
	c.callUndocumented(t, 405, apiReq{method: "DELETE", path: "/events"}, "MethodNotAllowed")

	// Every documented status of every operation was produced by the real
	// handlers. 500 is documented everywhere but reachable only by a panic:
	// once is enough to prove its shape.
	saw500 := false
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				key := op.OperationID + " " + status
				switch {
				case status == "500":
					saw500 = saw500 || c.seen[key]
				case !c.seen[key]:
					t.Errorf("%s %s: documented status %s was never produced", method, path, status)
				}
			}
		}
	}
	if !saw500 {
		t.Error("no 500 was produced")
	}
}
