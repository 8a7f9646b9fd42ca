package httpsender

import (
	"testing"
)

func TestGuardDial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		address string
		wantErr string
	}{
		{"93.184.215.14:443", ""},
		{"[2606:4700::1111]:443", ""},
		{"127.0.0.1:80", "blocked: 127.0.0.1 is a private address (set ALLOW_PRIVATE_TARGETS=true to allow)"},
		{"[::ffff:169.254.169.254]:80", "blocked: 169.254.169.254 is a private address (set ALLOW_PRIVATE_TARGETS=true to allow)"},
		{"[fe80::1%eth0]:80", "blocked: fe80::1%eth0 is a private address (set ALLOW_PRIVATE_TARGETS=true to allow)"},
		{"not-an-address", `httpsender: unexpected dial address "not-an-address": not an ip:port`},
	}
	for _, tc := range tests {
		t.Run(tc.address, func(t *testing.T) {
			t.Parallel()
			err := guardDial(t.Context(), "tcp", tc.address, nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("guardDial(%s) = %q, want %q", tc.address, got, tc.wantErr)
			}
		})
	}
}
