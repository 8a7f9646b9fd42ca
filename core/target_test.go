package core_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/core"
)

func TestGloballyReachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		// One address inside each refused IPv4 row.
		{"0.1.2.3", false},         // "This network"
		{"0.0.0.0", false},         // this host on this network
		{"10.1.2.3", false},        // Private-Use
		{"100.64.0.1", false},      // Shared Address Space
		{"100.127.255.255", false}, // Shared Address Space, last address
		{"127.8.9.10", false},      // Loopback
		{"169.254.169.254", false}, // Link Local: the cloud metadata service
		{"172.31.255.255", false},  // Private-Use
		{"192.0.0.8", false},       // IETF Protocol Assignments: dummy address
		{"192.0.0.9", false},       // PCP anycast: refused with the whole /24
		{"192.0.0.10", false},      // TURN anycast: refused with the whole /24
		{"192.0.0.192", false},     // IETF Protocol Assignments (audit)
		{"192.0.2.1", false},       // TEST-NET-1
		{"192.88.99.1", false},     // deprecated 6to4 relay anycast
		{"192.168.1.1", false},     // Private-Use
		{"198.18.0.1", false},      // Benchmarking
		{"198.19.255.255", false},  // Benchmarking, last address
		{"198.51.100.7", false},    // TEST-NET-2
		{"203.0.113.9", false},     // TEST-NET-3
		{"224.0.0.1", false},       // Multicast
		{"239.255.255.250", false}, // Multicast (SSDP)
		{"240.0.0.1", false},       // Reserved
		{"255.255.255.255", false}, // Limited Broadcast

		// One address inside each refused IPv6 row.
		{"::", false},                 // Unspecified
		{"::1", false},                // Loopback
		{"64:ff9b:1::a", false},       // local-use NAT64
		{"100::1", false},             // Discard-Only
		{"100:0:0:1::1", false},       // Dummy IPv6 Prefix
		{"2001::1", false},            // Teredo, in IETF Protocol Assignments
		{"2001:2::1", false},          // Benchmarking, in IETF Protocol Assignments
		{"2001:20::1", false},         // ORCHIDv2, in IETF Protocol Assignments
		{"2001:db8::1", false},        // Documentation
		{"3fff::1", false},            // Documentation (RFC 9637)
		{"5f00::1", false},            // SRv6 SIDs
		{"fc00::1", false},            // Unique-Local
		{"fd12:3456::1", false},       // Unique-Local
		{"fe80::1", false},            // Link-Local
		{"fe80::1%eth0", false},       // Link-Local with a zone
		{"fec0::1", false},            // Site-Local (deprecated)
		{"ff02::1", false},            // Multicast
		{"fd00:ec2::254", false},      // the AWS IPv6 metadata service
		{"::ffff:10.0.0.1", false},    // IPv4-mapped
		{"::ffff:127.0.0.1", false},   // IPv4-mapped
		{"::7f00:1", false},           // IPv4-compatible 127.0.0.1
		{"::127.0.0.1", false},        // the same, written as the audit did
		{"::a9fe:a9fe", false},        // IPv4-compatible 169.254.169.254
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b::a00:1", false},     // NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false},     // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", false},  // 6to4 of 169.254.169.254
		{"2002:c0a8:101::", false},    // 6to4 of 192.168.1.1

		// Globally reachable special-purpose rows stay allowed.
		{"192.31.196.1", true},    // AS112-v4
		{"192.52.193.1", true},    // AMT
		{"192.175.48.1", true},    // Direct Delegation AS112 Service
		{"2620:4f:8000::1", true}, // Direct Delegation AS112 Service

		// Public addresses, plain and embedded.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
		{"100.63.255.255", true},
		{"198.20.0.1", true},
		{"223.255.255.255", true},
		{"2606:4700:4700::1111", true},
		{"2001:200::1", true}, // just past 2001::/23
		{"::ffff:8.8.8.8", true},
		{"::808:808", true},
		{"64:ff9b::808:808", true},
		{"2002:808:808::1", true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			if got := core.GloballyReachable(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("GloballyReachable(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
	if core.GloballyReachable(netip.Addr{}) {
		t.Error("GloballyReachable(zero Addr) = true, want false")
	}
}

// auditAddrs were accepted and dialled before the registry tables.
var auditAddrs = []string{
	"::127.0.0.1", "::7f00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
	"198.18.0.1", "240.0.0.1", "192.0.0.192", "255.255.255.255",
}

func TestGloballyReachableAudit(t *testing.T) {
	t.Parallel()
	for _, a := range auditAddrs {
		if core.GloballyReachable(netip.MustParseAddr(a)) {
			t.Errorf("GloballyReachable(%s) = true, want false", a)
		}
	}
}

func TestParseAllowedHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		entries   []string
		wantHosts []string
		wantNets  []string
		wantErr   string
	}{
		{name: "empty", entries: nil},
		{
			name:      "mixed",
			entries:   []string{" Internal.Example. ", "", "localhost", "10.1.2.3", "10.9.0.0/16", "fd00::/8", "::1", "fe80::1%eth0", "hooks_dev.lan"},
			wantHosts: []string{"internal.example", "localhost", "hooks_dev.lan"},
			wantNets:  []string{"10.1.2.3/32", "10.9.0.0/16", "fd00::/8", "::1/128", "fe80::1/128"},
		},
		{name: "CIDR with host bits", entries: []string{"192.168.7.9/24"}, wantNets: []string{"192.168.7.0/24"}},
		{name: "bad CIDR", entries: []string{"ok.example", "10.0.0.0/33"}, wantErr: `"10.0.0.0/33"`},
		{name: "bad IPv4", entries: []string{"10.0.0.256"}, wantErr: `"10.0.0.256"`},
		{name: "short IPv4", entries: []string{"127.1"}, wantErr: `"127.1"`},
		{name: "bad IPv6", entries: []string{"fd00::1::2"}, wantErr: `"fd00::1::2"`},
		{name: "port", entries: []string{"internal.example:8080"}, wantErr: `"internal.example:8080"`},
		{name: "URL", entries: []string{"http://internal.example"}, wantErr: `"http://internal.example"`},
		{name: "wildcard", entries: []string{"*.internal.example"}, wantErr: `"*.internal.example"`},
		{name: "empty label", entries: []string{"a..example"}, wantErr: `"a..example"`},
		{name: "non-ASCII", entries: []string{"bücher.example"}, wantErr: `"bücher.example"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hosts, nets, err := core.ParseAllowedHosts(tc.entries)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseAllowedHosts error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowedHosts: %v", err)
			}
			var gotNets []string
			for _, n := range nets {
				gotNets = append(gotNets, n.String())
			}
			if !slices.Equal(hosts, tc.wantHosts) || !slices.Equal(gotNets, tc.wantNets) {
				t.Errorf("ParseAllowedHosts = %q, %q; want %q, %q", hosts, gotNets, tc.wantHosts, tc.wantNets)
			}
		})
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	const self = 3000
	public := netip.MustParseAddr("203.0.114.7") // stands for this host's public interface
	local := []netip.Addr{netip.MustParseAddr("10.0.0.5"), public}
	tests := []struct {
		name     string
		policy   core.AddressPolicy
		host     string
		addr     string
		port     int
		wantSelf bool
		wantErr  bool
	}{
		{name: "public", host: "merchant.example", addr: "93.184.215.14", port: 443},
		{name: "private refused", host: "internal.example", addr: "10.1.2.3", port: 443, wantErr: true},
		{name: "audit address refused", host: "x.example", addr: "64:ff9b::a9fe:a9fe", port: 80, wantErr: true},
		{name: "AllowPrivate", policy: core.AddressPolicy{AllowPrivate: true}, host: "internal.example", addr: "10.1.2.3", port: 443},
		{
			name:   "allowed by name",
			policy: core.AddressPolicy{AllowedHosts: []string{"internal.example"}},
			host:   "Internal.Example.", addr: "10.1.2.3", port: 443,
		},
		{
			name:   "another name not allowed",
			policy: core.AddressPolicy{AllowedHosts: []string{"internal.example"}},
			host:   "evil.example", addr: "10.1.2.3", port: 443, wantErr: true,
		},
		{
			name:   "allowed by CIDR",
			policy: core.AddressPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			host:   "anything.example", addr: "10.1.2.3", port: 443,
		},
		{
			name:   "allowed by CIDR, IPv4-mapped",
			policy: core.AddressPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			host:   "anything.example", addr: "::ffff:10.1.2.3", port: 443,
		},
		{
			name:   "outside the CIDR",
			policy: core.AddressPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			host:   "anything.example", addr: "192.168.0.1", port: 443, wantErr: true,
		},
		{name: "own public address refused", policy: core.AddressPolicy{LocalAddrs: local}, host: "me.example", addr: public.String(), port: 443, wantErr: true},
		{name: "own address, IPv4-mapped", policy: core.AddressPolicy{LocalAddrs: local}, host: "me.example", addr: "::ffff:" + public.String(), port: 443, wantErr: true},
		{name: "own address allowed by CIDR", policy: core.AddressPolicy{LocalAddrs: local, AllowedNets: []netip.Prefix{netip.MustParsePrefix(public.String() + "/32")}}, host: "me.example", addr: public.String(), port: 443},
		{name: "self port, loopback", policy: core.AddressPolicy{SelfPort: self}, host: "localhost", addr: "127.0.0.1", port: self, wantErr: true, wantSelf: true},
		{name: "self port, AllowPrivate", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true}, host: "localhost", addr: "::1", port: self, wantErr: true, wantSelf: true},
		{name: "self port, IPv4-mapped", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true}, host: "x", addr: "::ffff:127.0.0.2", port: self, wantErr: true, wantSelf: true},
		{name: "self port, unspecified", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true}, host: "0.0.0.0", addr: "0.0.0.0", port: self, wantErr: true, wantSelf: true},
		{
			name:   "self port, allowed by name",
			policy: core.AddressPolicy{SelfPort: self, AllowedHosts: []string{"localhost"}},
			host:   "localhost", addr: "127.0.0.1", port: self, wantErr: true, wantSelf: true,
		},
		{
			name:   "self port, allowed by CIDR",
			policy: core.AddressPolicy{SelfPort: self, AllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			host:   "127.0.0.1", addr: "127.0.0.1", port: self, wantErr: true, wantSelf: true,
		},
		{name: "self port, own interface", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true, LocalAddrs: local}, host: "me.example", addr: "10.0.0.5", port: self, wantErr: true, wantSelf: true},
		{name: "self port number, another host", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true}, host: "peer.lan", addr: "10.0.0.9", port: self},
		{name: "loopback, another port", policy: core.AddressPolicy{SelfPort: self, AllowPrivate: true}, host: "localhost", addr: "127.0.0.1", port: self + 1},
		{name: "SelfPort unknown", policy: core.AddressPolicy{AllowPrivate: true}, host: "localhost", addr: "127.0.0.1", port: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := netip.MustParseAddr(tc.addr)
			err := tc.policy.CheckAddr(tc.host, addr, tc.port)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckAddr(%q, %s, %d) = %v, want error %v", tc.host, tc.addr, tc.port, err, tc.wantErr)
			}
			if err == nil {
				return
			}
			var be *core.BlockedAddressError
			if !errors.As(err, &be) || be.Self != tc.wantSelf || be.Host != tc.host {
				t.Errorf("CheckAddr = %#v, want a *BlockedAddressError{Host: %q, Self: %v}", err, tc.host, tc.wantSelf)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "blocked: ") || strings.Contains(msg, addr.Unmap().String()) {
				t.Errorf("CheckAddr error %q must start with blocked: and not name %s", msg, addr)
			}
		})
	}
}

func TestBlockedAddressErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  core.BlockedAddressError
		want string
	}{
		{core.BlockedAddressError{Host: "internal.example"}, `blocked: "internal.example" resolves to an address that is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)`},
		{core.BlockedAddressError{Host: "10.0.0.1"}, "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"},
		{core.BlockedAddressError{Host: "fe80::1%eth0"}, "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"},
		{core.BlockedAddressError{Host: "localhost", Self: true}, "blocked: this is the dispatcher's own API (webhookd never delivers to itself)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   core.AddressPolicy
		url      string
		wantCode string // "" when accepted
		wantHost string // the host the message must name
	}{
		{name: "public name", url: "https://merchant.example/hook"},
		{name: "public IPv4", url: "http://93.184.215.14/"},
		{name: "public IPv6", url: "https://[2606:4700:4700::1111]:8443/x"},
		{name: "NAT64 of a public address", url: "http://[64:ff9b::808:808]/"},
		{name: "name that may resolve anywhere", url: "http://internal.example/"},
		{name: "localhost-like name", url: "http://localhost.example/"},
		{name: "loopback", url: "http://127.0.0.1/x", wantCode: "private_target", wantHost: `"127.0.0.1"`},
		{name: "metadata", url: "http://169.254.169.254/latest/meta-data", wantCode: "private_target", wantHost: `"169.254.169.254"`},
		{name: "IPv6 loopback", url: "http://[::1]:8080/", wantCode: "private_target", wantHost: `"::1"`},
		{name: "IPv4-compatible, dotted", url: "http://[::127.0.0.1]/", wantCode: "private_target", wantHost: `"::127.0.0.1"`},
		{name: "IPv4-compatible", url: "http://[::7f00:1]/", wantCode: "private_target", wantHost: `"::7f00:1"`},
		{name: "NAT64 loopback", url: "http://[64:ff9b::7f00:1]/", wantCode: "private_target", wantHost: `"64:ff9b::7f00:1"`},
		{name: "NAT64 metadata", url: "http://[64:ff9b::a9fe:a9fe]/", wantCode: "private_target", wantHost: `"64:ff9b::a9fe:a9fe"`},
		{name: "6to4 loopback", url: "http://[2002:7f00:1::1]/", wantCode: "private_target", wantHost: `"2002:7f00:1::1"`},
		{name: "benchmarking", url: "http://198.18.0.1/", wantCode: "private_target", wantHost: `"198.18.0.1"`},
		{name: "reserved", url: "http://240.0.0.1/", wantCode: "private_target", wantHost: `"240.0.0.1"`},
		{name: "IETF protocol assignments", url: "http://192.0.0.192/", wantCode: "private_target", wantHost: `"192.0.0.192"`},
		{name: "broadcast", url: "http://255.255.255.255/", wantCode: "private_target", wantHost: `"255.255.255.255"`},
		{name: "zoned link-local", url: "http://[fe80::1%25eth0]/", wantCode: "private_target", wantHost: `"fe80::1%eth0"`},
		{name: "localhost", url: "http://localhost:3001/webhook", wantCode: "private_target", wantHost: `"localhost"`},
		{name: "localhost, upper case, trailing dot", url: "http://LOCALHOST./", wantCode: "private_target", wantHost: `"LOCALHOST."`},
		{name: "localhost subdomain", url: "https://api.localhost/", wantCode: "private_target", wantHost: `"api.localhost"`},
		{name: "AllowPrivate", policy: core.AddressPolicy{AllowPrivate: true}, url: "http://localhost:3001/webhook"},
		{name: "allowed by name", policy: core.AddressPolicy{AllowedHosts: []string{"localhost"}}, url: "http://LocalHost:3001/"},
		{name: "allowed by CIDR", policy: core.AddressPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, url: "http://10.2.3.4/"},
		{
			name:   "localhost allowed for one loopback only",
			policy: core.AddressPolicy{AllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			url:    "http://localhost/", wantCode: "private_target", wantHost: `"localhost"`,
		},
		{
			name:   "own interface address",
			policy: core.AddressPolicy{LocalAddrs: []netip.Addr{netip.MustParseAddr("203.0.114.7")}},
			url:    "http://203.0.114.7/", wantCode: "private_target", wantHost: `"203.0.114.7"`,
		},
		{
			name:   "self, AllowPrivate",
			policy: core.AddressPolicy{AllowPrivate: true, SelfPort: 3000},
			url:    "http://localhost:3000/", wantCode: "self_target", wantHost: `"localhost"`,
		},
		{
			name:   "self, allowed by name",
			policy: core.AddressPolicy{AllowedHosts: []string{"localhost"}, SelfPort: 3000},
			url:    "http://localhost:3000/v1/events", wantCode: "self_target", wantHost: `"localhost"`,
		},
		{
			name:   "self on the default port",
			policy: core.AddressPolicy{AllowPrivate: true, SelfPort: 80},
			url:    "http://127.0.0.1/", wantCode: "self_target", wantHost: `"127.0.0.1"`,
		},
		{name: "self port, another host", policy: core.AddressPolicy{AllowPrivate: true, SelfPort: 3000}, url: "http://10.0.0.9:3000/"},
		{name: "self port, a name", policy: core.AddressPolicy{SelfPort: 3000}, url: "https://merchant.example:3000/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := core.ValidateTargetURL(tc.url); err != nil {
				t.Fatalf("test URL %q must be valid: %v", tc.url, err)
			}
			err := tc.policy.CheckTarget(tc.url)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("CheckTarget(%q) = %v, want nil", tc.url, err)
				}
				return
			}
			var ve *core.ValidationError
			if !errors.As(err, &ve) || ve.Field != "target_url" || ve.Code != tc.wantCode {
				t.Fatalf("CheckTarget(%q) = %#v, want a target_url %s ValidationError", tc.url, err, tc.wantCode)
			}
			if !strings.Contains(ve.Message, tc.wantHost) {
				t.Errorf("message %q does not name %s", ve.Message, tc.wantHost)
			}
			if ve.Code == "private_target" && !strings.Contains(ve.Message, "ALLOWED_PRIVATE_HOSTS") {
				t.Errorf("message %q does not say how to allow the host", ve.Message)
			}
			// localhost is checked as ::1 and 127.0.0.1: neither may show.
			if strings.Contains(tc.wantHost, "localhost") || strings.Contains(tc.wantHost, "LOCALHOST") {
				if strings.Contains(ve.Message, "127.0.0.1") || strings.Contains(ve.Message, "::1") {
					t.Errorf("message %q reveals an address the host resolves to", ve.Message)
				}
			}
		})
	}
}
