package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func pending() core.Delivery {
	return core.Delivery{ID: id, Status: core.StatusPending, NextAttemptAt: t0, ActiveSince: t0}
}

func TestClaimTransitions(t *testing.T) {
	t.Parallel()
	e := pending()
	if _, err := e.Claim("w1", t0.Add(-time.Second), time.Minute); !errors.Is(err, core.ErrConflict) {
		t.Errorf("claim before due: %v", err)
	}
	c, err := e.Claim("w1", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.StatusDelivering || c.AttemptedCount != 1 || c.LockedBy != "w1" ||
		!c.LeaseExpiresAt.Equal(t0.Add(time.Minute)) || !c.LastAttemptedAt.Equal(t0) {
		t.Errorf("claimed: %+v", c)
	}
	if _, err := c.Claim("w2", t0.Add(59*time.Second), time.Minute); !errors.Is(err, core.ErrConflict) {
		t.Errorf("claim of a live lease: %v", err)
	}
	again, err := c.Claim("w2", t0.Add(time.Minute), time.Minute)
	if err != nil || again.AttemptedCount != 2 || again.LockedBy != "w2" {
		t.Errorf("reclaim after expiry: %+v %v", again, err)
	}
	for _, s := range []core.Status{core.StatusSucceeded, core.StatusDead} {
		fin := e
		fin.Status = s
		if _, err := fin.Claim("w1", t0.Add(time.Hour), time.Minute); !errors.Is(err, core.ErrConflict) {
			t.Errorf("claim of %s: %v", s, err)
		}
	}
}

func TestCompleteTransitions(t *testing.T) {
	t.Parallel()
	c, _ := pending().Claim("w1", t0, time.Minute)
	retry := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: 4 * time.Second, StatusCode: 500, Error: "status 500"}
	got, err := c.Complete("w1", 1, retry, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != core.StatusPending || !got.NextAttemptAt.Equal(t0.Add(5*time.Second)) || got.LockedBy != "" ||
		got.LeaseExpiresAt != nil || got.LastStatusCode != 500 || got.LastError != "status 500" {
		t.Errorf("after retry decision: %+v", got)
	}
	if _, err := c.Complete("w2", 1, retry, t0); !errors.Is(err, core.ErrLeaseLost) {
		t.Errorf("complete by another worker: %v", err)
	}
	if _, err := c.Complete("w1", 2, retry, t0); !errors.Is(err, core.ErrLeaseLost) {
		t.Errorf("complete of another attempt: %v", err)
	}
	if _, err := pending().Complete("w1", 0, retry, t0); !errors.Is(err, core.ErrLeaseLost) {
		t.Errorf("complete of an unclaimed event: %v", err)
	}
	refund := retry
	refund.Refund = true
	if got, err := c.Complete("w1", 1, refund, t0); err != nil || got.AttemptedCount != 0 || got.Status != core.StatusPending {
		t.Errorf("refunded attempt: %+v %v, want pending with 0 attempts", got, err)
	}
	bad := core.Decision{Status: core.StatusDelivering}
	if _, err := c.Complete("w1", 1, bad, t0); !errors.Is(err, core.ErrConflict) {
		t.Errorf("decision to stay delivering: %v", err)
	}
}

func TestReleaseParkReplayAbandon(t *testing.T) {
	t.Parallel()
	c, _ := pending().Claim("w1", t0, time.Minute)
	r, err := c.Release("w1", 1, t0.Add(time.Hour), t0)
	if err != nil || r.Status != core.StatusPending || r.AttemptedCount != 0 || !r.NextAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("release: %+v %v", r, err)
	}
	if _, err := c.Release("w2", 1, t0, t0); !errors.Is(err, core.ErrLeaseLost) {
		t.Errorf("release by another: %v", err)
	}
	if p, changed := pending().Park(t0.Add(time.Minute), 0, t0); !changed || !p.NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("park: %v %+v", changed, p)
	}
	// With parkFor, until its expiry: it is not written again until then.
	p, changed := pending().Park(t0.Add(time.Minute), 24*time.Hour, t0)
	if want := pending().ActiveSince.Add(24 * time.Hour); !changed || !p.NextAttemptAt.Equal(want) {
		t.Errorf("park until expiry: %v %s, want %s", changed, p.NextAttemptAt, want)
	}
	if _, again := p.Park(t0.Add(2*time.Minute), 24*time.Hour, t0); again {
		t.Error("a parked delivery was parked again")
	}
	if u, ok := p.Unpark(t0); !ok || !u.NextAttemptAt.Equal(t0) {
		t.Errorf("unpark: %v %s", ok, u.NextAttemptAt)
	}
	if _, changed := pending().Park(t0.Add(-time.Minute), 0, t0); changed {
		t.Error("park moved an event earlier")
	}
	if _, changed := c.Park(t0.Add(time.Hour), 0, t0); changed {
		t.Error("park moved a delivering event")
	}
	if _, changed := c.Unpark(t0); changed {
		t.Error("unpark moved a delivering event")
	}
	if _, err := c.ClaimProbe("w2", t0, time.Minute); !errors.Is(err, core.ErrConflict) {
		t.Errorf("probe of a delivering event: %v", err)
	}
	if pr, err := p.ClaimProbe("w2", t0, time.Minute); err != nil || !pr.Probe || pr.Status != core.StatusDelivering || pr.AttemptedCount != 1 {
		t.Errorf("probe of a parked delivery: %+v %v", pr, err)
	}
	if _, err := pending().Replay(t0); !errors.Is(err, core.ErrConflict) {
		t.Errorf("replay pending: %v", err)
	}
	dead := pending()
	dead.Status, dead.AttemptedCount, dead.LastError = core.StatusDead, 10, "status 500"
	rp, err := dead.Replay(t0.Add(time.Hour))
	if err != nil || rp.Status != core.StatusPending || rp.AttemptedCount != 0 || rp.LastError != "" || !rp.NextAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("replay dead: %+v %v", rp, err)
	}
	if _, _, err := c.Abandon(t0.Add(time.Second)); !errors.Is(err, core.ErrConflict) {
		t.Errorf("abandon a live lease: %v", err)
	}
	ab, lost, err := c.Abandon(t0.Add(time.Minute))
	if err != nil || ab.Status != core.StatusDead || ab.LastError != core.ErrorLostFinalAttempt || ab.LockedBy != "" {
		t.Errorf("abandon: %+v %v", ab, err)
	}
	if lost.Verdict != core.VerdictLost || lost.Number != c.AttemptedCount || lost.Worker != c.LockedBy ||
		!lost.StartedAt.Equal(*c.LastAttemptedAt) || lost.Reason != core.ReasonLostFinalAttempt {
		t.Errorf("lost attempt record: %+v", lost)
	}
}

func TestEventStatusSumsUpDeliveries(t *testing.T) {
	t.Parallel()
	d := func(s core.Status) core.Delivery { return core.Delivery{Status: s} }
	for _, tc := range []struct {
		ds   []core.Delivery
		want core.Status
	}{
		{nil, core.StatusSucceeded},
		{[]core.Delivery{d(core.StatusSucceeded), d(core.StatusDead)}, core.StatusDead},
		{[]core.Delivery{d(core.StatusDead), d(core.StatusPending), d(core.StatusSucceeded)}, core.StatusPending},
		{[]core.Delivery{d(core.StatusPending), d(core.StatusDelivering)}, core.StatusDelivering},
	} {
		if got := core.EventStatus(tc.ds); got != tc.want {
			t.Errorf("EventStatus(%v) = %s, want %s", tc.ds, got, tc.want)
		}
	}
}

func TestRecoverIsAPacedReplay(t *testing.T) {
	t.Parallel()
	if _, err := pending().Recover(t0, t0.Add(time.Second)); !errors.Is(err, core.ErrConflict) {
		t.Errorf("recover of a pending delivery: %v", err)
	}
	dead := pending()
	dead.Status, dead.AttemptedCount, dead.LastError, dead.LastStatusCode = core.StatusDead, 10, "boom", 500
	at := t0.Add(90 * time.Second)
	r, err := dead.Recover(t0, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != core.StatusPending || r.AttemptedCount != 0 || r.LastError != "" || r.LastStatusCode != 0 ||
		!r.NextAttemptAt.Equal(at) || !r.ActiveSince.Equal(at) || !r.UpdatedAt.Equal(t0) {
		t.Errorf("recovered: %+v", r)
	}
	// Its turn already come: due now, like a replay.
	r, _ = dead.Recover(t0, t0.Add(-time.Second))
	if !r.NextAttemptAt.Equal(t0) || !r.ActiveSince.Equal(t0) {
		t.Errorf("recovered for the past: %+v", r)
	}
}

func TestRecoverPace(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n    int
		rate float64
		want time.Duration
	}{
		{0, 20, 0}, {1, 20, 50 * time.Millisecond}, {40, 20, 2 * time.Second}, {3, 0.5, 6 * time.Second}, {5, 0, 0},
	} {
		if got := core.RecoverPace(t0, c.n, c.rate).Sub(t0); got != c.want {
			t.Errorf("RecoverPace(n=%d, rate=%v) = now+%v, want now+%v", c.n, c.rate, got, c.want)
		}
	}
}
