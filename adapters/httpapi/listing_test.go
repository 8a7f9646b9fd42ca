package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/httpapi"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

type cursorPage struct {
	Data       []map[string]any `json:"data"`
	Total      int              `json:"total"`
	TotalExact bool             `json:"total_exact"`
	NextCursor *string          `json:"next_cursor"`
}

func getPage(t *testing.T, e *env, query string) cursorPage {
	t.Helper()
	rec := do(t, e.router, http.MethodGet, "/events"+query, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /events%s: %d %s", query, rec.Code, rec.Body)
	}
	var p cursorPage
	decodeJSON(t, rec, &p)
	return p
}

func TestListByCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	for i := range 5 {
		e.submit(t, fmt.Sprintf(`{"payload":{"n":%d}}`, i))
		if i%2 == 0 {
			e.clock.Advance(time.Second) // and some share an instant
		}
	}
	var want []string // the list's order, one page
	for _, ev := range getPage(t, e, "").Data {
		want = append(want, ev["id"].(string))
	}
	if len(want) != 5 {
		t.Fatalf("one page: %d events", len(want))
	}
	var got []string
	query := "?limit=2"
	for range 10 {
		p := getPage(t, e, query)
		if p.Total != 5 || !p.TotalExact {
			t.Errorf("%s: total %d exact %v", query, p.Total, p.TotalExact)
		}
		for _, ev := range p.Data {
			got = append(got, ev["id"].(string))
		}
		if p.NextCursor == nil {
			break
		}
		query = "?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("walked %v, want %v", got, want)
	}

	wantError(t, do(t, e.router, http.MethodGet, "/events?cursor=bm9wZQ", ""), http.StatusBadRequest, "invalid_cursor")
	first := getPage(t, e, "?limit=1")
	wantError(t, do(t, e.router, http.MethodGet, "/events?page=2&cursor="+*first.NextCursor, ""), http.StatusBadRequest, "conflicting_paging")
}

func TestListFiltersByOriginAndTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.submit(t, `{"target_url":"https://a.example/hooks","payload":{}}`)
	e.clock.Advance(time.Minute)
	mid := e.clock.Now()
	b := e.submit(t, `{"target_url":"https://b.example:8443/in","payload":{}}`)
	for query, want := range map[string][]core.EventID{
		"?origin=" + url.QueryEscape("https://A.example:443/other"):                                           {a},
		"?origin=" + url.QueryEscape("https://b.example:8443"):                                                {b},
		"?created_after=" + mid.UTC().Format(time.RFC3339Nano):                                                {b},
		"?created_before=" + mid.UTC().Format(time.RFC3339Nano):                                               {a},
		"?created_before=" + url.QueryEscape(mid.Format(time.RFC3339Nano)) + "&origin=https://b.example:8443": nil,
	} {
		p := getPage(t, e, query)
		var got []core.EventID
		for _, ev := range p.Data {
			got = append(got, core.EventID(ev["id"].(string)))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || p.Total != len(want) {
			t.Errorf("%s: %v (total %d), want %v", query, got, p.Total, want)
		}
	}
	for query, code := range map[string]string{
		"?origin=merchant.example":   "invalid_origin",
		"?created_after=yesterday":   "invalid_created_after",
		"?created_before=2026-13-01": "invalid_created_before",
		"?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z": "invalid_window",
	} {
		wantError(t, do(t, e.router, http.MethodGet, "/events"+query, ""), http.StatusBadRequest, code)
	}
}

func TestListLeavesLargePayloadsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{MaxBodyBytes: 1 << 20})
	big := e.submit(t, `{"payload":{"blob":"`+strings.Repeat("x", ports.ListBodyMax)+`"}}`)
	small := e.submit(t, `{"payload":{"n":1}}`)
	p := getPage(t, e, "")
	byID := map[string]map[string]any{}
	for _, ev := range p.Data {
		byID[ev["id"].(string)] = ev
	}
	if ev := byID[string(big)]; ev["payload"] != nil || ev["payload_omitted"] != true || fmt.Sprint(ev["body_bytes"]) != fmt.Sprint(len(`{"blob":"`)+ports.ListBodyMax+len(`","event_id":"`)+36+len(`"}`)) {
		t.Errorf("large event listed as payload %.40v, omitted %v, body_bytes %v", ev["payload"], ev["payload_omitted"], ev["body_bytes"])
	}
	if ev := byID[string(small)]; ev["payload"] == nil || ev["payload_omitted"] != nil || ev["body_bytes"] != nil {
		t.Errorf("small event listed as %v", ev)
	}
	rec := do(t, e.router, http.MethodGet, "/events/"+string(big), "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), strings.Repeat("x", ports.ListBodyMax)) {
		t.Errorf("GET /events/:id of the large event: %d, %d bytes; want its payload", rec.Code, rec.Body.Len())
	}
}

func TestRecoverQueuesTheDeadPaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	var dead []core.EventID
	for range 3 {
		e.submit(t, `{"target_url":"https://a.example/hooks","payload":{}}`)
		dead = append(dead, e.complete(t, "w1", deadDecision, attemptRecord()).EventID)
		e.clock.Advance(time.Millisecond) // oldest first is submission order
	}
	other := e.submit(t, `{"target_url":"https://b.example/hooks","payload":{}}`)
	e.complete(t, "w1", deadDecision, attemptRecord())
	e.clock.Advance(time.Hour)
	now := e.clock.Now()

	rec := do(t, e.router, http.MethodPost, "/events/recover", `{"origin":"https://a.example","rate_per_second":2}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("recover: %d %s", rec.Code, rec.Body)
	}
	var got struct {
		Queued        int     `json:"queued"`
		More          bool    `json:"more"`
		RatePerSecond float64 `json:"rate_per_second"`
	}
	decodeJSON(t, rec, &got)
	if got.Queued != 3 || got.More || got.RatePerSecond != 2 {
		t.Errorf("recover: %+v, want 3 queued at 2/s", got)
	}
	for i, id := range dead {
		d, err := e.store.Get(t.Context(), id)
		want := now.Add(time.Duration(i) * 500 * time.Millisecond)
		if err != nil || d.Status != core.StatusPending || !d.NextAttemptAt.Equal(want) {
			t.Errorf("dead %d after the recovery: %s due %s (%v), want pending due %s", i, d.Status, d.NextAttemptAt, err, want)
		}
	}
	if d, _ := e.store.Get(t.Context(), other); d.Status != core.StatusDead {
		t.Errorf("another origin's dead delivery was recovered: %s", d.Status)
	}
	// The default pace, and nothing left to recover.
	rec = do(t, e.router, http.MethodPost, "/events/recover", `{"origin":"https://a.example"}`)
	decodeJSON(t, rec, &got)
	if rec.Code != http.StatusAccepted || got.Queued != 0 || got.RatePerSecond != ports.DefaultRecoverRate {
		t.Errorf("recover again: %d %+v", rec.Code, got)
	}

	for body, code := range map[string]string{
		`{}`:                "filter_required",
		`{"status":"dead"}`: "filter_required",
		`{"status":"pending","origin":"https://a.example"}`:     "invalid_status",
		`{"origin":"a.example"}`:                                "invalid_origin",
		`{"endpoint_id":"42"}`:                                  "invalid_endpoint_id",
		`{"origin":"https://a.example","rate_per_second":0}`:    "invalid_rate",
		`{"origin":"https://a.example","rate_per_second":5000}`: "invalid_rate",
		`{"origin":"https://a.example","rate_per_second":"9"}`:  "invalid_rate",
		`{"created_after":"2026-01-01"}`:                        "invalid_created_after",
		`{"origin":"https://a.example","since":"x"}`:            "invalid_request",
		`[]`: "invalid_request",
	} {
		wantError(t, do(t, e.router, http.MethodPost, "/events/recover", body), http.StatusBadRequest, code)
	}
	if d, _ := e.store.Get(t.Context(), other); d.Status != core.StatusDead {
		t.Errorf("a refused recovery changed something: %s", d.Status)
	}
	e.store.SetDown(true)
	wantError(t, do(t, e.router, http.MethodPost, "/events/recover", `{"origin":"https://b.example"}`), http.StatusServiceUnavailable, "unavailable")
}
