package httpsender

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/webhookd/webhookd/core"
)

func TestGuardAtDialTime(t *testing.T) {
	t.Parallel()
	const (
		selfText    = "blocked: this is the dispatcher's own API (webhookd never delivers to itself)"
		literalText = "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"
		nameText    = `blocked: "localhost" resolves to an address that is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)`
	)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name    string
		policy  func(port int) core.AddressPolicy
		host    string // the URL's host; the server listens on 127.0.0.1
		wantErr string // "" when the request must reach the server
	}{
		{name: "loopback literal refused by default", host: "127.0.0.1", wantErr: literalText},
		{name: "IPv4-mapped literal refused by default", host: "[::ffff:127.0.0.1]", wantErr: literalText},
		// Accepted at ingest it would not be (localhost), but any name
		// that resolves to a private address is caught here the same way.
		{name: "name resolving to loopback refused", host: "localhost", wantErr: nameText},
		{
			name:   "AllowPrivate",
			policy: func(int) core.AddressPolicy { return core.AddressPolicy{AllowPrivate: true} },
			host:   "127.0.0.1",
		},
		{
			name:   "allowed by name",
			policy: func(int) core.AddressPolicy { return core.AddressPolicy{AllowedHosts: []string{"localhost"}} },
			host:   "LocalHost",
		},
		{
			name:    "allowed name, another host",
			policy:  func(int) core.AddressPolicy { return core.AddressPolicy{AllowedHosts: []string{"localhost"}} },
			host:    "127.0.0.1",
			wantErr: literalText,
		},
		{
			name:   "allowed by CIDR",
			policy: func(int) core.AddressPolicy { return core.AddressPolicy{AllowedNets: loopback} },
			host:   "127.0.0.1",
		},
		{
			name:   "allowed by CIDR, through a name",
			policy: func(int) core.AddressPolicy { return core.AddressPolicy{AllowedNets: loopback} },
			host:   "localhost",
		},
		{
			name:    "self port refused with AllowPrivate",
			policy:  func(port int) core.AddressPolicy { return core.AddressPolicy{AllowPrivate: true, SelfPort: port} },
			host:    "127.0.0.1",
			wantErr: selfText,
		},
		{
			name: "self port refused although allowed by name and CIDR",
			policy: func(port int) core.AddressPolicy {
				return core.AddressPolicy{AllowedHosts: []string{"localhost"}, AllowedNets: loopback, SelfPort: port}
			},
			host:    "localhost",
			wantErr: selfText,
		},
		{
			name:   "another port than SelfPort",
			policy: func(port int) core.AddressPolicy { return core.AddressPolicy{AllowPrivate: true, SelfPort: port + 1} },
			host:   "127.0.0.1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
			port := srv.Listener.Addr().(*net.TCPAddr).Port
			var policy core.AddressPolicy
			if tc.policy != nil {
				policy = tc.policy(port)
			}
			s := newTestSender(t, Config{Addresses: policy}, testClock())

			out := send(t, s, delivery("http://"+tc.host+":"+strconv.Itoa(port)+"/hook"))
			if tc.wantErr == "" {
				if !out.Succeeded() || hits.Load() != 1 {
					t.Fatalf("outcome = %+v after %d requests, want one delivered request", out, hits.Load())
				}
				return
			}
			if out.Err != tc.wantErr || out.StatusCode != 0 || hits.Load() != 0 {
				t.Errorf("outcome = %+v after %d requests, want none and Err %q", out, hits.Load(), tc.wantErr)
			}
			// The text is stored and shown: it must not say where a name led.
			if strings.Contains(out.Err, "127.0.0.1") || strings.Contains(out.Err, "::1") {
				t.Errorf("Err %q reveals the address dialled", out.Err)
			}
		})
	}
}

func TestCheckDial(t *testing.T) {
	t.Parallel()
	withHost := func(h string) context.Context { return context.WithValue(t.Context(), hostKey{}, h) }
	allowLocalhost := core.AddressPolicy{AllowedHosts: []string{"localhost"}}
	tests := []struct {
		name    string
		ctx     context.Context
		policy  core.AddressPolicy
		address string
		wantErr string
	}{
		{"public", withHost("merchant.example"), core.AddressPolicy{}, "93.184.215.14:443", ""},
		{"public IPv6", withHost("merchant.example"), core.AddressPolicy{}, "[2606:4700::1111]:443", ""},
		{"metadata, mapped", withHost("x.example"), core.AddressPolicy{}, "[::ffff:169.254.169.254]:80", `blocked: "x.example" resolves`},
		{"NAT64 loopback", withHost("x.example"), core.AddressPolicy{}, "[64:ff9b::7f00:1]:80", `blocked: "x.example" resolves`},
		{"zoned link-local", withHost("x.example"), core.AddressPolicy{}, "[fe80::1%eth0]:80", `blocked: "x.example" resolves`},
		{"allowed name", withHost("localhost"), allowLocalhost, "127.0.0.1:80", ""},
		// Without the host the allow-list by name cannot apply: fail closed.
		{"no host in the context", t.Context(), allowLocalhost, "127.0.0.1:80", "blocked: the target address"},
		{"not an address", withHost("x"), core.AddressPolicy{}, "not-an-address", "httpsender: unexpected dial address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkDial(tc.ctx, tc.policy, tc.address)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkDial(%s) = %v, want nil", tc.address, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("checkDial(%s) = %v, want an error starting %q", tc.address, err, tc.wantErr)
			}
			if host, _, _ := net.SplitHostPort(tc.address); host != "" && strings.Contains(err.Error(), host) {
				t.Errorf("checkDial error %q reveals %s", err, host)
			}
		})
	}
}

func TestDescribeBlocked(t *testing.T) {
	t.Parallel()
	blocked := &core.BlockedAddressError{Host: "internal.example"}
	if got := describe(dialErr(blocked)); got != blocked.Error() {
		t.Errorf("describe = %q, want %q", got, blocked.Error())
	}
	var be *core.BlockedAddressError
	if !errors.As(dialErr(blocked), &be) {
		t.Error("a blocked dial is not recognisable as *core.BlockedAddressError")
	}
}
