package postgres

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/internal/wait"
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
// Requests coalesce (a wait.Signal): one notification is sent at a time,
// and every request is followed by one whose transaction began after it.
type notifier struct {
	wanted *wait.Signal
	send   func(ctx context.Context) error // one notification; its error only means a wake-up lost
}

func newNotifier(send func(ctx context.Context) error) *notifier {
	return &notifier{wanted: wait.NewSignal(), send: send}
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
func (n *notifier) notify() { n.wanted.Notify() }

// run sends a notification per pending request until ctx ends. Requests
// made during a send leave one pending, sent after it.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wanted.C():
		}
		sctx, cancel := context.WithTimeout(ctx, notifyTimeout)
		_ = n.send(sctx)
		cancel()
	}
}
