package httpsender

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/signing"
)

const (
	testSecret = "seed-secret"
	testID     = core.EventID("0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70")
)

var rotatedSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the next key"))

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func testClock() fixedClock { return fixedClock{t: time.Now().Truncate(time.Second)} }

// newTestSender builds a Sender for 127.0.0.1 test servers.
func newTestSender(t *testing.T, cfg Config, clock fixedClock) *Sender {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	signer, err := signing.NewSigner(testSecret, rotatedSecret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(cfg, signer, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func delivery(url string) core.Request {
	return core.Request{EventID: testID, TargetURL: url, Body: []byte(`{"a":1,"event_id":"` + string(testID) + `"}`), Attempt: 1}
}

// send runs one attempt that must produce an outcome.
func send(t *testing.T, s *Sender, d core.Request) core.Outcome {
	t.Helper()
	out, err := s.Send(t.Context(), d)
	if err != nil {
		t.Fatalf("Send: unexpected error %v", err)
	}
	return out
}

type received struct {
	method, uri string
	header      http.Header
	body        []byte
}

func TestSendDeliversSignedBody(t *testing.T) {
	t.Parallel()
	got := make(chan received, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.RequestURI, r.Header.Clone(), body}
		_, _ = io.WriteString(w, `{"received":true}`)
	})
	clock := testClock()
	s := newTestSender(t, Config{UserAgent: "webhookd/0.1.0", Addresses: core.AddressPolicy{AllowPrivate: true}}, clock)
	// Big integers, non-ASCII and odd spacing must arrive byte for byte.
	d := core.Request{
		EventID:   testID,
		TargetURL: srv.URL + "/hooks/pay?tenant=7",
		Body:      []byte(`{"amount": 12345678901234567890, "name":"Zoë\u00e9", "x":1.0,"event_id":"` + string(testID) + `"}`),
		Attempt:   3,
	}

	out := send(t, s, d)
	if !out.Succeeded() || out.StatusCode != http.StatusOK || out.Response != `{"received":true}` {
		t.Fatalf("outcome = %+v, want 200 with the response body", out)
	}
	r := <-got
	if r.method != http.MethodPost || r.uri != "/hooks/pay?tenant=7" {
		t.Errorf("request = %s %s, want POST /hooks/pay?tenant=7", r.method, r.uri)
	}
	if string(r.body) != string(d.Body) {
		t.Errorf("body = %q, want %q", r.body, d.Body)
	}
	for name, want := range map[string]string{
		"Content-Type":                 "application/json",
		"User-Agent":                   "webhookd/0.1.0",
		"X-Webhookd-Attempt":           "3",
		"Content-Length":               strconv.Itoa(len(d.Body)),
		signing.HeaderWebhookID:        string(testID),
		signing.HeaderWebhookTimestamp: strconv.FormatInt(clock.t.Unix(), 10),
		"Accept-Encoding":              "", // no transparent gzip
	} {
		if v := r.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
	if n := len(strings.Fields(r.header.Get(signing.HeaderWebhookSignature))); n != 2 {
		t.Errorf("webhook-signature has %d signatures, want one per secret (2)", n)
	}
	for _, sec := range []string{testSecret, rotatedSecret} {
		v, err := signing.NewVerifier(sec)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifyStandard(r.header, r.body); err != nil {
			t.Errorf("VerifyStandard with %q: %v", sec, err)
		}
	}
	v, _ := signing.NewVerifier(testSecret)
	if err := v.VerifyHex(r.header, r.body); err != nil {
		t.Errorf("VerifyHex: %v", err)
	}
}

func TestSendReturnsStatusCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []int{200, 201, 204, 400, 404, 410, 429, 500, 503} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
				if code != http.StatusNoContent {
					_, _ = io.WriteString(w, "code "+strconv.Itoa(code))
				}
			})
			out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery(srv.URL))
			want := "code " + strconv.Itoa(code)
			if code == http.StatusNoContent {
				want = ""
			}
			if out.StatusCode != code || out.Err != "" || out.Timeout || out.Response != want {
				t.Errorf("outcome = %+v, want status %d, response %q, no error", out, code, want)
			}
			if out.Duration <= 0 {
				t.Errorf("duration = %s, want > 0", out.Duration)
			}
		})
	}
}

// A target URL's user-info is sent as Basic authentication, as
// http.Client sends it.
func TestSendUserInfoAsBasicAuth(t *testing.T) {
	t.Parallel()
	type creds struct {
		user, password string
		ok             bool
	}
	got := make(chan creds, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got <- creds{u, p, ok}
	})
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User, u.Path = url.UserPassword("merchant", "s3cr:et"), "/hook"
	out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery(u.String()))
	if !out.Succeeded() {
		t.Fatalf("outcome = %+v", out)
	}
	if c := <-got; c != (creds{"merchant", "s3cr:et", true}) {
		t.Errorf("Basic auth = %+v, want merchant / s3cr:et", c)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	target := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})

	out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery(srv.URL))
	if out.StatusCode != http.StatusFound || out.Err != "" || out.Succeeded() {
		t.Errorf("outcome = %+v, want an unfollowed 302", out)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
}

func TestSendBoundsTheWholeAttempt(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantErr    string
	}{
		{
			name: "headers then a dripping body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				for range 20 { // 2 s of body, one byte every 100 ms
					select {
					case <-r.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					_, _ = w.Write([]byte("x"))
					w.(http.Flusher).Flush()
				}
			},
			wantStatus: http.StatusOK,
			wantErr:    "response body: timeout after 300ms",
		},
		{
			name: "no headers at all",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			wantErr: "timeout after 300ms",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.handler)
			s := newTestSender(t, Config{Timeout: timeout, Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock())

			start := time.Now()
			out := send(t, s, delivery(srv.URL))
			took := time.Since(start)

			if took > time.Second || out.Duration > time.Second || out.Duration < timeout {
				t.Errorf("attempt took %s (Duration %s), want about %s", took, out.Duration, timeout)
			}
			if !out.Timeout || out.Stalled || out.Err != tc.wantErr || out.StatusCode != tc.wantStatus || out.Succeeded() {
				t.Errorf("outcome = %+v, want Timeout (not stalled), Err %q, status %d", out, tc.wantErr, tc.wantStatus)
			}
			if !out.TargetUnhealthy() {
				t.Errorf("a timeout must count against the target")
			}
		})
	}
}

// stallingTransport ignores the deadline, as a frozen process would: it
// returns only after `for`, long past the attempt's deadline.
type stallingTransport struct{ d time.Duration }

func (s stallingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	time.Sleep(s.d)
	return nil, req.Context().Err()
}

func TestSendStalledProcessIsNotTheTargetsFault(t *testing.T) {
	t.Parallel()
	s := newTestSender(t, Config{Timeout: 50 * time.Millisecond, Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock())
	s.rt = stallingTransport{d: 50*time.Millisecond + stallSlack + 200*time.Millisecond}
	out := send(t, s, delivery("http://127.0.0.1:9/hook"))
	if !out.Timeout || !out.Stalled || !strings.Contains(out.Err, "stalled") {
		t.Fatalf("outcome = %+v, want a stalled timeout", out)
	}
	if out.TargetUnhealthy() || out.Succeeded() {
		t.Errorf("a stalled attempt must fail without counting against the target: %+v", out)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery("http://"+addr+"/hook"))
	if out.Err != "connection refused" || out.StatusCode != 0 || out.Timeout {
		t.Errorf("outcome = %+v, want Err %q", out, "connection refused")
	}
}

func TestSendBodyCutShort(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "only ten..") // the server then drops the connection
	})
	out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery(srv.URL))
	if out.StatusCode != http.StatusOK || out.Err != "response body: connection closed by the server" || out.Succeeded() {
		t.Errorf("outcome = %+v, want a failed 200 with a cut body", out)
	}
	if out.Response != "only ten.." {
		t.Errorf("response = %q, want what arrived", out.Response)
	}
}

func TestSendParsesRetryAfter(t *testing.T) {
	t.Parallel()
	clock := testClock()
	tests := []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "120", 120 * time.Second},
		{"http date", clock.t.Add(90 * time.Second).UTC().Format(http.TimeFormat), 90 * time.Second},
		{"absent", "", 0},
		{"junk", "soon", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, clock), delivery(srv.URL))
			if out.RetryAfter != tc.want || out.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("outcome = %+v, want RetryAfter %s", out, tc.want)
			}
		})
	}
}

func TestSendKeepsAResponseSnippet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"short", "ok", "ok"},
		{"cut at 1 KiB", strings.Repeat("c", 2048), strings.Repeat("c", 1024)},
		{"rune split by the cut", strings.Repeat("a", 1023) + "é" + strings.Repeat("b", 3000), strings.Repeat("a", 1023)},
		{"longer than the drain limit", strings.Repeat("d", 200<<10), strings.Repeat("d", 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, tc.body) })
			out := send(t, newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock()), delivery(srv.URL))
			if !out.Succeeded() || out.Response != tc.want || !utf8.ValidString(out.Response) {
				t.Errorf("outcome = %+v (response %d bytes), want success with %d bytes", out, len(out.Response), len(tc.want))
			}
		})
	}
}

func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		bodyLen   int
		wantConns int32
	}{
		{"small bodies are drained", 2 << 10, 1},
		{"a body past the drain limit closes its connection", 200 << 10, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, strings.Repeat("r", tc.bodyLen))
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			s := newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock())

			for i := range 20 {
				if out := send(t, s, delivery(srv.URL)); !out.Succeeded() {
					t.Fatalf("send %d: %+v", i, out)
				}
			}
			if n := conns.Load(); n != tc.wantConns {
				t.Errorf("server saw %d connections for 20 sequential sends, want %d", n, tc.wantConns)
			}
		})
	}
}

func TestSendParentCancelledIsNotAnOutcome(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s := newTestSender(t, Config{Timeout: 5 * time.Second, Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock())

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		out, err := s.Send(ctx, delivery(srv.URL))
		if !errors.Is(err, context.Canceled) || out != (core.Outcome{}) {
			t.Errorf("Send = %+v, %v; want no outcome and context.Canceled", out, err)
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("server received %d requests, want 0", n)
		}
	})
	t.Run("cancelled during the attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		out, err := s.Send(ctx, delivery(srv.URL))
		if !errors.Is(err, context.Canceled) || out != (core.Outcome{}) {
			t.Errorf("Send = %+v, %v; want no outcome and context.Canceled", out, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Send returned after %s, want soon after the cancel", took)
		}
	})
}

func TestSendBlocksPrivateTargets(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: false}}, testClock())

	tests := []struct{ name, url, wantErr string }{
		{"loopback literal", srv.URL, "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"},
		{"IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:" + port, "blocked: the target address is not publicly routable (allow it with ALLOWED_PRIVATE_HOSTS)"},
		{"name resolving to loopback", "http://localhost:" + port, "blocked: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := send(t, s, delivery(tc.url))
			if !strings.HasPrefix(out.Err, tc.wantErr) || out.StatusCode != 0 {
				t.Errorf("outcome = %+v, want Err starting %q", out, tc.wantErr)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server received %d requests, want 0", n)
	}
}

func TestSendInvalidTargetIsAnOutcome(t *testing.T) {
	t.Parallel()
	s := newTestSender(t, Config{Addresses: core.AddressPolicy{AllowPrivate: true}}, testClock())
	tests := []struct{ name, url, wantErr string }{
		{"unparsable", "http://user:s3cret@[::1", "invalid target url: missing ']' in host"},
		{"unsupported scheme", "ftp://user:s3cret@127.0.0.1/x", `unsupported protocol scheme "ftp"`},
		{"empty", "", `unsupported protocol scheme ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := send(t, s, delivery(tc.url))
			if out.Err != tc.wantErr || out.StatusCode != 0 {
				t.Errorf("outcome = %+v, want Err %q", out, tc.wantErr)
			}
		})
	}
}

func TestNewSenderConfig(t *testing.T) {
	t.Parallel()
	signer, _ := signing.NewSigner(testSecret)
	if _, err := NewSender(Config{Timeout: -time.Second}, signer, testClock()); err == nil {
		t.Error("negative Timeout accepted")
	}
	if s, err := NewSender(Config{}, signer, testClock()); err != nil || s.cfg.Timeout != DefaultConfig().Timeout {
		t.Errorf("zero Timeout: %v, want the default", err)
	}
	if _, err := NewSender(Config{Timeout: time.Second, UserAgent: "a\r\nX-Evil: 1"}, signer, testClock()); err == nil {
		t.Error("user agent with CR LF accepted")
	}
	if _, err := NewSender(Config{Timeout: time.Second}, nil, testClock()); err == nil {
		t.Error("nil signer accepted")
	}
	s, err := NewSender(Config{Timeout: time.Second}, signer, testClock())
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.UserAgent != "webhookd" || s.transport.MaxIdleConnsPerHost != 32 || s.transport.Proxy != nil {
		t.Errorf("defaults: UserAgent %q, MaxIdleConnsPerHost %d, Proxy set %v",
			s.cfg.UserAgent, s.transport.MaxIdleConnsPerHost, s.transport.Proxy != nil)
	}
}
