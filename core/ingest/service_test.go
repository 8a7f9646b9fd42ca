package ingest_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/ingest"
	"github.com/webhookd/webhookd/internal/testkit"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func newService(t *testing.T, cfg ingest.Config) (*ingest.Service, *memory.Store, *memory.Metrics) {
	t.Helper()
	clk := memory.NewClock(porttest.T0)
	st := memory.NewStore(clk)
	m := memory.NewMetrics()
	svc, err := ingest.NewService(st, clk, m, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, m
}

func TestSubmitStoresByteExactBodyAndDefaultsTheTarget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, st, m := newService(t, ingest.Config{DefaultTargetURL: "https://merchant.example/hooks"})
	payload := ` {"amount": 12345678901234567890, "rate": 1.0} `
	res, err := svc.Submit(ctx, ports.Submission{Payload: []byte(payload)})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.Get(ctx, res.Event.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_id":"` + string(ev.ID) + `","amount": 12345678901234567890, "rate": 1.0}`
	if string(ev.Body) != want || ev.TargetURL != "https://merchant.example/hooks" || ev.Origin != "https://merchant.example:443" {
		t.Errorf("stored %s %s %s", ev.Body, ev.TargetURL, ev.Origin)
	}
	if res.Replayed || ev.Status != core.StatusPending || m.Accepted() != 1 {
		t.Errorf("replayed=%v status=%s accepted=%d", res.Replayed, ev.Status, m.Accepted())
	}
}

func TestSubmitRefusesBadInputAndStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, st, m := newService(t, ingest.Config{})
	for _, tc := range []struct {
		sub  ports.Submission
		code string
	}{
		{ports.Submission{Payload: []byte(`{}`)}, "missing_target_url"},
		{ports.Submission{TargetURL: "http://127.0.0.1:8080/x", Payload: []byte(`{}`)}, "private_target"},
		{ports.Submission{TargetURL: "http://169.254.169.254/latest", Payload: []byte(`{}`)}, "private_target"},
		{ports.Submission{TargetURL: "ftp://merchant.example", Payload: []byte(`{}`)}, "invalid_target_url"},
		{ports.Submission{TargetURL: "https://merchant.example", Payload: []byte(`[1]`)}, "invalid_payload"},
		{ports.Submission{TargetURL: "https://merchant.example", Payload: []byte(`{"event_id":1}`)}, "reserved_event_id"},
		{ports.Submission{TargetURL: "https://merchant.example", Payload: []byte(`{}`), IdempotencyKey: "\x01"}, "invalid_idempotency_key"},
	} {
		_, err := svc.Submit(ctx, tc.sub)
		var ve *core.ValidationError
		if !errors.As(err, &ve) || ve.Code != tc.code {
			t.Errorf("Submit(%+v) = %v, want %s", tc.sub, err, tc.code)
		}
	}
	if res, _ := st.List(ctx, ports.ListFilter{Page: 1, Limit: 10}); res.Total != 0 || m.Accepted() != 0 {
		t.Errorf("bad input stored %d events, counted %d", res.Total, m.Accepted())
	}
}

func TestSubmitAllowsPrivateTargetsWhenConfigured(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, _, _ := newService(t, ingest.Config{Addresses: core.AddressPolicy{AllowPrivate: true}})
	if _, err := svc.Submit(ctx, ports.Submission{TargetURL: "http://localhost:3001/webhook", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestSubmitIdempotency(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, st, m := newService(t, ingest.Config{DefaultTargetURL: "https://merchant.example/hooks"})
	sub := ports.Submission{Payload: []byte(`{"order":42}`), IdempotencyKey: "order-42"}
	first, err := svc.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.Submit(ctx, sub)
	if err != nil || !again.Replayed || again.Event.ID != first.Event.ID {
		t.Fatalf("same key, same request: %+v %v", again, err)
	}
	other := sub
	other.Payload = []byte(`{"order":43}`)
	_, err = svc.Submit(ctx, other)
	var ce *core.ConflictError
	if !errors.As(err, &ce) || ce.Code != "idempotency_key_reused" {
		t.Fatalf("same key, other payload: %v", err)
	}
	if res, _ := st.List(ctx, ports.ListFilter{Page: 1, Limit: 10}); res.Total != 1 || m.Accepted() != 1 {
		t.Errorf("stored %d, accepted %d; want 1 and 1", res.Total, m.Accepted())
	}
}

func TestStoreDownIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc, st, _ := newService(t, ingest.Config{DefaultTargetURL: "https://merchant.example/hooks"})
	st.SetDown(true)
	if _, err := svc.Submit(ctx, ports.Submission{Payload: []byte(`{}`)}); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Submit with the store down: %v", err)
	}
	if err := svc.Ready(ctx); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Ready with the store down: %v", err)
	}
	st.SetDown(false)
	if err := svc.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// TestDefaultTargetMustPassTheGuard: a TARGET_URL the guard would refuse
// stops the start instead of failing every submission.
func TestDefaultTargetMustPassTheGuard(t *testing.T) {
	t.Parallel()
	clk := memory.NewClock(porttest.T0)
	st, m := memory.NewStore(clk), memory.NewMetrics()
	for _, cfg := range []ingest.Config{
		{DefaultTargetURL: "http://localhost:3001/webhook"},
		{DefaultTargetURL: "http://169.254.169.254/latest"},
		{DefaultTargetURL: "ftp://merchant.example/"},
		{DefaultTargetURL: "http://localhost:3000/events", Addresses: core.AddressPolicy{AllowPrivate: true, SelfPort: 3000}},
	} {
		if _, err := ingest.NewService(st, clk, m, nil, cfg); err == nil {
			t.Errorf("default target %s accepted", cfg.DefaultTargetURL)
		}
	}
	svc, err := ingest.NewService(st, clk, m, nil, ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Submit(t.Context(), ports.Submission{Payload: []byte(`{}`)})
	if ve := (*core.ValidationError)(nil); !errors.As(err, &ve) || ve.Code != "missing_target_url" {
		t.Errorf("no target and no default: %v, want missing_target_url", err)
	}
}

// TestSelfTargetRefusedEvenWhenPrivateIsAllowed: the dispatcher's own API
// is never a target (a delivery there would be submitted again, forever).
func TestSelfTargetRefusedEvenWhenPrivateIsAllowed(t *testing.T) {
	t.Parallel()
	svc, st, _ := newService(t, ingest.Config{Addresses: core.AddressPolicy{AllowPrivate: true, SelfPort: 3000}})
	for _, target := range []string{"http://localhost:3000/events", "http://127.0.0.1:3000/events", "http://[::1]:3000/events", "http://0.0.0.0:3000/events"} {
		_, err := svc.Submit(t.Context(), ports.Submission{TargetURL: target, Payload: []byte(`{}`)})
		if ve := (*core.ValidationError)(nil); !errors.As(err, &ve) || ve.Code != "self_target" {
			t.Errorf("%s: %v, want self_target", target, err)
		}
	}
	if _, err := svc.Submit(t.Context(), ports.Submission{TargetURL: "http://localhost:3001/webhook", Payload: []byte(`{}`)}); err != nil {
		t.Errorf("another local port: %v", err)
	}
	if res, _ := st.List(t.Context(), ports.ListFilter{Page: 1, Limit: 10}); res.Total != 1 {
		t.Errorf("%d stored, want 1", res.Total)
	}
}

// TestAcceptedLogRedactsTheTarget: credentials in a target URL never
// reach the logs.
func TestAcceptedLogRedactsTheTarget(t *testing.T) {
	t.Parallel()
	var logs testkit.LogBuffer
	clk := memory.NewClock(porttest.T0)
	svc, err := ingest.NewService(memory.NewStore(clk), clk, memory.NewMetrics(), slog.New(slog.NewJSONHandler(&logs, nil)), ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	target := "https://user:pa55word@merchant.example/hooks?api_key=s3cret"
	if _, err := svc.Submit(t.Context(), ports.Submission{TargetURL: target, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "merchant.example/hooks") || strings.Contains(out, "pa55word") || strings.Contains(out, "s3cret") {
		t.Errorf("log: %s", out)
	}
}
