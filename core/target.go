package core

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// specialRange is one row of an IANA Special-Purpose Address Registry.
type specialRange struct {
	prefix netip.Prefix
	name   string
}

// refusedIPv4 holds the rows of the IANA IPv4 Special-Purpose Address
// Registry that are not globally reachable, plus multicast, which the
// registry leaves to its own table. A subnet of a listed row is not
// repeated.
var refusedIPv4 = []specialRange{
	{netip.MustParsePrefix("0.0.0.0/8"), `"This network" (RFC 791)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "Private-Use (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "Shared Address Space (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "Loopback (RFC 1122)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "Link Local (RFC 3927)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "Private-Use (RFC 1918)"},
	// The whole block, although two /32s in it (192.0.0.9 PCP anycast,
	// 192.0.0.10 TURN anycast) are globally reachable: no webhook receiver
	// lives on a protocol anycast address, and one row is easier to trust.
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF Protocol Assignments (RFC 6890)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "Documentation (TEST-NET-1) (RFC 5737)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast) (RFC 7526)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "Private-Use (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "Benchmarking (RFC 2544)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "Documentation (TEST-NET-2) (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "Documentation (TEST-NET-3) (RFC 5737)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "Multicast (RFC 5771)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "Reserved (RFC 1112)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "Limited Broadcast (RFC 919)"},
}

// refusedIPv6 is refusedIPv4 for the IPv6 registry, plus multicast and the
// deprecated site-local block. The blocks that embed an IPv4 address
// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4) are not rows:
// GloballyReachable judges the embedded address instead.
var refusedIPv6 = []specialRange{
	{netip.MustParsePrefix("::/128"), "Unspecified Address (RFC 4291)"},
	{netip.MustParsePrefix("::1/128"), "Loopback Address (RFC 4291)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 Translat., local use (RFC 8215)"},
	{netip.MustParsePrefix("100::/64"), "Discard-Only Address Block (RFC 6666)"},
	{netip.MustParsePrefix("100:0:0:1::/64"), "Dummy IPv6 Prefix (RFC 9780)"},
	// The whole block: Teredo (2001::/32, which also embeds an IPv4
	// address), benchmarking, ORCHID and the rest. The few anycast and AMT
	// sub-blocks marked reachable never host a webhook receiver.
	{netip.MustParsePrefix("2001::/23"), "IETF Protocol Assignments (RFC 2928)"},
	{netip.MustParsePrefix("2001:db8::/32"), "Documentation (RFC 3849)"},
	{netip.MustParsePrefix("3fff::/20"), "Documentation (RFC 9637)"},
	{netip.MustParsePrefix("5f00::/16"), "Segment Routing (SRv6) SIDs (RFC 9602)"},
	{netip.MustParsePrefix("fc00::/7"), "Unique-Local (RFC 4193)"},
	{netip.MustParsePrefix("fe80::/10"), "Link-Local Unicast (RFC 4291)"},
	{netip.MustParsePrefix("fec0::/10"), "Site-Local, deprecated (RFC 3879)"},
	{netip.MustParsePrefix("ff00::/8"), "Multicast (RFC 4291)"},
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// GloballyReachable reports whether addr may be a public webhook receiver:
// false for every address the IANA Special-Purpose Address Registries mark
// as not globally reachable, for multicast, broadcast and site-local, and
// for an IPv6 address that embeds such an IPv4 address (::ffff:127.0.0.1,
// ::7f00:1, 64:ff9b::7f00:1, 2002:7f00:1::1), which a host or a translator
// on the way may deliver to that IPv4 address.
func GloballyReachable(addr netip.Addr) bool {
	addr = canonical(addr)
	if !addr.IsValid() {
		return false
	}
	table := refusedIPv6
	if addr.Is4() {
		table = refusedIPv4
	}
	for _, r := range table {
		if r.prefix.Contains(addr) {
			return false
		}
	}
	return true
}

// canonical is the address addr is judged as: without a zone (a zoned
// address is in no prefix) and, when addr embeds an IPv4 address, that
// address.
func canonical(addr netip.Addr) netip.Addr {
	addr = addr.WithZone("").Unmap()
	if !addr.Is6() {
		return addr
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6]))
	case ipv4Compatible.Contains(addr) && addr != netip.IPv6Unspecified() && addr != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16]))
	}
	return addr
}

// AddressPolicy decides where webhooks may go. Its zero value allows only
// globally reachable addresses.
type AddressPolicy struct {
	// AllowPrivate allows any address (ALLOW_PRIVATE_TARGETS=true, for
	// development), except the dispatcher's own API.
	AllowPrivate bool
	// AllowedHosts are host names (lower-case, no trailing dot; see
	// ParseAllowedHosts) that may resolve to any address
	// (ALLOWED_PRIVATE_HOSTS).
	AllowedHosts []string
	// AllowedNets are addresses allowed although not globally reachable
	// (the IPs and CIDRs of ALLOWED_PRIVATE_HOSTS).
	AllowedNets []netip.Prefix
	// LocalAddrs are this host's interface addresses, read at start by the
	// caller. They are refused like private ones: a public address of our
	// own reaches our own services.
	LocalAddrs []netip.Addr
	// SelfPort is the dispatcher's API port, 0 when unknown. A local
	// address on this port is always refused, whatever else allows it.
	SelfPort int
}

// ParseAllowedHosts splits ALLOWED_PRIVATE_HOSTS entries into host names
// (lower-cased, trailing dot dropped) and networks (an IP address is a
// single-address network). Blank entries are skipped; an entry that is
// neither a name, an IP address nor a CIDR is an error naming it.
func ParseAllowedHosts(entries []string) (hosts []string, nets []netip.Prefix, err error) {
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			p, perr := netip.ParsePrefix(e)
			if perr != nil {
				return nil, nil, fmt.Errorf("allowed host %q: not a valid CIDR", e)
			}
			nets = append(nets, p.Masked())
		case strings.ContainsRune(e, ':') || isIPv4Literal(e):
			a, perr := netip.ParseAddr(e)
			if perr != nil {
				return nil, nil, fmt.Errorf("allowed host %q: not a valid IP address", e)
			}
			a = a.WithZone("")
			nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
		default:
			h := normalHost(e)
			if !validHostName(h) {
				return nil, nil, fmt.Errorf("allowed host %q: not a host name, an IP address or a CIDR", e)
			}
			// The sender dials an IDN in its punycode form, so only that
			// form can ever match.
			if strings.IndexFunc(h, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
				return nil, nil, fmt.Errorf("allowed host %q: write an international name in its xn-- (punycode) form", e)
			}
			hosts = append(hosts, h)
		}
	}
	return hosts, nets, nil
}

// isIPv4Literal reports whether s looks like a dotted IPv4 address: its
// last label is numeric (no host name's is).
func isIPv4Literal(s string) bool {
	i := strings.LastIndexByte(s, '.')
	return i >= 0 && i < len(s)-1 && strings.Trim(s[i+1:], "0123456789") == ""
}

// validHostName accepts a host name without its trailing dot: labels of
// at most 63 bytes made of letters (any script: IDNs are converted when
// dialled), digits, '-' (not first or last) and '_' (used in internal
// names).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		for _, r := range l {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// normalHost is host as AllowedHosts holds it.
func normalHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// BlockedAddressError is a connection the AddressPolicy refused. It names
// the host but never the address the host resolved to: the text is stored
// and shown by the API, and would otherwise map an internal network for
// whoever submits targets.
type BlockedAddressError struct {
	Host string // as the target URL wrote it
	Self bool   // the dispatcher's own API
}

func (e *BlockedAddressError) Error() string {
	if e.Self {
		return "blocked: this is the dispatcher's own API (webhookd never delivers to itself)"
	}
	// A literal IP needs no repeating: the URL says it, and keeping every
	// address out of this text makes "no address" a rule without exception.
	if _, err := netip.ParseAddr(e.Host); err == nil || e.Host == "" {
		return "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"
	}
	return fmt.Sprintf("blocked: %q resolves to an address that is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)", e.Host)
}

// CheckAddr is the dial-time rule for addr, one address host resolved to
// (or host itself when it is a literal IP), dialled on port. It returns a
// *BlockedAddressError when the connection must not be made.
func (p AddressPolicy) CheckAddr(host string, addr netip.Addr, port int) error {
	judged := canonical(addr)
	local := p.isLocal(judged)
	// Delivering to our own API would let a webhook submit webhooks: a
	// loop no setting may open.
	if p.SelfPort != 0 && port == p.SelfPort && (local || judged.IsLoopback() || judged.IsUnspecified()) {
		return &BlockedAddressError{Host: host, Self: true}
	}
	if p.AllowPrivate || p.allowedHost(host) || p.allowedNet(addr.WithZone("")) || p.allowedNet(judged) {
		return nil
	}
	if !GloballyReachable(judged) || local {
		return &BlockedAddressError{Host: host}
	}
	return nil
}

func (p AddressPolicy) isLocal(judged netip.Addr) bool {
	for _, l := range p.LocalAddrs {
		if canonical(l) == judged {
			return true
		}
	}
	return false
}

func (p AddressPolicy) allowedHost(host string) bool {
	h := normalHost(host)
	for _, a := range p.AllowedHosts {
		if a == h {
			return true
		}
	}
	return false
}

func (p AddressPolicy) allowedNet(addr netip.Addr) bool {
	for _, n := range p.AllowedNets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// CheckTarget is the ingest-time rule for a target URL that passed
// ValidateTargetURL, without DNS: a literal IP is checked with CheckAddr,
// localhost names as both ::1 and 127.0.0.1, and other names pass (the
// sender checks every address they resolve to when it dials). It returns a
// *ValidationError with Code "private_target" or "self_target".
func (p AddressPolicy) CheckTarget(rawURL string) error {
	const field = "target_url"
	u, err := url.Parse(rawURL)
	if err != nil {
		return invalid(field, "invalid_target_url", "is not a valid URL")
	}
	host := u.Hostname()
	port := 80
	if strings.EqualFold(u.Scheme, "https") {
		port = 443
	}
	if s := u.Port(); s != "" {
		if port, err = strconv.Atoi(s); err != nil {
			return invalid(field, "invalid_target_url", "has an invalid port %q", s)
		}
	}

	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if h := normalHost(host); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		// RFC 6761: resolvers answer localhost names with loopback.
		addrs = []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	for _, a := range addrs {
		err := p.CheckAddr(host, a, port)
		if err == nil {
			continue
		}
		if be, ok := err.(*BlockedAddressError); ok && be.Self {
			return invalid(field, "self_target",
				"%q on port %d is this dispatcher's own API; webhookd never delivers to itself", host, port)
		}
		return invalid(field, "private_target",
			"%q is a loopback, private, reserved or this machine's own address; add it to ALLOWED_PRIVATE_HOSTS to allow it (or set ALLOW_PRIVATE_TARGETS=true for development)", host)
	}
	return nil
}
