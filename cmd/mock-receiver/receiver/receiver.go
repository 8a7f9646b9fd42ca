// Package receiver is the mock merchant: a chaos webhook receiver that
// reproduces the seed's (random delays, forced failures per event, hangs
// past the client timeout) with every knob configurable, verifies both the
// X-Signature and the Standard Webhooks headers with core/signing, counts
// deliveries and duplicates per event id, and can be switched at run time
// (always OK, a fixed status, connection drops) for tests and fault drills.
//
// cmd/mock-receiver runs it as a process; end-to-end tests in other packages
// can mount a *Receiver on an httptest.Server instead.
//
// Routes:
//
//	POST /webhook       the merchant endpoint
//	GET|POST /control   read or switch the Mode (JSON Control)
//	GET /stats          counters (?summary=1 leaves out the per-event map)
//	POST /stats/reset   clear the counters
//	GET /health         {"status":"ok"}
package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/webhookd/webhookd/core/signing"
)

// Receiver is an http.Handler. Safe for concurrent use.
type Receiver struct {
	cfg      Config
	verifier *signing.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
	control  atomic.Pointer[Control]
	stats    *stats

	quit context.Context // done after Close: hangs and delays end at once
	stop context.CancelFunc
}

// New validates cfg (after filling defaults) and builds a Receiver in
// ModeChaos. A nil log discards log lines.
func New(cfg Config, log *slog.Logger) (*Receiver, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v, err := signing.NewVerifier(append([]string{cfg.Secret}, cfg.ExtraSecrets...)...)
	if err != nil {
		return nil, fmt.Errorf("receiver: new: %w", err)
	}
	v.Tolerance = cfg.SignatureTolerance
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		cfg:      cfg,
		verifier: v,
		log:      log,
		mux:      http.NewServeMux(),
		stats:    newStats(),
	}
	r.quit, r.stop = context.WithCancel(context.Background())
	r.control.Store(&Control{Mode: ModeChaos})
	r.mux.HandleFunc("POST /webhook", r.handleWebhook)
	r.mux.HandleFunc("GET /control", r.handleGetControl)
	r.mux.HandleFunc("POST /control", r.handlePostControl)
	r.mux.HandleFunc("GET /stats", r.handleStats)
	r.mux.HandleFunc("POST /stats/reset", r.handleStatsReset)
	r.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return r, nil
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// Close ends every hang and delay in progress (they answer at once) and
// makes later ones end immediately. Call it when shutting down, so that
// the server drains within its grace period. Idempotent.
func (r *Receiver) Close() { r.stop() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
