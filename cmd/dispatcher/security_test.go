package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/test/harness"
)

// The security tests run the real binary on the memory store: what they
// check (start-up refusals, the SSRF guard, the API's answers, logs) does
// not depend on the store.

func memoryEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"STORE": "memory", "HMAC_SECRET": harness.Secret, "LOG_LEVEL": "info", "POLL_INTERVAL_MS": "50",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// post sends body to url with headers (name, value pairs) and returns the
// status and the error code of the envelope, if any.
func post(t *testing.T, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var env struct{ Error struct{ Code string } }
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &env)
	return resp.StatusCode, env.Error.Code
}

// TestStartRefusesWeakSecrets: the binary exits non-zero, naming the
// variable, for a missing, published or short secret, and starts (with a
// warning) only under DEV_MODE.
func TestStartRefusesWeakSecrets(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"unset", map[string]string{"HMAC_SECRET": ""}},
		{"one byte", map[string]string{"HMAC_SECRET": "a"}},
		{"the seed's example", map[string]string{"HMAC_SECRET": "b78943f3976a7bacbbc6de236063817691e6e441be5b14acc7ba25fc0b6dfca2"}},
		{"short extra", map[string]string{"HMAC_EXTRA_SECRETS": "old"}},
	} {
		env := memoryEnv(tc.env)
		env["DISPATCHER_PORT"] = strconv.Itoa(harness.FreePort(t))
		p := harness.Start(t, "refused-"+strings.ReplaceAll(tc.name, " ", "-"), bins.Dispatcher, env)
		if code := p.Wait(20 * time.Second); code == 0 || !strings.Contains(p.Log(), "HMAC_") {
			t.Errorf("%s: exit %d, output %q; want a failure naming the variable", tc.name, code, p.Log())
		}
	}
	env := memoryEnv(map[string]string{"HMAC_SECRET": "", "DEV_MODE": "true"})
	d := harness.StartDispatcher(t, bins, "dev-mode", env)
	if !strings.Contains(d.Log(), "DEV_MODE") {
		t.Errorf("DEV_MODE started without a warning: %s", d.Log())
	}
}

// TestNoDeliveryLoop: a target that is this dispatcher's own API is
// refused even with private targets allowed, and a submission carrying
// webhookd's delivery signature is refused, so that two dispatchers aimed
// at each other cannot multiply events either.
func TestNoDeliveryLoop(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	b := harness.StartDispatcher(t, bins, "dispatcher-b", memoryEnv(map[string]string{"ALLOW_PRIVATE_TARGETS": "true"}))
	a := harness.StartDispatcher(t, bins, "dispatcher-a", memoryEnv(map[string]string{
		"ALLOW_PRIVATE_TARGETS": "true", "RETRY_BASE_MS": "50", "MAX_ATTEMPTS": "2",
	}))
	for _, self := range []string{a.Base + "/events", "http://localhost:" + a.Port() + "/events", "http://[::1]:" + a.Port() + "/events"} {
		if code, errCode := post(t, a.Base+"/events", fmt.Sprintf(`{"target_url":%q,"payload":{}}`, self)); code != 400 || errCode != "self_target" {
			t.Errorf("target %s: %d %s, want 400 self_target", self, code, errCode)
		}
	}
	// A submission-shaped payload aimed at another dispatcher: B refuses
	// the delivery, so nothing nests.
	nested := fmt.Sprintf(`{"target_url":%q,"payload":{"target_url":%q,"payload":{"n":1}}}`, b.Base+"/events", a.Base+"/events")
	code, _ := post(t, a.Base+"/events", nested)
	if code != http.StatusAccepted {
		t.Fatalf("submit to A: %d", code)
	}
	var list struct{ Total int }
	testkit.Eventually(t, 20*time.Second, "A's event to die of B's refusals", func() bool {
		a.GetJSON(t, "/events?status=dead", &list)
		return list.Total == 1
	})
	if b.GetJSON(t, "/events", &list); list.Total != 0 {
		t.Errorf("B stored %d events from A's deliveries, want 0", list.Total)
	}
	var ev struct {
		Attempts []struct {
			StatusCode int    `json:"status_code"`
			Response   string `json:"response"`
		} `json:"attempts"`
	}
	var page struct{ Data []struct{ ID string } }
	a.GetJSON(t, "/events", &page)
	a.GetJSON(t, "/events/"+page.Data[0].ID, &ev)
	if len(ev.Attempts) == 0 || ev.Attempts[0].StatusCode != 400 || !strings.Contains(ev.Attempts[0].Response, "delivery_loop") {
		t.Errorf("A's attempts: %+v, want B's 400 delivery_loop", ev.Attempts)
	}
}

// TestLogsRedactTargetsAndArePrivate: a target URL's user-info and query
// never reach the log file, which only its owner may read.
func TestLogsRedactTargetsAndArePrivate(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	rcv := harness.StartReceiver(t, bins, nil)
	logFile := filepath.Join(t.TempDir(), "logs", "dispatcher.log")
	d := harness.StartDispatcher(t, bins, "dispatcher", memoryEnv(map[string]string{
		"ALLOW_PRIVATE_TARGETS": "true", "LOG_FILE": logFile,
	}))
	target := strings.Replace(rcv.URL(), "http://", "http://merchant:pa55word@", 1) + "?api_key=s3cret"
	if code, errCode := post(t, d.Base+"/events", fmt.Sprintf(`{"target_url":%q,"payload":{"n":1}}`, target)); code != 202 {
		t.Fatalf("submit: %d %s", code, errCode)
	}
	testkit.Eventually(t, 20*time.Second, "the delivery", func() bool { return rcv.Stats(t, false).Accepted == 1 })
	testkit.Eventually(t, 5*time.Second, "the delivery's log line", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Contains(b, []byte(`"msg":"delivered"`))
	})
	b, _ := os.ReadFile(logFile)
	for _, secret := range []string{"pa55word", "s3cret"} {
		if bytes.Contains(b, []byte(secret)) || strings.Contains(d.Log(), secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// TestConnectionCap: thousands of idle connections do not exhaust the
// process's file descriptors; MAX_CONNECTIONS holds them in the backlog,
// and the API answers again as soon as they are gone.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	d := harness.StartDispatcher(t, bins, "dispatcher", memoryEnv(map[string]string{"MAX_CONNECTIONS": "32"}))
	fds := func() int {
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Cmd.Process.Pid))
		return len(entries)
	}
	before := fds()
	var conns []net.Conn
	for range 1000 {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+d.Port(), time.Second)
		if err != nil {
			break // the backlog is full: the kernel refuses, not the process
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond) // let the server accept what it will
	held := fds() - before
	t.Logf("%d connections opened, the dispatcher holds %d more descriptors", len(conns), held)
	if held > 32+8 {
		t.Errorf("the dispatcher holds %d more descriptors with MAX_CONNECTIONS=32", held)
	}
	for _, c := range conns {
		c.Close()
	}
	testkit.Eventually(t, 15*time.Second, "the API to answer again", func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get(d.Base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if strings.Contains(d.Log(), "too many open files") {
		t.Error("the dispatcher ran out of file descriptors")
	}
}
