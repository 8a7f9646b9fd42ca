package postgres

import (
	"strings"
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

// TestPingChecksTheQueuePool: a store whose queue pool's sessions the
// server refuses (here, an unknown setting; in production, a pooler that
// drops them) is not ready, though its main pool answers.
func TestPingChecksTheQueuePool(t *testing.T) {
	t.Parallel()
	s, _, cfg := newTestStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	refused, err := newPool(cfg, 1, map[string]string{"webhookd_no_such_setting": "on"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = refused.Close() })
	s.queue = refused
	if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "queue pool") {
		t.Errorf("Ping with a refused queue pool: %v, want an error naming it", err)
	}
}
