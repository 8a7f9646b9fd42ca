package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/internal/testkit"
)

// Receiver is a running mock receiver.
type Receiver struct {
	*Proc
	Base string // http://127.0.0.1:port
}

// URL is its webhook endpoint.
func (r *Receiver) URL() string { return r.Base + "/webhook" }

// StartReceiver runs bin/mock-receiver. env overrides the defaults, which
// make it well-behaved: no forced failures, no chaos, no delay.
func StartReceiver(t testing.TB, bins Binaries, env map[string]string) *Receiver {
	t.Helper()
	port := FreePort(t)
	e := map[string]string{
		"MOCK_RECEIVER_PORT": strconv.Itoa(port), "HMAC_SECRET": Secret, "FAIL_FIRST_N": "0",
		"FAIL_RATE": "0", "HANG_RATE": "0", "MIN_DELAY_MS": "0", "MAX_DELAY_MS": "0",
	}
	maps.Copy(e, env)
	r := &Receiver{Proc: Start(t, "mock-receiver", bins.Receiver, e), Base: "http://" + addr(port)}
	WaitHealthy(t, r.Base+"/health", 10*time.Second)
	return r
}

// Stats fetches /stats (with per-event detail when detail is true).
func (r *Receiver) Stats(t testing.TB, detail bool) receiver.Stats {
	t.Helper()
	url := r.Base + "/stats?summary=1"
	if detail {
		url = r.Base + "/stats"
	}
	var s receiver.Stats
	if code := getJSON(t, url, &s); code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	return s
}

// Control switches the receiver's mode (see mock-receiver /control).
func (r *Receiver) Control(t testing.TB, control map[string]any) {
	t.Helper()
	if code, body := postJSON(t, r.Base+"/control", control, nil); code != http.StatusOK {
		t.Fatalf("POST /control %v: %d %s", control, code, body)
	}
}

// Dispatcher is a running dispatcher.
type Dispatcher struct {
	*Proc
	Base string
}

// Port is the dispatcher's API port.
func (d *Dispatcher) Port() string { return d.Base[strings.LastIndex(d.Base, ":")+1:] }

// DispatcherEnv is the environment of a dispatcher on db delivering to
// target, fast-polling; extra overrides it.
func DispatcherEnv(db *DB, target string, extra map[string]string) map[string]string {
	e := map[string]string{
		"DATABASE_URL": db.URL, "HMAC_SECRET": Secret,
		"TARGET_URL": target, "ALLOW_PRIVATE_TARGETS": "true", "POLL_INTERVAL_MS": "250",
		"LOG_LEVEL": "warn", "SHUTDOWN_GRACE_MS": "5000",
	}
	if db.Kind == KindPostgres {
		e["DATABASE_SCHEMA"] = db.Schema
	}
	maps.Copy(e, extra)
	return e
}

// StartDispatcher runs bin/dispatcher with env (see DispatcherEnv) on a
// free port and waits until it is ready.
func StartDispatcher(t testing.TB, bins Binaries, name string, env map[string]string) *Dispatcher {
	t.Helper()
	return StartDispatcherAt(t, bins, name, FreePort(t), env)
}

// WaitHealthy polls url until it answers 200.
func WaitHealthy(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, url+" to answer 200", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Post submits one event with payload and returns the status code and id.
func (d *Dispatcher) Post(t testing.TB, payload map[string]any) (int, string) {
	t.Helper()
	var res struct{ ID string }
	code, _ := postJSON(t, d.Base+"/events", map[string]any{"payload": payload}, &res)
	return code, res.ID
}

// PostMany submits n events with `workers` concurrent clients and returns
// the ids accepted with 202. It stops early and fails on any other answer.
func (d *Dispatcher) PostMany(t testing.TB, n, workers int) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		ids  = make([]string, 0, n)
		next atomic.Int64
		wg   sync.WaitGroup
		bad  atomic.Value
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || bad.Load() != nil {
					return
				}
				code, id, err := tryPost(d.Base, map[string]any{"seq": i, "note": "harness"})
				if err != nil || code != http.StatusAccepted {
					bad.Store(fmt.Sprintf("event %d: %d %v", i, code, err))
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("PostMany: %v", b)
	}
	return ids
}

var client = &http.Client{Timeout: 30 * time.Second}

func tryPost(base string, payload map[string]any) (int, string, error) {
	b, _ := json.Marshal(map[string]any{"payload": payload})
	resp, err := client.Post(base+"/events", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var res struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res.ID, nil
}

func postJSON(t testing.TB, url string, body any, out any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, string(raw)
}

func getJSON(t testing.TB, url string, out any) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// GetJSON fetches a dispatcher path into out and returns the status code.
func (d *Dispatcher) GetJSON(t testing.TB, path string, out any) int {
	t.Helper()
	return getJSON(t, d.Base+path, out)
}

// PostJSONCode posts body to url, decodes the answer into out (when not
// nil) and returns the status code and the raw answer.
func PostJSONCode(t testing.TB, url string, body any, out any) (int, string) {
	t.Helper()
	return postJSON(t, url, body, out)
}

// PostJSON posts body to url and fails the test unless it answers 202.
func PostJSON(t testing.TB, url string, body any) string {
	t.Helper()
	var res struct{ ID string }
	if code, raw := postJSON(t, url, body, &res); code != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s", url, code, raw)
	}
	return res.ID
}

// NewStack is the usual set-up of an end-to-end test: a database of its
// own on the default store (see NewDB; without it the test skips here,
// before anything is built), the binaries, and a well-behaved mock
// receiver configured by receiverEnv.
func NewStack(t testing.TB, receiverEnv map[string]string) (Binaries, *DB, *Receiver) {
	t.Helper()
	db := NewDB(t)
	bins := Build(t)
	return bins, db, StartReceiver(t, bins, receiverEnv)
}
