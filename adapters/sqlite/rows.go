package sqlite

import (
	"fmt"
	"math"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
)

// Timestamps are INTEGER unix microseconds (see the migration). Optional
// values are NULL in the table and zero in core.

// eventRow is an events row.
type eventRow struct {
	bun.BaseModel `bun:"table:events"`

	ID              string `bun:"id,pk"`
	TargetURL       string `bun:"target_url"`
	Origin          string `bun:"origin"`
	Body            []byte `bun:"body"`
	IdempotencyKey  string `bun:"idempotency_key,nullzero"`
	Status          string `bun:"status"`
	AttemptedCount  int    `bun:"attempted_count"`
	ClaimSeq        int64  `bun:"claim_seq"`
	NextAttemptAt   int64  `bun:"next_attempt_at"`
	ActiveSince     int64  `bun:"active_since"`
	CreatedAt       int64  `bun:"created_at"`
	UpdatedAt       int64  `bun:"updated_at"`
	LastAttemptedAt *int64 `bun:"last_attempted_at"`
	LockedBy        string `bun:"locked_by,nullzero"`
	LeaseExpiresAt  *int64 `bun:"lease_expires_at"`
	LastStatusCode  int    `bun:"last_status_code,nullzero"`
	LastError       string `bun:"last_error,nullzero"`
}

// mutable are the columns a transition may change: everything but the
// identity, the target, the body, the key and created_at.
var mutable = []string{"status", "attempted_count", "claim_seq", "next_attempt_at", "active_since", "updated_at",
	"last_attempted_at", "locked_by", "lease_expires_at", "last_status_code", "last_error"}

func toCore(r eventRow) (core.Event, error) {
	status, err := core.ParseStatus(r.Status)
	if err != nil {
		return core.Event{}, fmt.Errorf("sqlite: event %s: status %q: %w", r.ID, r.Status, err)
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
		NextAttemptAt:   fromMicros(r.NextAttemptAt),
		ActiveSince:     fromMicros(r.ActiveSince),
		CreatedAt:       fromMicros(r.CreatedAt),
		UpdatedAt:       fromMicros(r.UpdatedAt),
		LastAttemptedAt: fromMicrosPtr(r.LastAttemptedAt),
		LockedBy:        r.LockedBy,
		LeaseExpiresAt:  fromMicrosPtr(r.LeaseExpiresAt),
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
		NextAttemptAt:   e.NextAttemptAt.UnixMicro(),
		ActiveSince:     e.ActiveSince.UnixMicro(),
		CreatedAt:       e.CreatedAt.UnixMicro(),
		UpdatedAt:       e.UpdatedAt.UnixMicro(),
		LastAttemptedAt: microsPtr(e.LastAttemptedAt),
		LockedBy:        e.LockedBy,
		LeaseExpiresAt:  microsPtr(e.LeaseExpiresAt),
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
	bun.BaseModel `bun:"table:delivery_attempts"`

	ID            int64   `bun:"id,pk,autoincrement"`
	EventID       string  `bun:"event_id"`
	Number        int     `bun:"number"`
	Worker        string  `bun:"worker"`
	StartedAt     int64   `bun:"started_at"`
	DurationMS    float64 `bun:"duration_ms"`
	StatusCode    int     `bun:"status_code,nullzero"`
	Error         string  `bun:"error,nullzero"`
	Response      string  `bun:"response,nullzero"`
	Verdict       string  `bun:"verdict"`
	Reason        string  `bun:"reason"`
	NextAttemptAt *int64  `bun:"next_attempt_at"`
	CreatedAt     int64   `bun:"created_at"`
}

func attemptFromCore(a core.Attempt, now time.Time) attemptRow {
	return attemptRow{
		EventID:       string(a.EventID),
		Number:        a.Number,
		Worker:        a.Worker,
		StartedAt:     a.StartedAt.UnixMicro(),
		DurationMS:    float64(a.Duration) / float64(time.Millisecond),
		StatusCode:    a.StatusCode,
		Error:         core.StorableText(a.Error),
		Response:      core.StorableText(a.Response),
		Verdict:       string(a.Verdict),
		Reason:        core.StorableText(a.Reason),
		NextAttemptAt: microsPtr(a.NextAttemptAt),
		CreatedAt:     now.UnixMicro(),
	}
}

func attemptToCore(r attemptRow) core.Attempt {
	return core.Attempt{
		EventID:       core.EventID(r.EventID),
		Number:        r.Number,
		Worker:        r.Worker,
		StartedAt:     fromMicros(r.StartedAt),
		Duration:      time.Duration(math.Round(r.DurationMS * float64(time.Millisecond))),
		StatusCode:    r.StatusCode,
		Error:         r.Error,
		Response:      r.Response,
		Verdict:       core.Verdict(r.Verdict),
		Reason:        r.Reason,
		NextAttemptAt: fromMicrosPtr(r.NextAttemptAt),
	}
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromMicrosPtr(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := fromMicros(*us)
	return &t
}

func microsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}
