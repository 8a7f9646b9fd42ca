package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
)

// timeLayout is ISO-8601 with milliseconds, as the seed wrote its times.
// Values are converted to UTC first, so it always ends in "Z".
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// acceptedJSON answers POST /events and POST /events/:id/retry.
type acceptedJSON struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// eventJSON is an event as the API shows it: the seed's fields plus ours.
type eventJSON struct {
	ID              string          `json:"id"`
	TargetURL       string          `json:"target_url"`
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
}

// eventDetailJSON is GET /events/:id: the event and its attempt history.
type eventDetailJSON struct {
	eventJSON
	Attempts []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
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

func newEventJSON(ev core.Event) eventJSON {
	var payload json.RawMessage
	if p := ev.Payload(); len(p) > 0 {
		payload = p // an empty RawMessage would fail to marshal; nil shows null
	}
	return eventJSON{
		ID:              ev.ID.String(),
		TargetURL:       ev.TargetURL,
		Payload:         payload,
		Status:          string(ev.Status),
		AttemptedCount:  ev.AttemptedCount,
		NextAttemptAt:   formatTime(ev.NextAttemptAt),
		CreatedAt:       formatTime(ev.CreatedAt),
		UpdatedAt:       formatTime(ev.UpdatedAt),
		LastAttemptedAt: formatTimePtr(ev.LastAttemptedAt),
		LeaseExpiresAt:  formatTimePtr(ev.LeaseExpiresAt),
		LastStatusCode:  nonZero(ev.LastStatusCode),
		LastError:       nonEmpty(ev.LastError),
		IdempotencyKey:  ev.IdempotencyKey,
	}
}

func newAttemptJSON(a core.Attempt) attemptJSON {
	return attemptJSON{
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
