package dispatch

import (
	"sync"
	"time"
)

// runners run deliveries on goroutines that have run deliveries before.
// A delivery's calls (the breaker, signing, net/http) grow a new
// goroutine's stack several times over, and copying those stacks was
// 6.5 % of a draining worker's CPU (pprof: runtime.newstack); a goroutine
// that is reused keeps the stack it grew. A runner with nothing to run for
// runnerIdle exits, so an idle worker holds none.
type runners struct {
	work chan func()
}

const runnerIdle = 10 * time.Second

func newRunners() *runners { return &runners{work: make(chan func())} }

// run runs f as one of wg's goroutines: on an idle runner if one is
// waiting, else on a new one.
func (r *runners) run(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	task := func() {
		defer wg.Done()
		f()
	}
	select {
	case r.work <- task:
	default:
		go r.loop(task)
	}
}

func (r *runners) loop(task func()) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		task()
		idle.Reset(runnerIdle)
		select {
		case task = <-r.work:
		case <-idle.C:
			return
		}
	}
}
