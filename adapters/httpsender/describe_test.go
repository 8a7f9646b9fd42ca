package httpsender

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/webhookd/webhookd/core"
)

// dialErr wraps err the way net/http reports a failed dial.
func dialErr(err error) error {
	return &url.Error{Op: "Post", URL: "https://user:s3cret@example.com/hook?token=s3cret",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", dialErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), "connection refused"},
		{"reset", dialErr(os.NewSyscallError("read", syscall.ECONNRESET)), "connection reset by peer"},
		{"unreachable", dialErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), "host unreachable"},
		{"no such host", dialErr(&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), "dns: no such host nope.invalid"},
		{"dns timeout", dialErr(&net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}), "dns: timeout looking up slow.example"},
		{"dns other", dialErr(&net.DNSError{Err: "server misbehaving", Name: "x.example"}), "dns: server misbehaving"},
		{"blocked", dialErr(&core.BlockedAddressError{Host: "internal.example"}), `blocked: "internal.example" resolves to an address that is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)`},
		{"bad certificate", dialErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "tls: x509: certificate signed by unknown authority"},
		{"not tls", dialErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "tls: the server did not answer with TLS"},
		{"closed", &url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, "connection closed by the server"},
		{"other", &url.Error{Op: "Post", URL: "http://user:s3cret@x", Err: errors.New(`unsupported protocol scheme "ftp"`)}, `unsupported protocol scheme "ftp"`},
		{"long", errors.New(strings.Repeat("é", 300)), strings.Repeat("é", 126) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := describe(tc.err)
			if got != tc.want {
				t.Errorf("describe = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "s3cret") || len(got) > maxErrLen || !utf8.ValidString(got) {
				t.Errorf("describe = %q leaks the URL, is too long or is not UTF-8", got)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		max  int
		want string
	}{
		{"ascii", []byte("hello"), 10, "hello"},
		{"trailing half rune dropped", []byte("ab\xc3"), 10, "ab"},
		{"trailing 2 of 3 bytes dropped", []byte("ab\xe2\x82"), 10, "ab"},
		{"complete rune kept", []byte("ab€"), 10, "ab€"},
		{"invalid bytes replaced", []byte("a\xffb"), 10, "a\uFFFDb"},
		{"NUL removed", []byte("a\x00b"), 10, "ab"},
		{"a run of invalid bytes is one replacement", []byte("\xff\xfe\xfd\xfc"), 4, "\uFFFD"},
		{"replacements do not exceed max", []byte("a\xffb\xfec"), 5, "a\uFFFDb"},
		{"replacement cut on a rune boundary", []byte("ab\xff"), 4, "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := snippet(tc.in, tc.max)
			if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
				t.Errorf("snippet(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}
