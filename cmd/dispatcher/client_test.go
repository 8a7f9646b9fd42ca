package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// The operator commands against the real service, run in-process by run
// on the memory store, and against httptest servers for what the service
// cannot be made to answer.

// service runs `dispatcher serve` in-process on a free port until the
// test ends, and returns its port.
func service(t *testing.T, extra map[string]string) string {
	t.Helper()
	port := strconv.Itoa(harness.FreePort(t))
	kv := map[string]string{"STORE": "memory", "HMAC_SECRET": harness.Secret, "DISPATCHER_PORT": port,
		"ALLOW_PRIVATE_TARGETS": "true", "POLL_INTERVAL_MS": "20", "LOG_LEVEL": "error", "SHUTDOWN_GRACE_MS": "1000"}
	maps.Copy(kv, extra)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, lookupOf(kv), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	testkit.Eventually(t, 15*time.Second, "the service to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return port
}

// decode parses a command's JSON output.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, out)
	}
	return v
}

type listed struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
	Total int `json:"total"`
}

type apiErrorJSON struct {
	Error struct{ Code, Message string }
}

// TestOperatorCommands drives a real dispatcher with API_TOKENS set. The
// client's environment is the service's own (its port, API_TOKENS), as on
// the dispatcher's machine, so no flag is needed.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	t.Cleanup(receiver.Close)
	port := service(t, map[string]string{"API_TOKENS": "tok-a,tok-b"})
	opEnv := map[string]string{"DISPATCHER_PORT": port, "API_TOKENS": "tok-a,tok-b"}
	op := func(args ...string) (int, string, string) { t.Helper(); return cli(t, opEnv, args...) }

	var ids []string
	for i := range 3 {
		body := `{"target_url":"` + receiver.URL + `/hook","payload":{"n":` + strconv.Itoa(i) + `}}`
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var acc struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&acc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /events: %d", resp.StatusCode)
		}
		ids = append(ids, acc.ID)
	}
	testkit.Eventually(t, 20*time.Second, "three events delivered", func() bool {
		code, out, _ := op("events", "list", "--status", "succeeded")
		return code == 0 && decode[listed](t, out).Total == 3
	})

	t.Run("events list", func(t *testing.T) {
		code, out, errOut := op("events", "list")
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if page := decode[listed](t, out); len(page.Data) != 3 || !strings.HasPrefix(out, "{\n  \"data\": [") {
			t.Errorf("want the page of 3, pretty-printed:\n%s", out)
		}
	})
	t.Run("events list --all across pages", func(t *testing.T) {
		code, out, errOut := op("events", "list", "--all", "--limit", "1")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		var got []string
		for _, l := range lines {
			got = append(got, decode[struct{ ID string }](t, l).ID)
		}
		if !reflect.DeepEqual(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) {
			t.Errorf("NDJSON ids %v, want each of %v once", got, ids)
		}
	})
	type detail struct {
		ID         string            `json:"id"`
		Status     string            `json:"status"`
		Attempts   []json.RawMessage `json:"attempts"`
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	t.Run("events get", func(t *testing.T) {
		code, out, _ := op("events", "get", ids[0])
		if ev := decode[detail](t, out); code != 0 || ev.ID != ids[0] || ev.Status != "succeeded" || len(ev.Attempts) != 1 {
			t.Errorf("exit %d, event %+v", code, ev)
		}
	})
	t.Run("events retry", func(t *testing.T) {
		code, out, errOut := op("events", "retry", ids[0])
		if got := decode[struct{ ID, Status string }](t, out); code != 0 || got.ID != ids[0] || got.Status != "pending" {
			t.Errorf("exit %d, stdout %s, stderr %s", code, out, errOut)
		}
		_, out, _ = op("events", "get", ids[1])
		delivery := decode[detail](t, out).Deliveries[0].ID
		code, out, errOut = op("events", "retry", ids[1], "--delivery", delivery)
		type retried struct {
			ID         string `json:"id"`
			DeliveryID string `json:"delivery_id"`
		}
		if got := decode[retried](t, out); code != 0 || got.ID != ids[1] || got.DeliveryID != delivery {
			t.Errorf("--delivery: exit %d, stdout %s, stderr %s", code, out, errOut)
		}
	})
	t.Run("an API error", func(t *testing.T) {
		code, out, errOut := op("events", "get", "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70")
		if e := decode[apiErrorJSON](t, errOut); code != 1 || out != "" || e.Error.Code != "not_found" {
			t.Errorf("unknown id: exit %d, stdout %q, stderr %q; want 1 and the API's not_found on stderr alone", code, out, errOut)
		}
	})
	t.Run("tokens", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  map[string]string
			args []string
			code int
		}{
			{"a bad --token", opEnv, []string{"--token", "wrong"}, 1},
			{"WEBHOOKD_TOKEN before API_TOKENS", map[string]string{"DISPATCHER_PORT": port, "API_TOKENS": "tok-a", "WEBHOOKD_TOKEN": "wrong"}, nil, 1},
			{"--token before WEBHOOKD_TOKEN", map[string]string{"DISPATCHER_PORT": port, "WEBHOOKD_TOKEN": "wrong"}, []string{"--token", "tok-b"}, 0},
			{"no token", map[string]string{"DISPATCHER_PORT": port}, nil, 1},
			{"WEBHOOKD_URL", map[string]string{"WEBHOOKD_URL": "http://127.0.0.1:" + port + "/", "WEBHOOKD_TOKEN": "tok-b"}, nil, 0},
		} {
			code, _, errOut := cli(t, tc.env, append([]string{"events", "list"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("%s: exit %d, stderr %q; want %d", tc.name, code, errOut, tc.code)
			}
			if code == 1 && decode[apiErrorJSON](t, errOut).Error.Code != "unauthorized" {
				t.Errorf("%s: stderr %q, want the API's unauthorized", tc.name, errOut)
			}
		}
	})
	t.Run("endpoints create, list, rotate-secret", func(t *testing.T) {
		code, out, errOut := op("endpoints", "create", "--url", receiver.URL+"/ep", "--type", "order.paid", "--type", "order.refunded",
			"--rate-limit", "5", "--description", "from the CLI")
		type endpoint struct {
			ID                 string   `json:"id"`
			URL                string   `json:"url"`
			EventTypes         []string `json:"event_types"`
			RateLimitPerSecond int      `json:"rate_limit_per_second"`
			Description        string   `json:"description"`
			Secret             string   `json:"secret"`
		}
		ep := decode[endpoint](t, out)
		if code != 0 || ep.URL != receiver.URL+"/ep" || !slices.Equal(ep.EventTypes, []string{"order.paid", "order.refunded"}) ||
			ep.RateLimitPerSecond != 5 || ep.Description != "from the CLI" || !strings.HasPrefix(ep.Secret, "whsec_") {
			t.Fatalf("create: exit %d, %+v, stderr %q", code, ep, errOut)
		}
		code, out, _ = op("endpoints", "list", "--limit", "10")
		if page := decode[struct{ Data []endpoint }](t, out); code != 0 || len(page.Data) != 1 || page.Data[0].ID != ep.ID {
			t.Errorf("list: exit %d, %s", code, out)
		}
		code, out, _ = op("endpoints", "rotate-secret", ep.ID)
		if s := decode[struct{ Secret string }](t, out).Secret; code != 0 || !strings.HasPrefix(s, "whsec_") || s == ep.Secret {
			t.Errorf("rotate-secret: exit %d, %s; want a new secret", code, out)
		}
		code, out, _ = op("events", "list", "--endpoint", ep.ID)
		if code != 0 || decode[listed](t, out).Total != 0 {
			t.Errorf("events list --endpoint: exit %d, %s; want none", code, out)
		}
		// The real POST /events/recover: nothing of this endpoint's is finished.
		code, out, errOut = op("events", "recover", "--endpoint", ep.ID)
		if got := decode[struct{ Queued int }](t, out); code != 0 || got.Queued != 0 {
			t.Errorf("events recover: exit %d, %s %s", code, out, errOut)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		dead := "http://127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
		code, out, errOut := op("events", "list", "--api-url", dead)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, dead) || !strings.Contains(errOut, "connection refused") {
			t.Errorf("exit %d, stderr %q; want 1 and one line naming %s", code, errOut, dead)
		}
	})
}

// fakeAPI records what the client sent and answers with answer.
type fakeAPI struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Method, Path, Auth string
	Query              url.Values
	Body               map[string]any
}

func (f *fakeAPI) start(t *testing.T, answer func(r *http.Request) (int, string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorded{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Query: r.URL.Query()}
		if raw, _ := io.ReadAll(r.Body); len(raw) > 0 {
			if err := json.Unmarshal(raw, &rec.Body); err != nil {
				t.Errorf("body %q: %v", raw, err)
			}
		}
		f.mu.Lock()
		f.requests = append(f.requests, rec)
		f.mu.Unlock()
		code, body := answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEventsRecoverRequest: recover sends the contract's body, with only
// the fields given and the rate as a number, and prints the 202's answer.
func TestEventsRecoverRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"--status", "dead", "--endpoint", "ep-1", "--origin", "https://merchant.example", "--after", "2026-12-01T00:00:00Z",
			"--before", "2026-12-02T00:00:00.5+01:00", "--rate", "2.5"},
			map[string]any{"status": "dead", "endpoint_id": "ep-1", "origin": "https://merchant.example",
				"created_after": "2026-12-01T00:00:00Z", "created_before": "2026-12-02T00:00:00.5+01:00", "rate_per_second": 2.5}},
		{[]string{"--origin", "https://merchant.example"}, map[string]any{"origin": "https://merchant.example"}},
		{nil, map[string]any{}},
	} {
		var api fakeAPI
		base := api.start(t, func(*http.Request) (int, string) {
			return http.StatusAccepted, `{"queued":3,"more":false,"rate_per_second":20}`
		})
		code, out, errOut := cli(t, nil, append([]string{"events", "recover", "--api-url", base, "--token", "t0k"}, tc.args...)...)
		if code != 0 || decode[struct{ Queued int }](t, out).Queued != 3 || !strings.Contains(out, "\n  \"more\": false") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
		got := api.requests[0]
		if got.Method != http.MethodPost || got.Path != "/events/recover" || got.Auth != "Bearer t0k" || len(got.Query) != 0 {
			t.Errorf("%q: sent %s %s?%s with %q", tc.args, got.Method, got.Path, got.Query.Encode(), got.Auth)
		}
		if got.Body == nil {
			got.Body = map[string]any{}
		}
		if !reflect.DeepEqual(got.Body, tc.want) {
			t.Errorf("%q: body %v, want %v", tc.args, got.Body, tc.want)
		}
	}
}

// TestEventsListQuery: each flag becomes the API's parameter, and only
// the flags given are sent.
func TestEventsListQuery(t *testing.T) {
	t.Parallel()
	var api fakeAPI
	base := api.start(t, func(*http.Request) (int, string) { return http.StatusOK, `{"data":[],"total":0,"page":1,"limit":20}` })
	code, _, errOut := cli(t, nil, "events", "list", "--api-url", base, "--status", "dead", "--endpoint", "ep-1", "--type", "order.paid",
		"--origin", "https://merchant.example", "--after", "2026-12-01T00:00:00Z", "--before", "2026-12-02T00:00:00Z",
		"--limit", "5", "--page", "2", "--cursor", "abc")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := url.Values{"status": {"dead"}, "endpoint_id": {"ep-1"}, "event_type": {"order.paid"}, "origin": {"https://merchant.example"},
		"created_after": {"2026-12-01T00:00:00Z"}, "created_before": {"2026-12-02T00:00:00Z"}, "limit": {"5"}, "page": {"2"}, "cursor": {"abc"}}
	if got := api.requests[0]; got.Path != "/events" || !reflect.DeepEqual(got.Query, want) || got.Auth != "" {
		t.Errorf("sent %s?%s (auth %q), want /events?%s without a token", got.Path, got.Query.Encode(), got.Auth, want.Encode())
	}
	cli(t, nil, "events", "list", "--api-url", base+"/")
	if got := api.requests[1]; got.Path != "/events" || len(got.Query) != 0 {
		t.Errorf("without flags: sent %s?%s, want nothing but the path", got.Path, got.Query.Encode())
	}
}

// TestEventsListAll walks by next_cursor, and by page number when the API
// has no cursors.
func TestEventsListAll(t *testing.T) {
	t.Parallel()
	events := []string{`{"id":"e1"}`, `{"id":"e2"}`, `{"id":"e3"}`, `{"id":"e4"}`, `{"id":"e5"}`}
	t.Run("cursor", func(t *testing.T) {
		var api fakeAPI
		base := api.start(t, func(r *http.Request) (int, string) {
			from, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("cursor"), "c"))
			to := min(from+2, len(events))
			next := `"c` + strconv.Itoa(to) + `"`
			if to == len(events) {
				next = "null"
			}
			return http.StatusOK, `{"data":[` + strings.Join(events[from:to], ",") + `],"total":5,"total_exact":true,"page":1,"limit":2,"next_cursor":` + next + `}`
		})
		code, out, errOut := cli(t, nil, "events", "list", "--all", "--limit", "2", "--page", "1", "--status", "dead", "--api-url", base)
		if want := `{"id":"e1"}` + "\n" + `{"id":"e2"}` + "\n" + `{"id":"e3"}` + "\n" + `{"id":"e4"}` + "\n" + `{"id":"e5"}` + "\n"; code != 0 || out != want {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if n := len(api.requests); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		if q := api.requests[1].Query; q.Get("cursor") != "c2" || q.Has("page") || q.Get("status") != "dead" || q.Get("limit") != "2" {
			t.Errorf("second request %s: want the cursor, the filters, the limit and no page", q.Encode())
		}
	})
	t.Run("page numbers", func(t *testing.T) {
		var api fakeAPI
		base := api.start(t, func(r *http.Request) (int, string) {
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			page = max(page, 1)
			from, to := min((page-1)*2, len(events)), min(page*2, len(events))
			return http.StatusOK, `{"data":[` + strings.Join(events[from:to], ",") + `],"total":5,"page":` + strconv.Itoa(page) + `,"limit":2}`
		})
		code, out, _ := cli(t, nil, "events", "list", "--all", "--limit", "2", "--api-url", base)
		if lines := strings.Count(out, "\n"); code != 0 || lines != 5 || len(api.requests) != 3 {
			t.Errorf("exit %d, %d lines, %d requests; want 0, 5, 3", code, lines, len(api.requests))
		}
	})
}

// TestNotTheAPI: an answer that is not webhookd's JSON is reported in one
// line naming the URL.
func TestNotTheAPI(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	code, out, errOut := cli(t, nil, "endpoints", "list", "--api-url", srv.URL)
	if code != 1 || out != "" || !strings.Contains(errOut, srv.URL+"/endpoints: 502 Bad Gateway: <html>bad gateway</html>") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
