package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// timeLayout is ISO-8601 with milliseconds, as the seed wrote its times.
// Values are converted to UTC first, so it always ends in "Z".
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// acceptedJSON answers POST /events and POST /events/:id/retry:
// the seed's three fields, and how many deliveries the event has.
type acceptedJSON struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Message    string `json:"message"`
	Deliveries int    `json:"deliveries"`
}

// eventJSON is an event as the API shows it: the seed's fields, then
// ours. The seed's queue fields (status, attempted_count, next_attempt_at,
// last_*) are its one delivery's for a target_url event, and a summary of
// its deliveries for an event routed to endpoints (see newEventJSON).
type eventJSON struct {
	ID              string          `json:"id"`
	TargetURL       *string         `json:"target_url"` // null for an event routed to endpoints
	Payload         json.RawMessage `json:"payload"`
	Status          string          `json:"status"`
	AttemptedCount  int             `json:"attempted_count"`
	NextAttemptAt   string          `json:"next_attempt_at"`
	CreatedAt       string          `json:"created_at"`
	UpdatedAt       string          `json:"updated_at"`
	LastAttemptedAt *string         `json:"last_attempted_at"`
	LeaseExpiresAt  *string         `json:"lease_expires_at"`
	LastStatusCode  *int            `json:"last_status_code"`
	LastError       *string         `json:"last_error"`
	IdempotencyKey  string          `json:"idempotency_key,omitempty"`
	EventType       string          `json:"event_type,omitempty"`
	EndpointID      string          `json:"endpoint_id,omitempty"` // the one endpoint the producer named
	Deliveries      []deliveryJSON  `json:"deliveries"`
	// In a list, an event whose body is larger than ports.ListBodyMax
	// comes without its payload: GET /events/:id has it.
	PayloadOmitted bool `json:"payload_omitted,omitempty"`
	BodyBytes      int  `json:"body_bytes,omitempty"`
}

// deliveryJSON is one delivery of an event: where it goes and how it
// stands. Attempts are set on GET /events/:id only.
type deliveryJSON struct {
	ID              string        `json:"id"`
	EndpointID      *string       `json:"endpoint_id"` // null for a target_url delivery
	TargetURL       string        `json:"target_url"`
	Status          string        `json:"status"`
	AttemptedCount  int           `json:"attempted_count"`
	NextAttemptAt   string        `json:"next_attempt_at"`
	UpdatedAt       string        `json:"updated_at"`
	LastAttemptedAt *string       `json:"last_attempted_at"`
	LastStatusCode  *int          `json:"last_status_code"`
	LastError       *string       `json:"last_error"`
	Attempts        []attemptJSON `json:"attempts,omitempty"`
}

// eventDetailJSON is GET /events/:id: the event, its deliveries with their
// attempts, and every attempt at the top level as the seed showed them.
type eventDetailJSON struct {
	eventJSON
	Attempts []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	DeliveryID    string  `json:"delivery_id"`
	Number        int     `json:"number"`
	StartedAt     string  `json:"started_at"`
	DurationMS    int64   `json:"duration_ms"`
	StatusCode    *int    `json:"status_code"`
	Error         *string `json:"error"`
	Response      *string `json:"response"`
	Verdict       string  `json:"verdict"`
	Reason        string  `json:"reason"`
	NextAttemptAt *string `json:"next_attempt_at"`
	Worker        string  `json:"worker"`
}

// pageJSON is one page of a list (GET /events, in the seed's shape, and
// GET /endpoints).
type pageJSON[T any] struct {
	Data  []T `json:"data"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Limit int `json:"limit"`
}

// newPage maps one page of items to their JSON.
func newPage[I, T any](items []I, total, page, limit int, toJSON func(I) T) pageJSON[T] {
	out := pageJSON[T]{Data: make([]T, 0, len(items)), Total: total, Page: page, Limit: limit}
	for _, it := range items {
		out.Data = append(out.Data, toJSON(it))
	}
	return out
}

func newEventJSON(rec ports.EventRecord) eventJSON {
	ev := rec.Event
	var payload json.RawMessage
	if p := ev.Payload(); len(p) > 0 {
		payload = p // an empty RawMessage would fail to marshal; nil shows null
	}
	out := eventJSON{
		ID:             ev.ID.String(),
		Payload:        payload,
		CreatedAt:      formatTime(ev.CreatedAt),
		IdempotencyKey: ev.IdempotencyKey,
		EventType:      ev.EventType,
		EndpointID:     string(ev.EndpointID),
		Deliveries:     make([]deliveryJSON, 0, len(rec.Deliveries)),
	}
	if ev.TargetURL != "" {
		out.TargetURL = &ev.TargetURL
	}
	for _, d := range rec.Deliveries {
		out.Deliveries = append(out.Deliveries, newDeliveryJSON(d))
	}
	summarize(&out, rec)
	return out
}

// summarize fills the seed's queue fields: those of the one delivery, or,
// for several, the status of core.EventStatus, the attempts summed, the
// soonest next attempt of an unfinished delivery, and the outcome of the
// latest attempt. An event with no delivery shows its creation.
func summarize(out *eventJSON, rec ports.EventRecord) {
	ds := rec.Deliveries
	out.Status = string(core.EventStatus(ds))
	out.NextAttemptAt, out.UpdatedAt = out.CreatedAt, out.CreatedAt
	if len(ds) == 1 {
		d := ds[0]
		out.AttemptedCount = d.AttemptedCount
		out.NextAttemptAt, out.UpdatedAt = formatTime(d.NextAttemptAt), formatTime(d.UpdatedAt)
		out.LastAttemptedAt, out.LeaseExpiresAt = formatTimePtr(d.LastAttemptedAt), formatTimePtr(d.LeaseExpiresAt)
		out.LastStatusCode, out.LastError = nonZero(d.LastStatusCode), nonEmpty(d.LastError)
		return
	}
	var next, updated time.Time
	var latest *core.Delivery
	for i, d := range ds {
		out.AttemptedCount += d.AttemptedCount
		if !d.Status.Finished() && (next.IsZero() || d.NextAttemptAt.Before(next)) {
			next = d.NextAttemptAt
		}
		if d.UpdatedAt.After(updated) {
			updated = d.UpdatedAt
		}
		if d.LastAttemptedAt != nil && (latest == nil || d.LastAttemptedAt.After(*latest.LastAttemptedAt)) {
			latest = &ds[i]
		}
	}
	if !next.IsZero() {
		out.NextAttemptAt = formatTime(next)
	}
	if !updated.IsZero() {
		out.UpdatedAt = formatTime(updated)
	}
	if latest != nil {
		out.LastAttemptedAt = formatTimePtr(latest.LastAttemptedAt)
		out.LastStatusCode, out.LastError = nonZero(latest.LastStatusCode), nonEmpty(latest.LastError)
	}
}

func newDeliveryJSON(d core.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID:              d.ID.String(),
		TargetURL:       d.TargetURL,
		Status:          string(d.Status),
		AttemptedCount:  d.AttemptedCount,
		NextAttemptAt:   formatTime(d.NextAttemptAt),
		UpdatedAt:       formatTime(d.UpdatedAt),
		LastAttemptedAt: formatTimePtr(d.LastAttemptedAt),
		LastStatusCode:  nonZero(d.LastStatusCode),
		LastError:       nonEmpty(d.LastError),
	}
	if d.EndpointID != "" {
		id := string(d.EndpointID)
		out.EndpointID = &id
	}
	return out
}

func newAttemptJSON(a core.Attempt) attemptJSON {
	return attemptJSON{
		DeliveryID:    a.DeliveryID.String(),
		Number:        a.Number,
		StartedAt:     formatTime(a.StartedAt),
		DurationMS:    a.Duration.Milliseconds(),
		StatusCode:    nonZero(a.StatusCode),
		Error:         nonEmpty(a.Error),
		Response:      nonEmpty(a.Response),
		Verdict:       string(a.Verdict),
		Reason:        a.Reason,
		NextAttemptAt: formatTimePtr(a.NextAttemptAt),
		Worker:        a.Worker,
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func nonZero(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeJSON marshals v before writing anything, so that a marshalling
// failure becomes a clean 500 instead of a status line with no body.
func writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if _, isEnvelope := v.(envelope); isEnvelope {
			// Cannot happen (plain strings); avoid recursing regardless.
			c.String(http.StatusInternalServerError, "internal server error")
			return
		}
		writeError(c, fmt.Errorf("httpapi: encode response: %w", err))
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}
