package core_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/webhookd/webhookd/core"
)

// FuzzValidatePayload: ValidatePayload's one-pass key scan gives the
// verdict a json.Decoder walk of the top-level keys gives (what it
// replaced), on any input.
func FuzzValidatePayload(f *testing.F) {
	for _, seed := range []string{`{}`, `{"event_id":1}`, `{"a":{"event_id":1},"b":[1,"x"]}`, `{"event\u005fid":1}`,
		`{"k\"ey":"v","EVENT_ID":2}`, `{"a":1,}`, `{"a":"\\"}`, `[]`, `{"a":[{"b":"}"}],"c":"{"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := code(core.ValidatePayload(raw, 0))
		if got == "payload_too_deep" || got == "missing_payload" {
			return // decided before the keys are read
		}
		if want := decoderVerdict(bytes.TrimSpace(raw)); got != want {
			t.Errorf("ValidatePayload(%q) = %q, a decoder walk says %q", raw, got, want)
		}
	})
}

func code(err error) string {
	var ve *core.ValidationError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return ""
}

// decoderVerdict is the reference: invalid_payload for anything but one
// valid JSON object in UTF-8, reserved_event_id for a top-level key
// folding to event_id.
func decoderVerdict(p []byte) string {
	if len(p) == 0 || p[0] != '{' || !json.Valid(p) || !utf8.Valid(p) {
		return "invalid_payload"
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	if _, err := dec.Token(); err != nil {
		return "invalid_payload"
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "invalid_payload"
		}
		if key, _ := tok.(string); strings.EqualFold(key, "event_id") {
			return "reserved_event_id"
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "invalid_payload"
		}
	}
	if _, err := dec.Token(); err != nil {
		return "invalid_payload"
	}
	if _, err := dec.Token(); err != io.EOF {
		return "invalid_payload"
	}
	return ""
}
