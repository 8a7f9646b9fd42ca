package dispatch

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Every task runs at once, however many are blocked, and the wait group
// counts each until it ends.
func TestRunnersRunEveryTaskAtOnce(t *testing.T) {
	r := newRunners()
	var wg sync.WaitGroup
	const n = 50
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		r.run(&wg, func() {
			started.Done()
			<-release
		})
	}
	started.Wait() // all n blocked at once: none waited for a busy runner
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("the wait group ended while its tasks were still running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-done
}

// A task run after another has ended goes to the idle runner, not to a
// new goroutine (whose stack would grow again).
func TestRunnersReuseAnIdleGoroutine(t *testing.T) {
	r := newRunners()
	var wg sync.WaitGroup
	r.run(&wg, func() {})
	wg.Wait()
	time.Sleep(10 * time.Millisecond) // the runner is back waiting for work
	idle := runtime.NumGoroutine()
	block := make(chan struct{})
	running := make(chan int)
	r.run(&wg, func() {
		running <- runtime.NumGoroutine()
		<-block
	})
	if during := <-running; during > idle {
		t.Errorf("goroutines %d while the second task runs, %d before: a new goroutine ran it", during, idle)
	}
	close(block)
	wg.Wait()
}
