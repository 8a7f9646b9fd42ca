package core

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// BuildBody returns the bytes to deliver for payload: the payload object
// with an "event_id" member inserted first. Every other byte of the payload
// is kept exactly as the producer wrote it (no decode and re-encode), so big
// integers, 1.0, key order and white space arrive unchanged.
//
// payload must have passed ValidatePayload.
func BuildBody(payload []byte, id EventID) []byte {
	p := bytes.TrimSpace(payload)
	inner := p[1:] // after '{'
	prefix := `{"event_id":"` + string(id) + `"`
	out := make([]byte, 0, len(prefix)+1+len(inner))
	out = append(out, prefix...)
	if t := bytes.TrimLeft(inner, " \t\r\n"); len(t) > 0 && t[0] != '}' {
		out = append(out, ',')
	}
	return append(out, inner...)
}

// PayloadOf inverts BuildBody: it returns the producer's payload bytes.
func PayloadOf(body []byte, id EventID) []byte {
	prefix := `{"event_id":"` + string(id) + `"`
	if !bytes.HasPrefix(body, []byte(prefix)) {
		return body // not built by BuildBody; show it as it is
	}
	rest := body[len(prefix):]
	if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	}
	out := make([]byte, 0, 1+len(rest))
	out = append(out, '{')
	return append(out, rest...)
}

// DefaultMaxPayloadDepth bounds how deeply a payload may nest objects and
// arrays (the payload object itself is level 1). Merchants' parsers have
// limits of their own (some crash on deep input); 64 is far beyond any
// real event.
const DefaultMaxPayloadDepth = 64

// ValidatePayload checks that raw is a JSON object in valid UTF-8, nested
// at most maxDepth levels (≤ 0: DefaultMaxPayloadDepth), whose top level
// has no "event_id" member in any letter case: webhookd adds that member
// itself, and a second one would make the delivered JSON ambiguous (Go's
// encoding/json, for one, matches keys case-insensitively, so
// "Event_Id" would be read as the event id on the merchant's side).
func ValidatePayload(raw []byte, maxDepth int) error {
	p := bytes.TrimSpace(raw)
	if len(p) == 0 || string(p) == "null" {
		return invalid("payload", "missing_payload", "is required and must be a JSON object")
	}
	if p[0] != '{' {
		return invalid("payload", "invalid_payload", "must be a JSON object, got %s", jsonKind(p[0]))
	}
	if !utf8.Valid(p) {
		return invalid("payload", "invalid_payload", "must be valid UTF-8")
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxPayloadDepth
	}
	if depth(p, maxDepth) > maxDepth {
		return invalid("payload", "payload_too_deep", "nests objects and arrays more than %d levels deep", maxDepth)
	}
	if !json.Valid(p) {
		return invalid("payload", "invalid_payload", "is not valid JSON")
	}
	if key, found := reservedKey(p); found {
		return invalid("payload", "reserved_event_id",
			`must not contain a top-level "event_id" member, in any letter case (%q): webhookd adds it to the delivered body`, key)
	}
	return nil
}

// reservedKey finds a top-level key of the valid JSON object p that is
// "event_id" in any letter case once unescaped ("event\u005fid" too). One
// pass over the bytes: walking the keys with a json.Decoder allocated a
// buffer and an error per value, a tenth of an ingesting process's
// allocations.
func reservedKey(p []byte) (string, bool) {
	level, wantKey := 0, false // wantKey: the next string at level 1 is a key
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '"':
			end, escaped := i+1, false
			for ; p[end] != '"'; end++ { // p is valid: the string ends
				if p[end] == '\\' {
					end, escaped = end+1, true
				}
			}
			if level == 1 && wantKey {
				key := string(p[i+1 : end])
				if escaped {
					_ = json.Unmarshal(p[i:end+1], &key) // a valid string literal
				}
				if strings.EqualFold(key, "event_id") {
					return key, true
				}
				wantKey = false
			}
			i = end
		case '{':
			level++
			wantKey = level == 1
		case '[':
			level++
		case '}', ']':
			level--
		case ',':
			wantKey = level == 1
		}
	}
	return "", false
}

// depth is how deeply p nests objects and arrays, counted up to limit+1
// (strings skipped, so brackets inside them do not count). It does not
// check syntax: json.Valid does.
func depth(p []byte, limit int) int {
	cur, deepest, inString := 0, 0, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inString && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if cur++; cur > deepest {
				if deepest = cur; deepest > limit {
					return deepest
				}
			}
		case c == '}' || c == ']':
			cur--
		}
	}
	return deepest
}

func jsonKind(first byte) string {
	switch {
	case first == '[':
		return "an array"
	case first == '"':
		return "a string"
	case first == 't' || first == 'f':
		return "a boolean"
	case first == 'n':
		return "null"
	default:
		return "a number or invalid JSON"
	}
}
