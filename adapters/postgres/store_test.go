package postgres

import (
	"testing"

	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunEventStore(t, func(t *testing.T) ports.EventStore {
		s, _, _ := newTestStore(t)
		return s
	})
}

func TestEndpointStoreContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunEndpointStore(t, func(t *testing.T) ports.EndpointStore {
		s, _, _ := newTestStore(t)
		return s
	})
}

func TestActivityStoreContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunActivityStore(t, func(t *testing.T) ports.ActivityStore {
		s, _, _ := newTestStore(t)
		return s
	})
}
