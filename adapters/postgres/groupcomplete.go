package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Outcomes are group-committed too (batch.go): many workers' deliveries
// finishing at once record their decisions and attempts in one statement.
// Each row is guarded by its claim exactly as completeSQL guards one; a
// statement that fails as a whole is retried row by row.

type completeCall = call[ports.CompleteParams, struct{}]

// completeBatchSQL is completeSQL for many rows (mirrors
// core.Delivery.Complete per row), keyed by ord, the row's place in the
// batch.
const completeBatchSQL = `
WITH input AS (
    SELECT * FROM unnest(?ids::uuid[], ?workers::text[], ?seqs::bigint[], ?attempts::int[], ?statuses::text[],
                         ?refunds::bool[], ?retry_us::bigint[], ?last_codes::int[], ?last_errors::text[],
                         ?started_us::bigint[], ?durations::float8[], ?codes::int[], ?errors::text[],
                         ?responses::text[], ?verdicts::text[], ?reasons::text[], ?ats::text[]) WITH ORDINALITY
        AS i (id, worker, seq, attempt, status, refund, retry_us, last_code, last_error, started, duration,
              code, error, response, verdict, reason, at, ord)
), stamped AS (
    SELECT *, coalesce(NULLIF(at, '')::timestamptz, now()) AS at_time FROM input
), done AS (
    UPDATE deliveries d
    SET status = s.status,
        attempted_count = d.attempted_count - CASE WHEN s.refund THEN 1 ELSE 0 END,
        next_attempt_at = CASE WHEN s.status = 'pending'
                               THEN s.at_time + s.retry_us * interval '1 microsecond' ELSE d.next_attempt_at END,
        locked_by = NULL, lease_expires_at = NULL,
        last_status_code = NULLIF(s.last_code, 0), last_error = NULLIF(s.last_error, ''), updated_at = s.at_time
    FROM stamped s
    -- A lease (locked_by and lease_expires_at set) means delivering
    -- (deliveries_lease_check). Saying it so rather than status =
    -- 'delivering' keeps the planner off the delivering partial index (a
    -- scan of every row in flight, per batch) and on the primary key: one
    -- lookup per row.
    WHERE d.id = s.id AND d.locked_by = s.worker AND d.lease_expires_at IS NOT NULL AND d.claim_seq = s.seq
    RETURNING s.ord, d.status, d.next_attempt_at
), recorded AS (
    INSERT INTO delivery_attempts (delivery_id, number, worker, started_at, duration_ms, status_code,
                                   error, response, verdict, reason, next_attempt_at, created_at)
    SELECT s.id, s.attempt, s.worker, timestamptz 'epoch' + s.started * interval '1 microsecond', s.duration, NULLIF(s.code, 0),
           NULLIF(s.error, ''), NULLIF(s.response, ''), s.verdict, s.reason,
           CASE WHEN done.status = 'pending' THEN done.next_attempt_at END, s.at_time
    FROM done JOIN stamped s USING (ord)
    ORDER BY s.ord
)
SELECT s.ord, done.ord IS NOT NULL AS completed,
       -- read only for a row not completed (CASE runs its subplan lazily)
       CASE WHEN done.ord IS NOT NULL THEN true ELSE EXISTS (SELECT 1 FROM deliveries x WHERE x.id = s.id) END AS found
FROM stamped s LEFT JOIN done USING (ord)
ORDER BY s.ord`

// newCompleteQuery is completeBatchSQL prepared (prepared.go).
func newCompleteQuery() *preparedQuery { return newPreparedQuery(completeBatchSQL, nil) }

type completeResult struct {
	Ord       int64
	Completed bool
	Found     bool
}

func (s *Store) completeBatch(ctx context.Context, batch []*completeCall) {
	n := len(batch)
	ids, workers, statuses, lastErrors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	errs, responses, verdicts := make([]string, n), make([]string, n), make([]string, n)
	reasons, ats := make([]string, n), make([]string, n)
	seqs, retryUs, started := make([]int64, n), make([]int64, n), make([]int64, n)
	attempts, lastCodes, codes := make([]int, n), make([]int, n), make([]int, n)
	refunds, durations := make([]bool, n), make([]float64, n)
	for i, c := range batch {
		p, d, rec := c.p, c.p.Decision, c.p.Record
		ids[i], workers[i], seqs[i], attempts[i] = string(p.Claim.ID), p.Worker, p.Claim.Seq, p.Claim.Attempt
		statuses[i], refunds[i], retryUs[i] = string(d.Status), d.Refund, d.RetryIn.Microseconds()
		lastCodes[i], lastErrors[i] = d.StatusCode, core.StorableText(d.Error)
		// Microseconds since the epoch, an integer: parsing a timestamp's
		// text cost PostgreSQL more than the arithmetic that replaces it.
		started[i] = rec.StartedAt.Round(time.Microsecond).UnixMicro()
		durations[i], codes[i] = durationMS(rec.Duration), rec.StatusCode
		errs[i], responses[i] = core.StorableText(rec.Error), core.StorableText(rec.Response)
		verdicts[i], reasons[i] = string(d.Verdict), core.StorableText(d.Reason)
		ats[i] = timeText(p.Now) // "" for the database's now()
	}
	params := map[string]any{
		"ids": arrayParam(ids), "workers": arrayParam(workers), "seqs": arrayParam(seqs), "attempts": arrayParam(attempts),
		"statuses": arrayParam(statuses), "refunds": arrayParam(refunds), "retry_us": arrayParam(retryUs),
		"last_codes": arrayParam(lastCodes), "last_errors": arrayParam(lastErrors), "started_us": arrayParam(started),
		"durations": arrayParam(durations), "codes": arrayParam(codes), "errors": arrayParam(errs),
		"responses": arrayParam(responses), "verdicts": arrayParam(verdicts), "reasons": arrayParam(reasons), "ats": arrayParam(ats),
	}
	var rows []completeResult
	if err := s.completions.scan(ctx, s.queue, params, &rows); err != nil || len(rows) != len(batch) {
		if err == nil {
			err = fmt.Errorf("postgres: complete: %d results for %d outcomes", len(rows), len(batch))
		}
		if err = interpretError("complete", err); len(batch) == 1 || errors.Is(err, core.ErrUnavailable) {
			for _, c := range batch { // the database, not a row, is at fault
				c.err = err
			}
			return
		}
		for _, c := range batch {
			c.err = s.completeOne(ctx, c.p)
		}
		return
	}
	for i, r := range rows {
		c := batch[i]
		switch {
		case r.Completed:
		case !r.Found:
			c.err = fmt.Errorf("postgres: complete %s: %w", c.p.Claim.ID, core.ErrNotFound)
		default:
			c.err = fmt.Errorf("postgres: complete %s attempt %d by %s: %w", c.p.Claim.ID, c.p.Claim.Attempt, c.p.Worker, core.ErrLeaseLost)
		}
	}
}
