package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// resourceEndpoint names endpoints in "endpoint not found".
const resourceEndpoint = "endpoint"

// The members each /endpoints body may have; any other is a 400, so that a
// typo ("event_type", "rate_limit") is not silently ignored.
var (
	createEndpointFields = []string{"url", "event_types", "description", "secret", "rate_limit_per_second", "metadata"}
	patchEndpointFields  = []string{"url", "event_types", "description", "rate_limit_per_second", "metadata", "disabled"}
	rotateSecretFields   = []string{"secret"}
)

// endpointJSON is an endpoint as the API shows it. It has no secret field
// on purpose: a secret, sealed or not, only leaves through the "secret" of
// createdEndpointJSON and secretJSON.
type endpointJSON struct {
	ID                 string          `json:"id"`
	URL                string          `json:"url"`
	EventTypes         []string        `json:"event_types"` // [] for every type
	Description        string          `json:"description"`
	RateLimitPerSecond *int            `json:"rate_limit_per_second"` // null for none
	Metadata           json.RawMessage `json:"metadata"`              // an object, or null
	Disabled           bool            `json:"disabled"`
	DisabledReason     *string         `json:"disabled_reason"`
	// FailingSince: when its current run of failed attempts began (null
	// after a success); ENDPOINT_DISABLE_AFTER_MS counts from it.
	FailingSince *string `json:"failing_since"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
}

// createdEndpointJSON answers POST /endpoints: the endpoint and, this once
// in its body, its secret.
type createdEndpointJSON struct {
	endpointJSON
	Secret string `json:"secret"`
}

// secretJSON answers GET /endpoints/:id/secret and the rotation.
type secretJSON struct {
	Secret string `json:"secret"`
}

func newEndpointJSON(e core.Endpoint) endpointJSON {
	types := e.EventTypes
	if len(types) == 0 {
		types = []string{} // every type: [], never null
	}
	var metadata json.RawMessage
	if len(e.Metadata) > 0 {
		metadata = e.Metadata // an empty RawMessage would fail to marshal; nil shows null
	}
	return endpointJSON{
		ID:                 e.ID.String(),
		URL:                e.URL,
		EventTypes:         types,
		Description:        e.Description,
		RateLimitPerSecond: nonZero(e.RateLimitPerSecond),
		Metadata:           metadata,
		Disabled:           e.Disabled,
		DisabledReason:     nonEmpty(e.DisabledReason),
		FailingSince:       formatTimePtr(e.FailingSince),
		CreatedAt:          formatTime(e.CreatedAt),
		UpdatedAt:          formatTime(e.UpdatedAt),
	}
}

func (a *api) createEndpoint(c *gin.Context) {
	top, err := a.readObject(c, `{"url":"https://merchant.example/webhooks"}`)
	if err != nil {
		writeError(c, err)
		return
	}
	spec, err := parseEndpointSpec(top)
	if err != nil {
		writeError(c, err)
		return
	}
	res, err := a.endpoints.Create(c.Request.Context(), spec)
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	c.Header("Location", "/endpoints/"+res.Endpoint.ID.String())
	noStore(c)
	writeJSON(c, http.StatusCreated, createdEndpointJSON{endpointJSON: newEndpointJSON(res.Endpoint), Secret: res.Secret})
}

func (a *api) listEndpoints(c *gin.Context) {
	page, limit := pageQuery(c)
	f := ports.EndpointFilter{Page: page, Limit: limit}
	res, err := a.endpoints.List(c.Request.Context(), f)
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	writeJSON(c, http.StatusOK, newPage(res.Endpoints, res.Total, f.Page, f.Limit, newEndpointJSON))
}

func (a *api) getEndpoint(c *gin.Context) {
	id, err := core.ParseEndpointID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	e, err := a.endpoints.Get(c.Request.Context(), id)
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	writeJSON(c, http.StatusOK, newEndpointJSON(e))
}

func (a *api) updateEndpoint(c *gin.Context) {
	id, err := core.ParseEndpointID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	top, err := a.readObject(c, `{"disabled":true}`)
	if err != nil {
		writeError(c, err)
		return
	}
	patch, err := parseEndpointPatch(top)
	if err != nil {
		writeError(c, err)
		return
	}
	var e core.Endpoint
	if len(top) == 0 {
		// Nothing to change: not even updated_at moves.
		e, err = a.endpoints.Get(c.Request.Context(), id)
	} else {
		e, err = a.endpoints.Update(c.Request.Context(), id, patch)
	}
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	writeJSON(c, http.StatusOK, newEndpointJSON(e))
}

func (a *api) deleteEndpoint(c *gin.Context) {
	id, err := core.ParseEndpointID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	if err := a.endpoints.Delete(c.Request.Context(), id); err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) endpointSecret(c *gin.Context) {
	id, err := core.ParseEndpointID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	secret, err := a.endpoints.Secret(c.Request.Context(), id)
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, secretJSON{Secret: secret})
}

// rotateEndpointSecret takes an optional body: without one (or with {})
// the new secret is generated.
func (a *api) rotateEndpointSecret(c *gin.Context) {
	id, err := core.ParseEndpointID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	body, err := readBody(c, a.maxBody)
	if err != nil {
		writeError(c, err)
		return
	}
	var secret string
	// An empty body has no media type to be wrong about: a bare
	// "curl -X POST" rotates whatever Content-Type its client sends.
	if len(bytes.Trim(body, " \t\r\n")) > 0 {
		if secret, err = parseRotateRequest(c, body); err != nil {
			writeError(c, err)
			return
		}
	}
	secret, err = a.endpoints.RotateSecret(c.Request.Context(), id, secret)
	if err != nil {
		writeError(c, about(resourceEndpoint, err))
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, secretJSON{Secret: secret})
}

func parseRotateRequest(c *gin.Context, body []byte) (string, error) {
	if err := checkJSONContentType(c); err != nil {
		return "", err
	}
	top, err := decodeObject(body, `{"secret":"whsec_..."}`)
	if err != nil {
		return "", err
	}
	if err := checkFields(top, rotateSecretFields); err != nil {
		return "", err
	}
	raw, ok := top["secret"]
	if !ok {
		return "", nil // {}: generate one
	}
	return parseSecret(raw)
}

// readObject checks the media type, reads the body within the size limit
// and decodes it as exactly one JSON object, as POST /events does.
func (a *api) readObject(c *gin.Context, example string) (map[string]json.RawMessage, error) {
	if err := checkJSONContentType(c); err != nil {
		return nil, err
	}
	body, err := readBody(c, a.maxBody)
	if err != nil {
		return nil, err
	}
	return decodeObject(body, example)
}

// noStore keeps responses that carry a secret out of every cache.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
}

// parseEndpointSpec reads POST /endpoints. Absent members take their
// defaults; the service validates the values.
func parseEndpointSpec(top map[string]json.RawMessage) (ports.EndpointSpec, error) {
	var spec ports.EndpointSpec
	if err := checkFields(top, createEndpointFields); err != nil {
		return spec, err
	}
	var err error
	// In the order of createEndpointFields, so that the first mistake
	// reported does not depend on map order.
	if raw, ok := top["url"]; ok {
		if spec.URL, err = parseURL(raw); err != nil {
			return spec, err
		}
	}
	if raw, ok := top["event_types"]; ok {
		if spec.EventTypes, err = parseEventTypes(raw); err != nil {
			return spec, err
		}
	}
	if raw, ok := top["description"]; ok {
		if spec.Description, err = parseDescription(raw); err != nil {
			return spec, err
		}
	}
	if raw, ok := top["secret"]; ok {
		if spec.Secret, err = parseSecret(raw); err != nil {
			return spec, err
		}
	}
	if raw, ok := top["rate_limit_per_second"]; ok {
		if spec.RateLimitPerSecond, err = parseRateLimit(raw); err != nil {
			return spec, err
		}
	}
	if raw, ok := top["metadata"]; ok {
		if spec.Metadata, err = parseMetadata(raw); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// parseEndpointPatch reads PATCH /endpoints/:id: a member that is absent
// is left alone, one that is null is removed (or reset) where that has a
// meaning.
func parseEndpointPatch(top map[string]json.RawMessage) (ports.EndpointPatch, error) {
	var p ports.EndpointPatch
	if err := checkFields(top, patchEndpointFields); err != nil {
		return p, err
	}
	if raw, ok := top["url"]; ok {
		u, err := parseURL(raw)
		if err != nil {
			return p, err
		}
		p.URL = &u
	}
	if raw, ok := top["event_types"]; ok {
		types, err := parseEventTypes(raw)
		if err != nil {
			return p, err
		}
		if types == nil {
			types = []string{} // null: every type, as [] is
		}
		p.EventTypes = &types
	}
	if raw, ok := top["description"]; ok {
		d, err := parseDescription(raw)
		if err != nil {
			return p, err
		}
		p.Description = &d
	}
	if raw, ok := top["rate_limit_per_second"]; ok {
		n, err := parseRateLimit(raw)
		if err != nil {
			return p, err
		}
		p.RateLimitPerSecond = &n // null: 0, no limit
	}
	if raw, ok := top["metadata"]; ok {
		m, err := parseMetadata(raw)
		if err != nil {
			return p, err
		}
		p.Metadata = &m // null: nil, no metadata
	}
	if raw, ok := top["disabled"]; ok {
		var d bool
		if isNull(raw) || json.Unmarshal(raw, &d) != nil {
			return p, fieldError("disabled", "invalid_disabled", "disabled must be true or false")
		}
		p.Disabled = &d
	}
	return p, nil
}

// checkFields refuses a member not in known, naming it.
func checkFields(top map[string]json.RawMessage, known []string) error {
	var unknown []string
	for k := range top {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	name := shortName(unknown[0])
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Field: name,
		Message: fmt.Sprintf("unknown field %q; the fields are %s", name, strings.Join(known, ", "))}
}

// shortName bounds a client's member name before it is echoed back.
func shortName(s string) string {
	const maxName = 64
	if len(s) <= maxName {
		return s
	}
	return strings.ToValidUTF8(s[:maxName], "") + "…"
}

func fieldError(field, code, msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg, Field: field}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// parseURL reads url: a string (the service validates it).
func parseURL(raw json.RawMessage) (string, error) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		return "", fieldError("url", "invalid_url", "url must be a URL string, like https://merchant.example/webhooks")
	}
	return s, nil
}

// parseEventTypes reads event_types: an array of strings; null (like [])
// means every type and gives nil.
func parseEventTypes(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var types []string
	if err := json.Unmarshal(raw, &types); err != nil {
		return nil, fieldError("event_types", "invalid_event_types",
			`event_types must be an array of event type strings, like ["order.paid"], or [] for every type`)
	}
	return types, nil
}

// parseDescription reads description: a string; null means "".
func parseDescription(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fieldError("description", "invalid_description", "description must be a string")
	}
	return s, nil
}

// parseSecret reads secret: a non-empty string. null and "" are refused
// (a template with an unset variable) rather than taken as "generate one":
// leaving the member out is how to ask for that.
func parseSecret(raw json.RawMessage) (string, error) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil || s == "" {
		return "", fieldError("secret", "invalid_secret",
			`secret must be a string "whsec_" followed by base64; leave it out to have one generated`)
	}
	return s, nil
}

// parseRateLimit reads rate_limit_per_second: a whole number from 1 to
// core.MaxRateLimitPerSecond, or null for none (0).
func parseRateLimit(raw json.RawMessage) (int, error) {
	if isNull(raw) {
		return 0, nil
	}
	var n int
	if json.Unmarshal(raw, &n) != nil || n < 1 || n > core.MaxRateLimitPerSecond {
		return 0, fieldError("rate_limit_per_second", "invalid_rate_limit", fmt.Sprintf(
			"rate_limit_per_second must be a whole number from 1 to %d, or null for no limit", core.MaxRateLimitPerSecond))
	}
	return n, nil
}

// parseMetadata reads metadata: a JSON object, kept as the client's bytes,
// or null for none (nil).
func parseMetadata(raw json.RawMessage) ([]byte, error) {
	if isNull(raw) {
		return nil, nil
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, fieldError("metadata", "invalid_metadata", "metadata must be a JSON object, or null for none")
	}
	return raw, nil
}
