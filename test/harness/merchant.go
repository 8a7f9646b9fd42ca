package harness

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Merchant is an in-test webhook receiver on 127.0.0.1 that answers 200
// (or Status) and keeps every request it got, to be verified afterwards the way a
// merchant would: with its own secret.
type Merchant struct {
	*httptest.Server
	// Status is what it answers (0: 200).
	Status atomic.Int32
	mu     sync.Mutex
	got    []Received
}

// Received is one request a Merchant got.
type Received struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// StartMerchant starts a Merchant, closed when the test ends.
func StartMerchant(t testing.TB) *Merchant {
	t.Helper()
	m := &Merchant{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.got = append(m.got, Received{Header: r.Header.Clone(), Body: body, At: time.Now()})
		m.mu.Unlock()
		w.WriteHeader(cmp.Or(int(m.Status.Load()), http.StatusOK))
	}))
	t.Cleanup(m.Close)
	return m
}

// Requests returns a copy of what the merchant has received.
func (m *Merchant) Requests() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Received(nil), m.got...)
}

// StandardWebhooksJS verifies deliveries with the official Standard
// Webhooks JavaScript library (core/signing/testdata/interop/verify.mjs,
// installed by scripts/interop-setup.sh into SIGNING_INTEROP_DIR). It
// returns nil when that library is not installed and
// WEBHOOKD_REQUIRE_INTEROP is not set (CI sets it).
func StandardWebhooksJS(t testing.TB) func(secret string, r Received) error {
	t.Helper()
	dir := os.Getenv("SIGNING_INTEROP_DIR")
	if dir == "" {
		if os.Getenv("WEBHOOKD_REQUIRE_INTEROP") != "" {
			t.Fatal("WEBHOOKD_REQUIRE_INTEROP is set but SIGNING_INTEROP_DIR is not: run scripts/interop-setup.sh")
		}
		return nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("SIGNING_INTEROP_DIR is set but node is not on PATH: %v", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "core", "signing", "testdata", "interop", "verify.mjs")
	return func(secret string, r Received) error {
		in, err := json.Marshal(map[string]any{"secret": secret, "body": string(r.Body), "headers": map[string]string{
			"webhook-id":        r.Header.Get("webhook-id"),
			"webhook-timestamp": r.Header.Get("webhook-timestamp"),
			"webhook-signature": r.Header.Get("webhook-signature"),
		}})
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(t.Context(), node, script)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
				return errors.New(stderr.String())
			}
			t.Fatalf("verify.mjs: %v: %s", err, stderr.String())
		}
		return nil
	}
}
