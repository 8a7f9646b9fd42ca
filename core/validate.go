package core

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
)

// MaxTargetURLLength bounds target URLs (the seed answered 500 past 2048).
const MaxTargetURLLength = 2048

// MaxIdempotencyKeyLength bounds Idempotency-Key values.
const MaxIdempotencyKeyLength = 255

// ValidateTargetURL checks that raw is an absolute http(s) URL with a host,
// and returns its origin (scheme://host:port, lower-cased).
func ValidateTargetURL(raw string) (origin string, err error) {
	const field, code = "target_url", "invalid_target_url"
	if raw == "" {
		return "", invalid(field, "missing_target_url", "is required (or set TARGET_URL as a default)")
	}
	if len(raw) > MaxTargetURLLength {
		return "", invalid(field, code, "is longer than %d characters", MaxTargetURLLength)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", invalid(field, code, "must not contain white space or control characters")
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", invalid(field, code, "is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" {
		return "", invalid(field, code, "must be an absolute http:// or https:// URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", invalid(field, code, "scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", invalid(field, code, "must have a host")
	}
	if !hostSyntax(u.Hostname()) {
		return "", invalid(field, code, "host %q is not a valid host name or IP address", u.Hostname())
	}
	if ambiguousNumericHost(u.Hostname()) {
		return "", invalid(field, code, "host %q is a numeric address in a non-canonical form; write the IP address as a.b.c.d", u.Hostname())
	}
	if p := u.Port(); p != "" {
		if n, ok := portNumber(p); !ok || n == 0 {
			return "", invalid(field, code, "has an invalid port %q", p)
		}
	}
	return Origin(u), nil
}

// ParseOrigin reads a filter's target origin: an http(s) URL, of which
// only scheme, host and port count (https://merchant.example and
// https://merchant.example:443/hooks are one origin).
func ParseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(raw) > MaxTargetURLLength {
		return "", invalid("origin", "invalid_origin", "must be an http or https URL like https://merchant.example")
	}
	return Origin(u), nil
}

// Origin returns scheme://host:port of u, lower-cased, with the default
// port made explicit so that http://a and http://a:80 are one target.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func portNumber(s string) (int, bool) {
	if len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 65535
}

// ValidateIdempotencyKey accepts up to 255 printable ASCII characters.
func ValidateIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKeyLength {
		return invalid("Idempotency-Key", "invalid_idempotency_key", "is longer than %d characters", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return invalid("Idempotency-Key", "invalid_idempotency_key", "must be printable ASCII")
		}
	}
	return nil
}

// hostSyntax accepts an IP address or a valid host name. url.Parse is
// lenient about hosts ("http://]0" parses), and an origin built from such
// a host could not even be split again.
func hostSyntax(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return validHostName(strings.TrimSuffix(host, "."))
}

// ambiguousNumericHost catches hosts such as 2130706433, 0x7f000001 or
// 0177.0.0.1: some resolvers read them as IP addresses (127.0.0.1), which
// would hide a private target from a reader and from the SSRF guard. A
// hostname's last label is never all digits, so such a host must be a
// canonical IP address.
func ambiguousNumericHost(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	numeric := strings.Trim(labels[len(labels)-1], "0123456789") == ""
	for _, l := range labels {
		if strings.HasPrefix(strings.ToLower(l), "0x") {
			numeric = true
		}
	}
	if !numeric {
		return false
	}
	_, err := netip.ParseAddr(host)
	return err != nil
}
