package signing_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core/signing"
)

// seedSecret is the example HMAC_SECRET of the seed's README.
const seedSecret = "b78943f3976a7bacbbc6de236063817691e6e441be5b14acc7ba25fc0b6dfca2"

type swVector struct {
	Name           string `json:"name"`
	Secret         string `json:"secret"`
	StandardSecret string `json:"standard_secret"`
	MsgID          string `json:"msg_id"`
	Timestamp      int64  `json:"timestamp"`
	Payload        string `json:"payload"`
	Signature      string `json:"signature"`
}

type hexVector struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Body   string `json:"body"`
	Hex    string `json:"hex"`
}

func loadVectors[T any](t *testing.T, file string) []T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Vectors []T }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatalf("%s: no vectors", file)
	}
	return doc.Vectors
}

func mustSecret(t *testing.T, s string) signing.Secret {
	t.Helper()
	sec, err := signing.ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret(%q): %v", s, err)
	}
	return sec
}

func mustSigner(t *testing.T, primary string, extra ...string) *signing.Signer {
	t.Helper()
	s, err := signing.NewSigner(primary, extra...)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustVerifier(t *testing.T, secrets ...string) *signing.Verifier {
	t.Helper()
	v, err := signing.NewVerifier(secrets...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func pinned(ts time.Time) func() time.Time { return func() time.Time { return ts } }

// hmacB64 and hmacHex compute expectations by hand, independently of the
// package's code paths.
func hmacB64(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func hmacHex(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func TestStandardWebhooksVectors(t *testing.T) {
	t.Parallel()
	vectors := loadVectors[swVector](t, "standardwebhooks_vectors.json")
	if vectors[0].Signature != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("the first vector must be the spec's published one, got %q", vectors[0].Signature)
	}
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			body := []byte(vec.Payload)
			ts := time.Unix(vec.Timestamp, 0)

			if got := mustSecret(t, vec.Secret).V1(vec.MsgID, vec.Timestamp, body); got != vec.Signature {
				t.Errorf("Secret.V1 = %q, want %q", got, vec.Signature)
			}

			h := http.Header{}
			mustSigner(t, vec.Secret).Sign(h, vec.MsgID, ts, body)
			for name, want := range map[string]string{
				signing.HeaderWebhookID:        vec.MsgID,
				signing.HeaderWebhookTimestamp: strconv.FormatInt(vec.Timestamp, 10),
				signing.HeaderWebhookSignature: vec.Signature,
			} {
				if got := h.Get(name); got != want {
					t.Errorf("Sign: %s = %q, want %q", name, got, want)
				}
			}

			v := mustVerifier(t, vec.Secret)
			v.Now = pinned(ts)
			if err := v.VerifyStandard(h, body); err != nil {
				t.Errorf("VerifyStandard: %v", err)
			}
			if err := v.VerifyStandard(h, append(body, ' ')); !errors.Is(err, signing.ErrNoMatch) {
				t.Errorf("VerifyStandard(one byte more) = %v, want ErrNoMatch", err)
			}

			if vec.StandardSecret != "" {
				std := mustSecret(t, vec.Secret).Standard()
				if std != vec.StandardSecret {
					t.Errorf("Standard() = %q, want %q", std, vec.StandardSecret)
				}
				v := mustVerifier(t, std)
				v.Now = pinned(ts)
				if err := v.VerifyStandard(h, body); err != nil {
					t.Errorf("VerifyStandard with the whsec_ form: %v", err)
				}
			}
		})
	}
}

func TestXSignatureVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range loadVectors[hexVector](t, "xsignature_vectors.json") {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			body := []byte(vec.Body)
			if got := mustSecret(t, vec.Secret).Hex(body); got != vec.Hex {
				t.Errorf("Secret.Hex = %q, want %q", got, vec.Hex)
			}
			h := http.Header{}
			mustSigner(t, vec.Secret).Sign(h, "any-id", time.Unix(1, 0), body)
			if got := h.Get(signing.HeaderSignature); got != vec.Hex {
				t.Errorf("Sign: X-Signature = %q, want %q", got, vec.Hex)
			}

			v := mustVerifier(t, vec.Secret)
			for _, sig := range []string{vec.Hex, strings.ToUpper(vec.Hex), " " + vec.Hex + " "} {
				if err := v.VerifyHex(http.Header{signing.HeaderSignature: {sig}}, body); err != nil {
					t.Errorf("VerifyHex(%q): %v", sig, err)
				}
			}
			tampered := bytes.Replace(body, []byte(`"event_id":"0`), []byte(`"event_id":"1`), 1)
			if err := v.VerifyHex(http.Header{signing.HeaderSignature: {vec.Hex}}, tampered); !errors.Is(err, signing.ErrNoMatch) {
				t.Errorf("VerifyHex(tampered body) = %v, want ErrNoMatch", err)
			}
		})
	}
}

func TestVerifyStandardTolerance(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event_id":"e1"}`)
	tests := []struct {
		name      string
		tolerance time.Duration
		offset    time.Duration // signed at now + offset
		wantErr   error
	}{
		{"exact", 0, 0, nil},
		{"default, old boundary", 0, -signing.DefaultTimestampTolerance, nil},
		{"default, new boundary", 0, signing.DefaultTimestampTolerance, nil},
		{"default, too old", 0, -signing.DefaultTimestampTolerance - time.Second, signing.ErrTimestampRange},
		{"default, too new", 0, signing.DefaultTimestampTolerance + time.Second, signing.ErrTimestampRange},
		{"custom, old boundary", 10 * time.Second, -10 * time.Second, nil},
		{"custom, too old", 10 * time.Second, -11 * time.Second, signing.ErrTimestampRange},
		{"custom, too new", 10 * time.Second, 11 * time.Second, signing.ErrTimestampRange},
		{"far future", 0, 100 * 365 * 24 * time.Hour, signing.ErrTimestampRange},
	}
	signer := mustSigner(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			signer.Sign(h, "e1", now.Add(tc.offset), body)
			v := mustVerifier(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
			v.Now, v.Tolerance = pinned(now), tc.tolerance
			if err := v.VerifyStandard(h, body); !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyStandard = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyStandardRejects(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event_id":"evt_1","amount":10}`)
	signed := http.Header{}
	mustSigner(t, secret).Sign(signed, "evt_1", now, body)
	goodSig := signed.Get(signing.HeaderWebhookSignature)

	tests := []struct {
		name    string
		edit    func(h http.Header)
		body    []byte
		wantErr error
	}{
		{"untouched", func(http.Header) {}, body, nil},
		{"missing id", func(h http.Header) { h.Del(signing.HeaderWebhookID) }, body, signing.ErrMissingHeaders},
		{"missing timestamp", func(h http.Header) { h.Del(signing.HeaderWebhookTimestamp) }, body, signing.ErrMissingHeaders},
		{"missing signature", func(h http.Header) { h.Del(signing.HeaderWebhookSignature) }, body, signing.ErrMissingHeaders},
		{"timestamp not a number", func(h http.Header) { h.Set(signing.HeaderWebhookTimestamp, "yesterday") }, body, signing.ErrInvalidTimestamp},
		{"timestamp with fraction", func(h http.Header) { h.Set(signing.HeaderWebhookTimestamp, "1700000000.5") }, body, signing.ErrInvalidTimestamp},
		{"timestamp in milliseconds", func(h http.Header) { h.Set(signing.HeaderWebhookTimestamp, "1700000000000") }, body, signing.ErrTimestampRange},
		{"tampered body", func(http.Header) {}, []byte(`{"event_id":"evt_1","amount":1000}`), signing.ErrNoMatch},
		{"tampered id", func(h http.Header) { h.Set(signing.HeaderWebhookID, "evt_2") }, body, signing.ErrNoMatch},
		{"replayed with a fresh timestamp", func(h http.Header) { h.Set(signing.HeaderWebhookTimestamp, "1700000001") }, body, signing.ErrNoMatch},
		{"v2 entry carrying the v1 mac", func(h http.Header) {
			h.Set(signing.HeaderWebhookSignature, "v2,"+strings.TrimPrefix(goodSig, "v1,"))
		}, body, signing.ErrNoMatch},
		{"v2 entries ignored next to a good v1", func(h http.Header) {
			h.Set(signing.HeaderWebhookSignature, "v2,AAAA v1a,"+strings.TrimPrefix(goodSig, "v1,")+"  "+goodSig)
		}, body, nil},
		{"truncated signature", func(h http.Header) { h.Set(signing.HeaderWebhookSignature, goodSig[:len(goodSig)-2]) }, body, signing.ErrNoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := signed.Clone()
			tc.edit(h)
			v := mustVerifier(t, secret)
			v.Now = pinned(now)
			if err := v.VerifyStandard(h, tc.body); !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyStandard = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyHexRejects(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_id":"evt_1"}`)
	good := mustSecret(t, seedSecret).Hex(body)
	tests := []struct {
		name    string
		sig     string
		wantErr error
	}{
		{"good", good, nil},
		{"missing", "", signing.ErrMissingHeaders},
		{"blank", "   ", signing.ErrMissingHeaders},
		{"other secret", mustSecret(t, "other").Hex(body), signing.ErrNoMatch},
		{"truncated", good[:63], signing.ErrNoMatch},
		{"sha256= prefix", "sha256=" + good, signing.ErrNoMatch},
	}
	v := mustVerifier(t, seedSecret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.sig != "" {
				h.Set(signing.HeaderSignature, tc.sig)
			}
			if err := v.VerifyHex(h, body); !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyHex = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	const (
		oldSecret = "old-secret-text"
		newSecret = "whsec_bmV3LXNlY3JldC1rZXktMzItYnl0ZXMtbG9uZyEh"
	)
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event_id":"evt_rot"}`)
	h := http.Header{}
	mustSigner(t, oldSecret, newSecret).Sign(h, "evt_rot", now, body)

	sigs := strings.Fields(h.Get(signing.HeaderWebhookSignature))
	wantSigs := []string{
		mustSecret(t, oldSecret).V1("evt_rot", now.Unix(), body),
		mustSecret(t, newSecret).V1("evt_rot", now.Unix(), body),
	}
	if strings.Join(sigs, " ") != strings.Join(wantSigs, " ") {
		t.Fatalf("webhook-signature = %q, want one v1 per secret, primary first: %q", sigs, wantSigs)
	}
	if got, want := h.Get(signing.HeaderSignature), mustSecret(t, oldSecret).Hex(body); got != want {
		t.Errorf("X-Signature = %q, want the primary's %q", got, want)
	}

	tests := []struct {
		name        string
		secrets     []string
		wantStd     error
		wantHex     error
		withV2Noise bool
	}{
		{name: "old only", secrets: []string{oldSecret}},
		{name: "new only", secrets: []string{newSecret}, wantHex: signing.ErrNoMatch}, // X-Signature carries the primary only
		{name: "both", secrets: []string{newSecret, oldSecret}},
		{name: "new only, v2 entries ignored", secrets: []string{newSecret}, wantHex: signing.ErrNoMatch, withV2Noise: true},
		{name: "neither", secrets: []string{"unrelated"}, wantStd: signing.ErrNoMatch, wantHex: signing.ErrNoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hh := h.Clone()
			if tc.withV2Noise {
				hh.Set(signing.HeaderWebhookSignature, "v2,Zm9v "+hh.Get(signing.HeaderWebhookSignature)+" v2,YmFy")
			}
			v := mustVerifier(t, tc.secrets...)
			v.Now = pinned(now)
			if err := v.VerifyStandard(hh, body); !errors.Is(err, tc.wantStd) {
				t.Errorf("VerifyStandard = %v, want %v", err, tc.wantStd)
			}
			if err := v.VerifyHex(hh, body); !errors.Is(err, tc.wantHex) {
				t.Errorf("VerifyHex = %v, want %v", err, tc.wantHex)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	msg := "id.1.{}"
	tests := []struct {
		name    string
		in      string
		wantKey []byte // the Standard Webhooks key; nil when an error is expected
	}{
		{"whsec decoded", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", mustB64(t, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		{"plain used as raw bytes", seedSecret, []byte(seedSecret)},
		{"plain base64-looking text is not decoded", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		{"prefix elsewhere is plain", "my_whsec_x", []byte("my_whsec_x")},
		{"empty", "", nil},
		{"whsec with nothing after", "whsec_", nil},
		{"whsec with invalid base64", "whsec_not base64!", nil},
		{"whsec with bad padding", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", nil},
		{"whsec with url-safe alphabet", "whsec_-_-_", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sec, err := signing.ParseSecret(tc.in)
			if tc.wantKey == nil {
				if err == nil {
					t.Fatalf("ParseSecret(%q) accepted it", tc.in)
				}
				if _, err := signing.NewSigner("ok", tc.in); err == nil {
					t.Errorf("NewSigner accepted the bad extra secret %q", tc.in)
				}
				if _, err := signing.NewVerifier("ok", tc.in); err == nil {
					t.Errorf("NewVerifier accepted the bad secret %q", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret(%q): %v", tc.in, err)
			}
			if got, want := sec.V1("id", 1, []byte("{}")), "v1,"+hmacB64(tc.wantKey, msg); got != want {
				t.Errorf("V1 = %q, want %q (keyed with %q)", got, want, tc.wantKey)
			}
			// X-Signature is always keyed with the text itself (seed rule).
			if got, want := sec.Hex([]byte("{}")), hmacHex([]byte(tc.in), "{}"); got != want {
				t.Errorf("Hex = %q, want %q", got, want)
			}
		})
	}
}

func TestNewVerifierNeedsASecret(t *testing.T) {
	t.Parallel()
	if _, err := signing.NewVerifier(); err == nil {
		t.Fatal("NewVerifier() with no secret succeeded")
	}
}

func TestStandardRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{seedSecret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "short", "ünïcødé secret"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			sec := mustSecret(t, in)
			std := sec.Standard()
			if !strings.HasPrefix(std, "whsec_") {
				t.Fatalf("Standard() = %q, want the whsec_ form", std)
			}
			if strings.HasPrefix(in, "whsec_") && std != in {
				t.Errorf("Standard() of a whsec_ secret = %q, want it unchanged", std)
			}
			again := mustSecret(t, std)
			if again.Standard() != std {
				t.Errorf("Standard() is not stable: %q then %q", std, again.Standard())
			}
			body := []byte(`{"event_id":"evt_rt","n":1}`)
			if a, b := sec.V1("evt_rt", 1_700_000_000, body), again.V1("evt_rt", 1_700_000_000, body); a != b {
				t.Errorf("ParseSecret(Standard()) signs %q, the original %q", b, a)
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInteropStandardWebhooksJS verifies webhookd-signed deliveries with the
// official Standard Webhooks JavaScript library (testdata/interop). `make
// test` enables it when npm is available (scripts/interop-setup.sh); CI
// also sets WEBHOOKD_REQUIRE_INTEROP=1 so that it can never silently skip.
func TestInteropStandardWebhooksJS(t *testing.T) {
	dir := os.Getenv("SIGNING_INTEROP_DIR")
	if dir == "" {
		if os.Getenv("WEBHOOKD_REQUIRE_INTEROP") != "" {
			t.Fatal("WEBHOOKD_REQUIRE_INTEROP is set but SIGNING_INTEROP_DIR is not: run scripts/interop-setup.sh (needs node and npm)")
		}
		t.Skip("SIGNING_INTEROP_DIR is not set: set it to a copy of core/signing/testdata/interop where `npm ci` ran to verify with the official standardwebhooks JS library")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("SIGNING_INTEROP_DIR is set but node is not on PATH: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "interop", "verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}

	const newSecret = "whsec_bmV3LXNlY3JldC1rZXktMzItYnl0ZXMtbG9uZyEh"
	body := []byte(`{"event_id":"0b6f3a52-8c1d-4e7a-9f2b-5d4c3e2a1b09","amount":12345678901234567890,"total":1.0,"note":"café"}`)
	const id = "0b6f3a52-8c1d-4e7a-9f2b-5d4c3e2a1b09"
	now := time.Now() // the library checks the timestamp against its own clock

	tests := []struct {
		name     string
		signWith []string // primary first
		jsSecret string   // what the merchant configures in the library
		signedAt time.Time
		editBody func([]byte) []byte
		editID   string
		wantExit int
	}{
		{name: "plain HMAC_SECRET, merchant uses Standard()", signWith: []string{seedSecret},
			jsSecret: mustSecret(t, seedSecret).Standard(), signedAt: now},
		{name: "whsec secret", signWith: []string{newSecret}, jsSecret: newSecret, signedAt: now},
		{name: "rotation, merchant has the new secret", signWith: []string{seedSecret, newSecret}, jsSecret: newSecret, signedAt: now},
		{name: "rotation, merchant has the old secret", signWith: []string{seedSecret, newSecret},
			jsSecret: mustSecret(t, seedSecret).Standard(), signedAt: now},
		{name: "tampered body rejected", signWith: []string{newSecret}, jsSecret: newSecret, signedAt: now,
			editBody: func(b []byte) []byte { return bytes.Replace(b, []byte("1.0"), []byte("2.0"), 1) }, wantExit: 1},
		{name: "tampered id rejected", signWith: []string{newSecret}, jsSecret: newSecret, signedAt: now,
			editID: "another-id", wantExit: 1},
		{name: "wrong secret rejected", signWith: []string{seedSecret}, jsSecret: newSecret, signedAt: now, wantExit: 1},
		{name: "stale timestamp rejected", signWith: []string{newSecret}, jsSecret: newSecret,
			signedAt: now.Add(-10 * time.Minute), wantExit: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			mustSigner(t, tc.signWith[0], tc.signWith[1:]...).Sign(h, id, tc.signedAt, body)
			sent := body
			if tc.editBody != nil {
				sent = tc.editBody(bytes.Clone(body))
			}
			if tc.editID != "" {
				h.Set(signing.HeaderWebhookID, tc.editID)
			}
			in, err := json.Marshal(map[string]any{
				"secret": tc.jsSecret,
				"body":   string(sent),
				"headers": map[string]string{
					"webhook-id":        h.Get(signing.HeaderWebhookID),
					"webhook-timestamp": h.Get(signing.HeaderWebhookTimestamp),
					"webhook-signature": h.Get(signing.HeaderWebhookSignature),
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), node, script)
			cmd.Dir = dir
			cmd.Stdin = bytes.NewReader(in)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			exit := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("run node: %v", err)
			}
			if exit != tc.wantExit {
				t.Fatalf("verify.mjs exit %d, want %d; stdout %q stderr %q", exit, tc.wantExit, stdout.String(), stderr.String())
			}
			if exit == 0 {
				t.Logf("accepted by %s", strings.TrimSpace(stdout.String()))
			} else {
				t.Logf("rejected as expected: %s", strings.TrimSpace(stderr.String()))
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret string
		weak         bool
	}{
		{"empty", "", true},
		{"one byte", "a", true},
		{"31 bytes", strings.Repeat("k", 31), true},
		{"seed example", signing.SeedExampleSecret, true},
		{"whsec with a 24-byte key", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)), true},
		{"bad whsec", "whsec_!!", true},
		{"32 bytes", strings.Repeat("k", 32), false},
		{"64 hex characters", strings.Repeat("ab", 32), false},
		{"whsec with a 32-byte key", "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := signing.CheckSecret(tc.secret); (err != nil) != tc.weak {
				t.Errorf("CheckSecret = %v, want weak=%v", err, tc.weak)
			}
		})
	}
}

// An endpoint's deliveries verify, both schemes, with the one "whsec_…"
// string the merchant was given, and with no other endpoint's.
func TestKeySignerVerifiesWithTheEndpointSecret(t *testing.T) {
	t.Parallel()
	key, other := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s, err := signing.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_id":"x","n":1}`)
	h := http.Header{}
	s.Sign(h, "x", time.Now(), body)
	mine, _ := signing.NewVerifier(signing.EndpointSecretText(key))
	theirs, _ := signing.NewVerifier(signing.EndpointSecretText(other))
	if err := mine.VerifyStandard(h, body); err != nil {
		t.Errorf("standard with its own secret: %v", err)
	}
	if err := mine.VerifyHex(h, body); err != nil {
		t.Errorf("X-Signature with its own secret: %v", err)
	}
	if theirs.VerifyStandard(h, body) == nil || theirs.VerifyHex(h, body) == nil {
		t.Error("another endpoint's secret verifies this delivery")
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if got, want := h.Get(signing.HeaderSignature), hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("X-Signature = %s, want the hex HMAC keyed by the key bytes %s", got, want)
	}
	if _, err := signing.NewKeySigner(); err == nil {
		t.Error("NewKeySigner() with no key")
	}
	if _, err := signing.NewKeySigner(nil); err == nil {
		t.Error("NewKeySigner(nil) accepted an empty key")
	}
}

// A Signer (and a Verifier) reuses its keyed HMACs: however many
// deliveries it signs, from however many goroutines, each gets the
// signatures an HMAC keyed afresh gives.
func TestSignerSignsEachDeliveryAfresh(t *testing.T) {
	t.Parallel()
	const primary, extra = "old-secret-text", "whsec_bmV3LXNlY3JldC1rZXktMzItYnl0ZXMtbG9uZyEh"
	signer := mustSigner(t, primary, extra)
	// Any timestamp is fresh enough: these are from 2023.
	verifier := &signing.Verifier{Secrets: []signing.Secret{mustSecret(t, extra)}, Tolerance: time.Duration(math.MaxInt64)}
	extraKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(extra, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	// The reference: crypto/hmac keyed afresh for every message.
	v1 := func(key []byte, id string, at time.Time, body []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
		m.Write(body)
		return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	hexOf := func(key, body []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("evt_%d_%d", g, i)
				at := time.Unix(1_700_000_000+int64(i), 0)
				body := []byte(strings.Repeat("x", i) + `{"n":` + strconv.Itoa(i) + `}`)
				h := http.Header{}
				signer.Sign(h, id, at, body)
				want := v1([]byte(primary), id, at, body) + " " + v1(extraKey, id, at, body)
				if got := h.Get(signing.HeaderWebhookSignature); got != want {
					t.Errorf("%s: webhook-signature = %q, want %q", id, got, want)
					return
				}
				if got, want := h.Get(signing.HeaderSignature), hexOf([]byte(primary), body); got != want {
					t.Errorf("%s: X-Signature = %q, want %q", id, got, want)
					return
				}
				if err := verifier.VerifyStandard(h, body); err != nil {
					t.Errorf("%s: VerifyStandard: %v", id, err)
					return
				}
				if err := verifier.VerifyStandard(h, append(body, ' ')); !errors.Is(err, signing.ErrNoMatch) {
					t.Errorf("%s: VerifyStandard of another body: %v, want ErrNoMatch", id, err)
					return
				}
				if h.Get(signing.HeaderWebhookID) != id || h.Get(signing.HeaderWebhookTimestamp) != strconv.FormatInt(at.Unix(), 10) {
					t.Errorf("%s: webhook-id %q, webhook-timestamp %q", id, h.Get(signing.HeaderWebhookID), h.Get(signing.HeaderWebhookTimestamp))
					return
				}
			}
		})
	}
	wg.Wait()
}
