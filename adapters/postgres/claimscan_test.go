package postgres

import (
	"reflect"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// scanClaimed reads a claim as bun's scan into deliveryRow did, column
// for column: the same claim, run in a rolled-back transaction and then
// for real, is scanned once each way; and what it derives rather than
// reads (leased) is what the claim stored. Its rows cover every column kind: an endpoint
// delivery with a previous key and a rate limit (keys, NULL and set
// times), a target_url one behind an open target (target_open_until), a
// probe, and a retried one (last status, error and attempt time).
func TestScanClaimedReadsWhatBunRead(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	at0 := porttest.T0
	ep := porttest.NewEndpoint(t, "https://ep.example/hook")
	ep.RateLimitPerSecond = 7
	ep.PreviousSecret, ep.PreviousSecretUntil = []byte{9, 9, 9, 9, 9}, &at0
	if _, err := s.CreateEndpoint(ctx, ep, &at0); err != nil {
		t.Fatal(err)
	}
	for _, e := range []core.Event{
		porttest.NewTypedEvent(t, "order.paid", `{"to":"endpoint"}`),
		porttest.NewEvent(t, "https://retried.example/hook", `{"retried":1}`),
		porttest.NewEvent(t, "https://open.example/hook", `{"open":1}`),
		porttest.NewEvent(t, "https://open.example/hook", `{"open":2}`),
	} {
		if _, err := s.Insert(ctx, ports.InsertParams{Event: e, Now: &at0}); err != nil {
			t.Fatal(err)
		}
	}
	at1 := at0.Add(time.Second)
	claim := ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10, Now: &at1}
	first, err := s.Claim(ctx, claim)
	if err != nil || len(first) != 4 {
		t.Fatalf("first claim = %d rows, %v", len(first), err)
	}
	for _, d := range first {
		if d.Origin != "https://retried.example:443" {
			continue
		}
		if err := s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: d.ID, Attempt: 1, Seq: d.ClaimSeq},
			Decision: core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, StatusCode: 503,
				Error: "status 503", RetryIn: time.Second},
			Record: core.Attempt{StartedAt: at1, StatusCode: 503}, Now: &at1}); err != nil {
			t.Fatal(err)
		}
	}
	// The rest go back to pending, and open.example opens: one of its two
	// becomes the probe, due now; the other waits behind it.
	if _, err := db.ExecContext(ctx, `
		UPDATE deliveries SET status = 'pending', locked_by = NULL, lease_expires_at = NULL WHERE status = 'delivering';
		INSERT INTO targets (origin, open_until, opened_at, updated_at)
		VALUES ('https://open.example:443', ?, ?, ?)`, at1, at0, at0); err != nil {
		t.Fatal(err)
	}
	at2 := at1.Add(time.Minute)
	claim.Now, claim.Worker = &at2, "w2"

	tx := begin(t, s.queue)
	viaBun := claimInTx(t, s, tx, claim)
	_ = tx.Rollback()
	for i := range viaBun {
		if err := leased(&viaBun[i], claim); err != nil {
			t.Fatal(err)
		}
	}
	want, err := deliveriesToCore(viaBun)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanClaimed read\n%+v\nbun read\n%+v", got, want)
	}
	// What leased derives is what the claim wrote.
	for _, d := range got {
		row, err := s.Get(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != d.Status || row.LockedBy != d.LockedBy || !row.UpdatedAt.Equal(d.UpdatedAt) ||
			row.LeaseExpiresAt == nil || d.LeaseExpiresAt == nil || !row.LeaseExpiresAt.Equal(*d.LeaseExpiresAt) {
			t.Errorf("claimed %s as %s by %q, updated %s, leased until %v; stored %s by %q, %s, %v",
				d.ID, d.Status, d.LockedBy, d.UpdatedAt, d.LeaseExpiresAt, row.Status, row.LockedBy, row.UpdatedAt, row.LeaseExpiresAt)
		}
	}
	var endpoint, probe, parked, retried bool
	for _, d := range got {
		endpoint = endpoint || d.Endpoint != nil && d.Endpoint.Previous != nil && d.Endpoint.RateLimitPerSecond == 7
		probe = probe || d.Probe
		parked = parked || d.TargetOpenUntil != nil
		retried = retried || d.LastStatusCode == 503 && d.LastError != "" && d.LastAttemptedAt != nil
	}
	if len(got) != 4 || !endpoint || !probe || !parked || !retried {
		t.Fatalf("the claim does not cover every column kind (%d rows; endpoint %v, probe %v, parked %v, retried %v): %+v",
			len(got), endpoint, probe, parked, retried, got)
	}
}
