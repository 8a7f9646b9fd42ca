package memory_test

import (
	"testing"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestQueueStatsContract(t *testing.T) {
	t.Parallel()
	porttest.RunQueueStats(t, func(t *testing.T) porttest.StatsStore {
		return memory.NewStore(memory.NewClock(porttest.T0))
	})
}
