package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core/signing"
)

// The lean receiver must see what net/http's would: a signed delivery
// counted once per id, over a kept-alive connection, and anything it does
// not parse counted as bad, never as delivered.
func TestLeanReceiverCountsWhatNetHTTPWould(t *testing.T) {
	const secret = "lean-receiver-test-secret-0123456789"
	r, err := newReceiver(secret, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	signer, err := signing.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(id string, body []byte, sign bool) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, r.url+"/webhook", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			signer.Sign(req.Header, id, time.Now(), body)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, id := range []string{"evt_1", "evt_2", "evt_1"} {
		if code := post(id, []byte(`{"event_id":"`+id+`","x":1}`), true); code != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", id, code)
		}
	}
	if code := post("evt_3", []byte(`{"event_id":"evt_3"}`), false); code != http.StatusOK {
		t.Fatalf("unsigned: status %d, want 200 (counted as bad)", code)
	}
	// A chunked body is not parsed: 400, and a bad request.
	req, _ := http.NewRequest(http.MethodPost, r.url+"/webhook", strings.NewReader(`{"event_id":"evt_4"}`))
	req.ContentLength = -1
	signer.Sign(req.Header, "evt_4", time.Now(), []byte(`{"event_id":"evt_4"}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("chunked: status %d, want 400", resp.StatusCode)
	}

	rep := r.compare([]string{"evt_1", "evt_2"})
	if rep.Delivered != 2 || rep.Missing != 0 || rep.Duplicates != 1 {
		t.Errorf("delivered %d, missing %d, duplicates %d; want 2, 0, 1", rep.Delivered, rep.Missing, rep.Duplicates)
	}
	if rep.BadRequests != 2 || rep.ok() {
		t.Errorf("bad requests %d (%v), want 2 (the unsigned one, the chunked one) and the report not ok", rep.BadRequests, rep.BadSamples)
	}
}
