package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/ports"
)

// submitRequest is the body of POST /events before it becomes a
// ports.Submission. Payload stays the producer's exact bytes.
type submitRequest struct {
	TargetURL  string
	EventType  string
	EndpointID core.EndpointID
	Payload    json.RawMessage
}

// checkJSONContentType accepts a missing Content-Type (curl -d without -H
// works, as with the seed), application/json and application/*+json.
func checkJSONContentType(c *gin.Context) error {
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)}
}

// refuseDeliveries refuses a submission that carries webhookd's own
// delivery signature headers: it is a webhook some dispatcher is
// delivering to this API, and accepting it would store a new event per
// hop (a loop, possibly between two dispatchers that allow each other).
func refuseDeliveries(c *gin.Context) error {
	for _, h := range []string{signing.HeaderWebhookSignature, signing.HeaderSignature} {
		if c.GetHeader(h) != "" {
			return &apiError{Status: http.StatusBadRequest, Code: "delivery_loop",
				Message: fmt.Sprintf("this request carries a webhook delivery's %s header: webhookd does not accept its own deliveries as new events (a target_url points at a webhookd API)", h)}
		}
	}
	return nil
}

// readBody reads at most limit bytes of the request body.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
		Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
	if c.Request.ContentLength > limit {
		return nil, tooLarge // refuse before reading a byte
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "could not read the request body: " + err.Error()}
	}
	return body, nil
}

// parseSubmitRequest decodes body, which must be exactly one JSON object.
// Only the top level is decoded: payload is kept as raw bytes so that big
// numbers, 1.0, key order and white space reach the receiver untouched.
func parseSubmitRequest(body []byte) (submitRequest, error) {
	top, err := decodeObject(body, `{"payload":{...}}`)
	if err != nil {
		return submitRequest{}, err
	}
	req := submitRequest{Payload: top["payload"]}
	// Only an absent target_url takes the default: an explicit null or ""
	// is a mistake (a template with an unset variable), not a request for
	// TARGET_URL.
	if raw, ok := top["target_url"]; ok {
		if err := json.Unmarshal(raw, &req.TargetURL); err != nil || string(raw) == "null" {
			return submitRequest{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_target_url",
				Message: "target_url must be a URL string; leave it out to use the default target", Field: "target_url"}
		}
		if req.TargetURL == "" {
			return submitRequest{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_target_url",
				Message: "target_url is empty; leave it out to use the default target", Field: "target_url"}
		}
	}
	if raw, ok := top["event_type"]; ok {
		if err := json.Unmarshal(raw, &req.EventType); err != nil || string(raw) == "null" {
			return submitRequest{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_event_type",
				Message: "event_type must be a string like order.paid", Field: "event_type"}
		}
		if err := core.ValidateEventType(req.EventType); err != nil {
			return submitRequest{}, err
		}
	}
	if raw, ok := top["endpoint_id"]; ok {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || string(raw) == "null" {
			return submitRequest{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_endpoint_id",
				Message: "endpoint_id must be an endpoint's id (a UUID string)", Field: "endpoint_id"}
		}
		eid, err := core.ParseEndpointID(id)
		if err != nil {
			return submitRequest{}, &apiError{Status: http.StatusBadRequest, Code: "invalid_endpoint_id",
				Message: "endpoint_id must be an endpoint's id (a UUID)", Field: "endpoint_id"}
		}
		req.EndpointID = eid
	}
	return req, nil
}

// decodeObject decodes body, which must be exactly one JSON object in
// valid UTF-8, into its top-level members, each kept as raw bytes. example
// shows the expected shape in the message for an empty body. A member given
// twice keeps its last value, as encoding/json does.
func decodeObject(body []byte, example string) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, invalidJSON("request body is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, invalidJSON("request body is empty; expected a JSON object like " + example)
	}
	var top map[string]json.RawMessage
	if trimmed[0] == '{' && json.Unmarshal(body, &top) == nil {
		return top, nil // the common case, without a Decoder and its buffer
	}
	top = nil
	dec := json.NewDecoder(bytes.NewReader(body)) // to say what is wrong, and where
	if err := dec.Decode(&top); err != nil {
		return nil, describeDecodeError(err)
	}
	if trimmed[0] != '{' { // "null" decodes into a nil map without error
		return nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "request body must be a JSON object"}
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, invalidJSON(fmt.Sprintf(
			"unexpected data at byte %d, after the JSON object; send exactly one object", len(body)-len(rest)))
	}
	return top, nil
}

func (r submitRequest) submission(idempotencyKey string) ports.Submission {
	return ports.Submission{TargetURL: r.TargetURL, EventType: r.EventType, EndpointID: r.EndpointID,
		Payload: r.Payload, IdempotencyKey: idempotencyKey}
}

func invalidJSON(msg string) error {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: msg}
}

// describeDecodeError says where parsing failed, without echoing the body.
func describeDecodeError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalidJSON(fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidJSON("request body is not valid JSON: it ends in the middle of a value")
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "request body must be a JSON object"}
	}
	return invalidJSON("request body is not valid JSON: " + err.Error())
}
