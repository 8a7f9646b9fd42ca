package secretbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the merchant's secret bytes")
	sealed := box.Seal(secret, "ep-1")
	if bytes.Contains(sealed, secret) || sealed[0] != formatAESGCM {
		t.Fatalf("sealed form %x holds the secret in the clear", sealed)
	}
	if again := box.Seal(secret, "ep-1"); bytes.Equal(again, sealed) {
		t.Errorf("two seals of one secret are equal: the nonce is not random")
	}
	if got, err := box.Open(sealed, "ep-1"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, "ep-2"); err == nil {
		t.Errorf("a secret opened under another endpoint's id")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, "ep-1"); err == nil {
		t.Errorf("a secret opened under another key")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := box.Open(tampered, "ep-1"); err == nil {
		t.Errorf("a tampered secret opened")
	}
	if _, err := box.Open(sealed[:10], "ep-1"); err == nil {
		t.Errorf("a truncated secret opened")
	}
}

// Without a key secrets are stored in the clear, and a key set later
// still reads them; a sealed secret without its key is a clear error.
func TestNoKey(t *testing.T) {
	plain, _ := New(nil)
	stored := plain.Seal([]byte("s3cret"), "ep-1")
	keyed, _ := New(bytes.Repeat([]byte{1}, KeySize))
	if got, err := keyed.Open(stored, "ep-1"); err != nil || string(got) != "s3cret" {
		t.Fatalf("keyed Open of a clear secret = %q, %v", got, err)
	}
	if _, err := plain.Open(keyed.Seal([]byte("x"), "ep-1"), "ep-1"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Open without key = %v, want ErrNoKey", err)
	}
	if plain.Encrypts() || !keyed.Encrypts() {
		t.Errorf("Encrypts: clear %v, keyed %v", plain.Encrypts(), keyed.Encrypts())
	}
}

func TestParseKey(t *testing.T) {
	for _, text := range []string{strings.Repeat("ab", 32), "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="} {
		if key, err := ParseKey(text); err != nil || len(key) != KeySize {
			t.Errorf("ParseKey(%q) = %d bytes, %v", text, len(key), err)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("ab", 31), strings.Repeat("zz", 32)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if _, err := New([]byte("16-byte-key-1234")); err == nil {
		t.Errorf("New accepted a 16-byte key")
	}
}
