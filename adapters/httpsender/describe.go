package httpsender

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/webhookd/webhookd/core"
)

// maxErrLen bounds Outcome.Err: it lands in logs, the database and the API.
const maxErrLen = 256

// describe turns a transport error into the short text kept as
// Outcome.Err. It never includes the URL: a target's query string or
// user-info may carry the merchant's secrets. Timeouts of the attempt's own
// deadline are reported by the caller, which knows the deadline.
func describe(err error) string {
	var (
		blocked *core.BlockedAddressError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		netErr  net.Error
		urlErr  *url.Error
	)
	switch {
	case errors.As(err, &blocked):
		return blocked.Error() // names the host, never the address it resolved to
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return clip("dns: no such host " + dnsErr.Name)
		case dnsErr.IsTimeout:
			return clip("dns: timeout looking up " + dnsErr.Name)
		}
		return clip("dns: " + dnsErr.Err)
	case errors.As(err, &certErr):
		return clip("tls: " + certErr.Err.Error())
	case errors.As(err, &recErr):
		return "tls: the server did not answer with TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	case errors.As(err, &netErr) && netErr.Timeout():
		// A transport timer (TLS handshake) rather than our deadline.
		return clip("timeout: " + innermost(err))
	}
	if errors.As(err, &urlErr) {
		err = urlErr.Err // *url.Error repeats the method and the full URL
	}
	return clip(err.Error())
}

// innermost is err's text without the *url.Error wrapper.
func innermost(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// clip bounds s to maxErrLen bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxErrLen {
		return s
	}
	return truncateUTF8(s, maxErrLen-len("…")) + "…"
}

// snippet makes the kept response prefix safe to store and show: valid
// UTF-8 (a rune cut at the limit is dropped, other invalid bytes become
// U+FFFD), no NUL bytes (PostgreSQL text rejects them), at most limit bytes.
func snippet(b []byte, limit int) string {
	if i := lastRuneStart(b); i >= 0 && !utf8.FullRune(b[i:]) {
		b = b[:i]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return truncateUTF8(s, limit)
}

// lastRuneStart is the index of the last byte that may start a rune among
// the final utf8.UTFMax bytes of b, or -1.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}

// truncateUTF8 cuts valid UTF-8 s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
