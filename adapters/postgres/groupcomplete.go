package postgres

import (
	"context"
	"errors"
	"fmt"

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
                         ?started::timestamptz[], ?durations::float8[], ?codes::int[], ?errors::text[],
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
    WHERE d.id = s.id AND d.status = 'delivering' AND d.locked_by = s.worker AND d.claim_seq = s.seq
    RETURNING s.ord, d.status, d.next_attempt_at
), recorded AS (
    INSERT INTO delivery_attempts (delivery_id, number, worker, started_at, duration_ms, status_code,
                                   error, response, verdict, reason, next_attempt_at, created_at)
    SELECT s.id, s.attempt, s.worker, s.started, s.duration, NULLIF(s.code, 0),
           NULLIF(s.error, ''), NULLIF(s.response, ''), s.verdict, s.reason,
           CASE WHEN done.status = 'pending' THEN done.next_attempt_at END, s.at_time
    FROM done JOIN stamped s USING (ord)
    ORDER BY s.ord
)
SELECT s.ord, done.ord IS NOT NULL AS completed, EXISTS (SELECT 1 FROM deliveries x WHERE x.id = s.id) AS found
FROM stamped s LEFT JOIN done USING (ord)
ORDER BY s.ord`

type completeBatchArgs struct {
	IDs        []string  `bun:"ids,array"`
	Workers    []string  `bun:",array"`
	Seqs       []int64   `bun:",array"`
	Attempts   []int     `bun:",array"`
	Statuses   []string  `bun:",array"`
	Refunds    []bool    `bun:",array"`
	RetryUs    []int64   `bun:"retry_us,array"`
	LastCodes  []int     `bun:",array"`
	LastErrors []string  `bun:",array"`
	Started    []string  `bun:",array"`
	Durations  []float64 `bun:",array"`
	Codes      []int     `bun:",array"`
	Errors     []string  `bun:",array"`
	Responses  []string  `bun:",array"`
	Verdicts   []string  `bun:",array"`
	Reasons    []string  `bun:",array"`
	Ats        []string  `bun:",array"` // "" for the database's now()
}

type completeResult struct {
	Ord       int64
	Completed bool
	Found     bool
}

func (s *Store) completeBatch(ctx context.Context, batch []*completeCall) {
	var a completeBatchArgs
	for _, c := range batch {
		p, d, rec := c.p, c.p.Decision, c.p.Record
		a.IDs = append(a.IDs, string(p.Claim.ID))
		a.Workers = append(a.Workers, p.Worker)
		a.Seqs = append(a.Seqs, p.Claim.Seq)
		a.Attempts = append(a.Attempts, p.Claim.Attempt)
		a.Statuses = append(a.Statuses, string(d.Status))
		a.Refunds = append(a.Refunds, d.Refund)
		a.RetryUs = append(a.RetryUs, d.RetryIn.Microseconds())
		a.LastCodes = append(a.LastCodes, d.StatusCode)
		a.LastErrors = append(a.LastErrors, core.StorableText(d.Error))
		a.Started = append(a.Started, timeText(&rec.StartedAt))
		a.Durations = append(a.Durations, durationMS(rec.Duration))
		a.Codes = append(a.Codes, rec.StatusCode)
		a.Errors = append(a.Errors, core.StorableText(rec.Error))
		a.Responses = append(a.Responses, core.StorableText(rec.Response))
		a.Verdicts = append(a.Verdicts, string(d.Verdict))
		a.Reasons = append(a.Reasons, core.StorableText(d.Reason))
		a.Ats = append(a.Ats, timeText(p.Now))
	}
	var rows []completeResult
	if err := s.db.NewRaw(completeBatchSQL, &a).Scan(ctx, &rows); err != nil || len(rows) != len(batch) {
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
