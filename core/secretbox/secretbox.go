// Package secretbox seals the endpoint secrets webhookd stores: AES-256-GCM
// under ENCRYPTION_KEY, with a random nonce and the endpoint's id as
// associated data (a sealed secret copied onto another endpoint does not
// open). Standard library only.
//
// Without a key, secrets are stored in the clear behind a marker, so that
// a key set later still reads them; every secret written after that (a
// new endpoint, a rotation) is sealed.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Format markers: the first byte of every stored secret.
const (
	formatPlain  = 0x00
	formatAESGCM = 0x01
)

// KeySize is the key's length: AES-256.
const KeySize = 32

// ErrNoKey is returned when a sealed secret must be opened without a key.
var ErrNoKey = errors.New("secretbox: this secret was stored encrypted and ENCRYPTION_KEY is not set")

// Box seals and opens secrets. The zero Box (no key) stores them in the
// clear.
type Box struct {
	aead cipher.AEAD
}

// ParseKey reads a key given as 64 hex digits or as base64 of 32 bytes
// (e.g. `openssl rand -hex 32`).
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if key, err := hex.DecodeString(text); err == nil && len(key) == KeySize {
		return key, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(text); err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("secretbox: a key is %d bytes, written as 64 hex digits or in base64 (e.g. `openssl rand -hex 32`)", KeySize)
}

// New returns a Box sealing under key; a nil or empty key gives the
// clear-text Box.
func New(key []byte) (*Box, error) {
	if len(key) == 0 {
		return &Box{}, nil
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Encrypts reports whether the box seals (a key is set).
func (b *Box) Encrypts() bool { return b.aead != nil }

// Seal returns plain as stored, bound to context (the endpoint's id).
func (b *Box) Seal(plain []byte, context string) []byte {
	if b.aead == nil {
		return append([]byte{formatPlain}, plain...)
	}
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = formatAESGCM
	if _, err := rand.Read(out[1:]); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error())
	}
	return b.aead.Seal(out, out[1:], plain, []byte(context))
}

// Open returns the secret sealed with context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("secretbox: empty secret")
	}
	switch sealed[0] {
	case formatPlain:
		return sealed[1:], nil
	case formatAESGCM:
		if b.aead == nil {
			return nil, ErrNoKey
		}
		n := b.aead.NonceSize()
		if len(sealed) < 1+n+b.aead.Overhead() {
			return nil, errors.New("secretbox: sealed secret is truncated")
		}
		plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
		if err != nil {
			return nil, errors.New("secretbox: cannot open the secret: wrong ENCRYPTION_KEY, or the row was tampered with")
		}
		return plain, nil
	}
	return nil, fmt.Errorf("secretbox: unknown secret format %#x", sealed[0])
}
