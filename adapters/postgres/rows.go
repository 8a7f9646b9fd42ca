package postgres

import (
	"fmt"
	"math"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
)

// eventRow is an events row. Optional values are NULL in the table and
// zero in core ("" for no idempotency key, 0 for no status code).
type eventRow struct {
	bun.BaseModel `bun:"table:events,alias:e"`

	ID              string     `bun:"id,pk,type:uuid"`
	TargetURL       string     `bun:"target_url,notnull"`
	Origin          string     `bun:"origin,notnull"`
	Body            []byte     `bun:"body,notnull,type:bytea"`
	IdempotencyKey  string     `bun:"idempotency_key,nullzero"`
	Status          string     `bun:"status,notnull"`
	AttemptedCount  int        `bun:"attempted_count,notnull"`
	ClaimSeq        int64      `bun:"claim_seq,notnull"`
	NextAttemptAt   time.Time  `bun:"next_attempt_at,notnull"`
	ActiveSince     time.Time  `bun:"active_since,notnull"`
	CreatedAt       time.Time  `bun:"created_at,notnull"`
	UpdatedAt       time.Time  `bun:"updated_at,notnull"`
	LastAttemptedAt *time.Time `bun:"last_attempted_at"`
	LockedBy        string     `bun:"locked_by,nullzero"`
	LeaseExpiresAt  *time.Time `bun:"lease_expires_at"`
	LastStatusCode  int        `bun:"last_status_code,nullzero"`
	LastError       string     `bun:"last_error,nullzero"`
}

func toCore(r eventRow) (core.Event, error) {
	status, err := core.ParseStatus(r.Status)
	if err != nil {
		return core.Event{}, fmt.Errorf("postgres: event %s: status %q: %w", r.ID, r.Status, err)
	}
	return core.Event{
		ID:              core.EventID(r.ID),
		TargetURL:       r.TargetURL,
		Origin:          r.Origin,
		Body:            r.Body,
		IdempotencyKey:  r.IdempotencyKey,
		Status:          status,
		AttemptedCount:  r.AttemptedCount,
		ClaimSeq:        r.ClaimSeq,
		NextAttemptAt:   r.NextAttemptAt.UTC(),
		ActiveSince:     r.ActiveSince.UTC(),
		CreatedAt:       r.CreatedAt.UTC(),
		UpdatedAt:       r.UpdatedAt.UTC(),
		LastAttemptedAt: utcPtr(r.LastAttemptedAt),
		LockedBy:        r.LockedBy,
		LeaseExpiresAt:  utcPtr(r.LeaseExpiresAt),
		LastStatusCode:  r.LastStatusCode,
		LastError:       r.LastError,
	}, nil
}

func fromCore(e core.Event) eventRow {
	body := e.Body
	if body == nil {
		body = []byte{} // NOT NULL: an empty body is still a body
	}
	return eventRow{
		ID:              string(e.ID),
		TargetURL:       e.TargetURL,
		Origin:          e.Origin,
		Body:            body,
		IdempotencyKey:  e.IdempotencyKey,
		Status:          string(e.Status),
		AttemptedCount:  e.AttemptedCount,
		ClaimSeq:        e.ClaimSeq,
		NextAttemptAt:   e.NextAttemptAt,
		ActiveSince:     e.ActiveSince,
		CreatedAt:       e.CreatedAt,
		UpdatedAt:       e.UpdatedAt,
		LastAttemptedAt: e.LastAttemptedAt,
		LockedBy:        e.LockedBy,
		LeaseExpiresAt:  e.LeaseExpiresAt,
		LastStatusCode:  e.LastStatusCode,
		LastError:       core.StorableText(e.LastError),
	}
}

func rowsToCore(rows []eventRow) ([]core.Event, error) {
	out := make([]core.Event, 0, len(rows))
	for _, r := range rows {
		e, err := toCore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// attemptRow is a delivery_attempts row (append-only).
type attemptRow struct {
	bun.BaseModel `bun:"table:delivery_attempts,alias:a"`

	ID            int64      `bun:"id,pk,autoincrement"`
	EventID       string     `bun:"event_id,notnull,type:uuid"`
	Number        int        `bun:"number,notnull"`
	Worker        string     `bun:"worker,notnull"`
	StartedAt     time.Time  `bun:"started_at,notnull"`
	DurationMS    float64    `bun:"duration_ms,notnull"`
	StatusCode    int        `bun:"status_code,nullzero"`
	Error         string     `bun:"error,nullzero"`
	Response      string     `bun:"response,nullzero"`
	Verdict       string     `bun:"verdict,notnull"`
	Reason        string     `bun:"reason,notnull"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
	CreatedAt     time.Time  `bun:"created_at,nullzero"`
}

func attemptToCore(r attemptRow) core.Attempt {
	return core.Attempt{
		EventID:       core.EventID(r.EventID),
		Number:        r.Number,
		Worker:        r.Worker,
		StartedAt:     r.StartedAt.UTC(),
		Duration:      time.Duration(math.Round(r.DurationMS * float64(time.Millisecond))),
		StatusCode:    r.StatusCode,
		Error:         r.Error,
		Response:      r.Response,
		Verdict:       core.Verdict(r.Verdict),
		Reason:        r.Reason,
		NextAttemptAt: utcPtr(r.NextAttemptAt),
	}
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
