package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/wait"
)

// maxBody bounds what the receiver reads; webhookd's own limit is far lower.
const maxBody = 8 << 20

// Decisions, as logged.
const (
	decisionAccepted     = "ACCEPTED"      // 2xx
	decisionRejected     = "REJECTED"      // simulated 500, at once
	decisionHang         = "HANG"          // simulated hang, then 500
	decisionStatus       = "STATUS"        // ModeStatus answer
	decisionDropped      = "DROPPED"       // ModeDown: connection closed
	decisionAborted      = "ABORTED"       // client gone or shutting down before the answer
	decisionBadSignature = "BAD_SIGNATURE" // refused before any chaos
)

func (r *Receiver) handleWebhook(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	ctx := req.Context()
	r.stats.request()
	ctl := r.Control()

	if ctl.Mode == ModeDown {
		r.wait(ctx, ctl.delay())
		r.logRequest(req.Header.Get(signing.HeaderWebhookID), 0, decisionDropped, 0, start, nil)
		drop(w)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	id, status := "", 0
	switch {
	case err != nil:
		status = http.StatusBadRequest
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		err = fmt.Errorf("read body: %w", err)
	default:
		id, status, err = r.verify(req.Header, body)
	}
	if err != nil {
		r.stats.rejected()
		r.logRequest(req.Header.Get(signing.HeaderWebhookID), 0, decisionBadSignature, status, start, err)
		writeError(w, status, err.Error())
		return
	}

	attempt := r.stats.begin(id)
	status, decision := r.decide(ctx, ctl, attempt)
	if status >= 200 && status <= 299 && ctx.Err() != nil {
		// The client gave up: it will not see this 2xx, so neither do the stats.
		status, decision = http.StatusServiceUnavailable, decisionAborted
	}
	r.stats.finish(id, status) // before answering, so /stats agrees with what the client saw
	r.logRequest(id, attempt, decision, status, start, nil)

	if ctl.Mode == ModeStatus && ctl.RetryAfter != "" {
		w.Header().Set("Retry-After", ctl.RetryAfter)
	}
	switch {
	case status >= 200 && status <= 299:
		writeJSON(w, status, map[string]bool{"received": true})
	default:
		writeError(w, status, fmt.Sprintf("simulated %s (attempt %d)", decision, attempt))
	}
}

// verify checks both signature schemes and that the body's event_id is the
// webhook-id. Missing or malformed headers are 400, a mismatch or a stale
// timestamp 401.
func (r *Receiver) verify(h http.Header, body []byte) (id string, status int, err error) {
	errHex := r.verifier.VerifyHex(h, body)
	errStd := r.verifier.VerifyStandard(h, body)
	for _, e := range []error{errHex, errStd} {
		if errors.Is(e, signing.ErrMissingHeaders) || errors.Is(e, signing.ErrInvalidTimestamp) {
			return "", http.StatusBadRequest, e
		}
	}
	if errHex != nil {
		return "", http.StatusUnauthorized, fmt.Errorf("X-Signature: %w", errHex)
	}
	if errStd != nil {
		return "", http.StatusUnauthorized, fmt.Errorf("webhook-signature: %w", errStd)
	}

	id = h.Get(signing.HeaderWebhookID)
	var obj map[string]json.RawMessage // exact key match, unlike struct decoding
	var bodyID string
	if err := json.Unmarshal(body, &obj); err != nil {
		return "", http.StatusBadRequest, errors.New("body is not a JSON object")
	}
	if err := json.Unmarshal(obj["event_id"], &bodyID); err != nil || bodyID == "" {
		return "", http.StatusBadRequest, errors.New(`body has no string "event_id"`)
	}
	if bodyID != id {
		return "", http.StatusBadRequest, fmt.Errorf("body event_id %q differs from webhook-id %q", bodyID, id)
	}
	return id, 0, nil
}

// decide sleeps as the mode says and returns the answer. attempt is the
// per-event request count, 1-based.
func (r *Receiver) decide(ctx context.Context, ctl Control, attempt int) (status int, decision string) {
	switch ctl.Mode {
	case ModeOK:
		if !r.wait(ctx, ctl.delay()) {
			return http.StatusServiceUnavailable, decisionAborted
		}
		return http.StatusOK, decisionAccepted
	case ModeStatus:
		if !r.wait(ctx, ctl.delay()) {
			return http.StatusServiceUnavailable, decisionAborted
		}
		return ctl.Status, decisionStatus
	}

	cfg := r.cfg
	delay := cfg.MinDelay
	if spread := cfg.MaxDelay - cfg.MinDelay; spread > 0 {
		delay += time.Duration(cfg.Rand() * float64(spread))
	}
	if !r.wait(ctx, delay) {
		return http.StatusServiceUnavailable, decisionAborted
	}
	if attempt <= cfg.FailFirstN {
		if cfg.Rand() < cfg.FirstHangRate {
			r.wait(ctx, cfg.Hang)
			return http.StatusInternalServerError, decisionHang
		}
		return http.StatusInternalServerError, decisionRejected
	}
	switch x := cfg.Rand(); {
	case x < cfg.FailRate:
		return http.StatusInternalServerError, decisionRejected
	case x < cfg.FailRate+cfg.HangRate:
		r.wait(ctx, cfg.Hang)
		return http.StatusInternalServerError, decisionHang
	default:
		return http.StatusOK, decisionAccepted
	}
}

// wait sleeps d, cut short when the client goes away or the receiver
// closes; it reports whether it slept the whole d.
func (r *Receiver) wait(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.quit, cancel)()
	return wait.Sleep(ctx, d)
}

// drop closes the connection without an answer, like a server that died.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a recorder): the server aborts the
		// stream or connection for this sentinel and logs nothing.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (r *Receiver) logRequest(id string, attempt int, decision string, status int, start time.Time, err error) {
	attrs := []any{
		"event_id", id,
		"attempt", attempt,
		"decision", decision,
		"status", status,
		"latency_ms", float64(time.Since(start).Microseconds()) / 1000,
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
		r.log.Warn("webhook", attrs...)
		return
	}
	r.log.Info("webhook", attrs...)
}
