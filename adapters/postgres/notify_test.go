package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Requests made while a notification is being sent are answered by one
// more, sent after them; none is left without a notification after it,
// and a failed send does not stop the next.
func TestNotifierFollowsEveryRequestAndCoalesces(t *testing.T) {
	started := make(chan int)   // a send began: its number
	release := make(chan error) // what the running send returns
	var sends int               // only run calls send, one at a time
	n := newNotifier(func(ctx context.Context) error {
		sends++
		select {
		case started <- sends:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-release:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.run(ctx)
	}()
	next := func() int { // the number of the send that begins next
		t.Helper()
		select {
		case got := <-started:
			return got
		case <-time.After(5 * time.Second):
			t.Fatal("no send began")
			return 0
		}
	}

	n.notify()
	if got := next(); got != 1 {
		t.Fatalf("first send: %d", got)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(n.notify)
	}
	wg.Wait() // all 50 asked while the first send runs
	release <- errors.New("connection lost")
	if got := next(); got != 2 {
		t.Fatalf("after 50 requests during the first send: send %d began", got)
	}
	release <- nil

	n.notify() // nothing pending: a new request is sent next, as the third
	if got := next(); got != 3 {
		t.Fatalf("a request after the coalesced send: send %d", got)
	}
	release <- nil
	stop()
	<-done
	if sends != 3 {
		t.Fatalf("sends: %d, want 3 (the 50 requests share one)", sends)
	}
}
