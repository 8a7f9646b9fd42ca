package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
)

// apiError is an HTTP-level failure (bad JSON, wrong media type, no token…)
// that has no domain meaning. Domain errors come from core and are mapped
// by writeError alone.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string // optional, reported as details.field
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

var (
	errRouteNotFound    = &apiError{Status: http.StatusNotFound, Code: "route_not_found", Message: "route not found"}
	errMethodNotAllowed = &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method not allowed on this route; see the Allow header"}
	errUnauthorized     = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: `missing or invalid "Authorization: Bearer <token>" header`}
	errPanic            = errors.New("httpapi: handler panicked")
)

// resourceError names the kind of resource a failed call was about, so
// that writeError can say which one was not found ("endpoint not found").
// Errors that do not name one are about events, as in the seed.
type resourceError struct {
	Resource string
	Err      error
}

func (e *resourceError) Error() string { return e.Resource + ": " + e.Err.Error() }
func (e *resourceError) Unwrap() error { return e.Err }

// about wraps a non-nil err with the resource it concerns.
func about(resource string, err error) error {
	if err == nil {
		return nil
	}
	return &resourceError{Resource: resource, Err: err}
}

// notFoundMessage is the 404 message for err: "<resource> not found".
func notFoundMessage(err error) string {
	if re, ok := errors.AsType[*resourceError](err); ok {
		return re.Resource + " not found"
	}
	return "event not found"
}

// envelope is the one shape of every error response.
type envelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details map[string]string `json:"details,omitempty"`
}

// unavailableMessage is shown for core.ErrUnavailable. When the connection
// breaks during a commit, nobody knows whether the write landed, so the
// message promises nothing and says how to retry safely.
const unavailableMessage = "the database is unavailable, so the request may or may not have taken effect. " +
	"Retry later; retrying POST /events with the same Idempotency-Key is always safe"

// retryAfterSeconds is suggested to clients when the store is down.
const retryAfterSeconds = "5"

// writeError is the only place that turns an error into an HTTP status. It
// writes the JSON envelope and aborts the handler chain.
func writeError(c *gin.Context, err error) {
	var (
		status = http.StatusInternalServerError
		body   = errorBody{Code: "internal", Message: "internal server error"}
		apiErr *apiError
		valErr *core.ValidationError
		conErr *core.ConflictError
	)
	switch {
	case errors.As(err, &apiErr):
		status, body.Code, body.Message = apiErr.Status, apiErr.Code, apiErr.Message
		body.Details = fieldDetails(apiErr.Field)
		if status == http.StatusUnauthorized {
			c.Header("WWW-Authenticate", "Bearer")
		}
	case errors.As(err, &valErr):
		status, body.Code, body.Message = http.StatusBadRequest, valErr.Code, valErr.Error()
		body.Details = fieldDetails(valErr.Field)
	case errors.As(err, &conErr):
		status, body.Code, body.Message = http.StatusConflict, conErr.Code, conErr.Message
	case errors.Is(err, core.ErrConflict):
		status, body.Code, body.Message = http.StatusConflict, "conflict", "the request conflicts with the current state"
	case errors.Is(err, core.ErrNotFound):
		status, body.Code, body.Message = http.StatusNotFound, "not_found", notFoundMessage(err)
	case errors.Is(err, core.ErrUnavailable):
		status, body.Code, body.Message = http.StatusServiceUnavailable, "unavailable", unavailableMessage
		c.Header("Retry-After", retryAfterSeconds)
		loggerOf(c).LogAttrs(c.Request.Context(), slog.LevelWarn, "request failed: unavailable",
			slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path), slog.Any("error", err))
	default:
		// Never leak internals to the client; the log has them.
		loggerOf(c).LogAttrs(c.Request.Context(), slog.LevelError, "request failed",
			slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path), slog.Any("error", err))
	}
	writeJSON(c, status, envelope{Error: body})
	c.Abort()
}

func fieldDetails(field string) map[string]string {
	if field == "" {
		return nil
	}
	return map[string]string{"field": field}
}
