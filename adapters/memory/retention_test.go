package memory_test

import (
	"testing"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestPurgerContract(t *testing.T) {
	t.Parallel()
	porttest.RunPurger(t, func(t *testing.T) porttest.PurgeStore {
		return memory.NewStore(memory.NewClock(porttest.T0))
	})
}
