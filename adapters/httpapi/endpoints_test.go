package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// openAddresses lets endpoint URLs on localhost through; the SSRF guard
// has its own test (TestEndpointPrivateURLRefused).
var openAddresses = core.AddressPolicy{AllowPrivate: true}

const unknownEndpoint = "/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70"

// endpointBody is an endpoint as the API answers it, with the secret of
// the 201 when there is one.
type endpointBody struct {
	ID                 string          `json:"id"`
	URL                string          `json:"url"`
	EventTypes         []string        `json:"event_types"`
	Description        string          `json:"description"`
	RateLimitPerSecond *int            `json:"rate_limit_per_second"`
	Metadata           json.RawMessage `json:"metadata"`
	Disabled           bool            `json:"disabled"`
	DisabledReason     *string         `json:"disabled_reason"`
	CreatedAt          string          `json:"created_at"`
	UpdatedAt          string          `json:"updated_at"`
	Secret             string          `json:"secret"`
}

// createEndpoint posts body to /endpoints and wants a 201.
func (e *env) createEndpoint(t *testing.T, body string) endpointBody {
	t.Helper()
	rec := do(t, e.router, http.MethodPost, "/endpoints", body, "Content-Type", "application/json")
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", rec.Code, rec.Body)
	}
	var out endpointBody
	decodeJSON(t, rec, &out)
	return out
}

// endpointJSON is GET /endpoints/:id's body, which must be a 200.
func (e *env) endpointJSON(t *testing.T, id string) string {
	t.Helper()
	rec := do(t, e.router, http.MethodGet, "/endpoints/"+id, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("get %s: status %d, body %s", id, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// secretOf is GET /endpoints/:id/secret's secret.
func (e *env) secretOf(t *testing.T, id string) string {
	t.Helper()
	rec := do(t, e.router, http.MethodGet, "/endpoints/"+id+"/secret", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("secret of %s: status %d, body %s", id, rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("secret response Cache-Control = %q, want no-store", got)
	}
	var out struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, rec, &out)
	if want := fmt.Sprintf(`{"secret":%q}`, out.Secret); rec.Body.String() != want {
		t.Errorf("secret body = %s, want %s", rec.Body, want)
	}
	return out.Secret
}

func (e *env) endpointCount(t *testing.T) int {
	t.Helper()
	res, err := e.endpoints.List(t.Context(), ports.EndpointFilter{Page: 1, Limit: 100})
	if err != nil {
		t.Fatalf("list endpoints: %v", err)
	}
	return res.Total
}

// secretKey decodes a "whsec_" secret.
func secretKey(t *testing.T, secret string) []byte {
	t.Helper()
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		t.Fatalf("secret %q does not start with whsec_", secret)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	return key
}

func whsec(n int, fill byte) string {
	return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

// checkNoSecret fails when body shows secret, its key in base64, or a
// member that looks like a secret.
func checkNoSecret(t *testing.T, what, body, secret string) {
	t.Helper()
	b64 := strings.TrimPrefix(secret, "whsec_")
	if strings.Contains(body, secret) || strings.Contains(body, b64) || strings.Contains(body, "secret") {
		t.Errorf("%s shows a secret: %s", what, body)
	}
}

func TestEndpointCreateAndSecret(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	body := `{"url":"https://merchant.example/hooks","event_types":["order.paid","invoice.sent","order.paid"],` +
		`"description":"prod","rate_limit_per_second":50,"metadata":{"team": "payments", "n": 1.0, "big": 12345678901234567890}}`
	rec := do(t, e.router, http.MethodPost, "/endpoints", body, "Content-Type", "application/json")
	if rec.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", rec.Code, rec.Body)
	}
	var created endpointBody
	decodeJSON(t, rec, &created)
	if key := secretKey(t, created.Secret); len(key) != 32 {
		t.Errorf("generated secret has %d bytes, want 32", len(key))
	}
	shown := fmt.Sprintf(`{"id":%q,"url":"https://merchant.example/hooks","event_types":["invoice.sent","order.paid"],`+
		`"description":"prod","rate_limit_per_second":50,"metadata":{"team":"payments","n":1.0,"big":12345678901234567890},`+
		`"disabled":false,"disabled_reason":null,"failing_since":null,"created_at":"2025-01-02T03:04:05.123Z","updated_at":"2025-01-02T03:04:05.123Z"`, created.ID)
	if want := shown + fmt.Sprintf(`,"secret":%q}`, created.Secret); rec.Body.String() != want {
		t.Errorf("201 body:\n got %s\nwant %s", rec.Body, want)
	}
	if got := rec.Header().Get("Location"); got != "/endpoints/"+created.ID {
		t.Errorf("Location = %q", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	if got := e.secretOf(t, created.ID); got != created.Secret {
		t.Errorf("GET secret = %q, want the one created %q", got, created.Secret)
	}
	got := e.endpointJSON(t, created.ID)
	if got != shown+"}" {
		t.Errorf("GET:\n got %s\nwant %s}", got, shown)
	}
	checkNoSecret(t, "GET /endpoints/:id", got, created.Secret)
	list := do(t, e.router, http.MethodGet, "/endpoints", "").Body.String()
	checkNoSecret(t, "GET /endpoints", list, created.Secret)
	if !strings.Contains(list, shown+"}") {
		t.Errorf("list lacks the endpoint: %s", list)
	}

	// The store only ever sees the secret sealed.
	stored, err := e.store.GetEndpoint(t.Context(), core.EndpointID(created.ID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Secret, secretKey(t, created.Secret)) || strings.Contains(string(stored.Secret), created.Secret) {
		t.Error("the store holds the secret in the clear")
	}

	// Upper case ids are the same endpoint.
	if rec := do(t, e.router, http.MethodGet, "/endpoints/"+strings.ToUpper(created.ID), ""); rec.Code != http.StatusOK {
		t.Errorf("upper-case id: %d", rec.Code)
	}
}

func TestEndpointCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	for _, body := range []string{
		`{"url":"http://localhost:9000/hook"}`,
		`{"url":"http://localhost:9000/hook","event_types":null,"description":null,"rate_limit_per_second":null,"metadata":null}`,
		` {"url":"http://localhost:9000/hook","event_types":[]}` + "\n",
	} {
		created := e.createEndpoint(t, body)
		want := fmt.Sprintf(`{"id":%q,"url":"http://localhost:9000/hook","event_types":[],"description":"",`+
			`"rate_limit_per_second":null,"metadata":null,"disabled":false,"disabled_reason":null,"failing_since":null,`+
			`"created_at":"2025-01-02T03:04:05.123Z","updated_at":"2025-01-02T03:04:05.123Z"}`, created.ID)
		if got := e.endpointJSON(t, created.ID); got != want {
			t.Errorf("%s:\n got %s\nwant %s", body, got, want)
		}
	}
	// Content types as POST /events takes them.
	for _, ct := range []string{"", "application/json; charset=utf-8", "application/merge-patch+json"} {
		rec := do(t, e.router, http.MethodPost, "/endpoints", `{"url":"http://localhost:9000/hook"}`, "Content-Type", ct)
		if rec.Code != http.StatusCreated {
			t.Errorf("Content-Type %q: %d %s", ct, rec.Code, rec.Body)
		}
	}
}

func TestEndpointCreateWithSecret(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	for _, n := range []int{24, 32, 64} {
		secret := whsec(n, byte(n))
		created := e.createEndpoint(t, fmt.Sprintf(`{"url":"https://merchant.example/hooks","secret":%q}`, secret))
		if created.Secret != secret {
			t.Errorf("%d bytes: 201 secret = %q, want %q", n, created.Secret, secret)
		}
		if got := e.secretOf(t, created.ID); got != secret {
			t.Errorf("%d bytes: GET secret = %q, want %q", n, got, secret)
		}
		checkNoSecret(t, "GET /endpoints/:id", e.endpointJSON(t, created.ID), secret)
	}
}

func TestEndpointCreateRejected(t *testing.T) {
	t.Parallel()
	const ct = "application/json"
	const url = `"url":"https://merchant.example/hooks"`
	manyTypes := make([]string, core.MaxEventTypesPerEndpoint+1)
	for i := range manyTypes {
		manyTypes[i] = fmt.Sprintf("t%d", i)
	}
	manyJSON, _ := json.Marshal(manyTypes)
	bigMetadata := `{"a":"` + strings.Repeat("x", core.MaxEndpointMetadataBytes) + `"}`
	tests := []struct {
		name       string
		body       string
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"secret without whsec_", `{` + url + `,"secret":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`, nil, 400, "invalid_secret", "secret"},
		{"secret of 16 bytes", `{` + url + `,"secret":"` + whsec(16, 1) + `"}`, nil, 400, "invalid_secret", "secret"},
		{"secret of 23 bytes", `{` + url + `,"secret":"` + whsec(23, 1) + `"}`, nil, 400, "invalid_secret", "secret"},
		{"secret of 65 bytes", `{` + url + `,"secret":"` + whsec(65, 1) + `"}`, nil, 400, "invalid_secret", "secret"},
		{"secret not base64", `{` + url + `,"secret":"whsec_!!!!"}`, nil, 400, "invalid_secret", "secret"},
		{"secret empty", `{` + url + `,"secret":""}`, nil, 400, "invalid_secret", "secret"},
		{"secret null", `{` + url + `,"secret":null}`, nil, 400, "invalid_secret", "secret"},
		{"secret number", `{` + url + `,"secret":42}`, nil, 400, "invalid_secret", "secret"},
		{"url missing", `{"event_types":["a"]}`, nil, 400, "missing_url", "url"},
		{"url empty", `{"url":""}`, nil, 400, "missing_url", "url"},
		{"url null", `{"url":null}`, nil, 400, "invalid_url", "url"},
		{"url number", `{"url":42}`, nil, 400, "invalid_url", "url"},
		{"url ftp", `{"url":"ftp://merchant.example/"}`, nil, 400, "invalid_url", "url"},
		{"url relative", `{"url":"/hooks"}`, nil, 400, "invalid_url", "url"},
		{"url without host", `{"url":"http://"}`, nil, 400, "invalid_url", "url"},
		{"event type with two dots", `{` + url + `,"event_types":["order..paid"]}`, nil, 400, "invalid_event_type", "event_types"},
		{"event type empty", `{` + url + `,"event_types":["order.paid",""]}`, nil, 400, "invalid_event_type", "event_types"},
		{"event type with a space", `{` + url + `,"event_types":["a b"]}`, nil, 400, "invalid_event_type", "event_types"},
		{"event type null", `{` + url + `,"event_types":[null]}`, nil, 400, "invalid_event_type", "event_types"},
		{"event types a string", `{` + url + `,"event_types":"order.paid"}`, nil, 400, "invalid_event_types", "event_types"},
		{"event types numbers", `{` + url + `,"event_types":[1]}`, nil, 400, "invalid_event_types", "event_types"},
		{"event types an object", `{` + url + `,"event_types":{}}`, nil, 400, "invalid_event_types", "event_types"},
		{"too many event types", `{` + url + `,"event_types":` + string(manyJSON) + `}`, nil, 400, "too_many_event_types", "event_types"},
		{"description number", `{` + url + `,"description":1}`, nil, 400, "invalid_description", "description"},
		{"description too long", `{` + url + `,"description":"` + strings.Repeat("d", core.MaxEndpointDescription+1) + `"}`, nil, 400, "invalid_description", "description"},
		{"rate limit 0", `{` + url + `,"rate_limit_per_second":0}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit -1", `{` + url + `,"rate_limit_per_second":-1}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit 1.5", `{` + url + `,"rate_limit_per_second":1.5}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit 1e3", `{` + url + `,"rate_limit_per_second":1e3}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit a string", `{` + url + `,"rate_limit_per_second":"x"}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit a numeric string", `{` + url + `,"rate_limit_per_second":"5"}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit true", `{` + url + `,"rate_limit_per_second":true}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit too high", `{` + url + `,"rate_limit_per_second":100001}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit huge", `{` + url + `,"rate_limit_per_second":99999999999999999999999}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"metadata array", `{` + url + `,"metadata":[1,2]}`, nil, 400, "invalid_metadata", "metadata"},
		{"metadata string", `{` + url + `,"metadata":"{}"}`, nil, 400, "invalid_metadata", "metadata"},
		{"metadata number", `{` + url + `,"metadata":5}`, nil, 400, "invalid_metadata", "metadata"},
		{"metadata too large", `{` + url + `,"metadata":` + bigMetadata + `}`, nil, 400, "invalid_metadata", "metadata"},
		{"unknown field", `{` + url + `,"event_type":"order.paid"}`, nil, 400, "invalid_request", "event_type"},
		{"field in the wrong case", `{"URL":"https://merchant.example/hooks"}`, nil, 400, "invalid_request", "URL"},
		{"disabled on create", `{` + url + `,"disabled":true}`, nil, 400, "invalid_request", "disabled"},
		{"body an array", `[{` + url + `}]`, nil, 400, "invalid_request", ""},
		{"body null", `null`, nil, 400, "invalid_request", ""},
		{"empty body", ``, nil, 400, "invalid_json", ""},
		{"malformed", `{` + url, nil, 400, "invalid_json", ""},
		{"trailing data", `{` + url + `} x`, nil, 400, "invalid_json", ""},
		{"two objects", `{` + url + `}{` + url + `}`, nil, 400, "invalid_json", ""},
		{"invalid UTF-8", "{" + url + ",\"description\":\"\xff\"}", nil, 400, "invalid_json", ""},
		{"text/plain", `{` + url + `}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"form", `url=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"too large", `{` + url + `,"description":"` + strings.Repeat("x", 40<<10) + `"}`, nil, 413, "payload_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEndpointsEnv(t, httpapi.Options{MaxBodyBytes: 32 << 10}, openAddresses)
			headers := tc.headers
			if headers == nil {
				headers = []string{"Content-Type", ct}
			}
			rec := do(t, e.router, http.MethodPost, "/endpoints", tc.body, headers...)
			env := wantError(t, rec, tc.wantStatus, tc.wantCode)
			if got := env.Error.Details["field"]; got != tc.wantField {
				t.Errorf("details.field = %q, want %q; body %s", got, tc.wantField, rec.Body)
			}
			if tc.wantField != "" && !strings.Contains(env.Error.Message, tc.wantField) {
				t.Errorf("message %q does not name %s", env.Error.Message, tc.wantField)
			}
			if n := e.endpointCount(t); n != 0 {
				t.Errorf("%d endpoints stored, want 0", n)
			}
		})
	}
}

// The SSRF guard lives in the service; the API answers its refusal as a
// 400 naming url.
func TestEndpointPrivateURLRefused(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, core.AddressPolicy{})
	for _, u := range []string{"http://10.0.0.1/", "http://localhost:3001/webhook", "http://169.254.169.254/latest", "http://[::ffff:10.0.0.1]/"} {
		rec := do(t, e.router, http.MethodPost, "/endpoints", fmt.Sprintf(`{"url":%q}`, u))
		env := wantError(t, rec, http.StatusBadRequest, "private_target")
		if env.Error.Details["field"] != "url" {
			t.Errorf("%s: details = %v, want field url", u, env.Error.Details)
		}
	}
	if n := e.endpointCount(t); n != 0 {
		t.Errorf("%d endpoints stored, want 0", n)
	}

	// A public name passes (no DNS at this point), and cannot be moved to
	// a private address later.
	created := e.createEndpoint(t, `{"url":"https://merchant.example/hooks"}`)
	before := e.endpointJSON(t, created.ID)
	rec := do(t, e.router, http.MethodPatch, "/endpoints/"+created.ID, `{"url":"http://10.0.0.1/"}`)
	if env := wantError(t, rec, http.StatusBadRequest, "private_target"); env.Error.Details["field"] != "url" {
		t.Errorf("PATCH: details = %v, want field url", env.Error.Details)
	}
	if after := e.endpointJSON(t, created.ID); after != before {
		t.Errorf("a refused PATCH changed the endpoint:\n%s\n%s", before, after)
	}
}

func TestEndpointList(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	if rec := do(t, e.router, http.MethodGet, "/endpoints", ""); rec.Code != http.StatusOK ||
		rec.Body.String() != `{"data":[],"total":0,"page":1,"limit":20}` {
		t.Errorf("empty list: %d %s", rec.Code, rec.Body)
	}
	var ids, secrets []string // oldest first
	for i := range 3 {
		created := e.createEndpoint(t, fmt.Sprintf(`{"url":"https://merchant.example/hooks/%d"}`, i))
		ids, secrets = append(ids, created.ID), append(secrets, created.Secret)
		e.clock.Advance(time.Second)
	}
	newest := []string{ids[2], ids[1], ids[0]}

	tests := []struct {
		query               string
		wantPage, wantLimit int
		wantIDs             []string
	}{
		{"", 1, 20, newest},
		{"?limit=2", 1, 2, newest[:2]},
		{"?page=2&limit=2", 2, 2, newest[2:]},
		{"?page=3&limit=2", 3, 2, nil},
		{"?page=0", 1, 20, newest},
		{"?page=-3", 1, 20, newest},
		{"?page=abc", 1, 20, newest},
		{"?page=99999999999999999999", 1_000_000, 20, nil},
		{"?limit=0", 1, 20, newest},
		{"?limit=-5", 1, 1, newest[:1]},
		{"?limit=1000", 1, 100, newest},
		{"?limit=1&page=3", 3, 1, newest[2:]},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			rec := do(t, e.router, http.MethodGet, "/endpoints"+tc.query, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `"data":[`) {
				t.Errorf("data must be an array, never null: %s", rec.Body)
			}
			for _, s := range secrets {
				checkNoSecret(t, "GET /endpoints"+tc.query, rec.Body.String(), s)
			}
			var got struct {
				Data               []endpointBody `json:"data"`
				Total, Page, Limit int
			}
			decodeJSON(t, rec, &got)
			if got.Total != 3 || got.Page != tc.wantPage || got.Limit != tc.wantLimit {
				t.Errorf("total/page/limit = %d/%d/%d, want 3/%d/%d", got.Total, got.Page, got.Limit, tc.wantPage, tc.wantLimit)
			}
			var gotIDs []string
			for _, ep := range got.Data {
				gotIDs = append(gotIDs, ep.ID)
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tc.wantIDs) {
				t.Errorf("ids = %v, want %v", gotIDs, tc.wantIDs)
			}
		})
	}
}

func TestEndpointGetErrors(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	for _, path := range []string{"/endpoints/not-a-uuid", "/endpoints/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6fzz", "/endpoints/1%27%20OR%201=1"} {
		for _, p := range []string{path, path + "/secret"} {
			env := wantError(t, do(t, e.router, http.MethodGet, p, ""), http.StatusBadRequest, "invalid_id")
			if env.Error.Details["field"] != "id" {
				t.Errorf("%s: details = %v, want field id", p, env.Error.Details)
			}
		}
	}
	for _, p := range []string{unknownEndpoint, unknownEndpoint + "/secret"} {
		env := wantError(t, do(t, e.router, http.MethodGet, p, ""), http.StatusNotFound, "not_found")
		if env.Error.Message != "endpoint not found" {
			t.Errorf("%s: message = %q, want endpoint not found", p, env.Error.Message)
		}
	}
	// Events keep the seed's wording.
	env := wantError(t, do(t, e.router, http.MethodGet, "/events/0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", ""), http.StatusNotFound, "not_found")
	if env.Error.Message != "event not found" {
		t.Errorf("GET /events/:id message = %q, want event not found", env.Error.Message)
	}
	rec := do(t, e.router, http.MethodPut, unknownEndpoint, `{}`)
	wantError(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := rec.Header().Get("Allow"); !sameSet(got, "GET, PATCH, DELETE") {
		t.Errorf("Allow = %q", got)
	}
}

func TestEndpointPatch(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	created := e.createEndpoint(t, `{"url":"https://merchant.example/hooks","event_types":["order.paid"],"description":"v1"}`)
	id := created.ID
	patch := func(body string) endpointBody {
		t.Helper()
		e.clock.Advance(time.Second)
		rec := do(t, e.router, http.MethodPatch, "/endpoints/"+id, body, "Content-Type", "application/json")
		if rec.Code != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", body, rec.Code, rec.Body)
		}
		if got := e.endpointJSON(t, id); got != rec.Body.String() {
			t.Errorf("PATCH %s answered\n%s\nbut GET shows\n%s", body, rec.Body, got)
		}
		checkNoSecret(t, "PATCH "+body, rec.Body.String(), created.Secret)
		var out endpointBody
		decodeJSON(t, rec, &out)
		return out
	}

	got := patch(`{"url":"https://other.example/v2/hooks"}`)
	if got.URL != "https://other.example/v2/hooks" || got.Description != "v1" || fmt.Sprint(got.EventTypes) != "[order.paid]" {
		t.Errorf("after url: %+v", got)
	}
	if got.CreatedAt != "2025-01-02T03:04:05.123Z" || got.UpdatedAt != "2025-01-02T03:04:06.123Z" {
		t.Errorf("times: created %s, updated %s", got.CreatedAt, got.UpdatedAt)
	}
	if got := patch(`{"event_types":["b.x","a.y","b.x"]}`); fmt.Sprint(got.EventTypes) != "[a.y b.x]" {
		t.Errorf("event_types = %v, want [a.y b.x]", got.EventTypes)
	}
	for _, every := range []string{`{"event_types":[]}`, `{"event_types":null}`} {
		if _, err := e.endpoints.Update(t.Context(), core.EndpointID(id), ports.EndpointPatch{EventTypes: &[]string{"x"}}); err != nil {
			t.Fatal(err)
		}
		got := patch(every)
		if got.EventTypes == nil || len(got.EventTypes) != 0 {
			t.Errorf("%s: event_types = %#v, want []", every, got.EventTypes)
		}
	}
	if got := patch(`{"description":"v2"}`); got.Description != "v2" {
		t.Errorf("description = %q", got.Description)
	}
	if got := patch(`{"description":null}`); got.Description != "" {
		t.Errorf("description after null = %q", got.Description)
	}
	if got := patch(`{"rate_limit_per_second":10}`); got.RateLimitPerSecond == nil || *got.RateLimitPerSecond != 10 {
		t.Errorf("rate limit = %v, want 10", got.RateLimitPerSecond)
	}
	if got := patch(`{"description":"v3"}`); got.RateLimitPerSecond == nil || *got.RateLimitPerSecond != 10 {
		t.Errorf("an absent rate limit changed it: %v", got.RateLimitPerSecond)
	}
	if got := patch(`{"rate_limit_per_second":null}`); got.RateLimitPerSecond != nil {
		t.Errorf("rate limit after null = %v, want null", *got.RateLimitPerSecond)
	}
	if got := patch(`{"metadata":{"b": [1, 2.50], "a": "x"}}`); string(got.Metadata) != `{"b":[1,2.50],"a":"x"}` {
		t.Errorf("metadata = %s", got.Metadata)
	}
	if got := patch(`{"metadata":null}`); len(got.Metadata) != 0 && string(got.Metadata) != "null" {
		t.Errorf("metadata after null = %s, want null", got.Metadata)
	}

	got = patch(`{"disabled":true}`)
	if !got.Disabled || got.DisabledReason == nil || *got.DisabledReason != "disabled through the API" {
		t.Errorf("after disabled:true: disabled %v, reason %v", got.Disabled, got.DisabledReason)
	}
	if s := e.endpointJSON(t, id); !strings.Contains(s, `"disabled":true,"disabled_reason":"disabled through the API"`) {
		t.Errorf("GET after disabling: %s", s)
	}
	got = patch(`{"disabled":false}`)
	if got.Disabled || got.DisabledReason != nil {
		t.Errorf("after disabled:false: disabled %v, reason %v", got.Disabled, got.DisabledReason)
	}

	got = patch(`{"url":"https://merchant.example/v3","event_types":["a.b"],"description":"all","rate_limit_per_second":7,"metadata":{"k":1},"disabled":true}`)
	want := fmt.Sprintf(`{"id":%q,"url":"https://merchant.example/v3","event_types":["a.b"],"description":"all",`+
		`"rate_limit_per_second":7,"metadata":{"k":1},"disabled":true,"disabled_reason":"disabled through the API","failing_since":null,`+
		`"created_at":"2025-01-02T03:04:05.123Z","updated_at":%q}`, id, got.UpdatedAt)
	if s := e.endpointJSON(t, id); s != want {
		t.Errorf("after patching everything:\n got %s\nwant %s", s, want)
	}

	// {} changes nothing, not even updated_at.
	before := e.endpointJSON(t, id)
	e.clock.Advance(time.Minute)
	rec := do(t, e.router, http.MethodPatch, "/endpoints/"+id, `{}`)
	if rec.Code != http.StatusOK || rec.Body.String() != before {
		t.Errorf("PATCH {}: %d\n got %s\nwant %s", rec.Code, rec.Body, before)
	}

	// The secret is untouched by every patch.
	if s := e.secretOf(t, id); s != created.Secret {
		t.Errorf("secret changed by PATCH: %q, want %q", s, created.Secret)
	}
}

func TestEndpointPatchRejected(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{MaxBodyBytes: 4096}, openAddresses)
	created := e.createEndpoint(t, `{"url":"https://merchant.example/hooks","event_types":["order.paid"],"rate_limit_per_second":5,"metadata":{"a":1}}`)
	path := "/endpoints/" + created.ID
	before := e.endpointJSON(t, created.ID)
	e.clock.Advance(time.Second)

	tests := []struct {
		name       string
		body       string
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"unknown field", `{"disabled":true,"secret":"` + whsec(32, 9) + `"}`, nil, 400, "invalid_request", "secret"},
		{"unknown field alone", `{"enabled":true}`, nil, 400, "invalid_request", "enabled"},
		{"url null", `{"url":null}`, nil, 400, "invalid_url", "url"},
		{"url number", `{"url":1}`, nil, 400, "invalid_url", "url"},
		{"url empty", `{"url":""}`, nil, 400, "missing_url", "url"},
		{"url ftp", `{"url":"ftp://x/"}`, nil, 400, "invalid_url", "url"},
		{"event type invalid", `{"event_types":["a b"]}`, nil, 400, "invalid_event_type", "event_types"},
		{"event types a string", `{"event_types":"a"}`, nil, 400, "invalid_event_types", "event_types"},
		{"description number", `{"description":2}`, nil, 400, "invalid_description", "description"},
		{"rate limit 0", `{"rate_limit_per_second":0}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit -1", `{"rate_limit_per_second":-1}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit 1.5", `{"rate_limit_per_second":1.5}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"rate limit x", `{"rate_limit_per_second":"x"}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"metadata array", `{"metadata":[]}`, nil, 400, "invalid_metadata", "metadata"},
		{"disabled string", `{"disabled":"yes"}`, nil, 400, "invalid_disabled", "disabled"},
		{"disabled null", `{"disabled":null}`, nil, 400, "invalid_disabled", "disabled"},
		{"disabled number", `{"disabled":1}`, nil, 400, "invalid_disabled", "disabled"},
		{"a valid field beside an invalid one", `{"description":"new","rate_limit_per_second":0}`, nil, 400, "invalid_rate_limit", "rate_limit_per_second"},
		{"body an array", `[]`, nil, 400, "invalid_request", ""},
		{"empty body", ``, nil, 400, "invalid_json", ""},
		{"trailing data", `{} {}`, nil, 400, "invalid_json", ""},
		{"text/plain", `{"description":"x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"too large", `{"description":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "payload_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			headers := tc.headers
			if headers == nil {
				headers = []string{"Content-Type", "application/json"}
			}
			rec := do(t, e.router, http.MethodPatch, path, tc.body, headers...)
			env := wantError(t, rec, tc.wantStatus, tc.wantCode)
			if got := env.Error.Details["field"]; got != tc.wantField {
				t.Errorf("details.field = %q, want %q", got, tc.wantField)
			}
			if after := e.endpointJSON(t, created.ID); after != before {
				t.Errorf("a refused PATCH changed the endpoint:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		env := wantError(t, do(t, e.router, http.MethodPatch, unknownEndpoint, `{"description":"x"}`), http.StatusNotFound, "not_found")
		if env.Error.Message != "endpoint not found" {
			t.Errorf("message = %q", env.Error.Message)
		}
		wantError(t, do(t, e.router, http.MethodPatch, unknownEndpoint, `{}`), http.StatusNotFound, "not_found")
		wantError(t, do(t, e.router, http.MethodPatch, "/endpoints/nope", `{"description":"x"}`), http.StatusBadRequest, "invalid_id")
	})
}

func TestEndpointDelete(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	kept := e.createEndpoint(t, `{"url":"https://merchant.example/kept"}`)
	gone := e.createEndpoint(t, `{"url":"https://merchant.example/gone"}`)

	rec := do(t, e.router, http.MethodDelete, "/endpoints/"+gone.ID, "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q, want 204 and no body", rec.Code, rec.Body)
	}
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/endpoints/" + gone.ID, ""},
		{http.MethodGet, "/endpoints/" + gone.ID + "/secret", ""},
		{http.MethodDelete, "/endpoints/" + gone.ID, ""},
		{http.MethodPatch, "/endpoints/" + gone.ID, `{"disabled":true}`},
		{http.MethodPost, "/endpoints/" + gone.ID + "/secret/rotate", ""},
	} {
		env := wantError(t, do(t, e.router, req.method, req.path, req.body), http.StatusNotFound, "not_found")
		if env.Error.Message != "endpoint not found" {
			t.Errorf("%s %s: message = %q, want endpoint not found", req.method, req.path, env.Error.Message)
		}
	}
	wantError(t, do(t, e.router, http.MethodDelete, "/endpoints/nope", ""), http.StatusBadRequest, "invalid_id")
	if n := e.endpointCount(t); n != 1 {
		t.Errorf("%d endpoints left, want 1", n)
	}
	e.endpointJSON(t, kept.ID)
}

func TestEndpointRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	created := e.createEndpoint(t, `{"url":"https://merchant.example/hooks"}`)
	path := "/endpoints/" + created.ID + "/secret/rotate"
	rotate := func(body string, headers ...string) string {
		t.Helper()
		rec := do(t, e.router, http.MethodPost, path, body, headers...)
		if rec.Code != http.StatusOK {
			t.Fatalf("rotate with %q: %d %s", body, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		var out struct {
			Secret string `json:"secret"`
		}
		decodeJSON(t, rec, &out)
		if want := fmt.Sprintf(`{"secret":%q}`, out.Secret); rec.Body.String() != want {
			t.Errorf("rotate body = %s, want %s", rec.Body, want)
		}
		return out.Secret
	}

	before := e.endpointJSON(t, created.ID)
	current := created.Secret
	for _, body := range []string{"", "  \n", `{}`} {
		next := rotate(body, "Content-Type", "application/json")
		if next == current {
			t.Errorf("rotate with %q kept the secret %q", body, next)
		}
		if key := secretKey(t, next); len(key) != 32 {
			t.Errorf("rotated secret has %d bytes, want 32", len(key))
		}
		if got := e.secretOf(t, created.ID); got != next {
			t.Errorf("GET secret = %q, want the new %q", got, next)
		}
		current = next
	}
	// A bare POST whatever its client's Content-Type: nothing to decode.
	current = rotate("", "Content-Type", "application/x-www-form-urlencoded")

	given := whsec(48, 7)
	if got := rotate(fmt.Sprintf(`{"secret":%q}`, given)); got != given {
		t.Errorf("rotate with a secret returned %q, want %q", got, given)
	}
	if got := e.secretOf(t, created.ID); got != given {
		t.Errorf("GET secret = %q, want %q", got, given)
	}
	// The previous secret keeps signing through the grace.
	stored, err := e.store.GetEndpoint(t.Context(), core.EndpointID(created.ID))
	if err != nil {
		t.Fatal(err)
	}
	if stored.PreviousSecret == nil || stored.PreviousSecretUntil == nil || !stored.PreviousSecretUntil.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("previous secret %v until %v, want one until an hour from now", stored.PreviousSecret != nil, stored.PreviousSecretUntil)
	}
	after := e.endpointJSON(t, created.ID)
	for _, s := range []string{created.Secret, current, given} {
		checkNoSecret(t, "GET after rotations", after, s)
	}
	if strings.Contains(after, "previous") {
		t.Errorf("GET shows the previous secret: %s", after)
	}
	if after != before { // updated_at aside, nothing shown changed; the clock did not move
		t.Errorf("rotation changed the endpoint as shown:\n%s\n%s", before, after)
	}

	rejected := []struct {
		name, body  string
		headers     []string
		status      int
		code, field string
	}{
		{"not whsec_", `{"secret":"hunter2hunter2hunter2hunter2"}`, nil, 400, "invalid_secret", "secret"},
		{"16 bytes", `{"secret":"` + whsec(16, 1) + `"}`, nil, 400, "invalid_secret", "secret"},
		{"65 bytes", `{"secret":"` + whsec(65, 1) + `"}`, nil, 400, "invalid_secret", "secret"},
		{"empty", `{"secret":""}`, nil, 400, "invalid_secret", "secret"},
		{"null", `{"secret":null}`, nil, 400, "invalid_secret", "secret"},
		{"unknown field", `{"key":"` + whsec(32, 1) + `"}`, nil, 400, "invalid_request", "key"},
		{"an array", `[]`, nil, 400, "invalid_request", ""},
		{"malformed", `{"secret":`, nil, 400, "invalid_json", ""},
		{"text/plain", `{"secret":"` + whsec(32, 1) + `"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
	}
	for _, tc := range rejected {
		rec := do(t, e.router, http.MethodPost, path, tc.body, tc.headers...)
		env := wantError(t, rec, tc.status, tc.code)
		if env.Error.Details["field"] != tc.field {
			t.Errorf("%s: details = %v, want field %q", tc.name, env.Error.Details, tc.field)
		}
		if got := e.secretOf(t, created.ID); got != given {
			t.Errorf("%s: a refused rotation changed the secret to %q", tc.name, got)
		}
	}

	env := wantError(t, do(t, e.router, http.MethodPost, unknownEndpoint+"/secret/rotate", ""), http.StatusNotFound, "not_found")
	if env.Error.Message != "endpoint not found" {
		t.Errorf("rotate unknown: message %q", env.Error.Message)
	}
	wantError(t, do(t, e.router, http.MethodPost, unknownEndpoint+"/secret/rotate", `{"secret":"`+whsec(32, 3)+`"}`), http.StatusNotFound, "not_found")
	wantError(t, do(t, e.router, http.MethodPost, "/endpoints/nope/secret/rotate", ""), http.StatusBadRequest, "invalid_id")
}

func TestEndpointAuth(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{APITokens: []string{"s3cret"}}, openAddresses)
	rec := do(t, e.router, http.MethodPost, "/endpoints", `{"url":"https://merchant.example/hooks"}`, "Authorization", "Bearer s3cret")
	if rec.Code != http.StatusCreated {
		t.Fatalf("create with the token: %d %s", rec.Code, rec.Body)
	}
	var created endpointBody
	decodeJSON(t, rec, &created)
	id := created.ID

	routes := []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/endpoints", "", 200},
		{http.MethodGet, "/endpoints/" + id, "", 200},
		{http.MethodGet, "/endpoints/" + id + "/secret", "", 200},
		{http.MethodPatch, "/endpoints/" + id, `{"description":"x"}`, 200},
		{http.MethodPost, "/endpoints/" + id + "/secret/rotate", "", 200},
		{http.MethodPost, "/endpoints", `{"url":"https://merchant.example/other"}`, 201},
		{http.MethodDelete, "/endpoints/" + id, "", 204},
	}
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer nope", "Basic czNjcmV0"} {
			rec := do(t, e.router, r.method, r.path, r.body, "Authorization", auth)
			wantError(t, rec, http.StatusUnauthorized, "unauthorized")
			checkNoSecret(t, r.method+" "+r.path+" without a token", rec.Body.String(), created.Secret)
		}
	}
	if n := e.endpointCount(t); n != 1 {
		t.Errorf("%d endpoints after refused requests, want 1", n)
	}
	for _, r := range routes { // in order: the delete comes last
		rec := do(t, e.router, r.method, r.path, r.body, "Authorization", "Bearer s3cret")
		if rec.Code != r.status {
			t.Errorf("%s %s with the token: %d, want %d; body %s", r.method, r.path, rec.Code, r.status, rec.Body)
		}
	}
}

func TestEndpointRoutesNeedTheService(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/endpoints"},
		{http.MethodPost, "/endpoints"},
		{http.MethodGet, unknownEndpoint},
		{http.MethodPost, unknownEndpoint + "/secret/rotate"},
	} {
		wantError(t, do(t, e.router, r.method, r.path, `{}`), http.StatusNotFound, "route_not_found")
	}
}

func TestEndpointStoreDown(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	id := e.createEndpoint(t, `{"url":"https://merchant.example/hooks"}`).ID
	e.store.SetDown(true)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/endpoints", `{"url":"https://merchant.example/hooks"}`},
		{http.MethodGet, "/endpoints", ""},
		{http.MethodGet, "/endpoints/" + id, ""},
		{http.MethodPatch, "/endpoints/" + id, `{"description":"x"}`},
		{http.MethodPatch, "/endpoints/" + id, `{}`},
		{http.MethodDelete, "/endpoints/" + id, ""},
		{http.MethodGet, "/endpoints/" + id + "/secret", ""},
		{http.MethodPost, "/endpoints/" + id + "/secret/rotate", ""},
	} {
		rec := do(t, e.router, r.method, r.path, r.body)
		env := wantError(t, rec, http.StatusServiceUnavailable, "unavailable")
		if strings.Contains(env.Error.Message, "memory") || rec.Header().Get("Retry-After") != "5" {
			t.Errorf("%s %s: %s, Retry-After %q", r.method, r.path, rec.Body, rec.Header().Get("Retry-After"))
		}
	}
	e.store.SetDown(false)
	if n := e.endpointCount(t); n != 1 {
		t.Errorf("%d endpoints after the outage, want 1", n)
	}
}
