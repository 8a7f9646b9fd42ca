package ports

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
)

// ActivityStore keeps what the cluster did, minute by minute: events
// accepted and attempts by outcome, for the whole cluster and per
// endpoint. Every process adds its own counts every few seconds (one
// upsert per minute and endpoint it saw); the dashboard reads an hour of
// them without counting any queue table. Every store implements it.
type ActivityStore interface {
	// AddActivity adds counts to the stored ones, key by key (Minute,
	// EndpointID), in one transaction: several processes add into the
	// same minute, concurrently, and none of their counts is lost. The
	// store truncates each Minute to the minute, UTC (so 10:00:59.9 adds
	// to 10:00), and sums counts given twice for one key. A count of
	// nothing (all four zero) stores no row; so does an empty call.
	AddActivity(ctx context.Context, counts []ActivityCount) error
	// Activity returns the stored counts of the minutes that start in
	// [From, To), oldest first (then by EndpointID): the cluster's
	// (EndpointID "") when EndpointIDs is empty, else those endpoints'
	// only (a minute an endpoint did nothing has no row). Minute comes
	// back in UTC.
	Activity(ctx context.Context, q ActivityQuery) ([]ActivityCount, error)
	// PurgeActivity deletes the minutes that start strictly before before,
	// the cluster's and every endpoint's, and returns how many rows went.
	PurgeActivity(ctx context.Context, before time.Time) (int, error)
}

// ActivityCount is what happened in one minute, for the cluster
// (EndpointID "") or for one endpoint. Minute is the minute's start, UTC,
// truncated to the minute (AddActivity truncates what it is given).
type ActivityCount struct {
	Minute     time.Time
	EndpointID core.EndpointID
	Accepted   int64 // events stored and answered 202 (cluster rows only)
	Delivered  int64 // attempts that succeeded
	Retried    int64 // attempts that failed and will be retried
	Dead       int64 // deliveries that ended dead (or expired)
}

// ActivityQuery selects the minutes Activity returns.
type ActivityQuery struct {
	From, To    time.Time
	EndpointIDs []core.EndpointID
}

// ActivityRetention is how long minutes are kept: the counter that feeds
// the store (core/activity) purges those older.
const ActivityRetention = 24 * time.Hour

// EndpointKeys are the endpoint ids of the rows q reads: "" (the
// cluster's rows) when EndpointIDs is empty.
func (q ActivityQuery) EndpointKeys() []core.EndpointID {
	if len(q.EndpointIDs) == 0 {
		return []core.EndpointID{""}
	}
	return q.EndpointIDs
}

// CeilMinute is t rounded up to a whole minute, UTC. A stored minute
// starts on a whole minute, so it starts before t exactly when it starts
// before CeilMinute(t): stores compare with it whatever their clock's
// resolution (PostgreSQL's and SQLite's microsecond would cut t's
// nanoseconds the wrong way).
func CeilMinute(t time.Time) time.Time {
	m := t.UTC().Truncate(time.Minute)
	if m.Before(t) {
		m = m.Add(time.Minute)
	}
	return m
}

// MergeActivity is counts as a store adds them: minutes truncated to the
// minute, UTC; each key (EndpointID, Minute) once, its counts summed; none
// without a count; sorted by key, so that concurrent adders lock shared
// rows in one order.
func MergeActivity(counts []ActivityCount) []ActivityCount {
	type key struct {
		endpoint core.EndpointID
		minute   int64
	}
	at := make(map[key]int, len(counts))
	var out []ActivityCount
	for _, c := range counts {
		if c.Accepted == 0 && c.Delivered == 0 && c.Retried == 0 && c.Dead == 0 {
			continue
		}
		c.Minute = c.Minute.UTC().Truncate(time.Minute)
		k := key{c.EndpointID, c.Minute.Unix()}
		i, seen := at[k]
		if !seen {
			at[k] = len(out)
			out = append(out, c)
			continue
		}
		out[i].Accepted += c.Accepted
		out[i].Delivered += c.Delivered
		out[i].Retried += c.Retried
		out[i].Dead += c.Dead
	}
	slices.SortFunc(out, func(a, b ActivityCount) int {
		return cmp.Or(strings.Compare(string(a.EndpointID), string(b.EndpointID)), a.Minute.Compare(b.Minute))
	})
	return out
}
