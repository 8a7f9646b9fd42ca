package ports

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
)

// Stats is what a metrics exporter reads from the store, in the
// background and seldom (every few seconds), never per scrape. Every store
// implements it.
type Stats interface {
	// QueueStats sizes the queue without reading its history: the
	// pending and delivering deliveries, counted exactly (the claim's
	// partial indexes hold only them), and how long the oldest claimable
	// one has been due. With Finished it also counts the succeeded and
	// dead ones, exactly or as an estimate (QueueStats.Estimated), which
	// may cost a pass over an index of the whole history: ask for them
	// less often.
	QueueStats(ctx context.Context, p QueueStatsParams) (QueueStats, error)
	// Targets is EventStore.Targets: the open targets' rows.
	Targets(ctx context.Context) ([]core.TargetHealth, error)
}

// QueueStatsParams are the arguments of Stats.QueueStats.
type QueueStatsParams struct {
	Finished bool // also count succeeded and dead deliveries
	Now      *time.Time
}

// QueueStats is the size of the queue at one instant.
type QueueStats struct {
	Pending    int64
	Delivering int64
	// OldestDue is how long the oldest claimable delivery (core.Delivery
	// Claimable: pending and due, or delivering with an expired lease) has
	// been due; 0 when none is. It grows when workers fall behind.
	OldestDue time.Duration

	// Succeeded and Dead are set when QueueStatsParams.Finished asked for
	// them. Estimated says they are the database's statistics rather than
	// a count (PostgreSQL: live rows times each status's share at the
	// last ANALYZE).
	Succeeded int64
	Dead      int64
	Estimated bool
}
