package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/core"
)

const id = core.EventID("0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70")

func TestBuildBodyKeepsEveryByte(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ payload, body string }{
		{`{}`, `{"event_id":"` + string(id) + `"}`},
		{`{ }`, `{"event_id":"` + string(id) + `" }`},
		{"{\n}", `{"event_id":"` + string(id) + "\"\n}"},
		{`{"a":1}`, `{"event_id":"` + string(id) + `","a":1}`},
		{`{"amount": 12345678901234567890, "rate": 1.0}`, `{"event_id":"` + string(id) + `","amount": 12345678901234567890, "rate": 1.0}`},
		{`{ "z":1,"a":{"x":[1,2]} ,"z":2}`, `{"event_id":"` + string(id) + `", "z":1,"a":{"x":[1,2]} ,"z":2}`},
		{"  {\"a\":\"\\u0000é\"}  ", `{"event_id":"` + string(id) + `","a":"\u0000é"}`},
	} {
		body := core.BuildBody([]byte(tc.payload), id)
		if string(body) != tc.body {
			t.Errorf("BuildBody(%q) = %q, want %q", tc.payload, body, tc.body)
		}
		if err := core.ValidatePayload(body, 0); !errors.As(err, new(*core.ValidationError)) {
			// The body has an event_id member, so it must be refused as a payload:
			// this proves it is valid JSON with event_id at the top level.
			t.Errorf("body %q is not a JSON object with a top-level event_id: %v", body, err)
		}
		want := string(trimSpace(tc.payload))
		if got := string(core.PayloadOf(body, id)); got != want {
			t.Errorf("PayloadOf(BuildBody(%q)) = %q, want %q", tc.payload, got, want)
		}
	}
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\n') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	return s
}

func TestValidatePayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload string
		code    string // "" = valid
	}{
		{`{}`, ""},
		{`{"order":{"event_id":"nested is fine"}}`, ""},
		{`{"a":[1,2,3],"b":null}`, ""},
		{``, "missing_payload"},
		{`null`, "missing_payload"},
		{`[]`, "invalid_payload"},
		{`"x"`, "invalid_payload"},
		{`42`, "invalid_payload"},
		{`true`, "invalid_payload"},
		{`{"a":}`, "invalid_payload"},
		{`{"a":1} x`, "invalid_payload"},
		{`{"a":1}}`, "invalid_payload"},
		{`{"a":1}{}`, "invalid_payload"},
		{`{"a" 1}`, "invalid_payload"},
		{`{"a":1,}`, "invalid_payload"},
		{`{`, "invalid_payload"},
		{`{"a":[1,2}`, "invalid_payload"},
		{"{\"a\":\"\xff\"}", "invalid_payload"},
		{`{"event_id":"mine"}`, "reserved_event_id"},
		{`{"x":1,"event_id":2}`, "reserved_event_id"},
		{`{"event\u005fid":"escaped"}`, "reserved_event_id"},
		{`{"Event_Id":"forged"}`, "reserved_event_id"},
		{`{"EVENT_ID":"forged"}`, "reserved_event_id"},
		{`{"a":1,"eVeNt_iD":2}`, "reserved_event_id"},
		{`{"event_ids":1,"an_event_id":2}`, ""},
		{`{"a":{"Event_Id":"nested is fine"}}`, ""},
		{`{"a":["event_id",{"event_id":1}]}`, ""},
		{`{"a":"event_id"}`, ""},
		{`{"a":{"b":[1,{"c":2}]},"EVENT_id":1}`, "reserved_event_id"},
		{`{"k\"ey":"v\"","event_id":2}`, "reserved_event_id"},
		{`{"event_id\u0000":1,"event_i":2}`, ""},
		{`{"\u0065vent_id":1}`, "reserved_event_id"},
		{strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat(`}`, 64), ""},
		{strings.Repeat(`{"a":`, 65) + `1` + strings.Repeat(`}`, 65), "payload_too_deep"},
		{`{"a":` + strings.Repeat(`[`, 63) + strings.Repeat(`]`, 63) + `}`, ""},
		{`{"a":` + strings.Repeat(`[`, 64) + strings.Repeat(`]`, 64) + `}`, "payload_too_deep"},
		{`{"a":"` + strings.Repeat(`[{`, 100) + `"}`, ""},
		{`{"a":"\"` + strings.Repeat(`[`, 100) + `"}`, ""},
	} {
		err := core.ValidatePayload([]byte(tc.payload), 0)
		var ve *core.ValidationError
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("ValidatePayload(%q) = %v, want ok", tc.payload, err)
		case tc.code != "" && (!errors.As(err, &ve) || ve.Code != tc.code || ve.Field != "payload"):
			t.Errorf("ValidatePayload(%q) = %v, want code %s", tc.payload, err, tc.code)
		}
	}
}

func TestValidatePayloadDepthLimit(t *testing.T) {
	t.Parallel()
	deep := func(n int) []byte { return []byte(strings.Repeat(`[`, n-1)) }
	payload := append(append([]byte(`{"a":`), deep(5)...), []byte(strings.Repeat(`]`, 4)+`}`)...)
	if err := core.ValidatePayload(payload, 5); err != nil {
		t.Errorf("depth 5 under a limit of 5: %v", err)
	}
	var ve *core.ValidationError
	if err := core.ValidatePayload(payload, 4); !errors.As(err, &ve) || ve.Code != "payload_too_deep" {
		t.Errorf("depth 5 under a limit of 4: %v, want payload_too_deep", err)
	}
	// The audit's 9,000 levels: refused before any decoder recursion.
	huge := []byte(`{"a":` + strings.Repeat(`[`, 9000) + strings.Repeat(`]`, 9000) + `}`)
	if err := core.ValidatePayload(huge, 0); !errors.As(err, &ve) || ve.Code != "payload_too_deep" {
		t.Errorf("9,000 levels: %v, want payload_too_deep", err)
	}
}
