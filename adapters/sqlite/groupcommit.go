package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// Group commit. Every write of the store is a function run inside a write
// transaction. Instead of one transaction (and one fsync) each, one
// goroutine takes every write queued at the moment, runs each inside a
// SAVEPOINT of a single IMMEDIATE transaction and commits once; only then
// is any of them answered, so a 202 still means "on disk". A write that
// fails is rolled back to its savepoint alone: its neighbours commit.
//
// Writes run under a context that cannot be cancelled: a cancelled
// statement interrupts SQLite, which may roll back the whole transaction,
// neighbours included. A write whose caller gave up before it started is
// skipped instead.

// maxGroup bounds the writes committed together, so that one commit's
// latency stays short under a flood.
const maxGroup = 256

// writeTimeout bounds one write's statements (they cannot be cancelled).
const writeTimeout = 30 * time.Second

var errClosed = errors.New("sqlite: store closed")

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx bun.Tx) error
	done chan error // buffered: the committer never blocks on a caller
}

type committer struct {
	db     *bun.DB
	reqs   chan *writeReq
	groups atomic.Int64 // transactions committed or tried: fewer than writes under load

	mu     sync.RWMutex // held for reading while queueing, for writing by close
	closed bool
	exited chan struct{}
}

func newCommitter(db *bun.DB) *committer {
	c := &committer{db: db, reqs: make(chan *writeReq, maxGroup), exited: make(chan struct{})}
	go c.run()
	return c
}

// write queues fn and returns its result once its group committed (or
// failed).
func (c *committer) write(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.reqs <- req
	c.mu.RUnlock()
	return <-req.done
}

// close stops taking writes, waits for those queued and stops.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.exited
}

func (c *committer) run() {
	defer close(c.exited)
	group := make([]*writeReq, 0, maxGroup)
	for req := range c.reqs {
		group = append(group[:0], req)
	queued:
		for len(group) < maxGroup {
			select {
			case more, ok := <-c.reqs:
				if !ok {
					break queued
				}
				group = append(group, more)
			default:
				break queued
			}
		}
		c.commit(group)
		c.groups.Add(1)
	}
}

// commit runs one group in one transaction and answers every write.
func (c *committer) commit(group []*writeReq) {
	results := make([]error, len(group))
	answer := func() {
		for i, req := range group {
			req.done <- results[i]
		}
	}
	defer answer()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		fill(results, err)
		return
	}
	for i, req := range group {
		if err := req.ctx.Err(); err != nil {
			results[i] = err // its caller gave up before it started
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			fill(results[i:], err)
			break
		}
		if err := req.fn(ctx, tx); err != nil {
			results[i] = err
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				// SQLite rolled the whole transaction back (an I/O error, a
				// full disk): nothing of the group can commit.
				_ = tx.Rollback()
				fill(results, fmt.Errorf("%w (the transaction was rolled back: %v)", err, rerr))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			_ = tx.Rollback()
			fill(results, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
}

// fill sets every result to err, keeping the ones already set, since a
// write that failed on its own still failed.
func fill(results []error, err error) {
	for i := range results {
		if results[i] == nil {
			results[i] = err
		}
	}
}
