// Package httpsender delivers webhooks over net/http: signed POSTs with one
// deadline over the whole attempt, no redirects, a bounded response read, a
// keep-alive pool and a dial-time SSRF guard.
package httpsender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Sender = (*Sender)(nil)

// HeaderAttempt carries the 1-based attempt number to the receiver.
const HeaderAttempt = "X-Webhookd-Attempt"

const (
	// snippetLimit is how much of the response body is kept (DESIGN §2).
	snippetLimit = 1 << 10
	// drainLimit is how much more is read and discarded so the connection
	// can go back to the pool; past it, closing is cheaper than reading.
	drainLimit = 64 << 10
	// maxHeaderBytes bounds what a hostile receiver can make us buffer.
	maxHeaderBytes = 64 << 10

	maxIdleConns        = 512
	idleConnTimeout     = 90 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	tcpKeepAlive        = 30 * time.Second
)

// snippetBuffers hold what is read of response bodies, snippetLimit bytes.
var snippetBuffers = sync.Pool{New: func() any { return new([snippetLimit]byte) }}

// Sender is the real ports.Sender. It is safe for concurrent use.
type Sender struct {
	cfg       Config
	signer    *signing.Signer
	clock     ports.Clock
	transport *http.Transport
	rt        http.RoundTripper // the transport; a test's stand-in
}

// NewSender builds a Sender with its own connection pool.
func NewSender(cfg Config, signer *signing.Signer, clock ports.Clock) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if signer == nil || clock == nil {
		return nil, errors.New("httpsender: a signer and a clock are required")
	}
	t := newTransport(cfg)
	return &Sender{
		cfg:       cfg,
		signer:    signer,
		clock:     clock,
		transport: t,
		rt:        t,
	}, nil
}

func newTransport(cfg Config) *http.Transport {
	// Always guarded, even with AllowPrivate: the policy still refuses the
	// dispatcher's own API.
	dial := guardedDial(net.Dialer{Timeout: cfg.Timeout, KeepAlive: tcpKeepAlive}, cfg.Addresses)
	return &http.Transport{
		Proxy:                  nil, // never HTTP(S)_PROXY: the guard must see the real target
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           max(maxIdleConns, cfg.MaxIdleConnsPerHost),
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		TLSHandshakeTimeout:    min(tlsHandshakeTimeout, cfg.Timeout),
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		MaxResponseHeaderBytes: maxHeaderBytes,
		// We keep 1 KiB of the body as sent; transparent gzip would only
		// cost CPU and invite decompression bombs.
		DisableCompression: true,
	}
}

// Close drops idle keep-alive connections.
func (s *Sender) Close() { s.transport.CloseIdleConnections() }

// Send makes one attempt. Every attempt made returns an Outcome and a nil
// error; the error is non-nil only when ctx (our own shutdown) was
// cancelled before or during the attempt, and then nothing is to be
// recorded.
func (s *Sender) Send(ctx context.Context, d core.Request) (core.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return core.Outcome{}, fmt.Errorf("httpsender: %w", err)
	}
	start := time.Now()
	attemptCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	out, stage, err := s.attempt(attemptCtx, d)
	out.Duration = time.Since(start)
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return core.Outcome{}, fmt.Errorf("httpsender: %w", ctx.Err())
	}
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) {
		out.Timeout = true
		out.Err = stage + "timeout after " + s.cfg.Timeout.String()
		// A deadline that fired long after it was due means this process
		// was frozen or starved: the timeout says nothing about the target.
		if out.Duration > s.cfg.Timeout+stallSlack {
			out.Stalled = true
			out.Err += " (this process stalled for " + (out.Duration - s.cfg.Timeout).Round(time.Millisecond).String() + ")"
		}
		return out, nil
	}
	var netErr net.Error
	out.Timeout = errors.As(err, &netErr) && netErr.Timeout()
	out.Err = stage + describe(err)
	return out, nil
}

// stallSlack is how late a deadline may fire before the attempt counts as
// stalled (see core.Outcome.Stalled).
const stallSlack = time.Second

// stageBody prefixes failures that happened after the headers arrived.
const stageBody = "response body: "

// attempt performs the request under ctx. On failure it returns what was
// learnt so far (the status code) and the stage prefix for Outcome.Err.
func (s *Sender) attempt(ctx context.Context, d core.Request) (core.Outcome, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TargetURL, bytes.NewReader(d.Body))
	if err != nil {
		return core.Outcome{}, "invalid target url: ", err
	}
	// Room for the seven headers set here and by Sign, without growing;
	// the three below share one backing array.
	req.Header = make(http.Header, 8)
	fixed := []string{"application/json", s.cfg.UserAgent, strconv.Itoa(d.Attempt)}
	req.Header["Content-Type"], req.Header["User-Agent"], req.Header[HeaderAttempt] = fixed[0:1:1], fixed[1:2:2], fixed[2:3:3]
	signer := s.signer
	if len(d.Keys) > 0 {
		if signer, err = signing.NewKeySigner(d.Keys...); err != nil {
			return core.Outcome{}, "signing: ", err
		}
	}
	signer.Sign(req.Header, string(d.EventID), s.clock.Now(), d.Body)

	if u := req.URL.User; u != nil { // what http.Client would send for user-info
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}
	// The transport, not an http.Client: a redirect is the receiver's
	// answer, recorded as a 3xx and retried later (following it would let
	// a target bounce us to an address nobody validated), and the deadline
	// is on the context, which also covers reading the body. A Client
	// adds neither, only a copy of the headers per request, kept for
	// redirects it would not follow.
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		return core.Outcome{}, "", err
	}
	defer resp.Body.Close()

	out := core.Outcome{
		StatusCode: resp.StatusCode,
		RetryAfter: core.ParseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now()),
	}
	buf := snippetBuffers.Get().(*[snippetLimit]byte)
	n, err := readHead(resp.Body, buf[:])
	out.Response = snippet(buf[:n], snippetLimit) // a copy
	snippetBuffers.Put(buf)
	if err != nil {
		return out, stageBody, err
	}
	// Reading to EOF lets the connection be reused (the +1 byte sees EOF
	// after exactly drainLimit). A longer body is cut: Close then drops
	// the connection, and the answer, the status, is already complete.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit+1)); err != nil {
		return out, stageBody, err
	}
	return out, "", nil
}

// readHead fills buf from r, or reads r to its end: io.ReadAll of
// io.LimitReader(r, len(buf)), into buf. A body cut short (the transport's
// io.ErrUnexpectedEOF) is an error, as any but io.EOF.
func readHead(r io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) && err == nil {
		var k int
		k, err = r.Read(buf[n:])
		n += k
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}
