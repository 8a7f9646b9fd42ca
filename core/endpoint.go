package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"time"
	"unicode/utf8"
)

// EndpointID names an endpoint: a UUIDv7, like an EventID.
type EndpointID string

func (id EndpointID) String() string { return string(id) }

// NewEndpointID returns a UUIDv7 for time now.
func NewEndpointID(now time.Time) EndpointID { return EndpointID(NewEventID(now)) }

// ParseEndpointID accepts a UUID in canonical form, either case.
func ParseEndpointID(s string) (EndpointID, error) {
	id, err := ParseEventID(s)
	return EndpointID(id), err
}

// Endpoint is a merchant's registered receiver: where its deliveries go,
// which event types it wants, and the secret only it can verify with.
//
// Secrets are held sealed (see core/secretbox): the store never sees them
// in the clear. PreviousSecret, until PreviousSecretUntil, still signs
// beside the current one after a rotation, so that a merchant can switch
// keys without rejecting a delivery.
type Endpoint struct {
	ID                  EndpointID
	URL                 string
	Origin              string   // scheme://host:port of URL
	EventTypes          []string // empty: every type
	Description         string
	RateLimitPerSecond  int    // 0: no limit
	Metadata            []byte // a JSON object, or nil
	Disabled            bool
	DisabledReason      string // why it was disabled ("" when enabled, or disabled by hand without a reason)
	Secret              []byte // sealed
	PreviousSecret      []byte // sealed; nil when there is none
	PreviousSecretUntil *time.Time
	// FailingSince is when its current run of failed attempts began; nil
	// after a success (and before any attempt). ENDPOINT_DISABLE_AFTER_MS
	// counts from it.
	FailingSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Subscribes reports whether e wants events of type t.
func (e Endpoint) Subscribes(t string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, t)
}

// Limits of an endpoint's fields.
const (
	MaxEventTypeLength       = 128
	MaxEventTypesPerEndpoint = 100
	MaxEndpointDescription   = 1024
	MaxEndpointMetadataBytes = 16 << 10
	MaxRateLimitPerSecond    = 100_000
)

// ValidateEventType checks a short dotted name: letters, digits, '_' and
// '-' in segments separated by single dots ("order.paid", "invoice.v2.sent").
func ValidateEventType(t string) error {
	const field, code = "event_type", "invalid_event_type"
	if t == "" {
		return invalid(field, code, "must not be empty")
	}
	if len(t) > MaxEventTypeLength {
		return invalid(field, code, "is longer than %d characters", MaxEventTypeLength)
	}
	segment := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if segment == 0 || i == len(t)-1 {
				return invalid(field, code, "%q: dots separate non-empty segments, like order.paid", t)
			}
			segment = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			segment++
		default:
			return invalid(field, code, "%q: use letters, digits, '_', '-' and dots only, like order.paid", t)
		}
	}
	return nil
}

// NormalizeEventTypes validates a subscription list and returns it sorted,
// without duplicates; nil and empty both mean every type.
func NormalizeEventTypes(types []string) ([]string, error) {
	if len(types) > MaxEventTypesPerEndpoint {
		return nil, invalid("event_types", "too_many_event_types", "at most %d event types per endpoint", MaxEventTypesPerEndpoint)
	}
	for _, t := range types {
		if err := ValidateEventType(t); err != nil {
			var v *ValidationError
			if errors.As(err, &v) {
				v.Field = "event_types"
			}
			return nil, err
		}
	}
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ValidateEndpointURL checks an endpoint's URL as ValidateTargetURL checks
// a target, naming the field "url", and returns its origin.
func ValidateEndpointURL(raw string) (string, error) {
	origin, err := ValidateTargetURL(raw)
	var v *ValidationError
	if errors.As(err, &v) {
		v.Field = "url"
		if v.Code == "missing_target_url" {
			v.Code, v.Message = "missing_url", "is required"
		} else {
			v.Code = "invalid_url"
		}
	}
	return origin, err
}

// ValidateDescription bounds an endpoint's description.
func ValidateDescription(d string) error {
	if len(d) > MaxEndpointDescription || !utf8.ValidString(d) {
		return invalid("description", "invalid_description", "must be valid UTF-8 of at most %d bytes", MaxEndpointDescription)
	}
	return nil
}

// ValidateRateLimit checks rate_limit_per_second: 0 (none) or 1 to
// MaxRateLimitPerSecond.
func ValidateRateLimit(n int) error {
	if n < 0 || n > MaxRateLimitPerSecond {
		return invalid("rate_limit_per_second", "invalid_rate_limit", "must be between 1 and %d (or null for none)", MaxRateLimitPerSecond)
	}
	return nil
}

// ValidateMetadata checks that raw is a JSON object of bounded size (or
// empty: no metadata) and returns it compacted.
func ValidateMetadata(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > MaxEndpointMetadataBytes || raw[0] != '{' || !json.Valid(raw) {
		return nil, invalid("metadata", "invalid_metadata", "must be a JSON object of at most %d bytes", MaxEndpointMetadataBytes)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, invalid("metadata", "invalid_metadata", "must be a JSON object")
	}
	return out.Bytes(), nil
}
