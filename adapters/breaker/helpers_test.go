package breaker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/adapters/breaker"
	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	originA = "https://a.example:443"
	originB = "https://b.example:443"
)

// reply scripts what the next Sender answers.
type reply func(context.Context, core.Request) (core.Outcome, error)

func status(code int) reply {
	return func(context.Context, core.Request) (core.Outcome, error) { return core.Outcome{StatusCode: code}, nil }
}

func outcome(o core.Outcome) reply {
	return func(context.Context, core.Request) (core.Outcome, error) { return o, nil }
}

func fails(err error) reply {
	return func(context.Context, core.Request) (core.Outcome, error) { return core.Outcome{}, err }
}

// fixture is a breaker.Sender over a scripted memory.Sender that counts
// the calls that got through.
type fixture struct {
	*breaker.Sender
	clock   *memory.Clock
	metrics *memory.Metrics
	logs    *testkit.LogBuffer
	calls   atomic.Int64

	mu    sync.Mutex
	reply reply
}

func newFixture(t *testing.T, cfg breaker.Config) *fixture {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	f := &fixture{clock: memory.NewClock(t0), metrics: memory.NewMetrics(), logs: &testkit.LogBuffer{}, reply: status(200)}
	next := memory.NewSender(func(ctx context.Context, d core.Request) (core.Outcome, error) {
		f.calls.Add(1)
		f.mu.Lock()
		r := f.reply
		f.mu.Unlock()
		return r(ctx, d)
	})
	s, err := breaker.NewSender(next, cfg, f.clock, f.metrics, slog.New(slog.NewJSONHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.Sender = s
	return f
}

func (f *fixture) answer(r reply) {
	f.mu.Lock()
	f.reply = r
	f.mu.Unlock()
}

// holdFirst scripts next so that its first call blocks until release is
// called, then answers with r. Every later call answers 200 at once and is
// only counted: a breaker that wrongly lets a second request through fails
// the test's call count instead of hanging it. entered is closed when the
// first call arrives; cleanup releases it whatever happens.
func (f *fixture) holdFirst(t *testing.T, r reply) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	release = sync.OnceFunc(func() { close(out) })
	t.Cleanup(release)
	var n atomic.Int64
	f.answer(func(ctx context.Context, d core.Request) (core.Outcome, error) {
		if n.Add(1) > 1 {
			return core.Outcome{StatusCode: 200}, nil
		}
		close(in)
		<-out
		return r(ctx, d)
	})
	return in, release
}

// send delivers to origin. It needs no test's context: nothing here is
// cancelled but where a test cancels a context of its own on purpose.
func (f *fixture) send(origin string) (core.Outcome, error) {
	return f.Send(context.Background(), delivery(origin))
}

func delivery(origin string) core.Request {
	return core.Request{EventID: "evt-1", TargetURL: origin + "/hook", Origin: origin, Body: []byte(`{}`), Attempt: 1}
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

// state finds origin in Targets(); the zero TargetState if absent.
func (f *fixture) state(origin string) ports.TargetState {
	for _, s := range f.Targets() {
		if s.Origin == origin {
			return s
		}
	}
	return ports.TargetState{}
}

// transitions lists the logged state changes of origin as "from>to".
func (f *fixture) transitions(t *testing.T, origin string) []string {
	t.Helper()
	var out []string
	for _, rec := range f.logs.Records(t) {
		if rec["msg"] == "circuit breaker state changed" && rec["origin"] == origin {
			out = append(out, rec["from"].(string)+">"+rec["to"].(string))
		}
	}
	return out
}

// waitTimeout bounds every wait in these tests. It is far above what any
// step needs even on a loaded 2-core CI machine, so it fires only on a real
// hang, which it turns into a failure naming what never happened.
const waitTimeout = 15 * time.Second

// await receives one value from ch, failing the test after waitTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

// awaitGroup waits for wg, failing the test after waitTimeout.
func awaitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	await(t, done, what)
}
