package core_test

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/core"
)

// FuzzTargetURL holds the ingest-time checks to their promises for any
// input: no panic, a well-formed origin, and no accepted literal IP that
// is not globally reachable.
func FuzzTargetURL(f *testing.F) {
	for _, a := range auditAddrs {
		f.Add("http://[" + a + "]/")
		f.Add("http://" + a + "/")
	}
	for _, s := range []string{
		"https://merchant.example/hook?x=1", "http://localhost:3000/", "http://LOCALHOST./",
		"http://[::ffff:127.0.0.1]:8080/", "http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://2130706433/",
		"http://[64:ff9b::808:808]/", "http://user:pw@8.8.8.8:65535/", "HTTPS://[2002:808:808::1]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		origin, verr := core.ValidateTargetURL(raw)
		cerr := core.AddressPolicy{}.CheckTarget(raw)
		if verr != nil {
			return
		}
		rest, ok := strings.CutPrefix(origin, "http://")
		if !ok {
			rest, ok = strings.CutPrefix(origin, "https://")
		}
		if !ok {
			t.Fatalf("ValidateTargetURL(%q) origin %q is not http(s)", raw, origin)
		}
		host, portText, err := net.SplitHostPort(rest)
		if port, perr := strconv.Atoi(portText); err != nil || host == "" || perr != nil || port < 1 || port > 65535 {
			t.Fatalf("ValidateTargetURL(%q) origin %q is not host:port (%v)", raw, origin, err)
		}
		if cerr != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("ValidateTargetURL accepted %q, which url.Parse refuses: %v", raw, err)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !core.GloballyReachable(a) {
			t.Fatalf("CheckTarget(%q) accepted %s, which is not globally reachable", raw, a)
		}
	})
}
