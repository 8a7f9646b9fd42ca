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
	var sends int
	n := &notifier{send: func(context.Context) error {
		sends++ // only one send runs at a time: loop is the only caller
		started <- sends
		return <-release
	}}

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
	waitIdle(t, n)
	if sends != 2 {
		t.Fatalf("sends: %d, want 2 (the 50 requests share one)", sends)
	}

	n.notify() // idle again: a new request is sent at once
	if got := next(); got != 3 {
		t.Fatalf("a request after the loop ended: send %d", got)
	}
	release <- nil
	waitIdle(t, n)
}

// waitIdle waits until n's loop has returned.
func waitIdle(t *testing.T, n *notifier) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n.mu.Lock()
		idle := !n.sending
		n.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the notifier's loop did not end")
		}
		time.Sleep(time.Millisecond)
	}
}
