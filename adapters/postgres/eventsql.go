package postgres

import (
	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
)

// An event's deliveries are found in two parts (migration
// 20261207000000_fanout_event_index): the one whose id is its event's (the
// only delivery of an event posted with a target_url) by primary key, the
// others (endpoint deliveries, ids of their own) by
// deliveries_fanout_event_idx, which holds only rows whose id is not their
// event's. "event_id = x" alone would read neither index. The two parts
// never share a row, so a UNION ALL of them is the whole set; and a
// UNION ALL under EXISTS stays a subplan run per outer row, probing those
// two indexes, where an OR of two EXISTS may be planned as hashes of
// every matching delivery.

// ofEvent returns the two parts' conditions on the deliveries alias a for
// the one event whose id is the SQL expression ev (e.g. "e.id").
func ofEvent(a, ev string) (own, fanout string) {
	return a + ".id = " + ev + " AND " + a + ".event_id = " + ev,
		a + ".event_id = " + ev + " AND " + a + ".id <> " + a + ".event_id"
}

// ofEvents returns them for the events whose ids match in, a SQL
// right-hand side such as "IN (?)" or "= ANY (...)".
func ofEvents(a, in string) (own, fanout string) {
	return a + ".id " + in + " AND " + a + ".event_id = " + a + ".id",
		a + ".event_id " + in + " AND " + a + ".id <> " + a + ".event_id"
}

// ofEventUnion selects 1 for each delivery o of the event ev (a SQL
// expression) for which cond holds, in the two parts: the body of an
// EXISTS, a subplan per outer row (OFFSET 0 says so again).
func ofEventUnion(ev, cond string) string {
	own, fanout := ofEvent("o", ev)
	return `
SELECT 1 FROM deliveries o WHERE ` + own + ` AND ` + cond + `
UNION ALL
SELECT 1 FROM deliveries o WHERE ` + fanout + ` AND ` + cond + `
OFFSET 0`
}

// deliveriesOfEvent is ofEventUnion for a bun query: it selects column of
// the deliveries d of the event e (an outer query's alias) that the list
// and recovery filters match (deliveryWhere), in the two parts.
func deliveriesOfEvent(db bun.IDB, column string, status core.Status, endpoint core.EndpointID, origin string) *bun.SelectQuery {
	own, fanout := ofEvent("d", "e.id")
	part := func(of string) *bun.SelectQuery {
		return deliveryWhere(db.NewSelect().TableExpr("deliveries AS d").ColumnExpr(column).Where(of), status, endpoint, origin)
	}
	return part(own).UnionAll(part(fanout))
}
