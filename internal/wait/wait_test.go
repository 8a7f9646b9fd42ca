package wait_test

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/wait"
)

func TestSignalCoalesces(t *testing.T) {
	t.Parallel()
	s := wait.NewSignal()
	select {
	case <-s.C():
		t.Fatal("a new signal is pending")
	default:
	}
	s.Notify()
	s.Notify() // must not block, and must not queue a second wake-up
	<-s.C()
	select {
	case <-s.C():
		t.Fatal("two notifications left two wake-ups")
	default:
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	if !wait.Sleep(t.Context(), time.Millisecond) {
		t.Error("Sleep with a live context reported it was cut short")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if wait.Sleep(ctx, time.Hour) {
		t.Error("Sleep with a cancelled context reported a full hour")
	}
	if wait.Sleep(ctx, 0) {
		t.Error("Sleep(0) on a cancelled context reported true")
	}
	if !wait.Sleep(t.Context(), -time.Second) {
		t.Error("Sleep(-1s) on a live context reported false")
	}
}
