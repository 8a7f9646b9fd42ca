package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/webhookd/webhookd/adapters/httpapi"
)

// BenchmarkPostEvent is the API's share of POST /events: routing, the
// body's limits and JSON checks, the ingest service and an insert into
// the memory store, without the network or a database.
func BenchmarkPostEvent(b *testing.B) {
	e := newEnv(b, httpapi.Options{})
	const body = `{"target_url":"https://merchant.example/hooks/payments","payload":` +
		`{"type":"payment.succeeded","order_id":"ord_123","amount":1999,"currency":"EUR","lines":[{"sku":"A-1","qty":2}]}}`
	b.ReportAllocs()
	for b.Loop() {
		if rec := serve(e.router, newRequest(http.MethodPost, "/events", body)); rec.Code != http.StatusAccepted {
			b.Fatalf("POST /events: %d %s", rec.Code, rec.Body)
		}
	}
}
