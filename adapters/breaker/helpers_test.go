package breaker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	originA = "https://a.example:443"
	originB = "https://b.example:443"
)

// reply scripts what the next Sender answers.
type reply func(context.Context, core.Delivery) (core.Outcome, error)

func status(code int) reply {
	return func(context.Context, core.Delivery) (core.Outcome, error) { return core.Outcome{StatusCode: code}, nil }
}

func outcome(o core.Outcome) reply {
	return func(context.Context, core.Delivery) (core.Outcome, error) { return o, nil }
}

func fails(err error) reply {
	return func(context.Context, core.Delivery) (core.Outcome, error) { return core.Outcome{}, err }
}

// fixture is a breaker.Sender over a scripted memory.Sender that counts
// the calls that got through.
type fixture struct {
	*breaker.Sender
	clock   *memory.Clock
	metrics *memory.Metrics
	logs    *syncBuffer
	calls   atomic.Int64

	mu    sync.Mutex
	reply reply
}

func newFixture(t *testing.T, cfg breaker.Config) *fixture {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	f := &fixture{clock: memory.NewClock(t0), metrics: memory.NewMetrics(), logs: &syncBuffer{}, reply: status(200)}
	next := memory.NewSender(func(ctx context.Context, d core.Delivery) (core.Outcome, error) {
		f.calls.Add(1)
		f.mu.Lock()
		r := f.reply
		f.mu.Unlock()
		return r(ctx, d)
	})
	f.Sender = breaker.NewSender(next, cfg, f.clock, f.metrics, slog.New(slog.NewJSONHandler(f.logs, nil)))
	return f
}

func (f *fixture) answer(r reply) {
	f.mu.Lock()
	f.reply = r
	f.mu.Unlock()
}

func (f *fixture) send(origin string) (core.Outcome, error) {
	return f.Send(context.Background(), delivery(origin))
}

func delivery(origin string) core.Delivery {
	return core.Delivery{EventID: "evt-1", TargetURL: origin + "/hook", Origin: origin, Body: []byte(`{}`), Attempt: 1}
}

// mustRefuse asserts err is a TargetOpenError for origin and returns Until.
func mustRefuse(t *testing.T, err error, origin string) time.Time {
	t.Helper()
	var open *core.TargetOpenError
	if !errors.As(err, &open) {
		t.Fatalf("err = %v, want *core.TargetOpenError", err)
	}
	if open.Target != origin {
		t.Fatalf("TargetOpenError.Target = %q, want %q", open.Target, origin)
	}
	return open.Until
}

func (f *fixture) wantCalls(t *testing.T, want int64) {
	t.Helper()
	if got := f.calls.Load(); got != want {
		t.Fatalf("next was called %d times, want %d", got, want)
	}
}

func (f *fixture) wantMetric(t *testing.T, origin, want string) {
	t.Helper()
	if got := f.metrics.BreakerState(origin); got != want {
		t.Fatalf("metrics state of %s = %q, want %q", origin, got, want)
	}
}

// state finds origin in States(); the zero TargetState if absent.
func (f *fixture) state(origin string) breaker.TargetState {
	for _, s := range f.States() {
		if s.Origin == origin {
			return s
		}
	}
	return breaker.TargetState{}
}

// transitions lists the logged state changes of origin as "from>to".
func (f *fixture) transitions(t *testing.T, origin string) []string {
	t.Helper()
	var out []string
	for _, rec := range f.logs.records(t) {
		if rec["msg"] == "circuit breaker state changed" && rec["origin"] == origin {
			out = append(out, rec["from"].(string)+">"+rec["to"].(string))
		}
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}
