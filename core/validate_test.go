package core_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
)

func TestValidateTargetURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, origin, code string
	}{
		{"http://localhost:3001/webhook", "http://localhost:3001", ""},
		{"https://Merchant.Example/hooks?x=1", "https://merchant.example:443", ""},
		{"HTTP://a.example", "http://a.example:80", ""},
		{"http://[::1]:8080/x", "http://[::1]:8080", ""},
		{"http://user:pw@a.example/x", "http://a.example:80", ""},
		{"", "", "missing_target_url"},
		{"ftp://a.example/x", "", "invalid_target_url"},
		{"javascript:alert(1)", "", "invalid_target_url"},
		{"/relative/hook", "", "invalid_target_url"},
		{"a.example/hook", "", "invalid_target_url"},
		{"http:///nohost", "", "invalid_target_url"},
		{"http://a.example:99999/", "", "invalid_target_url"},
		{"http://a.example:0/", "", "invalid_target_url"},
		{"http://a.example/ x", "", "invalid_target_url"},
		{"http://a.example/\x00", "", "invalid_target_url"},
		{"http://a.example/" + strings.Repeat("x", 2048), "", "invalid_target_url"},
		{"http://2130706433/", "", "invalid_target_url"},
		{"http://0x7f000001/", "", "invalid_target_url"},
		{"http://0177.0.0.1/", "", "invalid_target_url"},
		{"http://127.1/", "", "invalid_target_url"},
		{"http://0x7f.example/", "", "invalid_target_url"},
		{"http://10.0.0.1:8080/", "http://10.0.0.1:8080", ""},
		{"https://cafe.be/", "https://cafe.be:443", ""},
		{"https://1password.com/", "https://1password.com:443", ""},
		{"https://café.example/hook", "https://café.example:443", ""},
		{"http://]0", "", "invalid_target_url"},
		{"http://a..example/", "", "invalid_target_url"},
		{"http://-a.example/", "", "invalid_target_url"},
		{"http://a$b.example/", "", "invalid_target_url"},
	} {
		origin, err := core.ValidateTargetURL(tc.url)
		var ve *core.ValidationError
		if tc.code == "" {
			if err != nil || origin != tc.origin {
				t.Errorf("ValidateTargetURL(%q) = %q, %v; want %q", tc.url, origin, err, tc.origin)
			}
			continue
		}
		if !errors.As(err, &ve) || ve.Code != tc.code || ve.Field != "target_url" {
			t.Errorf("ValidateTargetURL(%q) = %v, want code %s", tc.url, err, tc.code)
		}
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "order-42", strings.Repeat("k", 255)} {
		if err := core.ValidateIdempotencyKey(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{strings.Repeat("k", 256), "tab\there", "é"} {
		if err := core.ValidateIdempotencyKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEventIDs(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := core.NewEventID(now), core.NewEventID(now.Add(time.Millisecond))
	if a == b || len(a) != 36 || a[14] != '7' {
		t.Errorf("NewEventID: %s %s (want distinct UUIDv7)", a, b)
	}
	if string(a) >= string(b) {
		t.Errorf("UUIDv7 not time-ordered: %s then %s", a, b)
	}
	if v := a[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
		t.Errorf("variant nibble %c", v)
	}
	got, err := core.ParseEventID(strings.ToUpper(string(a)))
	if err != nil || got != a {
		t.Errorf("ParseEventID(upper) = %s, %v", got, err)
	}
	if !core.IsUUID(string(a)) || !core.IsUUID(strings.ToUpper(string(a))) {
		t.Errorf("IsUUID(%s) or of its upper case = false", a)
	}
	for _, bad := range []string{"", "not-a-uuid", strings.Repeat("x", 36), "0190c1d27e4b7c3a9f1e2b3c4d5e6f70", "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f7g",
		"0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f7\xff", "0190c1d2-7e4b-7c3a-9f1e2-b3c4d5e6f70", "0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70 "} {
		if _, err := core.ParseEventID(bad); !errors.As(err, new(*core.ValidationError)) || core.IsUUID(bad) {
			t.Errorf("ParseEventID(%q) = %v, IsUUID %v; want a ValidationError and false", bad, err, core.IsUUID(bad))
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for _, s := range core.Statuses {
		if got, err := core.ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%s) = %s, %v", s, got, err)
		}
	}
	if _, err := core.ParseStatus("bogus"); err == nil {
		t.Error("bogus accepted")
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://Merchant.example":               "https://merchant.example:443",
		"https://merchant.example:443/hooks?x=1": "https://merchant.example:443",
		"http://127.0.0.1:8080":                  "http://127.0.0.1:8080",
	} {
		if got, err := core.ParseOrigin(raw); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"", "merchant.example", "ftp://merchant.example", "https://", "https://%zz"} {
		if _, err := core.ParseOrigin(raw); !errors.As(err, new(*core.ValidationError)) {
			t.Errorf("ParseOrigin(%q): %v, want a validation error", raw, err)
		}
	}
}
