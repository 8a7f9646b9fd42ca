package signing_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core/signing"
)

// The fuzz targets check the signing code against an oracle computed here
// with crypto/hmac alone, so that a bug shared by Sign and Verify (both go
// through Secret.V1 and Secret.Hex) cannot hide behind a round trip.

// fuzzVector is the part of a Standard Webhooks vector the fuzz seeds use.
type fuzzVector struct {
	Secret    string `json:"secret"`
	MsgID     string `json:"msg_id"`
	Timestamp int64  `json:"timestamp"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// fuzzVectors reads testdata/standardwebhooks_vectors.json; the first entry
// is the spec's published vector.
func fuzzVectors(tb testing.TB) []fuzzVector {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "standardwebhooks_vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct{ Vectors []fuzzVector }
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Vectors) == 0 {
		tb.Fatalf("standardwebhooks_vectors.json: %v (%d vectors)", err, len(doc.Vectors))
	}
	return doc.Vectors
}

// oracleKey is the Standard Webhooks key of secret text s, by the package
// doc's rule: the base64 after "whsec_", else the text bytes.
func oracleKey(s string) ([]byte, bool) {
	if b64, ok := strings.CutPrefix(s, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		return key, err == nil && len(key) > 0
	}
	return []byte(s), s != ""
}

func oracleMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// oracleV1 is "v1,<base64 HMAC-SHA256(key, id.ts.body)>".
func oracleV1(key []byte, id string, ts int64, body []byte) string {
	msg := []byte(id + "." + strconv.FormatInt(ts, 10) + ".")
	return "v1," + base64.StdEncoding.EncodeToString(oracleMAC(key, msg, body))
}

// oracleHex is the seed's X-Signature: hex HMAC keyed with the secret text.
func oracleHex(secretText string, body []byte) string {
	return hex.EncodeToString(oracleMAC([]byte(secretText), body))
}

// asciiLower lower-cases A-Z only: VerifyHex may be case-insensitive, but
// no non-ASCII character may stand in for a hex digit.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func headers(id, ts, sig, xsig string) http.Header {
	h := http.Header{}
	h.Set(signing.HeaderWebhookID, id)
	h.Set(signing.HeaderWebhookTimestamp, ts)
	h.Set(signing.HeaderWebhookSignature, sig)
	h.Set(signing.HeaderSignature, xsig)
	return h
}

// FuzzVerify feeds arbitrary headers and bodies to a two-secret verifier
// (the spec's whsec_ secret and the seed's raw-text secret, as during a
// rotation) and checks every answer against the oracle: acceptance implies
// that the headers carry the real HMAC, and the real HMAC is accepted
// whatever junk surrounds it.
func FuzzVerify(f *testing.F) {
	vecs := fuzzVectors(f)
	spec := vecs[0]
	secrets := []string{spec.Secret, seedSecret}
	v, err := signing.NewVerifier(secrets...)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(spec.Timestamp, 0)
	v.Now = func() time.Time { return now }
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		var ok bool
		if keys[i], ok = oracleKey(s); !ok {
			f.Fatalf("secret %q has no key", s)
		}
	}

	specTS := strconv.FormatInt(spec.Timestamp, 10)
	specBody := []byte(spec.Payload)
	seedHex := oracleHex(seedSecret, specBody)
	f.Add(spec.MsgID, specTS, spec.Signature, seedHex, specBody)
	f.Add(spec.MsgID, specTS, "v1,bad v2,x "+spec.Signature+" v1a,junk", strings.ToUpper(seedHex)+" \t", specBody)
	f.Add(spec.MsgID, specTS, spec.Signature, seedHex, append(specBody, ' '))                  // body changed
	f.Add(spec.MsgID+"x", specTS, spec.Signature, seedHex[1:], specBody)                       // id changed, hex cut
	f.Add(spec.MsgID, "+"+specTS, spec.Signature, "", specBody)                                // non-canonical timestamp
	f.Add(spec.MsgID, strconv.FormatInt(spec.Timestamp+301, 10), spec.Signature, "", specBody) // out of range
	f.Add(spec.MsgID, "1e9", "v1,", "zz", []byte{})
	f.Add("", "", "", "", []byte(nil))
	f.Add("msg\x00id", "-9223372036854775808", "v1,\xff\xfe", "\u212a"+seedHex[1:], []byte("\xff\x00"))
	for _, vec := range vecs[1:] {
		f.Add(vec.MsgID, strconv.FormatInt(spec.Timestamp, 10), vec.Signature, oracleHex(vec.Secret, []byte(vec.Payload)), []byte(vec.Payload))
	}

	f.Fuzz(func(t *testing.T, id, tsText, sig, xsig string, body []byte) {
		// The oracle's answer for the Standard Webhooks headers.
		ts, tsErr := strconv.ParseInt(tsText, 10, 64)
		// Whole seconds, compared without time.Duration: durations saturate
		// for far-off timestamps.
		tolSec := int64(signing.DefaultTimestampTolerance / time.Second)
		inRange := tsErr == nil && ts >= now.Unix()-tolSec && ts <= now.Unix()+tolSec
		want := make([]string, len(keys))
		for i, k := range keys {
			want[i] = oracleV1(k, id, ts, body)
		}
		carriesMAC := false
		for _, got := range strings.Fields(sig) {
			for _, w := range want {
				carriesMAC = carriesMAC || got == w
			}
		}

		err := v.VerifyStandard(headers(id, tsText, sig, xsig), body)
		switch {
		case id == "" || tsText == "" || sig == "":
			if !errors.Is(err, signing.ErrMissingHeaders) {
				t.Fatalf("missing header: got %v, want ErrMissingHeaders", err)
			}
		case tsErr != nil:
			if !errors.Is(err, signing.ErrInvalidTimestamp) {
				t.Fatalf("timestamp %q: got %v, want ErrInvalidTimestamp", tsText, err)
			}
		case !inRange:
			if !errors.Is(err, signing.ErrTimestampRange) {
				t.Fatalf("timestamp %d, now %d: got %v, want ErrTimestampRange", ts, now.Unix(), err)
			}
		case carriesMAC:
			if err != nil {
				t.Fatalf("a real v1 signature was refused: %v", err)
			}
		default:
			if !errors.Is(err, signing.ErrNoMatch) {
				t.Fatalf("no real v1 signature in %q, yet got %v (want ErrNoMatch)", sig, err)
			}
		}

		// Junk around the real signature must not hide it.
		if id != "" && inRange {
			withReal := sig + " " + want[len(want)-1]
			if err := v.VerifyStandard(headers(id, tsText, withReal, xsig), body); err != nil {
				t.Fatalf("real signature appended to %q was refused: %v", sig, err)
			}
		}

		// The seed's X-Signature.
		wantHex := make([]string, len(secrets))
		for i, s := range secrets {
			wantHex[i] = oracleHex(s, body)
		}
		norm := asciiLower(strings.TrimSpace(xsig))
		err = v.VerifyHex(headers(id, tsText, sig, xsig), body)
		switch {
		case norm == "":
			if !errors.Is(err, signing.ErrMissingHeaders) {
				t.Fatalf("empty X-Signature %q: got %v, want ErrMissingHeaders", xsig, err)
			}
		case norm == wantHex[0] || norm == wantHex[1]:
			if err != nil {
				t.Fatalf("the real X-Signature %q was refused: %v", xsig, err)
			}
		default:
			if err == nil {
				t.Fatalf("X-Signature %q accepted but is not the HMAC of the body (%q or %q)", xsig, wantHex[0], wantHex[1])
			}
		}
		upper := " " + strings.ToUpper(wantHex[1]) + "\t"
		if err := v.VerifyHex(headers(id, tsText, sig, upper), body); err != nil {
			t.Fatalf("the real X-Signature in upper case was refused: %v", err)
		}
	})
}

// FuzzSignVerifyRoundTrip signs arbitrary messages with arbitrary secrets
// and checks that the signatures are the oracle's, that they verify, and
// that changing the body, the id or the clock beyond the tolerance makes
// them fail.
func FuzzSignVerifyRoundTrip(f *testing.F) {
	for _, vec := range fuzzVectors(f) {
		f.Add(vec.MsgID, []byte(vec.Payload), vec.Secret)
	}
	f.Add("0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70", []byte(`{"event_id":"0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70","amount":1.0}`), "s3cr3t")
	f.Add("msg_1", []byte{}, "whsec_AA==")
	f.Add("", []byte("x"), "k")
	f.Add("id with spaces\t", []byte("\x00\xff"), "whsec_\u00e9")          // refused secret
	f.Add("msg", []byte("{}"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n") // lenient base64

	now := time.Unix(1_735_689_600, 0)
	tol := signing.DefaultTimestampTolerance
	f.Fuzz(func(t *testing.T, id string, body []byte, secretText string) {
		sec, err := signing.ParseSecret(secretText)
		if err != nil {
			t.Skip()
		}
		key, ok := oracleKey(secretText)
		if !ok {
			t.Fatalf("ParseSecret(%q) accepted a secret with no key", secretText)
		}
		signer, err := signing.NewSigner(secretText)
		if err != nil {
			t.Fatalf("NewSigner refused what ParseSecret accepted: %v", err)
		}
		v := &signing.Verifier{Secrets: []signing.Secret{sec}, Now: func() time.Time { return now }}
		sign := func(id string, at time.Time) http.Header {
			h := http.Header{}
			signer.Sign(h, id, at, body)
			return h
		}

		h := sign(id, now)
		if got, want := h.Get(signing.HeaderSignature), oracleHex(secretText, body); got != want {
			t.Fatalf("X-Signature = %q, oracle %q", got, want)
		}
		if got, want := h.Get(signing.HeaderWebhookSignature), oracleV1(key, id, now.Unix(), body); got != want {
			t.Fatalf("webhook-signature = %q, oracle %q", got, want)
		}
		if err := v.VerifyHex(h, body); err != nil {
			t.Fatalf("VerifyHex of a fresh signature: %v", err)
		}
		if id == "" {
			// Sign cannot invent an id; the verifier must say why it refuses.
			if err := v.VerifyStandard(h, body); !errors.Is(err, signing.ErrMissingHeaders) {
				t.Fatalf("empty webhook-id: got %v, want ErrMissingHeaders", err)
			}
			return
		}
		if err := v.VerifyStandard(h, body); err != nil {
			t.Fatalf("VerifyStandard of a fresh signature: %v", err)
		}
		// The merchant verifies with Secret.Standard(), not our text.
		merchant, err := signing.NewVerifier(sec.Standard())
		if err != nil {
			t.Fatalf("Standard() = %q does not parse: %v", sec.Standard(), err)
		}
		merchant.Now = v.Now
		if err := merchant.VerifyStandard(h, body); err != nil {
			t.Fatalf("a verifier built from Standard() refused our signature: %v", err)
		}

		// Any one changed body byte breaks both signatures. Long bodies are
		// sampled so that an execution stays cheap.
		if n := len(body); n > 0 {
			step := max(1, n/64)
			for i := 0; i < n; i += step {
				flipAndCheck(t, v, h, body, i)
			}
			flipAndCheck(t, v, h, body, n-1)
		}
		// Another id, same signature.
		if err := v.VerifyStandard(withID(h, id+"x"), body); !errors.Is(err, signing.ErrNoMatch) {
			t.Fatalf("signature replayed under another webhook-id: got %v, want ErrNoMatch", err)
		}

		// The timestamp is checked against the verifier's clock.
		for _, off := range []time.Duration{tol - time.Second, -(tol - time.Second)} {
			if err := v.VerifyStandard(sign(id, now.Add(off)), body); err != nil {
				t.Fatalf("signed %v from now, within the tolerance: %v", off, err)
			}
		}
		for _, off := range []time.Duration{tol + time.Second, -(tol + time.Second), 1000 * time.Hour} {
			if err := v.VerifyStandard(sign(id, now.Add(off)), body); !errors.Is(err, signing.ErrTimestampRange) {
				t.Fatalf("signed %v from now: got %v, want ErrTimestampRange", off, err)
			}
		}
	})
}

func flipAndCheck(t *testing.T, v *signing.Verifier, h http.Header, body []byte, i int) {
	t.Helper()
	changed := bytes.Clone(body)
	changed[i] ^= 1 << (i % 8)
	if err := v.VerifyStandard(h, changed); !errors.Is(err, signing.ErrNoMatch) {
		t.Fatalf("body byte %d changed: VerifyStandard = %v, want ErrNoMatch", i, err)
	}
	if err := v.VerifyHex(h, changed); !errors.Is(err, signing.ErrNoMatch) {
		t.Fatalf("body byte %d changed: VerifyHex = %v, want ErrNoMatch", i, err)
	}
}

func withID(h http.Header, id string) http.Header {
	c := h.Clone()
	c.Set(signing.HeaderWebhookID, id)
	return c
}

// FuzzParseSecret checks which texts ParseSecret accepts and that an
// accepted secret survives Standard(): the whsec_ form the merchant is
// given names the same key.
func FuzzParseSecret(f *testing.F) {
	for _, vec := range fuzzVectors(f) {
		f.Add(vec.Secret)
	}
	for _, s := range []string{"", "whsec_", "whsec_=", "whsec_AA==", "whsec_AB==", "whsec_QUJD\r\nREVG",
		"whsec_!!!", "WHSEC_QUJD", "whsec_QUJD whsec_REVG", "x", "\xff\xfe", seedSecret} {
		f.Add(s)
	}

	msg := []byte("fuzz.1735689600.{}")
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := signing.ParseSecret(s)
		key, wantOK := oracleKey(s)
		if (err == nil) != wantOK {
			t.Fatalf("ParseSecret(%q) error = %v; the oracle says accepted = %v", s, err, wantOK)
		}
		if err != nil {
			return
		}
		std := sec.Standard()
		if want := "whsec_" + base64.StdEncoding.EncodeToString(key); std != want {
			t.Fatalf("Standard() = %q, want %q", std, want)
		}
		// Canonical whsec_ text comes back byte for byte; lenient base64
		// (line breaks, non-zero padding bits) comes back normalised.
		if strings.HasPrefix(s, "whsec_") && base64.StdEncoding.EncodeToString(key) == s[len("whsec_"):] && std != s {
			t.Fatalf("canonical %q came back as %q", s, std)
		}
		again, err := signing.ParseSecret(std)
		if err != nil {
			t.Fatalf("Standard() = %q does not parse: %v", std, err)
		}
		if again.Standard() != std {
			t.Fatalf("Standard() is not a fixed point: %q then %q", std, again.Standard())
		}
		want := "v1," + base64.StdEncoding.EncodeToString(oracleMAC(key, msg))
		for _, got := range []string{sec.V1("fuzz", 1735689600, []byte("{}")), again.V1("fuzz", 1735689600, []byte("{}"))} {
			if got != want {
				t.Fatalf("V1 with %q = %q, oracle %q", s, got, want)
			}
		}
		if got, want := sec.Hex(msg), oracleHex(s, msg); got != want {
			t.Fatalf("Hex keyed with %q = %q, oracle %q (X-Signature uses the secret text)", s, got, want)
		}
	})
}
