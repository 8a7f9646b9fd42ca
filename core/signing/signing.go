// Package signing signs webhook deliveries and verifies them. It speaks two
// schemes at once:
//
//   - the seed's X-Signature: lower-case hex HMAC-SHA256 of the exact body,
//     keyed with the bytes of HMAC_SECRET;
//   - Standard Webhooks (https://www.standardwebhooks.com): webhook-id,
//     webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
//     id.timestamp.body>", one signature per active secret, space-separated,
//     so that merchants can verify with any Standard Webhooks library and
//     reject replays by timestamp.
//
// Standard Webhooks keys are the base64 part of a "whsec_…" secret. An
// HMAC_SECRET given in that form is decoded; any other HMAC_SECRET is used
// as raw bytes, and the merchant's Standard Webhooks secret is
// Secret.Standard(): "whsec_" + base64(HMAC_SECRET).
//
// Standard library only.
package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names.
const (
	HeaderSignature           = "X-Signature"
	HeaderWebhookID           = "webhook-id"
	HeaderWebhookTimestamp    = "webhook-timestamp"
	HeaderWebhookSignature    = "webhook-signature"
	standardPrefix            = "whsec_"
	v1                        = "v1,"
	DefaultTimestampTolerance = 5 * time.Minute
)

// SeedExampleSecret is the HMAC_SECRET of the seed's example .env. It is
// published, so anyone can sign with it: it is for demos only.
const SeedExampleSecret = "b78943f3976a7bacbbc6de236063817691e6e441be5b14acc7ba25fc0b6dfca2"

// Secret is one shared secret.
type Secret struct {
	raw []byte // the secret's text bytes: the X-Signature key (seed rule)
	key []byte // the Standard Webhooks key
	// macs keep HMACs keyed with raw and key to reuse: keying one hashes
	// two blocks and allocates five objects. nil for a secret that signs
	// one delivery (NewKeySigner): its HMACs are keyed afresh.
	macs *macs
}

type macs struct{ raw, key sync.Pool }

func newMACs(raw, key []byte) *macs {
	m := &macs{}
	m.raw.New = func() any { return hmac.New(sha256.New, raw) }
	m.key.New = func() any { return hmac.New(sha256.New, key) }
	return m
}

// mac returns an HMAC keyed with the raw bytes (X-Signature) or the
// Standard Webhooks key, and the pool that release gives it back to (nil:
// none, it was keyed afresh).
func (s Secret) mac(standard bool) (hash.Hash, *sync.Pool) {
	if s.macs == nil {
		if standard {
			return hmac.New(sha256.New, s.key), nil
		}
		return hmac.New(sha256.New, s.raw), nil
	}
	pool := &s.macs.raw
	if standard {
		pool = &s.macs.key
	}
	return pool.Get().(hash.Hash), pool
}

// release gives m back to pool, reset to its keyed state.
func release(m hash.Hash, pool *sync.Pool) {
	if pool != nil {
		m.Reset()
		pool.Put(m)
	}
}

// ParseSecret reads a secret. "whsec_<base64>" is decoded for Standard
// Webhooks; anything else is used as raw bytes for both schemes.
func ParseSecret(s string) (Secret, error) {
	if s == "" {
		return Secret{}, errors.New("signing: empty secret")
	}
	sec := Secret{raw: []byte(s), key: []byte(s)}
	if b64, ok := strings.CutPrefix(s, standardPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) == 0 {
			return Secret{}, errors.New(`signing: a secret starting with "whsec_" must continue in base64`)
		}
		sec.key = key
	}
	sec.macs = newMACs(sec.raw, sec.key)
	return sec, nil
}

// MinSecretBytes is the shortest key webhookd signs production webhooks
// with: 256 bits, the strength of HMAC-SHA256 itself.
const MinSecretBytes = 32

// ErrWeakSecret is returned by CheckSecret.
var ErrWeakSecret = errors.New("signing: weak secret")

// CheckSecret reports a secret that must not sign real webhooks: one that
// does not parse, the seed's published example, or a key shorter than
// MinSecretBytes (the decoded key of a "whsec_" secret, the text's bytes
// otherwise). Anyone who knows or can guess it can forge webhooks that
// merchants accept.
func CheckSecret(text string) error {
	sec, err := ParseSecret(text)
	if err != nil {
		return err
	}
	switch {
	case text == SeedExampleSecret:
		return fmt.Errorf("%w: it is the seed's published example secret", ErrWeakSecret)
	case len(sec.key) < MinSecretBytes:
		return fmt.Errorf("%w: its key is %d byte(s) long, want at least %d", ErrWeakSecret, len(sec.key), MinSecretBytes)
	}
	return nil
}

// Standard returns the secret in the "whsec_<base64>" form that Standard
// Webhooks libraries take.
func (s Secret) Standard() string {
	return standardPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// Hex is the seed's X-Signature value for body.
func (s Secret) Hex(body []byte) string {
	m, pool := s.mac(false)
	m.Write(body)
	var sum [sha256.Size]byte
	out := hex.EncodeToString(m.Sum(sum[:0]))
	release(m, pool)
	return out
}

// V1 is one Standard Webhooks signature, "v1,<base64>", for a message.
func (s Secret) V1(id string, ts int64, body []byte) string {
	return string(s.appendV1(nil, signedPrefix(id, strconv.FormatInt(ts, 10)), body))
}

// signedPrefix is what a v1 signature signs before the body:
// "id.timestamp.".
func signedPrefix(id, stamp string) []byte {
	b := make([]byte, 0, len(id)+len(stamp)+2)
	return append(append(append(append(b, id...), '.'), stamp...), '.')
}

// appendV1 appends "v1,<base64>" for prefix and body to b.
func (s Secret) appendV1(b, prefix, body []byte) []byte {
	m, pool := s.mac(true)
	m.Write(prefix)
	m.Write(body)
	var sum [sha256.Size]byte
	b = base64.StdEncoding.AppendEncode(append(b, v1...), m.Sum(sum[:0]))
	release(m, pool)
	return b
}

// Signer signs with a primary secret and any number of extra ones (being
// rotated in or out).
type Signer struct {
	secrets []Secret
}

// NewSigner parses the secrets; the first is primary and the only one used
// for X-Signature (the seed has a single signature there).
func NewSigner(primary string, extra ...string) (*Signer, error) {
	var s Signer
	for _, text := range append([]string{primary}, extra...) {
		sec, err := ParseSecret(text)
		if err != nil {
			return nil, err
		}
		s.secrets = append(s.secrets, sec)
	}
	return &s, nil
}

// NewKeySigner signs with endpoint keys (the bytes behind "whsec_…"),
// current first. X-Signature is keyed by the first key's bytes, the
// 24–64 bytes the endpoint's secret encodes.
func NewKeySigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("signing: no key")
	}
	s := Signer{secrets: make([]Secret, 0, len(keys))}
	for _, k := range keys {
		if len(k) == 0 {
			return nil, errors.New("signing: empty key")
		}
		s.secrets = append(s.secrets, Secret{raw: k, key: k})
	}
	return &s, nil
}

// Canonical forms of the header names, which Sign sets without
// canonicalizing each time.
var (
	canonicalSignature        = textproto.CanonicalMIMEHeaderKey(HeaderSignature)
	canonicalWebhookID        = textproto.CanonicalMIMEHeaderKey(HeaderWebhookID)
	canonicalWebhookTimestamp = textproto.CanonicalMIMEHeaderKey(HeaderWebhookTimestamp)
	canonicalWebhookSignature = textproto.CanonicalMIMEHeaderKey(HeaderWebhookSignature)
)

// Sign sets every signature header on h for one delivery: the same values
// as Secret.Hex and Secret.V1 give.
func (s *Signer) Sign(h http.Header, id string, ts time.Time, body []byte) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	prefix := signedPrefix(id, stamp)
	sigs := make([]byte, 0, len(s.secrets)*(len(v1)+base64.StdEncoding.EncodedLen(sha256.Size)+1))
	for i, sec := range s.secrets {
		if i > 0 {
			sigs = append(sigs, ' ')
		}
		sigs = sec.appendV1(sigs, prefix, body)
	}
	hexSum := s.secrets[0].Hex(body)
	// One backing array for the four values, each a slice of its own.
	values := []string{hexSum, id, stamp, string(sigs)}
	h[canonicalSignature] = values[0:1:1]
	h[canonicalWebhookID] = values[1:2:2]
	h[canonicalWebhookTimestamp] = values[2:3:3]
	h[canonicalWebhookSignature] = values[3:4:4]
}

// Verification errors.
var (
	ErrMissingHeaders   = errors.New("signing: missing signature headers")
	ErrInvalidTimestamp = errors.New("signing: invalid webhook-timestamp")
	ErrTimestampRange   = errors.New("signing: webhook-timestamp outside the tolerance")
	ErrNoMatch          = errors.New("signing: no signature matches")
)

// Verifier checks deliveries on the merchant side.
type Verifier struct {
	Secrets []Secret
	// Tolerance bounds |now - webhook-timestamp|; 0 means 5 minutes.
	Tolerance time.Duration
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
}

// NewVerifier parses secrets into a Verifier with the default tolerance.
func NewVerifier(secrets ...string) (*Verifier, error) {
	v := &Verifier{}
	for _, text := range secrets {
		sec, err := ParseSecret(text)
		if err != nil {
			return nil, err
		}
		v.Secrets = append(v.Secrets, sec)
	}
	if len(v.Secrets) == 0 {
		return nil, errors.New("signing: a verifier needs at least one secret")
	}
	return v, nil
}

// VerifyStandard checks the Standard Webhooks headers: the timestamp is
// within the tolerance and at least one v1 signature matches one secret.
// Comparisons are constant-time.
func (v *Verifier) VerifyStandard(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTimestampTolerance
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return fmt.Errorf("%w: %s off", ErrTimestampRange, d.Round(time.Second))
	}
	prefix := signedPrefix(id, strconv.FormatInt(ts, 10))
	var buf [64]byte // "v1," and a base64 SHA-256
	for _, sec := range v.Secrets {
		want := sec.appendV1(buf[:0], prefix, body)
		for got := range strings.FieldsSeq(sigs) {
			if hmac.Equal([]byte(got), want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// VerifyHex checks the seed's X-Signature header against every secret,
// in constant time. It carries no timestamp, so it cannot reject replays.
func (v *Verifier) VerifyHex(h http.Header, body []byte) error {
	got := strings.ToLower(strings.TrimSpace(h.Get(HeaderSignature)))
	if got == "" {
		return ErrMissingHeaders
	}
	for _, sec := range v.Secrets {
		if hmac.Equal([]byte(got), []byte(sec.Hex(body))) {
			return nil
		}
		// A "whsec_" secret keys X-Signature with its text when it is
		// HMAC_SECRET (the seed's rule) and with its key bytes when it is
		// an endpoint's: either proves the sender holds it.
		if !bytes.Equal(sec.raw, sec.key) && hmac.Equal([]byte(got), []byte(Secret{raw: sec.key}.Hex(body))) {
			return nil
		}
	}
	return ErrNoMatch
}

// Endpoint secrets are "whsec_" + base64 of MinEndpointSecretBytes to
// MaxEndpointSecretBytes random bytes, the form Standard Webhooks libraries
// take (Svix generates 24; ours are 32).
const (
	MinEndpointSecretBytes = 24
	MaxEndpointSecretBytes = 64
	newEndpointSecretBytes = 32
)

// NewEndpointSecret generates an endpoint secret.
func NewEndpointSecret() string {
	key := make([]byte, newEndpointSecretBytes)
	if _, err := rand.Read(key); err != nil {
		panic("signing: crypto/rand failed: " + err.Error())
	}
	return EndpointSecretText(key)
}

// EndpointSecretText is key in its "whsec_" form.
func EndpointSecretText(key []byte) string {
	return standardPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParseEndpointSecret returns the key of an endpoint secret given by a
// client, refusing any other form or length.
func ParseEndpointSecret(text string) ([]byte, error) {
	b64, ok := strings.CutPrefix(text, standardPrefix)
	if !ok {
		return nil, errors.New(`must be "whsec_" followed by base64`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New(`must be "whsec_" followed by standard base64`)
	}
	if len(key) < MinEndpointSecretBytes || len(key) > MaxEndpointSecretBytes {
		return nil, fmt.Errorf("its key is %d bytes; want %d to %d", len(key), MinEndpointSecretBytes, MaxEndpointSecretBytes)
	}
	return key, nil
}
