package porttest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// RunActivityStore runs the ActivityStore contract (see ports.ActivityStore
// for the rules). newStore must return an empty store, independent of
// every other store it returned (tests run in parallel).
func RunActivityStore(t *testing.T, newStore func(t *testing.T) ports.ActivityStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, ports.ActivityStore)
	}{
		{"AddThenRead", activityAddThenRead},
		{"AddsUp", activityAddsUp},
		{"ConcurrentAddersSumExactly", activityConcurrent},
		{"WindowOldestFirst", activityWindow},
		{"MinuteTruncatedUTC", activityTruncates},
		{"PurgeStrictlyBefore", activityPurge},
		{"NothingIsANoop", activityNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// minute is the start of the nth minute after T0's.
func minute(n int) time.Time { return T0.Truncate(time.Minute).Add(time.Duration(n) * time.Minute) }

// The endpoints the suite counts for: ids as the stores make them.
var (
	epA = core.NewEndpointID(T0)
	epB = core.NewEndpointID(T0)
	epC = core.NewEndpointID(T0)
)

func addActivity(t *testing.T, st ports.ActivityStore, counts ...ports.ActivityCount) {
	t.Helper()
	if err := st.AddActivity(t.Context(), counts); err != nil {
		t.Fatalf("AddActivity(%d counts): %v", len(counts), err)
	}
}

func activity(t *testing.T, st ports.ActivityStore, from, to time.Time, eps ...core.EndpointID) []ports.ActivityCount {
	t.Helper()
	got, err := st.Activity(t.Context(), ports.ActivityQuery{From: from, To: to, EndpointIDs: eps})
	if err != nil {
		t.Fatalf("Activity(%s–%s, %v): %v", from.Format(time.TimeOnly), to.Format(time.TimeOnly), eps, err)
	}
	for _, c := range got {
		if c.Minute.Location() != time.UTC {
			t.Errorf("Activity: minute %s not in UTC", c.Minute)
		}
	}
	return got
}

// wantActivity compares counts, minutes by instant.
func wantActivity(t *testing.T, what string, got, want []ports.ActivityCount) {
	t.Helper()
	same := slices.EqualFunc(got, want, func(a, b ports.ActivityCount) bool {
		a.Minute, b.Minute = a.Minute.UTC(), b.Minute.UTC()
		return a == b
	})
	if !same {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtActivity(got), fmtActivity(want))
	}
}

func fmtActivity(cs []ports.ActivityCount) string {
	out := "["
	for i, c := range cs {
		if i > 0 {
			out += " "
		}
		ep := string(c.EndpointID)
		if ep == "" {
			ep = "cluster"
		}
		out += fmt.Sprintf("{%s %s a%d d%d r%d x%d}", c.Minute.UTC().Format(time.TimeOnly), ep,
			c.Accepted, c.Delivered, c.Retried, c.Dead)
	}
	return out + "]"
}

// Cluster rows and endpoint rows are kept apart: a query for no endpoint
// reads the cluster's only, one for endpoints theirs only.
func activityAddThenRead(t *testing.T, st ports.ActivityStore) {
	cluster := []ports.ActivityCount{
		{Minute: minute(0), Accepted: 10, Delivered: 7, Retried: 2, Dead: 1},
		{Minute: minute(1), Accepted: 3, Delivered: 4},
	}
	a0 := ports.ActivityCount{Minute: minute(0), EndpointID: epA, Delivered: 5, Retried: 2}
	b0 := ports.ActivityCount{Minute: minute(0), EndpointID: epB, Delivered: 2, Dead: 1}
	b1 := ports.ActivityCount{Minute: minute(1), EndpointID: epB, Delivered: 4}
	addActivity(t, st, b1, cluster[1], a0, cluster[0], b0) // in no order

	from, to := minute(0), minute(60)
	wantActivity(t, "cluster", activity(t, st, from, to), cluster)
	wantActivity(t, "endpoint A", activity(t, st, from, to, epA), []ports.ActivityCount{a0})
	wantActivity(t, "endpoint B", activity(t, st, from, to, epB), []ports.ActivityCount{b0, b1})
	wantActivity(t, "endpoints B and A (by minute, then endpoint)", activity(t, st, from, to, epB, epA),
		sortedActivity(a0, b0, b1))
	wantActivity(t, "an endpoint with no rows", activity(t, st, from, to, epC), nil)
}

// sortedActivity is cs in Activity's order: by minute, then endpoint.
func sortedActivity(cs ...ports.ActivityCount) []ports.ActivityCount {
	slices.SortFunc(cs, func(a, b ports.ActivityCount) int {
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		return compareIDs(a.EndpointID, b.EndpointID)
	})
	return cs
}

func compareIDs(a, b core.EndpointID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Counts added for a key add up, whether in two calls (two processes) or
// twice in one.
func activityAddsUp(t *testing.T, st ports.ActivityStore) {
	addActivity(t, st,
		ports.ActivityCount{Minute: minute(0), Accepted: 1, Delivered: 2, Retried: 3, Dead: 4},
		ports.ActivityCount{Minute: minute(0), EndpointID: epA, Delivered: 1})
	addActivity(t, st,
		ports.ActivityCount{Minute: minute(0), Accepted: 10, Delivered: 20, Retried: 30, Dead: 40},
		ports.ActivityCount{Minute: minute(0), EndpointID: epA, Retried: 1},
		ports.ActivityCount{Minute: minute(0), EndpointID: epA, Delivered: 100, Dead: 1})
	wantActivity(t, "cluster after two adds", activity(t, st, minute(0), minute(1)),
		[]ports.ActivityCount{{Minute: minute(0), Accepted: 11, Delivered: 22, Retried: 33, Dead: 44}})
	wantActivity(t, "endpoint after two adds, one of the key twice", activity(t, st, minute(0), minute(1), epA),
		[]ports.ActivityCount{{Minute: minute(0), EndpointID: epA, Delivered: 101, Retried: 1, Dead: 1}})
}

// Eight processes flushing into the same minute at once, each its rows in
// its own order: every count lands, none twice, and none of them fails
// (a store that locked rows in the callers' order could deadlock here).
func activityConcurrent(t *testing.T, st ports.ActivityStore) {
	const adders, rounds = 8, 25
	eps := []core.EndpointID{"", epA, epB, epC}
	var wg sync.WaitGroup
	errs := make(chan error, adders*rounds)
	for i := range adders {
		wg.Go(func() {
			for r := range rounds {
				var batch []ports.ActivityCount
				for j := range eps {
					ep := eps[(i+r+j)%len(eps)]
					if (i+r)%2 == 1 {
						ep = eps[len(eps)-1-(i+r+j)%len(eps)]
					}
					batch = append(batch,
						ports.ActivityCount{Minute: minute(0), EndpointID: ep, Delivered: 1, Retried: int64(i)},
						ports.ActivityCount{Minute: minute(1), EndpointID: ep, Accepted: 1, Dead: 2})
				}
				if err := st.AddActivity(t.Context(), batch); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AddActivity: %v", err)
	}
	sumI := int64(adders * (adders - 1) / 2 * rounds)
	for _, ep := range eps {
		var q []core.EndpointID
		if ep != "" {
			q = []core.EndpointID{ep}
		}
		wantActivity(t, "concurrent adds of "+string(ep), activity(t, st, minute(0), minute(2), q...), []ports.ActivityCount{
			{Minute: minute(0), EndpointID: ep, Delivered: adders * rounds, Retried: sumI},
			{Minute: minute(1), EndpointID: ep, Accepted: adders * rounds, Dead: 2 * adders * rounds},
		})
	}
}

// Activity returns the minutes starting in [From, To), oldest first.
func activityWindow(t *testing.T, st ports.ActivityStore) {
	var all []ports.ActivityCount
	for n := 70; n >= -10; n-- { // newest first, to be sorted by the store
		all = append(all,
			ports.ActivityCount{Minute: minute(n), Delivered: int64(n + 100)},
			ports.ActivityCount{Minute: minute(n), EndpointID: epA, Retried: int64(n + 100)})
	}
	addActivity(t, st, all...)
	var cluster, a []ports.ActivityCount
	for n := range 60 {
		cluster = append(cluster, ports.ActivityCount{Minute: minute(n), Delivered: int64(n + 100)})
		a = append(a, ports.ActivityCount{Minute: minute(n), EndpointID: epA, Retried: int64(n + 100)})
	}
	wantActivity(t, "an hour of the cluster", activity(t, st, minute(0), minute(60)), cluster)
	wantActivity(t, "an hour of endpoint A", activity(t, st, minute(0), minute(60), epA), a)
	// A minute starting before From is left out, even if it ends after.
	wantActivity(t, "from the middle of minute 0", activity(t, st, minute(0).Add(30*time.Second), minute(60)), cluster[1:])
	wantActivity(t, "from just after minute 0 starts", activity(t, st, minute(0).Add(time.Nanosecond), minute(60)), cluster[1:])
	wantActivity(t, "to just after minute 59 starts", activity(t, st, minute(0), minute(59).Add(time.Nanosecond)), cluster)
	wantActivity(t, "to just before minute 59 starts", activity(t, st, minute(0), minute(59).Add(-time.Nanosecond)), cluster[:59])
	wantActivity(t, "an empty window", activity(t, st, minute(5), minute(5)), nil)
	wantActivity(t, "a window backwards", activity(t, st, minute(6), minute(5)), nil)
}

// A Minute not on a minute (or not in UTC) is stored as the start of its
// minute, UTC: counts within one minute add up.
func activityTruncates(t *testing.T, st ports.ActivityStore) {
	east := time.FixedZone("UTC+5:30", 5*3600+1800)
	addActivity(t, st,
		ports.ActivityCount{Minute: minute(3).Add(time.Second + 123456789), Delivered: 1},
		ports.ActivityCount{Minute: minute(3).Add(59*time.Second + 999999999).In(east), Delivered: 10},
		ports.ActivityCount{Minute: minute(3).In(east), EndpointID: epA, Dead: 1},
		ports.ActivityCount{Minute: minute(4).Add(-time.Nanosecond), EndpointID: epA, Dead: 2})
	wantActivity(t, "cluster within minute 3", activity(t, st, minute(0), minute(10)),
		[]ports.ActivityCount{{Minute: minute(3), Delivered: 11}})
	wantActivity(t, "endpoint within minute 3", activity(t, st, minute(0), minute(10), epA),
		[]ports.ActivityCount{{Minute: minute(3), EndpointID: epA, Dead: 3}})
}

// PurgeActivity deletes every row, the cluster's and the endpoints',
// whose minute starts before its argument, and counts them.
func activityPurge(t *testing.T, st ports.ActivityStore) {
	var all []ports.ActivityCount
	for n := range 10 {
		all = append(all,
			ports.ActivityCount{Minute: minute(n), Accepted: 1},
			ports.ActivityCount{Minute: minute(n), EndpointID: epA, Delivered: 1})
		if n%2 == 0 {
			all = append(all, ports.ActivityCount{Minute: minute(n), EndpointID: epB, Dead: 1})
		}
	}
	addActivity(t, st, all...)
	cut := func(before time.Time, want int) {
		t.Helper()
		n, err := st.PurgeActivity(t.Context(), before)
		if err != nil || n != want {
			t.Errorf("PurgeActivity(before minute %s) = %d, %v; want %d", before.Format(time.TimeOnly), n, err, want)
		}
	}
	cut(minute(0), 0)
	cut(minute(5), 5+5+3) // minutes 0–4: the cluster's, A's, and B's even ones
	cut(minute(5), 0)
	cut(minute(5).Add(time.Nanosecond), 2) // minute 5 (the cluster's, A's) starts just before
	got := activity(t, st, minute(-10), minute(20))
	if len(got) != 4 || !got[0].Minute.Equal(minute(6)) {
		t.Errorf("cluster after the purges: %s; want minutes 6–9", fmtActivity(got))
	}
	if got := activity(t, st, minute(-10), minute(20), epA, epB); len(got) != 4+2 {
		t.Errorf("endpoints after the purges: %s; want A's minutes 6–9 and B's 6 and 8", fmtActivity(got))
	}
	cut(minute(1000), 10)
	if got := activity(t, st, minute(-10), minute(20), "", epA, epB); len(got) != 0 {
		t.Errorf("after purging everything: %s", fmtActivity(got))
	}
}

// Adding nothing, or counts of nothing, stores nothing and is no error.
func activityNothing(t *testing.T, st ports.ActivityStore) {
	ctx := t.Context()
	if err := st.AddActivity(ctx, nil); err != nil {
		t.Errorf("AddActivity(nil): %v", err)
	}
	if err := st.AddActivity(ctx, []ports.ActivityCount{}); err != nil {
		t.Errorf("AddActivity(empty): %v", err)
	}
	addActivity(t, st, ports.ActivityCount{Minute: minute(0)}, ports.ActivityCount{Minute: minute(0), EndpointID: epA})
	if got := activity(t, st, minute(-60), minute(60), "", epA); len(got) != 0 {
		t.Errorf("after adding nothing: %s; want no rows", fmtActivity(got))
	}
	if n, err := st.PurgeActivity(ctx, minute(60)); err != nil || n != 0 {
		t.Errorf("PurgeActivity of an empty store = %d, %v", n, err)
	}
}
