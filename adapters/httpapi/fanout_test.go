package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
)

// eventBody is GET /events/:id as far as fan-out is concerned.
type eventBody struct {
	ID         string  `json:"id"`
	TargetURL  *string `json:"target_url"`
	EventType  string  `json:"event_type"`
	EndpointID string  `json:"endpoint_id"`
	Status     string  `json:"status"`
	Deliveries []struct {
		ID         string  `json:"id"`
		EndpointID *string `json:"endpoint_id"`
		TargetURL  string  `json:"target_url"`
		Status     string  `json:"status"`
		Attempts   []struct {
			DeliveryID string `json:"delivery_id"`
		} `json:"attempts"`
	} `json:"deliveries"`
	Attempts []struct {
		DeliveryID string `json:"delivery_id"`
	} `json:"attempts"`
}

type acceptedBody struct {
	ID         string
	Status     string
	Message    string
	Deliveries int
}

func (e *env) event(t *testing.T, id string) eventBody {
	t.Helper()
	rec := do(t, e.router, http.MethodGet, "/events/"+id, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, rec.Code, rec.Body)
	}
	var out eventBody
	decodeJSON(t, rec, &out)
	return out
}

func (e *env) post(t *testing.T, body string, headers ...string) acceptedBody {
	t.Helper()
	rec := do(t, e.router, http.MethodPost, "/events", body, headers...)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /events %s: %d %s", body, rec.Code, rec.Body)
	}
	var out acceptedBody
	decodeJSON(t, rec, &out)
	return out
}

func TestFanOutByEventType(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	paid := e.createEndpoint(t, `{"url":"https://paid.example/hook","event_types":["order.paid"]}`)
	all := e.createEndpoint(t, `{"url":"https://all.example/hook"}`)
	e.createEndpoint(t, `{"url":"https://inv.example/hook","event_types":["invoice.sent"]}`)

	acc := e.post(t, `{"event_type":"order.paid","payload":{"n":1}}`)
	if acc.Status != "pending" || acc.Deliveries != 2 {
		t.Errorf("202 = %+v, want pending with 2 deliveries", acc)
	}
	ev := e.event(t, acc.ID)
	if ev.TargetURL != nil || ev.EventType != "order.paid" || ev.Status != "pending" || len(ev.Deliveries) != 2 {
		t.Fatalf("event = %+v", ev)
	}
	var got []string
	for _, d := range ev.Deliveries {
		if d.EndpointID == nil || d.ID == acc.ID || d.Status != "pending" {
			t.Errorf("delivery %+v", d)
			continue
		}
		got = append(got, *d.EndpointID)
	}
	slices.Sort(got)
	want := []string{paid.ID, all.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("delivered to %v, want %v", got, want)
	}

	// Nobody subscribed but the catch-all; with it gone, nobody at all.
	if acc := e.post(t, `{"event_type":"refund.issued","payload":{}}`); acc.Deliveries != 1 {
		t.Errorf("refund.issued: %d deliveries, want 1 (the catch-all)", acc.Deliveries)
	}
	if rec := do(t, e.router, http.MethodDelete, "/endpoints/"+all.ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	acc = e.post(t, `{"event_type":"refund.issued","payload":{}}`)
	if acc.Deliveries != 0 || acc.Status != "succeeded" || acc.Message == "Event accepted for processing" {
		t.Errorf("unrouted event: %+v; want 0 deliveries and a message that says nothing will be sent", acc)
	}

	// Filters.
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"?event_type=order.paid", 1}, {"?event_type=refund.issued", 2}, {"?endpoint_id=" + paid.ID, 1},
		{"?endpoint_id=" + all.ID, 2}, {"?endpoint_id=" + paid.ID + "&status=succeeded", 0}, {"", 3},
	} {
		rec := do(t, e.router, http.MethodGet, "/events"+tc.query, "")
		var page struct{ Total int }
		decodeJSON(t, rec, &page)
		if rec.Code != http.StatusOK || page.Total != tc.want {
			t.Errorf("GET /events%s: %d total %d, want %d", tc.query, rec.Code, page.Total, tc.want)
		}
	}
	for _, q := range []string{"?endpoint_id=nope", "?event_type=bad..type", "?event_type=a%20b"} {
		code := "invalid_endpoint_id"
		if q[1] == 'e' && q[2] == 'v' {
			code = "invalid_event_type"
		}
		wantError(t, do(t, e.router, http.MethodGet, "/events"+q, ""), http.StatusBadRequest, code)
	}
}

func TestFanOutToOneEndpointAndBadRoutes(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	inv := e.createEndpoint(t, `{"url":"https://inv.example/hook","event_types":["invoice.sent"]}`)
	e.createEndpoint(t, `{"url":"https://all.example/hook"}`)
	acc := e.post(t, fmt.Sprintf(`{"endpoint_id":%q,"payload":{}}`, inv.ID))
	ev := e.event(t, acc.ID)
	if acc.Deliveries != 1 || len(ev.Deliveries) != 1 || *ev.Deliveries[0].EndpointID != inv.ID || ev.EndpointID != inv.ID {
		t.Errorf("to one endpoint: %+v %+v", acc, ev)
	}
	before := e.total(t)
	for _, tc := range []struct{ body, code string }{
		{`{"endpoint_id":"0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70","payload":{}}`, "unknown_endpoint"},
		{`{"endpoint_id":"not-a-uuid","payload":{}}`, "invalid_endpoint_id"},
		{`{"endpoint_id":null,"payload":{}}`, "invalid_endpoint_id"},
		{fmt.Sprintf(`{"endpoint_id":%q,"target_url":"https://x.example/","payload":{}}`, inv.ID), "conflicting_routes"},
		{`{"event_type":"","payload":{}}`, "invalid_event_type"},
		{`{"event_type":"has space","payload":{}}`, "invalid_event_type"},
		{`{"event_type":7,"payload":{}}`, "invalid_event_type"},
	} {
		wantError(t, do(t, e.router, http.MethodPost, "/events", tc.body), http.StatusBadRequest, tc.code)
	}
	if after := e.total(t); after != before {
		t.Errorf("refused requests stored %d events", after-before)
	}
	// One Idempotency-Key, another route: refused.
	e.post(t, `{"event_type":"invoice.sent","payload":{}}`, "Idempotency-Key", "k")
	wantError(t, do(t, e.router, http.MethodPost, "/events", `{"event_type":"order.paid","payload":{}}`, "Idempotency-Key", "k"),
		http.StatusConflict, "idempotency_key_reused")
	if again := e.post(t, `{"event_type":"invoice.sent","payload":{}}`, "Idempotency-Key", "k"); again.Deliveries != 2 {
		t.Errorf("idempotent replay: %+v, want the first event's 2 deliveries", again)
	}
}

func TestRetryOneDelivery(t *testing.T) {
	t.Parallel()
	e := newEndpointsEnv(t, httpapi.Options{}, openAddresses)
	e.createEndpoint(t, `{"url":"https://a.example/hook"}`)
	e.createEndpoint(t, `{"url":"https://b.example/hook"}`)
	acc := e.post(t, `{"event_type":"order.paid","payload":{}}`)
	dead := e.complete(t, "w1", deadDecision, attemptRecord()) // the oldest due delivery dies
	other := e.post(t, `{"event_type":"order.paid","payload":{}}`)

	ev := e.event(t, acc.ID)
	if ev.Status != "pending" || len(ev.Attempts) != 1 || ev.Attempts[0].DeliveryID != string(dead.ID) {
		t.Errorf("after one dead delivery: %+v; want pending (the other is) and the dead one's attempt", ev)
	}
	path := fmt.Sprintf("/events/%s/deliveries/%s/retry", acc.ID, dead.ID)
	rec := do(t, e.router, http.MethodPost, path, "")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("retry delivery: %d %s", rec.Code, rec.Body)
	}
	if got, _ := e.store.Get(t.Context(), dead.ID); got.Status != core.StatusPending {
		t.Errorf("retried delivery is %s, want pending", got.Status)
	}
	// Pending now: a second retry conflicts; another event's id does not
	// own it; junk ids are refused.
	wantError(t, do(t, e.router, http.MethodPost, path, ""), http.StatusConflict, "not_replayable")
	wantError(t, do(t, e.router, http.MethodPost, fmt.Sprintf("/events/%s/deliveries/%s/retry", other.ID, dead.ID), ""),
		http.StatusNotFound, "not_found")
	wantError(t, do(t, e.router, http.MethodPost, fmt.Sprintf("/events/%s/deliveries/nope/retry", acc.ID), ""),
		http.StatusBadRequest, "invalid_id")
	// The whole event: nothing finished is left, so it conflicts.
	wantError(t, do(t, e.router, http.MethodPost, "/events/"+acc.ID+"/retry", ""), http.StatusConflict, "not_replayable")
}
