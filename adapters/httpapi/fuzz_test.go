package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/ingest"
)

// fuzzMaxBody is small so that the fuzzer reaches the 413 path with small
// inputs. Every seed stays well under a kilobyte: the fuzzer minimises each
// new input it keeps, in time quadratic in its size, and on a few kilobytes
// that stalls a short run for its whole budget (golang/go#48820).
const fuzzMaxBody = 512

// fuzzID is the event id the direct BuildBody checks use.
const fuzzID = core.EventID("0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70")

// fuzzDefaultTarget is TARGET_URL, used when a body names no target_url.
const fuzzDefaultTarget = "http://localhost:3001/webhook"

// fuzzAddresses lets targets on localhost through, as the external tests
// do: the SSRF guard has tests of its own.
var fuzzAddresses = core.AddressPolicy{AllowPrivate: true}

// fuzzRouter is the real router over ingest and a memory store, as the
// external tests' newEnv builds it. The store keeps every accepted event, so
// it is replaced now and then to keep a long fuzz run's memory flat.
type fuzzRouter struct {
	handler http.Handler
	svc     *ingest.Service
	served  int
}

func (r *fuzzRouter) reset(tb testing.TB) {
	tb.Helper()
	clock := memory.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	svc, err := ingest.NewService(memory.NewStore(clock), clock, memory.NewMetrics(), nil,
		ingest.Config{DefaultTargetURL: fuzzDefaultTarget, Addresses: fuzzAddresses})
	if err != nil {
		tb.Fatal(err)
	}
	r.handler, r.svc, r.served = NewRouter(svc, Options{MaxBodyBytes: fuzzMaxBody}), svc, 0
}

func (r *fuzzRouter) post(tb testing.TB, body []byte) *httptest.ResponseRecorder {
	if r.served++; r.served > 10_000 {
		r.reset(tb)
	}
	req := httptest.NewRequest(http.MethodPost, "/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// FuzzSubmitDecoder feeds arbitrary bodies to POST /events, both to the
// decoder and validator directly and through the real router, and checks:
//   - the decoder never panics, and its errors are 400s;
//   - an accepted payload becomes a delivered body that is valid JSON, has
//     exactly one top-level "event_id" (ours, first) and gives back the
//     producer's bytes through PayloadOf;
//   - the router answers 202, 400, 413 or 415, never 5xx; it accepts
//     exactly what the size limit, decoder, validator and target rules
//     accept, refuses with the decoder's own code, stores exactly what
//     BuildBody builds, and wraps every refusal in the JSON error envelope.
//
// It asserts nothing about which payloads the rules refuse (event_id in
// other letter cases, nesting depth, empty target_url): they may tighten,
// and the router is only held to agree with them.
func FuzzSubmitDecoder(f *testing.F) {
	for _, s := range []string{
		`{"payload":{"order_id":"ord_1042","amount":12345678901234567890,"total":1.0,"note":"café"}}`,
		`{"target_url":"https://example.com/hook","payload":{"a":[1,2,{"b":null}]}}`,
		`  {"payload": { } }` + "\n",
		`{"payload":{"event_id":1}}`,
		`{"payload":{"Event_Id":1}}`,
		`{"payload":{"event\u005fid":1}}`,
		`{"payload":{"a":1,"a":2},"payload":{"b":3}}`,
		`{"payload":{"a":1}}{"payload":{}}`,
		`{"payload":{"a":1}} trailing`,
		`{"payload":{"n":1e999999999,"m":-0.0e-0,"big":123456789012345678901234567890}}`,
		`{"payload":null}`,
		`{"payload":[]}`,
		`{"payload":"{}"}`,
		`{"target_url":"","payload":{}}`,
		`{"target_url":null,"payload":{}}`,
		`{"target_url":1,"payload":{}}`,
		`{"target_url":"ftp://x","payload":{}}`,
		`null`, `[]`, `""`, `{}`, ``, `   `, `{`, `{"payload":{"a":"\ud800"}}`,
		"{\"payload\":{\"a\":\"\xff\xfe\"}}",
		"\xef\xbb\xbf{\"payload\":{}}",
		"{\"payload\":{\"a\":1}\u00a0}",
		`{"payload":{"a":` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `}}`,
		`{"payload":{"s":"` + strings.Repeat(`[{\"`, 30) + `"}}`,
		`{"payload":{"pad":"` + strings.Repeat("x", fuzzMaxBody) + `"}}`,
	} {
		f.Add([]byte(s))
	}

	var r fuzzRouter
	r.reset(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, parseErr := parseSubmitRequest(body)
		apiErr, _ := errors.AsType[*apiError](parseErr)
		if parseErr != nil && (apiErr == nil || apiErr.Status != http.StatusBadRequest) {
			t.Fatalf("parseSubmitRequest error %v is not a 400 apiError", parseErr)
		}
		payloadOK := parseErr == nil && req.Payload != nil && validatePayload(req.Payload) == nil
		if payloadOK {
			checkBuildBody(t, req.Payload)
		}
		// The validator alone, on bytes no decoder has touched.
		if validatePayload(body) == nil {
			checkBuildBody(t, body)
		}

		// What the router must answer, from the parts checked above: the
		// size limit, the decoder, the payload validator and the target
		// rules (an absent target_url means the default one).
		target := req.TargetURL
		if target == "" {
			target = fuzzDefaultTarget
		}
		_, targetErr := core.ValidateTargetURL(target)
		if targetErr == nil {
			targetErr = fuzzAddresses.CheckTarget(target)
		}
		valid := len(body) <= fuzzMaxBody && payloadOK && targetErr == nil

		rec := r.post(t, body)
		switch rec.Code {
		case http.StatusAccepted:
			if !valid {
				t.Fatalf("202 for a request that should be refused (%d bytes, decode error %v, payload ok %v, target error %v); response %s",
					len(body), parseErr, payloadOK, targetErr, rec.Body)
			}
			checkStored(t, r.svc, rec, req.Payload)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			code := checkEnvelope(t, rec)
			switch {
			case valid:
				t.Fatalf("valid request refused: %d %s", rec.Code, rec.Body)
			case len(body) > fuzzMaxBody:
				if rec.Code != http.StatusRequestEntityTooLarge {
					t.Fatalf("%d-byte body (limit %d): status %d, want 413", len(body), fuzzMaxBody, rec.Code)
				}
			case parseErr != nil:
				if rec.Code != http.StatusBadRequest || code != apiErr.Code {
					t.Fatalf("router said %d %q, the decoder %d %q", rec.Code, code, apiErr.Status, apiErr.Code)
				}
			}
		default:
			t.Fatalf("status %d (want 202, 400, 413 or 415); body %s", rec.Code, rec.Body)
		}
	})
}

// validatePayload is the validator with the depth limit the service uses
// by default.
func validatePayload(p []byte) error { return core.ValidatePayload(p, 0) }

// checkBuildBody checks the delivered body built from an accepted payload.
func checkBuildBody(t *testing.T, payload []byte) {
	t.Helper()
	built := core.BuildBody(payload, fuzzID)
	if !json.Valid(built) {
		t.Fatalf("BuildBody(%q) = %q is not valid JSON", payload, built)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(built, &top); err != nil {
		t.Fatalf("BuildBody(%q) = %q is not an object: %v", payload, built, err)
	}
	var id string
	if err := json.Unmarshal(top["event_id"], &id); err != nil || id != string(fuzzID) {
		t.Fatalf("BuildBody(%q) = %q: event_id %s, want %q", payload, built, top["event_id"], fuzzID)
	}
	// A map hides duplicates: walk the keys (unescaped) to prove ours is
	// the only top-level "event_id", so every JSON parser reads the same.
	dec := json.NewDecoder(bytes.NewReader(built))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for n := 0; dec.More(); n++ {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("walk %q: %v", built, err)
		}
		if key, _ := tok.(string); (key == "event_id") != (n == 0) {
			t.Fatalf("BuildBody(%q) = %q: top-level key %d is %q; event_id must come first and only once", payload, built, n, key)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("walk %q: %v", built, err)
		}
	}
	if got, want := core.PayloadOf(built, fuzzID), bytes.TrimSpace(payload); !bytes.Equal(got, want) {
		t.Fatalf("PayloadOf(BuildBody(p)) = %q, want p = %q", got, want)
	}
}

// checkStored checks that a 202 names a stored event whose body is what
// BuildBody makes of the submitted payload.
func checkStored(t *testing.T, svc *ingest.Service, rec *httptest.ResponseRecorder, payload []byte) {
	t.Helper()
	var out struct{ ID, Status string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("202 body %q: %v", rec.Body, err)
	}
	id, err := core.ParseEventID(out.ID)
	if err != nil {
		t.Fatalf("202 body %q: %v", rec.Body, err)
	}
	d, err := svc.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("accepted event %s is not stored: %v", id, err)
	}
	trimmed := bytes.TrimSpace(payload)
	if want := core.BuildBody(trimmed, id); !bytes.Equal(d.Event.Body, want) {
		t.Fatalf("stored body %q, want %q", d.Event.Body, want)
	}
	if !bytes.Equal(d.Event.Payload(), trimmed) {
		t.Fatalf("stored payload %q, want the submitted %q", d.Event.Payload(), trimmed)
	}
	if len(d.Deliveries) != 1 || d.Deliveries[0].Delivery.Status != core.StatusPending || out.Status != string(core.StatusPending) {
		t.Fatalf("accepted event has deliveries %+v (response %q), want one pending", d.Deliveries, out.Status)
	}
}

// checkEnvelope checks that a refusal is exactly {"error":{"code":…,
// "message":…[,"details":{…}]}} and returns the code.
func checkEnvelope(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%d with Content-Type %q; body %s", rec.Code, ct, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var env struct {
		Error *struct {
			Code    *string           `json:"code"`
			Message *string           `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("%d body %q is not the error envelope: %v", rec.Code, rec.Body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%d body %q: data after the envelope", rec.Code, rec.Body)
	}
	if env.Error == nil || env.Error.Code == nil || *env.Error.Code == "" || env.Error.Message == nil || *env.Error.Message == "" {
		t.Fatalf("%d body %q: error.code and error.message must be non-empty", rec.Code, rec.Body)
	}
	return *env.Error.Code
}
