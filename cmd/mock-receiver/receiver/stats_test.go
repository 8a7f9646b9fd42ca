package receiver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
)

func TestStatsUnderConcurrency(t *testing.T) {
	t.Parallel()
	const (
		events  = 10_000
		dupEach = 10 // every 10th event is delivered twice
		workers = 32
	)
	h := start(t, quietConfig())
	if err := h.rcv.SetControl(receiver.Control{Mode: receiver.ModeOK}); err != nil {
		t.Fatal(err)
	}

	// Straight through ServeHTTP: the point is the receiver's own locking
	// with 10k ids, not loopback throughput.
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for range workers {
		wg.Go(func() {
			for id := range jobs {
				body := eventBody(id)
				req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
				h.signer.Sign(req.Header, id, time.Now(), body)
				rec := httptest.NewRecorder()
				h.rcv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		})
	}
	for i := range events {
		id := fmt.Sprintf("evt_%05d", i)
		jobs <- id
		if i%dupEach == 0 {
			jobs <- id
		}
	}
	close(jobs)
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d deliveries were not answered 200", bad)
	}

	const total, dups = events + events/dupEach, events / dupEach
	s := h.stats()
	if s.Requests != total || s.Accepted != total || s.UniqueEvents != events || s.Duplicates != dups || len(s.Events) != events {
		t.Fatalf("stats: requests %d accepted %d unique %d duplicates %d events %d; want %d %d %d %d %d",
			s.Requests, s.Accepted, s.UniqueEvents, s.Duplicates, len(s.Events), total, total, events, dups, events)
	}
	if e := s.Events["evt_00010"]; e.Requests != 2 || e.Accepted != 2 {
		t.Errorf("events[evt_00010] = %+v, want 2 and 2", e)
	}
	if e := s.Events["evt_00011"]; e.Requests != 1 || e.Accepted != 1 {
		t.Errorf("events[evt_00011] = %+v, want 1 and 1", e)
	}

	var summary map[string]json.RawMessage
	h.getJSON("/stats?summary=1", &summary)
	if _, ok := summary["events"]; ok {
		t.Error(`GET /stats?summary=1 has "events"`)
	}
	if string(summary["duplicates"]) != fmt.Sprint(dups) {
		t.Errorf("summary duplicates = %s, want %d", summary["duplicates"], dups)
	}

	resp, err := h.srv.Client().Post(h.srv.URL+"/stats/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var after map[string]json.RawMessage
	h.getJSON("/stats", &after)
	want := map[string]string{"requests": "0", "accepted": "0", "rejected_signature": "0", "unique_events": "0", "duplicates": "0", "events": "{}"}
	for k, v := range want {
		if string(after[k]) != v {
			t.Errorf("after reset %s = %s, want %s", k, after[k], v)
		}
	}
}

func TestStatsOverHTTPWithDuplicates(t *testing.T) {
	t.Parallel()
	h := start(t, quietConfig())
	h.setMode(`{"mode":"ok"}`)
	const events, copies = 50, 3
	var wg sync.WaitGroup
	for i := range events * copies {
		id := fmt.Sprintf("evt_%d", i%events)
		wg.Go(func() {
			resp, err := h.srv.Client().Do(h.signed(id, eventBody(id), time.Now()))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	s := h.stats()
	if s.Requests != events*copies || s.Accepted != events*copies || s.UniqueEvents != events || s.Duplicates != events*(copies-1) {
		t.Errorf("stats = requests %d accepted %d unique %d duplicates %d", s.Requests, s.Accepted, s.UniqueEvents, s.Duplicates)
	}
	for id, e := range s.Events {
		if e.Requests != copies || e.Accepted != copies || e.LastAt.Before(e.FirstAt) {
			t.Errorf("events[%s] = %+v", id, e)
		}
	}
}
