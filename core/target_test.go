package core_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/webhookd/webhookd/core"
)

func TestPrivateAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"fd12:3456::1", true},
		{"169.254.169.254", true}, // cloud metadata
		{"fe80::1", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"100.63.255.255", false},
		{"2606:4700:4700::1111", false},
		{"::ffff:8.8.8.8", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			if got := core.PrivateAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("PrivateAddr(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

func TestPrivateHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "api.localhost": true, "127.0.0.1": true, "[::1]": true, "::1": true,
		"169.254.169.254": true, "10.0.0.8": true, "merchant.example": false, "8.8.8.8": false, "localhost.example": false,
	} {
		if got := core.PrivateHost(host); got != want {
			t.Errorf("PrivateHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestRefusePrivateTarget(t *testing.T) {
	t.Parallel()
	for target, refused := range map[string]bool{
		"http://localhost:3001/webhook": true, "http://127.0.0.1/x": true, "http://169.254.169.254/latest/meta-data": true,
		"http://[::1]:8080/": true, "https://merchant.example/hook": false, "http://93.184.215.14/": false,
	} {
		err := core.RefusePrivateTarget(target)
		var ve *core.ValidationError
		if refused != (err != nil) || (err != nil && (!errors.As(err, &ve) || ve.Code != "private_target")) {
			t.Errorf("RefusePrivateTarget(%q) = %v, refused want %v", target, err, refused)
		}
	}
}
