package signing_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core/signing"
)

// BenchmarkSign signs one delivery of a 1 KiB body: X-Signature and the
// Standard Webhooks headers, with one secret and with two (rotation).
func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte(`{"order":"ord_123"}`), 54)[:1024]
	ts := time.Unix(1_700_000_000, 0)
	for _, n := range []int{1, 2} {
		secrets := []string{"whsec-bench-0123456789abcdef0123456789", "whsec-bench-fedcba9876543210fedcba9876"}[:n]
		s, err := signing.NewSigner(secrets[0], secrets[1:]...)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[int]string{1: "one-secret", 2: "two-secrets"}[n], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			h := http.Header{}
			for b.Loop() {
				s.Sign(h, "01a233d2-6f00-7000-8000-000000000001", ts, body)
			}
		})
	}
}
