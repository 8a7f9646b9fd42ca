package memory

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Stats = (*Store)(nil)

// QueueStats counts every delivery exactly: the maps are in memory.
func (s *Store) QueueStats(_ context.Context, p ports.QueueStatsParams) (ports.QueueStats, error) {
	if err := s.lock(); err != nil {
		return ports.QueueStats{}, err
	}
	defer s.mu.Unlock()
	now := s.now(p.Now)
	var st ports.QueueStats
	var oldest time.Time
	for _, d := range s.deliveries {
		switch d.Status {
		case core.StatusPending:
			st.Pending++
		case core.StatusDelivering:
			st.Delivering++
		case core.StatusSucceeded:
			st.Succeeded++
		case core.StatusDead:
			st.Dead++
		}
		if d.Claimable(now) && (oldest.IsZero() || dueAt(d).Before(oldest)) {
			oldest = dueAt(d)
		}
	}
	if !oldest.IsZero() {
		st.OldestDue = now.Sub(oldest)
	}
	if !p.Finished {
		st.Succeeded, st.Dead = 0, 0
	}
	return st, nil
}
