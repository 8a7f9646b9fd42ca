package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core/signing"
)

// receiver is the fast merchant: it answers 200 at once and records, per
// webhook-id, when the first delivery arrived (time since epoch). It checks
// every delivery's Standard Webhooks signature (when verify is set) and that
// the body starts with the event id the headers name.
type receiver struct {
	url      string
	srv      *http.Server // -receiver std
	lean     *leanServer  // -receiver lean
	ln       net.Listener
	verifier *signing.Verifier

	mu         sync.Mutex
	arrivals   map[string]time.Duration
	first      time.Duration // first arrival of any event; 0: none yet
	last       time.Duration // latest first-arrival of any event
	requests   int
	dups       int
	bad        int
	badSamples []string
}

func newReceiver(secret string, verify, lean bool) (*receiver, error) {
	r := &receiver{arrivals: make(map[string]time.Duration, 1024)}
	if verify {
		v, err := signing.NewVerifier(secret)
		if err != nil {
			return nil, err
		}
		r.verifier = v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.ln = ln
	r.url = "http://" + ln.Addr().String()
	if lean {
		r.lean = serveLean(ln, r.record)
		return r, nil
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// ServeHTTP is the receiver on net/http's server (-receiver std).
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.record(req.Header, body, err)
	w.WriteHeader(http.StatusOK)
}

// record checks and counts one delivery; err is why its request could not
// be read.
func (r *receiver) record(h http.Header, body []byte, err error) {
	now := since()
	id := h.Get(signing.HeaderWebhookID)
	problem := ""
	switch {
	case err != nil:
		problem = "reading the request: " + err.Error()
	case id == "":
		problem = "no webhook-id header"
	case !bytes.HasPrefix(body, []byte(`{"event_id":"`+id+`"`)):
		problem = "body does not start with the event id " + id
	case r.verifier != nil:
		if err := r.verifier.VerifyStandard(h, body); err != nil {
			problem = "signature: " + err.Error()
		}
	}
	r.mu.Lock()
	r.requests++
	if problem != "" {
		r.bad++
		if len(r.badSamples) < 5 {
			r.badSamples = append(r.badSamples, problem)
		}
	}
	if id != "" {
		if _, seen := r.arrivals[id]; seen {
			r.dups++
		} else {
			r.arrivals[id] = now
			if r.first == 0 {
				r.first = now
			}
			r.last = max(r.last, now)
		}
	}
	r.mu.Unlock()
}

// distinct is the number of different event ids received.
func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrivals)
}

// span returns the first and the latest first-arrival.
func (r *receiver) span() (first, last time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first, r.last
}

// arrivalsOf returns the arrival time of each id (ok false: never arrived).
func (r *receiver) arrivalsOf(ids []string) ([]time.Duration, []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := make([]time.Duration, len(ids))
	ok := make([]bool, len(ids))
	for i, id := range ids {
		at[i], ok[i] = r.arrivals[id]
	}
	return at, ok
}

// deliveryReport compares what arrived with the accepted ids.
type deliveryReport struct {
	Accepted, Delivered, Missing, Unexpected, Duplicates, BadRequests int
	BadSamples                                                        []string
}

func (d deliveryReport) ok() bool { return d.Missing == 0 && d.Unexpected == 0 && d.BadRequests == 0 }

func (r *receiver) compare(ids []string) deliveryReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := deliveryReport{Accepted: len(ids), Delivered: len(r.arrivals), Duplicates: r.dups, BadRequests: r.bad,
		BadSamples: append([]string(nil), r.badSamples...)}
	matched := 0
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		if _, ok := r.arrivals[id]; ok {
			matched++
		} else {
			rep.Missing++
		}
	}
	rep.Unexpected = len(r.arrivals) - matched
	return rep
}

func (r *receiver) close() {
	if r.lean != nil {
		r.lean.close()
		return
	}
	_ = r.srv.Close()
}
