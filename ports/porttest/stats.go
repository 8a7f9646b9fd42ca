package porttest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/ports"
)

// StatsStore is a store with its Stats: every store is both.
type StatsStore interface {
	ports.EventStore
	ports.Stats
}

// RunQueueStats runs the Stats contract. newStore must return an empty
// store, independent of every other store it returned (tests run in
// parallel). A store that estimates its finished deliveries
// (QueueStats.Estimated) is held to exact counts of the pending and
// delivering ones only.
func RunQueueStats(t *testing.T, newStore func(t *testing.T) StatsStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, StatsStore)
	}{
		{"Empty", statsEmpty},
		{"CountsByStatusAndOldestDue", statsCounts},
		{"OpenTargets", statsTargets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func queueStats(t *testing.T, st ports.Stats, finished bool, now *time.Time) ports.QueueStats {
	t.Helper()
	got, err := st.QueueStats(t.Context(), ports.QueueStatsParams{Finished: finished, Now: now})
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	return got
}

func statsEmpty(t *testing.T, st StatsStore) {
	if got := queueStats(t, st, true, at(0)); got.Pending != 0 || got.Delivering != 0 || got.OldestDue != 0 ||
		got.Succeeded != 0 || got.Dead != 0 {
		t.Errorf("QueueStats of an empty store = %+v, want zeros", got)
	}
	if targets, err := st.Targets(t.Context()); err != nil || len(targets) != 0 {
		t.Errorf("Targets of an empty store = %+v, %v", targets, err)
	}
}

func statsCounts(t *testing.T, st StatsStore) {
	for range 3 {
		insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	}
	if _, err := st.Insert(t.Context(), ports.InsertParams{Event: NewEvent(t, targetB, `{"later":1}`), DueAt: T0.Add(time.Hour), Now: at(0)}); err != nil {
		t.Fatal(err)
	}
	got := queueStats(t, st, false, at(time.Second))
	if got.Pending != 4 || got.Delivering != 0 || got.OldestDue != time.Second {
		t.Errorf("4 pending, 3 due since T0, at T0+1s: %+v; want 4 pending, oldest due 1s", got)
	}

	claimed := claim(t, st, "w1", 2, at(time.Second))
	if len(claimed) != 2 {
		t.Fatalf("claimed %d, want 2", len(claimed))
	}
	if err := complete(t, st, "w1", claimed[0], success, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := complete(t, st, "w1", claimed[1], gone, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	claimOne(t, st, "w1", at(3*time.Second)) // the third: its lease ends at T0+3s+lease

	got = queueStats(t, st, true, at(5*time.Second))
	if got.Pending != 1 || got.Delivering != 1 || got.OldestDue != 0 {
		t.Errorf("at T0+5s: %+v; want 1 pending (not due), 1 delivering (leased), nothing due", got)
	}
	if !got.Estimated && (got.Succeeded != 1 || got.Dead != 1) {
		t.Errorf("finished at T0+5s: %d succeeded, %d dead; want 1 and 1", got.Succeeded, got.Dead)
	}
	if got.Succeeded < 0 || got.Dead < 0 {
		t.Errorf("negative finished counts: %+v", got)
	}
	if without := queueStats(t, st, false, at(5*time.Second)); without.Succeeded != 0 || without.Dead != 0 {
		t.Errorf("finished counts not asked for: %+v; want them zero", without)
	}

	// The lease ends, its worker lost: the delivery is claimable again,
	// due since the lease's end.
	leaseEnd := 3*time.Second + lease
	if got := queueStats(t, st, false, at(leaseEnd+7*time.Second)); got.Delivering != 1 || got.OldestDue != 7*time.Second {
		t.Errorf("7s after an expired lease: %+v; want 1 delivering, oldest due 7s", got)
	}
	// The delayed one comes due too, later than the lost lease.
	if got := queueStats(t, st, false, at(time.Hour+time.Second)); got.OldestDue != time.Hour+time.Second-leaseEnd {
		t.Errorf("at T0+1h1s: oldest due %s, want %s (the lost lease)", got.OldestDue, time.Hour+time.Second-leaseEnd)
	}
}

func statsTargets(t *testing.T, st StatsStore) {
	e := insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	insert(t, st, NewEvent(t, targetA, `{}`), at(0))
	c := claimOne(t, st, "w1", at(0))
	res, err := st.Release(t.Context(), ports.ReleaseParams{Worker: "w1", Claims: []ports.Claim{claimOf(c)},
		ParkOrigin: e.Origin, Until: T0.Add(time.Minute), Now: at(time.Second)})
	if err != nil || res.Released+res.Parked != 2 {
		t.Fatalf("Release parking the target: %+v, %v; want 2 parked", res, err)
	}
	got := queueStats(t, st, false, at(2*time.Second))
	if got.Pending != 2 || got.Delivering != 0 || got.OldestDue != 0 {
		t.Errorf("a parked target's deliveries: %+v; want 2 pending, none due", got)
	}
	targets, err := st.Targets(t.Context())
	if err != nil || len(targets) != 1 || targets[0].Origin != e.Origin {
		t.Errorf("Targets = %+v, %v; want %s open", targets, err, e.Origin)
	}
}
