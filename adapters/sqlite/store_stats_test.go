package sqlite

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestQueueStatsContract(t *testing.T) {
	t.Parallel()
	porttest.RunQueueStats(t, func(t *testing.T) porttest.StatsStore {
		return NewStore(newTestDB(t), memory.NewClock(porttest.T0))
	})
}

// The queue's size is read through the claim's partial indexes and the
// finished counts through the finished rows' index: no statement of
// QueueStats reads the table itself.
func TestQueueStatsUseIndexes(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	for _, q := range []string{queueSQL, finishedSQL} {
		rows, err := db.Read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.Contains(step, "deliveries") && !strings.Contains(step, "COVERING INDEX") {
				t.Errorf("%s\nreads the table: %q (plan %q)", q, step, plan)
			}
		}
	}
}
