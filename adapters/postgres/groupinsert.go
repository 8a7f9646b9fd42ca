package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Group commit of inserts. Concurrent POST /events each need a durable
// commit; one transaction per event spends a WAL flush (and a NOTIFY) per
// event. Instead, an Insert that finds fewer than maxInsertLeaders batches
// running becomes a leader: it inserts every event queued at that moment
// in one multi-row statement (one commit, one NOTIFY from the statement
// trigger), answers each of them, and goes on while more are queued. The
// others wait for their leader. Nobody is answered before the statement
// that stored their row committed.
//
// Idempotency is per row: a key already stored (or taken by an earlier row
// of the same statement) makes that request return the stored event. If
// the statement fails as a whole (a duplicate id, a database error), each
// of its events is tried alone, so that one bad row never fails its
// neighbours.

const (
	maxInsertBatch   = 500
	maxInsertLeaders = 4
	insertTimeout    = 30 * time.Second
)

type insertReq struct {
	ctx     context.Context
	p       ports.InsertParams
	ev      core.Event
	created bool
	err     error
	done    chan struct{}
}

type inserter struct {
	mu      sync.Mutex
	pending []*insertReq
	leaders int
	run     func(ctx context.Context, batch []*insertReq) // answers every request of batch
	batches atomic.Int64                                  // statements run: fewer than inserts under load
}

func (in *inserter) insert(ctx context.Context, p ports.InsertParams) (core.Event, bool, error) {
	req := &insertReq{ctx: ctx, p: p, done: make(chan struct{})}
	in.mu.Lock()
	in.pending = append(in.pending, req)
	lead := in.leaders < maxInsertLeaders
	if lead {
		in.leaders++
	}
	in.mu.Unlock()
	if lead {
		in.lead()
	}
	<-req.done
	return req.ev, req.created, req.err
}

// lead runs batches until nothing is queued.
func (in *inserter) lead() {
	for {
		in.mu.Lock()
		n := min(len(in.pending), maxInsertBatch)
		if n == 0 {
			in.leaders--
			in.mu.Unlock()
			return
		}
		batch := in.pending[:n:n]
		in.pending = append([]*insertReq(nil), in.pending[n:]...)
		in.mu.Unlock()

		live := batch[:0:0]
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.err = err // its caller gave up before it was stored
				close(r.done)
				continue
			}
			live = append(live, r)
		}
		if len(live) > 0 {
			// Not any caller's context: one leaving must not fail the rest.
			ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
			in.run(ctx, live)
			cancel()
			in.batches.Add(1)
		}
	}
}

// insertBatchSQL stores a batch in one statement. Rows keep their order
// (ord), so that of two rows with one idempotency key the first wins.
const insertBatchSQL = `
WITH input AS (
    SELECT * FROM unnest(?ids::uuid[], ?targets::text[], ?origins::text[], ?bodies::bytea[], ?keys::text[],
                         ?ats::text[], ?nexts::text[]) WITH ORDINALITY
        AS i (id, target_url, origin, body, idempotency_key, at, next, ord)
), stamped AS (
    SELECT id, target_url, origin, body, NULLIF(idempotency_key, '') AS idempotency_key,
           coalesce(NULLIF(at, '')::timestamptz, now()) AS at, NULLIF(next, '')::timestamptz AS next, ord
    FROM input
)
INSERT INTO events (id, target_url, origin, body, idempotency_key, next_attempt_at, active_since, created_at, updated_at)
SELECT id, target_url, origin, body, idempotency_key, coalesce(next, at), at, at, at
FROM stamped ORDER BY ord
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *`

type insertBatchArgs struct {
	IDs     []string `bun:"ids,array"`
	Targets []string `bun:",array"`
	Origins []string `bun:",array"`
	Bodies  [][]byte `bun:",array"`
	Keys    []string `bun:",array"` // "" for none
	Ats     []string `bun:",array"` // "" for the database's now()
	Nexts   []string `bun:",array"` // "" for at
}

// insertBatch is the inserter's run: one statement for the batch, then
// the stored events of the keys that were already taken.
func (s *Store) insertBatch(ctx context.Context, batch []*insertReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	var a insertBatchArgs
	for _, r := range batch {
		row := fromCore(r.p.Event)
		a.IDs = append(a.IDs, row.ID)
		a.Targets = append(a.Targets, row.TargetURL)
		a.Origins = append(a.Origins, row.Origin)
		a.Bodies = append(a.Bodies, row.Body)
		a.Keys = append(a.Keys, row.IdempotencyKey)
		a.Ats = append(a.Ats, timeText(r.p.Now))
		next := ""
		if !r.p.Event.NextAttemptAt.IsZero() {
			next = r.p.Event.NextAttemptAt.UTC().Format(time.RFC3339Nano)
		}
		a.Nexts = append(a.Nexts, next)
	}
	var rows []eventRow
	if err := s.db.NewRaw(insertBatchSQL, &a).Scan(ctx, &rows); err != nil {
		if err = interpretError("insert", err); len(batch) == 1 || errors.Is(err, core.ErrUnavailable) {
			for _, r := range batch { // the database, not a row, is at fault
				r.err = err
			}
			return
		}
		// Find the row at fault by storing each alone.
		for _, r := range batch {
			r.ev, r.created, r.err = s.insertOne(ctx, r.p)
		}
		return
	}
	stored := make(map[string]eventRow, len(rows))
	for _, row := range rows {
		stored[row.ID] = row
	}
	for _, r := range batch {
		row, ok := stored[string(r.p.Event.ID)]
		if ok {
			r.ev, r.err = toCore(row)
			r.created = true
			continue
		}
		// Its key was taken, by an earlier event or an earlier row of this
		// batch: answer with that event (insertOne reads it, and inserts
		// after all if it vanished meanwhile).
		r.ev, r.created, r.err = s.insertOne(ctx, r.p)
		if r.err == nil && r.created && r.p.Event.IdempotencyKey == "" {
			r.err = errors.New("postgres: insert: a row without a key was not stored by its batch")
		}
	}
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
