package postgres

import (
	"context"
	"sync"
	"time"
)

// notifier wakes the workers listening on the schema's channel once
// inserts have committed. The NOTIFY is not part of the inserting
// transaction: PostgreSQL 15 holds a cluster-wide lock from a notifying
// commit's start to its end, WAL flush included, so inserts that notified
// committed one flush at a time. Sent alone, in a transaction that does
// not wait for its own flush, a NOTIFY holds that lock for microseconds. A
// crash can lose it, as it can lose a listener's connection; the workers'
// polling covers both.
//
// Requests coalesce: at most one notification is being sent, and every
// request is followed by one whose transaction began after it.
type notifier struct {
	send func(ctx context.Context) error // one notification; its error only means a wake-up lost

	mu      sync.Mutex
	wanted  bool // a request came since the last send began
	sending bool // a goroutine is in loop
}

// notifySQL notifies without waiting for a WAL flush. A transaction that
// only notifies takes no transaction id in PostgreSQL 15, so its commit
// has nothing to flush (200 sends through psql: no WAL sync, with or
// without the setting); synchronous_commit off, local to the statement's
// own implicit transaction, keeps it so should a version write a commit
// record.
const notifySQL = `SELECT set_config('synchronous_commit', 'off', true), pg_notify(?, '')`

// notifyTimeout bounds one send; a database that does not answer by then
// has lost the wake-up to polling.
const notifyTimeout = 5 * time.Second

// notify asks for a notification and returns at once.
func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wanted = true
	if !n.sending {
		n.sending = true
		go n.loop()
	}
}

// loop sends until no request came during the last send.
func (n *notifier) loop() {
	for {
		n.mu.Lock()
		if !n.wanted {
			n.sending = false
			n.mu.Unlock()
			return
		}
		n.wanted = false
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		_ = n.send(ctx)
		cancel()
	}
}
