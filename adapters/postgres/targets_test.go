package postgres

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// TestOpenTargetWritesOnlyItsProbes proves the point of keeping target
// health in the database: a target's parked deliveries are written when
// they are parked and when they are released, never once per open
// interval. 1,000 deliveries of one target are parked (Release with
// ParkFor); then three open intervals end, each with its probe claimed,
// failed (refunded) and recorded (Probed, not OK). Of the deliveries, only
// the probes' rows get a new row version; the 999 others are not touched.
func TestOpenTargetWritesOnlyItsProbes(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	const n = 1000
	const origin = "https://down.example:443"
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := db.ExecContext(ctx, `
		WITH ev AS (
			INSERT INTO events (id, target_url, origin, body, created_at)
			SELECT gen_random_uuid(), 'https://down.example/hook', ?, '\x7b7d'::bytea, ?::timestamptz
			FROM generate_series(1, ?)
			RETURNING id, target_url, origin, created_at
		)
		INSERT INTO deliveries (id, event_id, target_url, origin, next_attempt_at, active_since, created_at, updated_at)
		SELECT id, id, target_url, origin, created_at, created_at, created_at, created_at FROM ev`, origin, base, n)
	if err != nil {
		t.Fatalf("bulk insert: %v", err)
	}
	at := func(d time.Duration) *time.Time { t := base.Add(d); return &t }

	// A worker's breaker trips: it parks what it claimed, and the rest.
	first, err := s.Claim(ctx, ports.ClaimParams{Worker: "w0", Limit: 1, Lease: time.Minute, MaxAttempts: 10, Now: at(0)})
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim: %d, %v", len(first), err)
	}
	res, err := s.Release(ctx, ports.ReleaseParams{Worker: "w0", Claims: []ports.Claim{claimOf(first[0])},
		ParkOrigin: origin, Until: base.Add(time.Minute), ParkFor: time.Hour, Now: at(0)})
	if err != nil || res.Released != 1 || res.Parked != n-1 {
		t.Fatalf("Release = %+v, %v; want 1 released, %d parked", res, err, n-1)
	}

	type version struct {
		XMin      string    `bun:"xmin"`
		UpdatedAt time.Time `bun:"updated_at"`
	}
	versions := func() map[string]version {
		t.Helper()
		var rows []struct {
			ID string `bun:"id"`
			version
		}
		if err := db.NewRaw(`SELECT id, xmin::text AS xmin, updated_at FROM deliveries`).Scan(ctx, &rows); err != nil {
			t.Fatal(err)
		}
		out := make(map[string]version, len(rows))
		for _, r := range rows {
			out[r.ID] = r.version
		}
		return out
	}
	before := versions()

	failed := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: time.Second,
		Error: "connection refused", Reason: "probe failed", Refund: true}
	probes := map[string]bool{}
	for i := range 3 {
		end := time.Duration(i+1) * time.Minute // the interval's end
		if got, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10,
			Now: at(end - time.Second)}); err != nil || len(got) != 0 {
			t.Fatalf("interval %d: claim before its end got %d, %v; want nothing", i, len(got), err)
		}
		got, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10, Now: at(end)})
		if err != nil || len(got) != 1 || !got[0].Probe || got[0].AttemptedCount != 1 {
			t.Fatalf("interval %d: claim at its end = %+v, %v; want one probe, attempt 1", i, got, err)
		}
		probe := got[0]
		probes[string(probe.ID)] = true
		if err := s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: claimOf(probe), Decision: failed,
			Record: core.Attempt{StartedAt: *at(end), Error: failed.Error}, Now: at(end)}); err != nil {
			t.Fatalf("interval %d: complete: %v", i, err)
		}
		if err := s.Probed(ctx, ports.ProbedParams{Origin: origin, Until: base.Add(end + time.Minute), ParkFor: time.Hour,
			Now: at(end)}); err != nil {
			t.Fatalf("interval %d: Probed: %v", i, err)
		}
	}

	after := versions()
	var written []string
	for id, v := range after {
		if v != before[id] {
			written = append(written, id)
			if !probes[id] {
				t.Errorf("delivery %s, not a probe, was written: %+v -> %+v", id, before[id], v)
			}
		}
	}
	for id := range probes {
		if after[id] == before[id] {
			t.Errorf("probe %s was not written", id)
		}
	}
	t.Logf("3 probe cycles over %d parked deliveries: %d delivery rows written (%d distinct probes)", n, len(written), len(probes))

	targets, err := s.Targets(ctx)
	if err != nil || len(targets) != 1 || targets[0].Origin != origin || !targets[0].OpenUntil.Equal(base.Add(4*time.Minute)) ||
		targets[0].ProbeUntil != nil || !targets[0].OpenedAt.Equal(base) {
		t.Errorf("Targets = %+v, %v; want %s open until %s, no probe, opened at %s", targets, err, origin,
			base.Add(4*time.Minute), base)
	}
}

// One claim in the cluster gets an open target's probe: workers claiming
// together when its interval ends take one delivery between them.
func TestConcurrentClaimsTakeOneProbe(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	base := porttest.T0
	at := func(d time.Duration) *time.Time { t := base.Add(d); return &t }
	var origin string
	for range 50 {
		in, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://down.example/hook", `{}`), Now: at(0)})
		if err != nil {
			t.Fatal(err)
		}
		origin = in.Deliveries[0].Origin
	}
	if _, err := s.Release(ctx, ports.ReleaseParams{Worker: "w0", ParkOrigin: origin, Until: base.Add(time.Minute),
		ParkFor: time.Hour, Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	var wg sync.WaitGroup
	got := make([][]core.Delivery, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.Claim(ctx, ports.ClaimParams{Worker: "w" + string(rune('a'+i)), Limit: 10,
				Lease: time.Minute, MaxAttempts: 10, Now: at(time.Minute)})
		})
	}
	close(start)
	wg.Wait()
	var claimed []core.Delivery
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		claimed = append(claimed, got[i]...)
	}
	if len(claimed) != 1 || !claimed[0].Probe {
		t.Fatalf("%d workers claiming at the interval's end got %+v; want one probe", workers, claimed)
	}
	targets, err := s.Targets(ctx)
	if err != nil || len(targets) != 1 || targets[0].ProbeUntil == nil || !targets[0].ProbeUntil.Equal(base.Add(2*time.Minute)) {
		t.Errorf("Targets = %+v, %v; want the probe leased until %s", targets, err, base.Add(2*time.Minute))
	}
}

// A successful probe brings the parked deliveries back at once and wakes
// the workers; a failed one wakes nobody.
func TestSuccessfulProbeWakesTheWorkers(t *testing.T) {
	t.Parallel()
	s, db, cfg := newTestStore(t)
	ctx := t.Context()

	var origin string
	for range 3 {
		in, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, "https://down.example/hook", `{}`)})
		if err != nil {
			t.Fatal(err)
		}
		origin = in.Deliveries[0].Origin
	}
	// Database time, as in production.
	claimed, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 1, Lease: time.Minute, MaxAttempts: 10})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim: %v %v", claimed, err)
	}
	until := time.Now().Add(time.Hour)
	if res, err := s.Release(ctx, ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{claimOf(claimed[0])},
		ParkOrigin: origin, Until: until}); err != nil || res.Released != 1 || res.Parked != 2 {
		t.Fatalf("Release = %+v, %v", res, err)
	}
	l := NewListener(db, cfg, slog.New(slog.DiscardHandler))
	runListener(t, l)
	expectWake(t, l, "starting to listen")
	expectQuiet(t, l, "with everything parked")
	if err := s.Probed(ctx, ports.ProbedParams{Origin: origin, Until: until}); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, l, "after a failed probe")
	if got, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10}); err != nil || len(got) != 0 {
		t.Fatalf("claim while parked: %d, %v", len(got), err)
	}
	if err := s.Probed(ctx, ports.ProbedParams{Origin: origin, OK: true}); err != nil {
		t.Fatal(err)
	}
	expectWake(t, l, "a successful probe")
	got, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 10, Lease: time.Minute, MaxAttempts: 10})
	if err != nil || len(got) != 3 {
		t.Fatalf("claim after the probe: %d, %v; want the 3 parked", len(got), err)
	}
	for _, e := range got {
		if e.Probe || e.TargetOpenUntil != nil {
			t.Errorf("%s flagged after recovery: %+v", e.ID, e)
		}
	}
	if targets, err := s.Targets(ctx); err != nil || len(targets) != 0 {
		t.Errorf("Targets = %+v, %v; want none", targets, err)
	}
}

// Workers parking, probing, closing and reopening one target all at once,
// with new deliveries arriving, never deadlock and never fail.
func TestParkAndProbeConcurrently(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := t.Context()
	const url = "https://flaky.example/hook"
	origin := ""
	for range 50 {
		in, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, url, `{}`)})
		if err != nil {
			t.Fatal(err)
		}
		origin = in.Deliveries[0].Origin
	}
	failed := core.Decision{Verdict: core.VerdictRetry, Status: core.StatusPending, RetryIn: time.Millisecond,
		Error: "connection refused", Reason: "probe failed", Refund: true}
	deadline := time.Now().Add(1500 * time.Millisecond)
	var probes, parked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 6 {
		worker := "w" + string(rune('a'+w))
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				if w == 0 {
					if _, err := s.Insert(ctx, ports.InsertParams{Event: porttest.NewEvent(t, url, `{}`)}); err != nil {
						errs <- err
						return
					}
				}
				got, err := s.Claim(ctx, ports.ClaimParams{Worker: worker, Limit: 5, Lease: time.Second, MaxAttempts: 1000})
				if err != nil {
					errs <- err
					return
				}
				// As a worker does: a flagged delivery is parked until its
				// target's row says, others (a breaker of this process)
				// for an interval.
				var park []ports.Claim
				until := time.Now().Add(20 * time.Millisecond)
				for _, e := range got {
					if !e.Probe {
						park = append(park, claimOf(e))
						if e.TargetOpenUntil != nil {
							until = *e.TargetOpenUntil
						}
						continue
					}
					probes.Add(1)
					if err := s.Complete(ctx, ports.CompleteParams{Worker: worker, Claim: claimOf(e), Decision: failed,
						Record: core.Attempt{StartedAt: time.Now()}}); err != nil {
						errs <- err
						return
					}
					if err := s.Probed(ctx, ports.ProbedParams{Origin: origin, OK: n%3 == 0,
						Until: time.Now().Add(20 * time.Millisecond), ParkFor: time.Hour}); err != nil {
						errs <- err
						return
					}
				}
				if len(park) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				res, err := s.Release(ctx, ports.ReleaseParams{Worker: worker, Claims: park, ParkOrigin: origin,
					Until: until, ParkFor: time.Hour})
				if err != nil {
					errs <- err
					return
				}
				parked.Add(int64(res.Released + res.Parked))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d probes, %d deliveries parked", probes.Load(), parked.Load())
	if probes.Load() == 0 || parked.Load() == 0 {
		t.Error("the target was never probed, or nothing parked")
	}
}

func claimOf(d core.Delivery) ports.Claim {
	return ports.Claim{ID: d.ID, Attempt: d.AttemptedCount, Seq: d.ClaimSeq}
}
