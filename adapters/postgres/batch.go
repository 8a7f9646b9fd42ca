package postgres

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit. Concurrent callers each need a durable write; one
// transaction each spends a WAL flush (and for inserts a NOTIFY) per call.
// Instead, a call that finds fewer than maxLeaders batches running (by
// default: none) becomes a leader: it writes every call queued at that
// moment in one statement, answers each, and goes on while more are
// queued; the others wait for their leader. Nobody is answered before the
// statement holding their row committed. Each batch kind (inserts,
// completions) says how a failed statement is narrowed down to the row at
// fault.

const (
	maxBatch     = 500
	batchTimeout = 30 * time.Second
	// maxLeaders bounds the batches of a kind running at once: one. A
	// statement's fixed cost is most of it, so a batch is cheaper per row
	// the more it holds. With four insert leaders each statement held 5.5
	// rows, with one 18.7: 32 clients 3,750–3,966 → 5,349–6,024
	// accepted/s, p99 24 → 11–14 ms (durable commits, `cmd/bench
	// -scenarios ingest -scale 2`; the inserts then NOTIFYd inside their
	// transaction, which made their commits flush one at a time). With the
	// NOTIFY apart (notify.go), two insert leaders were still no faster
	// than one (4 interleaved runs each). Outcomes come in one by one as answers
	// arrive: four leaders found about 4 of them queued a statement (164 µs
	// per outcome), one about 13 (74 µs).
	maxLeaders = 1
)

// call is one caller's request and, once done is closed, its answer.
type call[P, R any] struct {
	ctx  context.Context
	p    P
	res  R
	err  error
	done chan struct{}
}

type batcher[P, R any] struct {
	maxLeaders int // how many batches may run at once; 0: maxLeaders (tests set more)
	mu         sync.Mutex
	pending    []*call[P, R]
	leaders    int
	// run writes a batch and sets every call's res or err.
	run     func(ctx context.Context, batch []*call[P, R])
	batches atomic.Int64 // statements run: fewer than calls under load
}

func (b *batcher[P, R]) do(ctx context.Context, p P) (R, error) {
	c := &call[P, R]{ctx: ctx, p: p, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	lead := b.leaders < cmp.Or(b.maxLeaders, maxLeaders)
	if lead {
		b.leaders++
	}
	b.mu.Unlock()
	if lead {
		b.lead()
	}
	<-c.done
	return c.res, c.err
}

// lead runs batches until nothing is queued.
func (b *batcher[P, R]) lead() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		if n == 0 {
			b.leaders--
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = append([]*call[P, R](nil), b.pending[n:]...)
		b.mu.Unlock()

		live := batch[:0:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				c.err = err // its caller gave up before it was written
				close(c.done)
				continue
			}
			live = append(live, c)
		}
		if len(live) > 0 {
			// Not any caller's context: one leaving must not fail the rest.
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			b.run(ctx, live)
			cancel()
			b.batches.Add(1)
			for _, c := range live {
				close(c.done)
			}
		}
	}
}
