// Package testkit holds the helpers webhookd's tests share: polling for a
// condition, a log sink safe for concurrent writers, and the gate in front
// of every test that needs PostgreSQL. Tests only; standard library only.
package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing t when timeout passes
// first. Use it for hand-offs between goroutines or processes, never to
// measure time.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
	}
}

// LogBuffer is an io.Writer for loggers, safe for concurrent writes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Records decodes every line written so far as a JSON object (what
// slog.JSONHandler writes), failing t on a line that is not one.
func (b *LogBuffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader([]byte(b.String())))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

// DatabaseURL returns TEST_DATABASE_URL for a test that needs PostgreSQL.
// Under -short, or when the variable is unset, the test is skipped, unless
// WEBHOOKD_REQUIRE_DB is set (make test, CI): then a missing database
// fails the test, so that the PostgreSQL tests can never silently not run.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	switch {
	case url != "" && !testing.Short():
		return url
	case os.Getenv("WEBHOOKD_REQUIRE_DB") != "":
		t.Fatal("WEBHOOKD_REQUIRE_DB is set but TEST_DATABASE_URL is not (or -short was given): the PostgreSQL tests must run")
	case testing.Short():
		t.Skip("-short: skipping a test that needs PostgreSQL")
	default:
		t.Skip("TEST_DATABASE_URL is not set: skipping a PostgreSQL test (`make test` starts a throwaway PostgreSQL)")
	}
	return ""
}
