package ports

// Wakeup tells workers that new work may be due (an event was inserted or
// replayed), so that they claim at once instead of waiting for the next
// poll. A wake-up may be spurious or coalesced; polling remains the safety
// net.
type Wakeup interface {
	C() <-chan struct{}
}
