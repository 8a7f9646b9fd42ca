package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

const wakeWithin = 2 * time.Second

func expectWake(t *testing.T, l *Listener, after string) {
	t.Helper()
	select {
	case <-l.C():
	case <-time.After(wakeWithin):
		t.Fatalf("no wake-up within %s after %s", wakeWithin, after)
	}
}

func expectQuiet(t *testing.T, l *Listener, while string) {
	t.Helper()
	select {
	case <-l.C():
		t.Fatalf("unexpected wake-up %s", while)
	case <-time.After(150 * time.Millisecond):
	}
}

func runListener(t *testing.T, l *Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

func TestListenerWakesOnInsertReplayReleaseAndAfterReconnect(t *testing.T) {
	t.Parallel()
	s, db, cfg := newTestStore(t)
	other, _, _ := newTestStore(t)
	ctx := t.Context()
	l := NewListener(db, cfg, slog.New(slog.DiscardHandler))
	runListener(t, l)

	expectWake(t, l, "starting to listen") // the catch-up signal
	expectQuiet(t, l, "with nothing inserted")

	insert := func(st *Store) core.Delivery {
		t.Helper()
		in, err := st.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://m.example/hook", `{"n":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		return in.Deliveries[0]
	}
	e := insert(s)
	expectWake(t, l, "Insert")

	insert(other)
	expectQuiet(t, l, "after an insert into another schema")

	// An event routed to no endpoint stores no delivery: nothing to claim,
	// nobody to wake.
	if in, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewTypedEvent(t, "order.paid", `{}`)}); err != nil || len(in.Deliveries) != 0 {
		t.Fatalf("Insert of an unrouted event: %+v %v", in, err)
	}
	expectQuiet(t, l, "after an event routed nowhere")

	// A shutdown's release (due now) wakes; a claim and a completion
	// do not; a replay does.
	claimed, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 1, Lease: time.Minute, MaxAttempts: 10})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim: %v %v", claimed, err)
	}
	if _, err := s.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{{ID: e.ID, Attempt: 1, Seq: 1}}}); err != nil {
		t.Fatal(err)
	}
	expectWake(t, l, "Release to now")
	if claimed, err = s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 1, Lease: time.Minute, MaxAttempts: 10}); err != nil || len(claimed) != 1 {
		t.Fatalf("second Claim: %v %v", claimed, err)
	}
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: claimed[0].ClaimSeq},
		Decision: core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead, StatusCode: 410}})
	if err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, l, "after Claim and Complete")
	if _, err := s.Replay(ctx, ports.ReplayParams{ID: e.ID}); err != nil {
		t.Fatal(err)
	}
	expectWake(t, l, "Replay")

	// Kill the listening connection, as a database restart would.
	var oldPID int
	if err := db.NewRaw(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE ?`,
		"%"+cfg.Schema+"%").Scan(ctx, &oldPID); err != nil {
		t.Fatalf("find listening backend: %v", err)
	}
	var killed bool
	if err := db.NewRaw(`SELECT pg_terminate_backend(?)`, oldPID).Scan(ctx, &killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend: %v %v", killed, err)
	}
	expectWake(t, l, "reconnecting") // notifications may have been missed
	var newPID int
	if err := db.NewRaw(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE ? AND pid <> ?`,
		"%"+cfg.Schema+"%", oldPID).Scan(ctx, &newPID); err != nil {
		t.Fatalf("no new listening backend after the kill: %v", err)
	}
	insert(s)
	expectWake(t, l, "Insert after reconnecting")
}
