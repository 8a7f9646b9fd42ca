package postgres

import (
	"fmt"
	"math"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// eventRow is an events row. Optional values are NULL in the table and
// zero in core ("" for no target, endpoint or idempotency key).
type eventRow struct {
	bun.BaseModel `bun:"table:events,alias:e"`

	ID             string    `bun:"id,pk,type:uuid"`
	EventType      string    `bun:"event_type,notnull"`
	TargetURL      string    `bun:"target_url,nullzero"`
	Origin         string    `bun:"origin,nullzero"`
	EndpointID     string    `bun:"endpoint_id,nullzero,type:uuid"`
	Body           []byte    `bun:"body,notnull,type:bytea"`
	IdempotencyKey string    `bun:"idempotency_key,nullzero"`
	CreatedAt      time.Time `bun:"created_at,notnull"`
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
		CreatedAt:      r.CreatedAt.UTC(),
	}
}

// deliveryRow is a deliveries row. Optional values are NULL in the table
// and zero in core ("" for no endpoint, 0 for no status code). The
// scanonly fields are not columns of deliveries: statements that read a
// delivery with its event's body, or with its endpoint's current URL and
// keys (a claim), add them.
type deliveryRow struct {
	bun.BaseModel `bun:"table:deliveries,alias:d"`

	ID              string     `bun:"id,pk,type:uuid"`
	EventID         string     `bun:"event_id,notnull,type:uuid"`
	EndpointID      string     `bun:"endpoint_id,nullzero,type:uuid"`
	TargetURL       string     `bun:"target_url,notnull"`
	Origin          string     `bun:"origin,notnull"`
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

	Body []byte `bun:"body,scanonly"`
	// HasKeys: the endpoint exists and is enabled, and the Key* columns
	// are its secrets.
	HasKeys          bool       `bun:"has_keys,scanonly"`
	KeyCurrent       []byte     `bun:"key_current,scanonly"`
	KeyPrevious      []byte     `bun:"key_previous,scanonly"`
	KeyPreviousUntil *time.Time `bun:"key_previous_until,scanonly"`
	EndpointRate     int        `bun:"endpoint_rate,scanonly"`
	EndpointFailing  *time.Time `bun:"endpoint_failing_since,scanonly"`
	// Probe and TargetOpenUntil are a claim's flags (core.Delivery.Probe
	// and TargetOpenUntil).
	Probe           bool       `bun:"probe,scanonly"`
	TargetOpenUntil *time.Time `bun:"target_open_until,scanonly"`
}

func deliveryToCore(r deliveryRow) (core.Delivery, error) {
	status, err := core.ParseStatus(r.Status)
	if err != nil {
		return core.Delivery{}, fmt.Errorf("postgres: delivery %s: status %q: %w", r.ID, r.Status, err)
	}
	d := core.Delivery{
		ID:              core.DeliveryID(r.ID),
		EventID:         core.EventID(r.EventID),
		EndpointID:      core.EndpointID(r.EndpointID),
		TargetURL:       r.TargetURL,
		Origin:          r.Origin,
		Body:            r.Body,
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
		Probe:           r.Probe,
		TargetOpenUntil: utcPtr(r.TargetOpenUntil),
	}
	if r.HasKeys {
		d.Endpoint = &core.EndpointState{
			SigningKeys:        core.SigningKeys{Current: r.KeyCurrent, Previous: r.KeyPrevious, PreviousUntil: utcPtr(r.KeyPreviousUntil)},
			RateLimitPerSecond: r.EndpointRate,
			FailingSince:       utcPtr(r.EndpointFailing),
		}
		if len(d.Endpoint.Previous) == 0 {
			d.Endpoint.Previous = nil // NULL: no previous secret
		}
	}
	return d, nil
}

func deliveriesToCore(rows []deliveryRow) ([]core.Delivery, error) {
	out := make([]core.Delivery, 0, len(rows))
	for _, r := range rows {
		d, err := deliveryToCore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// record assembles an event and its deliveries (rows of that event only,
// in order).
func record(e eventRow, ds []deliveryRow) (ports.EventRecord, error) {
	rec := ports.EventRecord{Event: eventToCore(e)}
	var err error
	if len(ds) > 0 {
		rec.Deliveries, err = deliveriesToCore(ds)
	}
	return rec, err
}

// targetRow is a targets row: an open target's health
// (core.TargetHealth).
type targetRow struct {
	bun.BaseModel `bun:"table:targets,alias:t"`

	Origin     string     `bun:"origin,pk"`
	OpenUntil  time.Time  `bun:"open_until,notnull"`
	ProbeUntil *time.Time `bun:"probe_until"`
	OpenedAt   time.Time  `bun:"opened_at,notnull"`
	UpdatedAt  time.Time  `bun:"updated_at,notnull"`
}

func targetToCore(r targetRow) core.TargetHealth {
	return core.TargetHealth{
		Origin:     r.Origin,
		OpenUntil:  r.OpenUntil.UTC(),
		ProbeUntil: utcPtr(r.ProbeUntil),
		OpenedAt:   r.OpenedAt.UTC(),
		UpdatedAt:  r.UpdatedAt.UTC(),
	}
}

// attemptRow is a delivery_attempts row (append-only).
type attemptRow struct {
	bun.BaseModel `bun:"table:delivery_attempts,alias:a"`

	ID            int64      `bun:"id,pk,autoincrement"`
	DeliveryID    string     `bun:"delivery_id,notnull,type:uuid"`
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
		DeliveryID:    core.DeliveryID(r.DeliveryID),
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
