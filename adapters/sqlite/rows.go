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

// eventRow is an events row: what a producer posted, stored once.
type eventRow struct {
	bun.BaseModel `bun:"table:events,alias:e"`

	ID             string `bun:"id,pk"`
	EventType      string `bun:"event_type"`           // NOT NULL: '' when none
	TargetURL      string `bun:"target_url,nullzero"`  // NULL for an event to endpoints
	Origin         string `bun:"origin,nullzero"`      // of target_url
	EndpointID     string `bun:"endpoint_id,nullzero"` // the one endpoint it names, if any
	Body           []byte `bun:"body"`
	IdempotencyKey string `bun:"idempotency_key,nullzero"`
	CreatedAt      int64  `bun:"created_at"`
}

func eventFromCore(e core.Event) eventRow {
	body := e.Body
	if body == nil {
		body = []byte{} // NOT NULL: an empty body is still a body
	}
	return eventRow{
		ID:             string(e.ID),
		EventType:      e.EventType,
		TargetURL:      e.TargetURL,
		Origin:         e.Origin,
		EndpointID:     string(e.EndpointID),
		Body:           body,
		IdempotencyKey: e.IdempotencyKey,
		CreatedAt:      e.CreatedAt.UnixMicro(),
	}
}

func eventToCore(r eventRow) core.Event {
	return core.Event{
		ID:             core.EventID(r.ID),
		EventType:      r.EventType,
		TargetURL:      r.TargetURL,
		Origin:         r.Origin,
		EndpointID:     core.EndpointID(r.EndpointID),
		Body:           r.Body,
		IdempotencyKey: r.IdempotencyKey,
		CreatedAt:      fromMicros(r.CreatedAt),
	}
}

// deliveryRow is a deliveries row: one event on its way to one target, the
// queue. Its body is its event's, read beside it when asked for.
type deliveryRow struct {
	bun.BaseModel `bun:"table:deliveries,alias:d"`

	ID              string `bun:"id,pk"`
	EventID         string `bun:"event_id"`
	EndpointID      string `bun:"endpoint_id,nullzero"` // NULL for a target_url delivery
	TargetURL       string `bun:"target_url"`
	Origin          string `bun:"origin"`
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
// identity (id, event, endpoint) and created_at. The target moves with its
// endpoint (core.Delivery.Move).
var mutable = []string{"target_url", "origin", "status", "attempted_count", "claim_seq", "next_attempt_at", "active_since",
	"updated_at", "last_attempted_at", "locked_by", "lease_expires_at", "last_status_code", "last_error"}

func toCore(r deliveryRow) (core.Delivery, error) {
	status, err := core.ParseStatus(r.Status)
	if err != nil {
		return core.Delivery{}, fmt.Errorf("sqlite: delivery %s: status %q: %w", r.ID, r.Status, err)
	}
	return core.Delivery{
		ID:              core.DeliveryID(r.ID),
		EventID:         core.EventID(r.EventID),
		EndpointID:      core.EndpointID(r.EndpointID),
		TargetURL:       r.TargetURL,
		Origin:          r.Origin,
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

// fromCore is d's row. Its Body and Keys are not the row's to keep.
func fromCore(d core.Delivery) deliveryRow {
	return deliveryRow{
		ID:              string(d.ID),
		EventID:         string(d.EventID),
		EndpointID:      string(d.EndpointID),
		TargetURL:       d.TargetURL,
		Origin:          d.Origin,
		Status:          string(d.Status),
		AttemptedCount:  d.AttemptedCount,
		ClaimSeq:        d.ClaimSeq,
		NextAttemptAt:   d.NextAttemptAt.UnixMicro(),
		ActiveSince:     d.ActiveSince.UnixMicro(),
		CreatedAt:       d.CreatedAt.UnixMicro(),
		UpdatedAt:       d.UpdatedAt.UnixMicro(),
		LastAttemptedAt: microsPtr(d.LastAttemptedAt),
		LockedBy:        d.LockedBy,
		LeaseExpiresAt:  microsPtr(d.LeaseExpiresAt),
		LastStatusCode:  d.LastStatusCode,
		LastError:       core.StorableText(d.LastError),
	}
}

func rowsToCore(rows []deliveryRow) ([]core.Delivery, error) {
	out := make([]core.Delivery, 0, len(rows))
	for _, r := range rows {
		d, err := toCore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// targetRow is a targets row: an open target's shared breaker state
// (core.TargetHealth). There is none for a healthy target.
type targetRow struct {
	bun.BaseModel `bun:"table:targets,alias:t"`

	Origin     string `bun:"origin,pk"`
	OpenUntil  int64  `bun:"open_until"`
	ProbeUntil *int64 `bun:"probe_until"` // NULL unless a probe is in flight
	OpenedAt   int64  `bun:"opened_at"`
	UpdatedAt  int64  `bun:"updated_at"`
}

func targetFromCore(h core.TargetHealth) targetRow {
	return targetRow{
		Origin:     h.Origin,
		OpenUntil:  h.OpenUntil.UnixMicro(),
		ProbeUntil: microsPtr(h.ProbeUntil),
		OpenedAt:   h.OpenedAt.UnixMicro(),
		UpdatedAt:  h.UpdatedAt.UnixMicro(),
	}
}

func targetToCore(r targetRow) core.TargetHealth {
	return core.TargetHealth{
		Origin:     r.Origin,
		OpenUntil:  fromMicros(r.OpenUntil),
		ProbeUntil: fromMicrosPtr(r.ProbeUntil),
		OpenedAt:   fromMicros(r.OpenedAt),
		UpdatedAt:  fromMicros(r.UpdatedAt),
	}
}

// attemptRow is a delivery_attempts row (append-only).
type attemptRow struct {
	bun.BaseModel `bun:"table:delivery_attempts"`

	ID            int64   `bun:"id,pk,autoincrement"`
	DeliveryID    string  `bun:"delivery_id"`
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
		DeliveryID:    string(a.DeliveryID),
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
		DeliveryID:    core.DeliveryID(r.DeliveryID),
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
