package core_test

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd/core"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://merchant.example/hooks", "https://merchant.example/hooks"},
		{"https://merchant.example:8443/a/b", "https://merchant.example:8443/a/b"},
		{"https://user:s3cret@merchant.example/hooks", "https://REDACTED@merchant.example/hooks"},
		{"https://merchant.example/hooks?api_key=s3cret&x=1", "https://merchant.example/hooks?REDACTED"},
		{"https://u:p@merchant.example/h?token=s3cret#frag", "https://REDACTED@merchant.example/h?REDACTED"},
		{"http://[::1]:3001/webhook?", "http://[::1]:3001/webhook?REDACTED"},
		{"not a url s3cret", "REDACTED"},
		{"", "REDACTED"},
	} {
		got := core.RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) leaks the secret: %q", tc.in, got)
		}
	}
}
