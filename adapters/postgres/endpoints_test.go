package postgres

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

// An endpoint moved or disabled while events routed to it are being
// inserted: every insert either routed before the change, and the change
// then moved or cancelled its delivery, or after it, and saw the endpoint
// as changed. No delivery is left pending to a disabled endpoint, nor
// unfinished under a moved endpoint's old URL.
func TestEndpointChangesRaceInserts(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	create := func(url string) core.Endpoint {
		e, err := s.CreateEndpoint(ctx, porttest.NewEndpoint(t, url), nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	moved, disabled := create("https://old.example/h"), create("https://off.example/h")

	inserted, stop := insertWhile(t, s)
	waitInserted := func(n int64) {
		for deadline := time.Now().Add(10 * time.Second); inserted.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d inserts", inserted.Load())
			}
		}
	}
	waitInserted(100)
	_, err := s.UpdateEndpoint(ctx, moved.ID, nil, func(e *core.Endpoint) error {
		e.URL, e.Origin = "https://new.example/h", "https://new.example:443"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateEndpoint(ctx, disabled.ID, nil, func(e *core.Endpoint) error {
		e.Disabled = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitInserted(inserted.Load() + 100)
	stop()

	var stale, pending, cancelled int
	err = db.NewRaw(`SELECT
		count(*) FILTER (WHERE endpoint_id = ? AND origin <> 'https://new.example:443'),
		count(*) FILTER (WHERE endpoint_id = ? AND status = 'pending'),
		count(*) FILTER (WHERE endpoint_id = ? AND status = 'dead' AND last_error = ?)
		FROM deliveries`, string(moved.ID), string(disabled.ID), string(disabled.ID), core.ErrorEndpointDisabled).
		Scan(ctx, &stale, &pending, &cancelled)
	if err != nil {
		t.Fatal(err)
	}
	if stale != 0 || pending != 0 {
		t.Errorf("after %d inserts: %d deliveries under the moved endpoint's old origin, %d pending to the disabled one; want none",
			inserted.Load(), stale, pending)
	}
	if cancelled < 100 {
		t.Errorf("%d deliveries cancelled by the disable, want the 100 or more inserted before it", cancelled)
	}
}

// Deleting an endpoint ends the pending deliveries of every insert that
// routed to it, also of those racing the delete.
func TestEndpointDeleteRacesInserts(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	ep, err := s.CreateEndpoint(ctx, porttest.NewEndpoint(t, "https://gone.example/h"), nil)
	if err != nil {
		t.Fatal(err)
	}
	inserted, stop := insertWhile(t, s)
	for deadline := time.Now().Add(10 * time.Second); inserted.Load() < 100 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	var pending, total int
	if err := db.NewRaw(`SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM deliveries WHERE endpoint_id = ?`,
		string(ep.ID)).Scan(ctx, &pending, &total); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || total < 100 {
		t.Errorf("%d of %d deliveries to the deleted endpoint still pending; want none (of at least 100)", pending, total)
	}
}

// insertWhile runs eight goroutines inserting order.paid events into s
// until stop is called (which waits for them), counting the inserts.
func insertWhile(t *testing.T, s *Store) (inserted *atomic.Int64, stop func()) {
	inserted = new(atomic.Int64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.Insert(t.Context(), ports.InsertParams{Event: porttest.NewTypedEvent(t, "order.paid", `{}`)}); err != nil {
					t.Error(err)
					return
				}
				inserted.Add(1)
			}
		})
	}
	return inserted, func() { close(done); wg.Wait() }
}
