// Package wait holds the two waiting primitives webhookd's loops share: a
// coalescing wake-up signal and a sleep that ends early when its context
// does. Standard library only, so that core services may use it.
package wait

import (
	"context"
	"time"
)

// Signal is a one-slot, coalescing wake-up: any number of Notify calls
// made before the waiter reads C stand for one. Notify never blocks. The
// zero value is not usable; call NewSignal.
type Signal struct{ c chan struct{} }

// NewSignal returns a Signal with nothing pending.
func NewSignal() *Signal { return &Signal{c: make(chan struct{}, 1)} }

// Notify leaves a wake-up pending unless one already is.
func (s *Signal) Notify() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// C receives once per pending wake-up.
func (s *Signal) C() <-chan struct{} { return s.c }

// Sleep waits d, or less if ctx ends first; it reports whether the whole d
// elapsed. A d ≤ 0 returns at once, reporting whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
