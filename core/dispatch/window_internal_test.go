package dispatch

import (
	"testing"
	"time"
)

// A fixed window keeps no entry per target, and one that adaptive
// windows kept is forgotten after windowIdle, even while the worker
// still holds deliveries of it (a request hanging past a minute): what
// may be claimed ahead of such a target is still a window's worth.
func TestAheadOfATargetWithNoWindowEntry(t *testing.T) {
	now := time.Now()
	for _, fixed := range []bool{true, false} {
		ws := newWindows(2, 4, fixed, time.Second, 10)
		want := ws.limit("https://a.example:443", now)
		ws.forget(now.Add(2 * windowIdle))
		if got := ws.ahead("https://a.example:443", now.Add(2*windowIdle)); got != want {
			t.Errorf("fixed %v: ahead %d, want a window (%d)", fixed, got, want)
		}
	}
}
