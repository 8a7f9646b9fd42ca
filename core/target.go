package core

import (
	"net/netip"
	"net/url"
	"strings"
)

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")     // Linux routes 0.x to the local host
)

// PrivateAddr reports whether addr is not a public unicast address:
// loopback, RFC 1918 / fc00::/7, link-local (including 169.254.169.254,
// the cloud metadata service), unspecified, multicast or CGNAT. Webhooks
// to such addresses are refused unless ALLOW_PRIVATE_TARGETS=true (SSRF).
func PrivateAddr(addr netip.Addr) bool {
	addr = addr.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	return addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() ||
		addr.IsUnspecified() || cgnat.Contains(addr) || thisNetwork.Contains(addr)
}

// PrivateHost reports whether a URL host is private without resolving it:
// a literal private IP, or a localhost name. Names that resolve to private
// addresses are caught again when the sender dials.
func PrivateHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if addr, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return PrivateAddr(addr)
	}
	return false
}

// RefusePrivateTarget returns a *ValidationError when a valid target URL
// (see ValidateTargetURL) points at a private host.
func RefusePrivateTarget(target string) error {
	u, err := url.Parse(target)
	if err != nil || !PrivateHost(u.Hostname()) {
		return nil
	}
	return invalid("target_url", "private_target",
		"%s is a loopback, private or link-local host; set ALLOW_PRIVATE_TARGETS=true to allow it", u.Hostname())
}
