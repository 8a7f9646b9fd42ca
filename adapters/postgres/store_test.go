package postgres

import (
	"bytes"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"

	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunEventStore(t, func(t *testing.T) ports.EventStore {
		s, _, _ := newTestStore(t)
		return s
	})
}

// Merchants answer with anything: a response snippet holding NUL or
// invalid UTF-8 must not make recording the attempt fail. The body is
// bytea and keeps any bytes.
func TestStoreKeepsOddBytes(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	e := porttest.NewEvent(t, "https://m.example/hook", `{}`)
	e.Body = []byte("{\"a\":\"\x00\xff\xfe\"}")
	if _, _, err := s.Insert(ctx, ports.InsertParams{Event: e}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil || !bytes.Equal(got.Body, e.Body) {
		t.Fatalf("Body = %q, %v; want %q", got.Body, err, e.Body)
	}
	c, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 1, Lease: time.Minute, MaxAttempts: 3})
	if err != nil || len(c) != 1 {
		t.Fatalf("Claim: %v %v", c, err)
	}
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: 1},
		Decision: core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: time.Second,
			StatusCode: 500, Error: "status 500: bad\x00byte"},
		Record: core.Attempt{StartedAt: time.Now(), StatusCode: 500, Response: "oops\x00\xffend"}})
	if err != nil {
		t.Fatalf("Complete with odd bytes: %v", err)
	}
	atts, err := s.Attempts(ctx, e.ID)
	if err != nil || len(atts) != 1 || atts[0].Response != "oops\uFFFD\uFFFDend" {
		t.Errorf("Attempts = %+v, %v", atts, err)
	}
}
