package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/endpoints"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/ports"
)

const defaultTarget = "http://localhost:3001/webhook"

// start is a non-UTC instant, so that the tests prove times are shown in UTC.
var start = time.Date(2025, 1, 2, 4, 4, 5, 123_000_000, time.FixedZone("CET", 3600))

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // global: set once, before parallel tests
	os.Exit(m.Run())
}

// env is one router over the real ingest service on a memory store.
type env struct {
	router    http.Handler
	store     *memory.Store
	clock     *memory.Clock
	svc       *ingest.Service
	endpoints *endpoints.Service // nil unless built by newEndpointsEnv
}

func newEnv(t testing.TB, opts httpapi.Options) *env {
	t.Helper()
	clock := memory.NewClock(start)
	store := memory.NewStore(clock)
	svc, err := ingest.NewService(store, clock, memory.NewMetrics(), nil,
		// The seed's default target is on localhost; the SSRF guard has its
		// own test.
		ingest.Config{DefaultTargetURL: defaultTarget, Addresses: core.AddressPolicy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{router: httpapi.NewRouter(svc, opts), store: store, clock: clock, svc: svc}
}

// testEncryptionKey is ENCRYPTION_KEY for the endpoint tests.
var testEncryptionKey = bytes.Repeat([]byte{0x5a}, secretbox.KeySize)

// newEndpointsEnv is newEnv with /endpoints served by the real endpoints
// service over the same memory store, its URLs checked against addresses.
func newEndpointsEnv(t *testing.T, opts httpapi.Options, addresses core.AddressPolicy) *env {
	t.Helper()
	e := newEnv(t, opts)
	box, err := secretbox.New(testEncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	e.endpoints, err = endpoints.NewService(e.store, box, e.clock, nil,
		endpoints.Config{Addresses: addresses, RotationGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	opts.Endpoints = e.endpoints
	e.router = httpapi.NewRouter(e.svc, opts)
	return e
}

// do sends one request; headers come in name, value pairs.
func do(t *testing.T, h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := newRequest(method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return serve(h, req)
}

// total is the number of stored events, read around the API.
func (e *env) total(t *testing.T) int {
	t.Helper()
	res, err := e.svc.List(t.Context(), ports.ListFilter{Page: 1, Limit: 100})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return res.Total
}

// submit posts a valid event through the API and returns its id.
func (e *env) submit(t *testing.T, body string) core.EventID {
	t.Helper()
	rec := do(t, e.router, http.MethodPost, "/events", body, "Content-Type", "application/json")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: status %d, body %s", rec.Code, rec.Body)
	}
	var out struct{ ID string }
	decodeJSON(t, rec, &out)
	return core.EventID(out.ID)
}

type errorEnvelope struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Details map[string]string `json:"details"`
	} `json:"error"`
}

// wantError checks status, JSON content type and envelope code, and
// returns the envelope for further checks.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) errorEnvelope {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var env errorEnvelope
	decodeJSON(t, rec, &env)
	if env.Error.Code != code {
		t.Errorf("error.code = %q, want %q; body %s", env.Error.Code, code, rec.Body)
	}
	if env.Error.Message == "" {
		t.Errorf("error.message is empty; body %s", rec.Body)
	}
	return env
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
}

// complete claims the oldest due event as worker and records d for it.
func (e *env) complete(t *testing.T, worker string, d core.Decision, rec core.Attempt) core.Delivery {
	t.Helper()
	ev := e.claim(t, worker)
	e.finish(t, worker, ev, d, rec)
	return ev
}

var deadDecision = core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead,
	Reason: "410 Gone: the receiver refuses this event", StatusCode: http.StatusGone, Error: "status 410"}

func newRequest(method, path, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return httptest.NewRequest(method, path, r)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustID(t *testing.T, s string) core.EventID {
	t.Helper()
	id, err := core.ParseEventID(s)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return id
}

// attemptRecord is what a worker would record for a 410 answer.
func attemptRecord() core.Attempt {
	return core.Attempt{StartedAt: start, Duration: 150 * time.Millisecond, StatusCode: http.StatusGone,
		Error: "status 410", Response: "gone"}
}

// claim leases the oldest due event to worker.
func (e *env) claim(t *testing.T, worker string) core.Delivery {
	t.Helper()
	claimed, err := e.store.Claim(t.Context(), ports.ClaimParams{Worker: worker, Limit: 1, Lease: 30 * time.Second, MaxAttempts: 10})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v (%d events)", err, len(claimed))
	}
	return claimed[0]
}

// finish records decision d for an event claimed by worker.
func (e *env) finish(t *testing.T, worker string, ev core.Delivery, d core.Decision, rec core.Attempt) {
	t.Helper()
	err := e.store.Complete(t.Context(), ports.CompleteParams{Worker: worker,
		Claim: ports.Claim{ID: ev.ID, Attempt: ev.AttemptedCount, Seq: ev.ClaimSeq}, Decision: d, Record: rec})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
}

func (e *env) statusOf(t *testing.T, id core.EventID) core.Status {
	t.Helper()
	d, err := e.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	ds := make([]core.Delivery, 0, len(d.Deliveries))
	for _, dd := range d.Deliveries {
		ds = append(ds, dd.Delivery)
	}
	return core.EventStatus(ds)
}
