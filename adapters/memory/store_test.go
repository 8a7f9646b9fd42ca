package memory_test

import (
	"testing"

	"github.com/webhookd/webhookd/adapters/memory"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunEventStore(t, func(t *testing.T) ports.EventStore {
		return memory.NewStore(memory.NewClock(porttest.T0))
	})
}

func TestEndpointStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunEndpointStore(t, func(t *testing.T) ports.EndpointStore {
		return memory.NewStore(memory.NewClock(porttest.T0))
	})
}

func TestActivityStoreContract(t *testing.T) {
	t.Parallel()
	porttest.RunActivityStore(t, func(t *testing.T) ports.ActivityStore {
		return memory.NewStore(memory.NewClock(porttest.T0))
	})
}
