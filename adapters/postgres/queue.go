package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// The statements in this file are the queue's transitions, on deliveries.
// Each mirrors a method of core.Delivery, the reference state machine
// (core/delivery.go), named in its comment, and takes the values it writes
// (errors, reasons, verdicts) from core as arguments. The status names in
// the SQL text are the schema's own (its CHECK constraint and partial
// indexes, which the planner matches only against literals).
// ports/porttest holds both to the same contract.

// maxAbandonPerClaim bounds the dead-lettering done by one Claim, keeping
// its transaction short after a mass crash; the next claims do the rest
// (the claim query itself never picks those rows).
const maxAbandonPerClaim = 1000

// claimSQL is one statement, hence one short transaction:
//
//  1. lost/abandoned/lost_attempts: delivering rows whose lease expired
//     during their final attempt are declared dead, with a "lost" attempt
//     row (mirrors core.Delivery.Abandon);
//  2. probe_targets/probes/probing/forgotten: the open targets whose probe
//     is due (mirrors core.TargetHealth.ProbeDue), up to n of them, by
//     origin, locked with SKIP LOCKED so that one claim in the cluster gets
//     each; for each, its oldest pending delivery, due or parked, read off
//     the pending-origin partial index and locked with SKIP LOCKED, becomes
//     its probe (mirrors core.Delivery.ClaimProbe) and the target starts
//     probing (mirrors core.TargetHealth.StartProbe). A target with no
//     pending delivery at all (emptied: none in the statement's snapshot,
//     so one merely locked by someone else keeps it) is forgotten. Both
//     lookups read the pending-origin index, one descent each: they select
//     the origin as a range (origin >= x AND origin <= x) and sort by it,
//     so that only that index yields their order. With "origin = x" the
//     planner drops origin from the sort, the due index yields the rest
//     of it too, and walking that index to the target's first row looks
//     cheap to a planner that takes the target's rows to be spread over
//     due order; a parked target's rows are all at its end, behind every
//     other pending row;
//  3. expired/pending: the oldest due rows of each kind, each read in due
//     order straight off its partial index (LIMIT n, no sort over all due
//     rows) and locked with SKIP LOCKED, so concurrent workers never wait
//     for, or get, the same row. The probes are left out: this statement
//     holds their locks, which SKIP LOCKED does not skip;
//  4. picked/chosen/claimed: the probes, then the oldest of those at most
//     2n candidates up to n in all, at most max_per_origin of each origin
//     when that is positive and at most its cap of an origin in caps, are
//     leased (mirrors core.Delivery.Claim).
//     Rows in (3) that lose the merge stay locked only until commit; this
//     happens only while expired leases exist, which is rare;
//  5. the claimed rows are returned (less what this statement set alike
//     on every row: the status, the lease's holder and end, and the update
//     time, which leased derives from the attempt time), probes first (the
//     update returns what chose each row: joined back to chosen, a generic
//     plan compared every pair, 10,000 for a claim of 100), with their
//     event's body
//     and, for an endpoint delivery, the endpoint as it is now: its URL and
//     origin and its sealed secrets (has_keys false when it is gone or
//     disabled; the stored URL then stands). Both joins are by primary key,
//     for at most n rows. A claimed row that is not a probe and whose
//     target has a health row carries its open_until (target_open_until):
//     read from the statement's snapshot, which the probing above does not
//     change (it writes probe_until only), but for the rows this statement
//     forgets.
//
// The statement never waits for a lock: every row it writes it has locked
// itself with SKIP LOCKED. Release and Probed, which may wait (for a
// target's row, or Probed for the deliveries it unparks), write a target's
// deliveries before its row, so that none of them waits for a delivery
// while holding a target's row.
const claimSQL = `
WITH lost AS MATERIALIZED (
    SELECT id, locked_by, attempted_count, last_attempted_at
    FROM deliveries
    WHERE status = 'delivering' AND lease_expires_at <= ?now
      AND attempted_count >= ?max_attempts AND origin <> ALL (?exclude::text[])
    ORDER BY lease_expires_at, id
    LIMIT ?max_abandon
    FOR UPDATE SKIP LOCKED
), abandoned AS (
    UPDATE deliveries d
    SET status = 'dead', locked_by = NULL, lease_expires_at = NULL,
        last_error = ?lost_error, updated_at = ?now
    FROM lost
    WHERE d.id = lost.id
    RETURNING d.id
), lost_attempts AS (
    INSERT INTO delivery_attempts (delivery_id, number, worker, started_at, error, verdict, reason, created_at)
    SELECT lost.id, lost.attempted_count, lost.locked_by, coalesce(lost.last_attempted_at, ?now),
           ?lost_error, ?lost_verdict, ?lost_reason, ?now
    FROM lost JOIN abandoned USING (id)
), probe_targets AS MATERIALIZED (
    SELECT origin, open_until
    FROM targets
    WHERE open_until <= ?now AND (probe_until IS NULL OR probe_until <= ?now)
      AND origin <> ALL (?exclude::text[])
    ORDER BY origin
    LIMIT ?limit
    FOR UPDATE SKIP LOCKED
), probes AS MATERIALIZED (
    SELECT t.origin, oldest.id, oldest.next_attempt_at AS due,
           CASE WHEN oldest.id IS NULL THEN (
               SELECT d.id FROM deliveries d
               WHERE d.origin >= t.origin AND d.origin <= t.origin AND d.status = 'pending'
               ORDER BY d.origin, d.next_attempt_at, d.id
               LIMIT 1
           ) IS NULL END AS emptied
    FROM probe_targets t
    LEFT JOIN LATERAL (
        SELECT id, next_attempt_at
        FROM deliveries
        WHERE origin >= t.origin AND origin <= t.origin AND status = 'pending'
        ORDER BY origin, next_attempt_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) AS oldest ON true
), probing AS (
    UPDATE targets t
    SET probe_until = ?now + ?lease, updated_at = ?now
    FROM probes
    WHERE t.origin = probes.origin AND probes.id IS NOT NULL
), forgotten AS (
    DELETE FROM targets t
    USING probes
    WHERE t.origin = probes.origin AND probes.emptied
    RETURNING t.origin
), expired AS MATERIALIZED (
    SELECT id, origin, lease_expires_at AS due
    FROM deliveries
    WHERE status = 'delivering' AND lease_expires_at <= ?now
      AND attempted_count < ?max_attempts AND origin <> ALL (?exclude::text[])
    ORDER BY lease_expires_at, id
    LIMIT ?limit
    FOR UPDATE SKIP LOCKED
), pending AS MATERIALIZED (
    SELECT id, origin, next_attempt_at AS due
    FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= ?now
      AND origin <> ALL (?exclude::text[])
      AND id NOT IN (SELECT id FROM probes WHERE id IS NOT NULL)
    ORDER BY next_attempt_at, id
    LIMIT ?limit
    FOR UPDATE SKIP LOCKED
), picked AS MATERIALIZED (
    SELECT id, due FROM (
        SELECT id, due, origin, row_number() OVER (PARTITION BY origin ORDER BY due, id) AS nth
        FROM (SELECT * FROM expired UNION ALL SELECT * FROM pending) AS candidates
    ) AS ranked
    LEFT JOIN unnest(?cap_origins::text[], ?caps::int[]) AS caps (origin, n) USING (origin)
    WHERE (?max_per_origin <= 0 OR nth <= ?max_per_origin) AND (caps.n IS NULL OR nth <= caps.n)
    ORDER BY due, id
    LIMIT greatest(?limit - (SELECT count(*) FROM probes WHERE id IS NOT NULL), 0)
), chosen AS MATERIALIZED (
    SELECT id, due, true AS probe, origin AS probe_origin FROM probes WHERE id IS NOT NULL
    UNION ALL
    SELECT id, due, false, NULL FROM picked
), claimed AS (
    UPDATE deliveries d
    SET status = 'delivering', locked_by = ?worker, lease_expires_at = ?now + ?lease,
        attempted_count = d.attempted_count + 1, claim_seq = d.claim_seq + 1,
        last_attempted_at = ?now, updated_at = ?now
    FROM chosen
    WHERE d.id = chosen.id
    RETURNING d.*, chosen.probe, chosen.probe_origin, chosen.due
)
SELECT c.id::text AS id, c.event_id::text AS event_id, c.endpoint_id::text AS endpoint_id,
       coalesce(en.url, c.target_url) AS target_url, coalesce(en.origin, c.origin) AS origin,
       c.attempted_count, c.claim_seq, c.next_attempt_at, c.active_since, c.created_at,
       c.last_attempted_at, c.last_status_code, c.last_error,
       e.body, en.id IS NOT NULL AS has_keys, en.secret AS key_current, en.previous_secret AS key_previous,
       en.previous_secret_until AS key_previous_until, en.rate_limit_per_second AS endpoint_rate,
       en.failing_since AS endpoint_failing_since,
       c.probe,
       CASE WHEN c.probe OR f.origin IS NOT NULL THEN NULL
            ELSE coalesce(pt.open_until, t.open_until) END AS target_open_until
FROM claimed c
JOIN events e ON e.id = c.event_id
LEFT JOIN endpoints en ON en.id = c.endpoint_id AND NOT en.disabled
LEFT JOIN probe_targets pt ON pt.origin = c.origin
LEFT JOIN targets t ON t.origin = c.origin
LEFT JOIN forgotten f ON f.origin = c.origin
ORDER BY c.probe DESC, c.probe_origin, c.due, c.id`

// Claim leases due deliveries (claimSQL), prepared and on index scans
// (prepared.go).
func (s *Store) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	rows, err := s.claims.query(ctx, s.queue, claimParams(p))
	if err != nil {
		return nil, interpretError("claim", err)
	}
	claimed, err := scanClaimed(rows, p)
	if err != nil {
		return nil, interpretError("claim", err)
	}
	return claimed, nil
}

// newClaimQuery is claimSQL prepared.
func newClaimQuery() *preparedQuery {
	return newPreparedQuery(claimSQL, map[string]string{"now": nowWrap, "lease": intervalWrap})
}

// claimParams are claimSQL's values for p.
func claimParams(p ports.ClaimParams) map[string]any {
	capOrigins := make([]string, 0, len(p.OriginCaps))
	caps := make([]int, 0, len(p.OriginCaps))
	for origin, n := range p.OriginCaps {
		capOrigins, caps = append(capOrigins, origin), append(caps, n)
	}
	return map[string]any{
		"now":            nowParam(p.Now),
		"worker":         p.Worker,
		"limit":          max(p.Limit, 0), // 0 still abandons, as the contract asks
		"lease":          p.Lease.Microseconds(),
		"max_attempts":   p.MaxAttempts,
		"max_abandon":    maxAbandonPerClaim,
		"exclude":        arrayParam(p.ExcludeOrigins), // never NULL: <> ALL (NULL) matches nothing
		"max_per_origin": p.MaxPerOrigin,
		"cap_origins":    arrayParam(capOrigins),
		"caps":           arrayParam(caps),
		"lost_error":     core.ErrorLostFinalAttempt,
		"lost_verdict":   string(core.VerdictLost),
		"lost_reason":    core.ReasonLostFinalAttempt,
	}
}

// completeSQL records an attempt's decision and the attempt itself in one
// statement (mirrors core.Delivery.Complete), guarded by the claim: if the
// delivery is no longer delivering under (worker, claim_seq), nothing is
// written. found tells ErrLeaseLost from ErrNotFound.
const completeSQL = `
WITH done AS (
    UPDATE deliveries
    SET status = ?status,
        attempted_count = attempted_count - CASE WHEN ?refund THEN 1 ELSE 0 END,
        next_attempt_at = CASE WHEN ?status = 'pending' THEN ?now + ?retry_in ELSE next_attempt_at END,
        locked_by = NULL, lease_expires_at = NULL,
        last_status_code = ?last_status_code, last_error = ?last_error, updated_at = ?now
    WHERE id = ?id AND status = 'delivering' AND locked_by = ?worker AND claim_seq = ?seq
    RETURNING id, status, next_attempt_at
), recorded AS (
    INSERT INTO delivery_attempts (delivery_id, number, worker, started_at, duration_ms, status_code,
                                   error, response, verdict, reason, next_attempt_at, created_at)
    SELECT done.id, ?attempt, ?worker, ?started_at, ?duration_ms, ?status_code,
           ?error, ?response, ?verdict, ?reason,
           CASE WHEN done.status = 'pending' THEN done.next_attempt_at END, ?now
    FROM done
)
SELECT (SELECT count(*) FROM done) AS completed, EXISTS (SELECT 1 FROM deliveries WHERE id = ?id) AS found`

type completeArgs struct {
	Now            dbNow
	ID             string
	Worker         string
	Attempt        int
	Seq            int64
	Status         string
	RetryIn        interval
	Refund         bool
	LastStatusCode int    `bun:",nullzero"`
	LastError      string `bun:",nullzero"`
	StartedAt      any
	DurationMS     float64
	StatusCode     int    `bun:",nullzero"`
	Error          string `bun:",nullzero"`
	Response       string `bun:",nullzero"`
	Verdict        string
	Reason         string
}

func (s *Store) Complete(ctx context.Context, p ports.CompleteParams) error {
	switch d := p.Decision; d.Status {
	case core.StatusSucceeded, core.StatusDead, core.StatusPending:
	default:
		return fmt.Errorf("postgres: complete %s: decision status %q: %w", p.Claim.ID, d.Status, core.ErrConflict)
	}
	if !validID(p.Claim.ID) {
		return fmt.Errorf("postgres: complete %s: %w", p.Claim.ID, core.ErrNotFound)
	}
	_, err := s.completes.do(ctx, p) // with whatever else is finishing (groupcomplete.go)
	return err
}

// completeOne records one outcome in its own statement.
func (s *Store) completeOne(ctx context.Context, p ports.CompleteParams) error {
	d, rec := p.Decision, p.Record
	args := &completeArgs{
		Now: dbNow{p.Now}, ID: string(p.Claim.ID), Worker: p.Worker, Attempt: p.Claim.Attempt, Seq: p.Claim.Seq,
		Status: string(d.Status), RetryIn: interval(d.RetryIn), Refund: d.Refund,
		LastStatusCode: d.StatusCode, LastError: core.StorableText(d.Error),
		StartedAt: rec.StartedAt.UTC(), DurationMS: durationMS(rec.Duration),
		StatusCode: rec.StatusCode, Error: core.StorableText(rec.Error), Response: core.StorableText(rec.Response),
		Verdict: string(d.Verdict), Reason: core.StorableText(d.Reason),
	}
	var completed int
	var found bool
	if err := s.db.NewRaw(completeSQL, args).Scan(ctx, &completed, &found); err != nil {
		return interpretError("complete", err)
	}
	switch {
	case completed == 1:
		return nil
	case !found:
		return fmt.Errorf("postgres: complete %s: %w", p.Claim.ID, core.ErrNotFound)
	}
	return fmt.Errorf("postgres: complete %s attempt %d by %s: %w", p.Claim.ID, p.Claim.Attempt, p.Worker, core.ErrLeaseLost)
}

// parkedUntilSQL is core.Delivery.ParkedUntil of the row d: its expiry,
// active_since + park_for, when park_for is set and that is later than
// until.
const parkedUntilSQL = `CASE WHEN ?park_for > interval '0' THEN greatest(?until::timestamptz, d.active_since + ?park_for)
                             ELSE ?until::timestamptz END`

// parkSQL are the CTEs that park origin's pending deliveries due before
// until (mirrors core.Delivery.Park), skipping the rows another
// transaction holds (a claim in progress: it flags what it takes). A
// parked row is out of the due range, so parking again writes nothing.
const parkSQL = `parkable AS (
    SELECT id FROM deliveries
    WHERE ?origin <> '' AND origin = ?origin AND status = 'pending' AND next_attempt_at < ?until::timestamptz
    FOR UPDATE SKIP LOCKED
), parked AS (
    UPDATE deliveries d
    SET next_attempt_at = ` + parkedUntilSQL + `, updated_at = ?now
    FROM parkable
    WHERE d.id = parkable.id
    RETURNING d.id
)`

// releaseSQL, in one statement: gives back the listed claims still owned,
// their attempt unspent (mirrors core.Delivery.Release), due at until or,
// for a delivery of the origin to park, at its ParkedUntil; and, when an
// origin is given, parks that origin's other pending deliveries (parkSQL)
// and opens its health row until at least until (opened: mirrors
// core.TargetHealth.Open; a probe in flight is left to finish). Released
// and parked rows see the same snapshot, so a released row is not counted
// as parked. The health row is written last (opened waits for released and
// parked), the order every statement here keeps: deliveries, then targets.
// A release due at once notifies, like an insert.
const releaseSQL = `
WITH released AS (
    UPDATE deliveries d
    SET status = 'pending', attempted_count = d.attempted_count - 1,
        next_attempt_at = CASE WHEN d.origin = ?origin THEN ` + parkedUntilSQL + ` ELSE ?until::timestamptz END,
        locked_by = NULL, lease_expires_at = NULL, updated_at = ?now
    FROM unnest(?ids::uuid[], ?seqs::bigint[]) AS c (id, seq)
    WHERE d.id = c.id AND d.status = 'delivering' AND d.locked_by = ?worker
      AND d.claim_seq = c.seq
    RETURNING d.id
), ` + parkSQL + `, opened AS (
    INSERT INTO targets AS t (origin, open_until, opened_at, updated_at)
    SELECT ?origin, ?until::timestamptz, ?now, ?now
    WHERE ?origin <> '' AND (SELECT count(*) FROM released) + (SELECT count(*) FROM parked) >= 0
    ON CONFLICT (origin) DO UPDATE
    SET open_until = greatest(t.open_until, excluded.open_until), updated_at = excluded.updated_at
), woken AS (
    SELECT pg_notify(?channel, '') FROM released WHERE ?until::timestamptz <= ?now LIMIT 1
)
SELECT (SELECT count(*) FROM released) AS released,
       (SELECT count(*) FROM parked) AS parked,
       (SELECT count(*) FROM woken) AS woken`

type releaseArgs struct {
	Now     dbNow
	Until   any
	ParkFor interval
	Worker  string
	IDs     []string `bun:"ids,array"`
	Seqs    []int64  `bun:",array"`
	Origin  string
	Channel string
}

func (s *Store) Release(ctx context.Context, p ports.ReleaseParams) (ports.ReleaseResult, error) {
	args := &releaseArgs{Now: dbNow{p.Now}, ParkFor: interval(p.ParkFor), Worker: p.Worker, Origin: p.ParkOrigin,
		Channel: s.channel, IDs: []string{}, Seqs: []int64{}}
	args.Until = args.Now
	if !p.Until.IsZero() {
		args.Until = p.Until.UTC()
	}
	for _, c := range p.Claims {
		if validID(c.ID) && !slices.Contains(args.IDs, string(c.ID)) {
			args.IDs = append(args.IDs, string(c.ID))
			args.Seqs = append(args.Seqs, c.Seq)
		}
	}
	var res ports.ReleaseResult
	var woken int
	if err := s.db.NewRaw(releaseSQL, args).Scan(ctx, &res.Released, &res.Parked, &woken); err != nil {
		return ports.ReleaseResult{}, interpretError("release", err)
	}
	return res, nil
}

// probedOKSQL closes a target whose probe succeeded: its pending
// deliveries waiting past now come due at once (mirrors
// core.Delivery.Unpark), then its health row is deleted. Unlike parking,
// unparking waits for rows another transaction holds (a claim that locked
// a parked row without taking it would otherwise leave it parked until its
// park ends); it never holds the health row while it waits. The workers
// are woken, as by a release due at once.
const probedOKSQL = `
WITH unparked AS (
    UPDATE deliveries
    SET next_attempt_at = ?now, updated_at = ?now
    WHERE origin = ?origin AND status = 'pending' AND next_attempt_at > ?now
    RETURNING id
), closed AS (
    DELETE FROM targets
    WHERE origin = ?origin AND (SELECT count(*) FROM unparked) >= 0
), woken AS (
    SELECT pg_notify(?channel, '') FROM unparked LIMIT 1
)
SELECT (SELECT count(*) FROM unparked) AS unparked, (SELECT count(*) FROM woken) AS woken`

// probedFailedSQL reopens a target whose probe failed until until, no
// probe in flight (mirrors core.TargetHealth.Reopen), after parking its
// pending deliveries due before until as Release parks them (parkSQL).
const probedFailedSQL = `
WITH ` + parkSQL + `, reopened AS (
    INSERT INTO targets AS t (origin, open_until, probe_until, opened_at, updated_at)
    SELECT ?origin, ?until::timestamptz, NULL, ?now, ?now
    WHERE (SELECT count(*) FROM parked) >= 0
    ON CONFLICT (origin) DO UPDATE
    SET open_until = excluded.open_until, probe_until = NULL, updated_at = excluded.updated_at
)
SELECT count(*) AS parked FROM parked`

type probedArgs struct {
	Now     dbNow
	Origin  string
	Until   time.Time
	ParkFor interval
	Channel string
}

func (s *Store) Probed(ctx context.Context, p ports.ProbedParams) error {
	args := &probedArgs{Now: dbNow{p.Now}, Origin: p.Origin, Until: p.Until.UTC(), ParkFor: interval(p.ParkFor),
		Channel: s.channel}
	if p.OK {
		var unparked, woken int
		if err := s.db.NewRaw(probedOKSQL, args).Scan(ctx, &unparked, &woken); err != nil {
			return interpretError("probed "+p.Origin, err)
		}
		return nil
	}
	var parked int
	if err := s.db.NewRaw(probedFailedSQL, args).Scan(ctx, &parked); err != nil {
		return interpretError("probed "+p.Origin, err)
	}
	return nil
}

// targetsSQL lists the open targets' health rows.
const targetsSQL = `SELECT origin, open_until, probe_until, opened_at, updated_at FROM targets ORDER BY origin`

func (s *Store) Targets(ctx context.Context) ([]core.TargetHealth, error) {
	var rows []targetRow
	if err := s.db.NewRaw(targetsSQL).Scan(ctx, &rows); err != nil {
		return nil, interpretError("targets", err)
	}
	out := make([]core.TargetHealth, len(rows))
	for i, r := range rows {
		out[i] = targetToCore(r)
	}
	return out, nil
}
