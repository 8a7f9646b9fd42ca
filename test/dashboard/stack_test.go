package dashboard_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// encryptionKey is ENCRYPTION_KEY for every dispatcher here (64 hex), so
// that endpoint secrets are sealed as in production.
const encryptionKey = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"

// stack is the real dispatcher binary on a real store, delivering to the
// real mock receiver by default, and an API client for it.
type stack struct {
	db    *harness.DB
	rcv   *harness.Receiver
	d     *harness.Dispatcher
	token string // API_TOKENS; "" runs the dashboard open
}

type stackConfig struct {
	token       string            // API_TOKENS (one token), or "" for none
	receiverEnv map[string]string // the mock receiver's environment
	env         map[string]string // the dispatcher's, over the defaults
}

// startStack starts the mock receiver and the dispatcher on db. Without a
// browser to drive them (see chromiumPath) it skips the test first,
// before anything is built or started; start the browser (newBrowser)
// after it, so that the build does not eat into the browser's timeout.
func startStack(t *testing.T, db *harness.DB, cfg stackConfig) *stack {
	t.Helper()
	chromiumPath(t)
	bins := harness.Build(t)
	rcv := harness.StartReceiver(t, bins, cfg.receiverEnv)
	// METRICS_REFRESH_MS: the overview shows the queue gauges /metrics
	// reads in the background; read them often, so a page soon agrees
	// with the store.
	env := map[string]string{"ENCRYPTION_KEY": encryptionKey, "POLL_INTERVAL_MS": "100", "LOG_LEVEL": "info", "METRICS_REFRESH_MS": "200"}
	if cfg.token != "" {
		env["API_TOKENS"] = cfg.token
	}
	maps.Copy(env, cfg.env)
	d := harness.StartDispatcher(t, bins, "dispatcher", harness.DispatcherEnv(db, rcv.URL(), env))
	t.Logf("dispatcher %s on %s, receiver %s", d.Base, db.Kind, rcv.Base)
	return &stack{db: db, rcv: rcv, d: d, token: cfg.token}
}

// url is the dashboard's address for path ("" for /dashboard itself).
func (s *stack) url(path string) string { return s.d.Base + "/dashboard" + path }

var apiClient = &http.Client{Timeout: 20 * time.Second}

// api calls the dispatcher's JSON API with the stack's bearer token,
// decodes a 2xx answer into out (when not nil) and returns the status
// and the raw body.
func (s *stack) api(t *testing.T, method, path string, body, out any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.d.Base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// postEvent submits an event through the API (POST /events) and returns
// its id. fields go next to the payload (event_type, target_url, …).
func (s *stack) postEvent(t *testing.T, payload map[string]any, fields map[string]any) string {
	t.Helper()
	body := map[string]any{"payload": payload}
	maps.Copy(body, fields)
	var res struct{ ID string }
	if code, raw := s.api(t, http.MethodPost, "/events", body, &res); code != http.StatusAccepted || res.ID == "" {
		t.Fatalf("POST /events: %d %s", code, raw)
	}
	return res.ID
}

type eventJSON struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	EventType  string          `json:"event_type"`
	Payload    json.RawMessage `json:"payload"`
	Deliveries []struct {
		ID             string `json:"id"`
		Status         string `json:"status"`
		AttemptedCount int    `json:"attempted_count"`
		Attempts       []struct {
			Number     int  `json:"number"`
			StatusCode *int `json:"status_code"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

// event is GET /events/{id}.
func (s *stack) event(t *testing.T, id string) eventJSON {
	t.Helper()
	var ev eventJSON
	if code, raw := s.api(t, http.MethodGet, "/events/"+id, nil, &ev); code != http.StatusOK {
		t.Fatalf("GET /events/%s: %d %s", id, code, raw)
	}
	return ev
}

// waitStatus waits until every event in ids has status.
func (s *stack) waitStatus(t *testing.T, timeout time.Duration, status string, ids ...string) {
	t.Helper()
	testkit.Eventually(t, timeout, "events "+strings.Join(ids, ",")+" "+status, func() bool {
		for _, id := range ids {
			if s.event(t, id).Status != status {
				return false
			}
		}
		return true
	})
}

type endpointJSON struct {
	ID                 string   `json:"id"`
	URL                string   `json:"url"`
	EventTypes         []string `json:"event_types"`
	Description        string   `json:"description"`
	RateLimitPerSecond *int     `json:"rate_limit_per_second"`
	Disabled           bool     `json:"disabled"`
	DisabledReason     *string  `json:"disabled_reason"`
	Secret             string   `json:"secret"` // POST /endpoints only
}

// createEndpoint is POST /endpoints.
func (s *stack) createEndpoint(t *testing.T, body map[string]any) endpointJSON {
	t.Helper()
	var ep endpointJSON
	if code, raw := s.api(t, http.MethodPost, "/endpoints", body, &ep); code != http.StatusCreated {
		t.Fatalf("POST /endpoints: %d %s", code, raw)
	}
	return ep
}

// endpoint is GET /endpoints/{id}.
func (s *stack) endpoint(t *testing.T, id string) endpointJSON {
	t.Helper()
	var ep endpointJSON
	if code, raw := s.api(t, http.MethodGet, "/endpoints/"+id, nil, &ep); code != http.StatusOK {
		t.Fatalf("GET /endpoints/%s: %d %s", id, code, raw)
	}
	return ep
}

// endpoints is GET /endpoints (the first page, which is all a test makes).
func (s *stack) endpoints(t *testing.T) []endpointJSON {
	t.Helper()
	var page struct{ Data []endpointJSON }
	if code, raw := s.api(t, http.MethodGet, "/endpoints?limit=100", nil, &page); code != http.StatusOK {
		t.Fatalf("GET /endpoints: %d %s", code, raw)
	}
	return page.Data
}

// secret is GET /endpoints/{id}/secret: the endpoint's current secret.
func (s *stack) secret(t *testing.T, id string) string {
	t.Helper()
	var res struct{ Secret string }
	if code, raw := s.api(t, http.MethodGet, "/endpoints/"+id+"/secret", nil, &res); code != http.StatusOK {
		t.Fatalf("GET /endpoints/%s/secret: %d %s", id, code, raw)
	}
	return res.Secret
}

// received reports how many 2xx answers the mock receiver gave for the
// event id.
func (s *stack) received(t *testing.T, id string) int {
	t.Helper()
	return s.rcv.Stats(t, true).Events[id].Accepted
}
