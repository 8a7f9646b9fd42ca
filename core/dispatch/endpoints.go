package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// What a worker does for endpoints beyond signing: it keeps each
// endpoint's run of failures (core.Endpoint.FailingSince) and disables an
// endpoint that has failed without a single success for DisableAfter; and
// it tells the operator, through the same durable queue, about dead
// deliveries and disabled endpoints (OPERATIONAL_WEBHOOK_URL).

// Operational event types.
const (
	EventEndpointDisabled = "endpoint.disabled"
	EventDeliveryDead     = "delivery.dead"
)

// endpointFailed reports whether an attempt's answer counts against its
// endpoint: anything but a success, a 410 (the receiver's deliberate "not
// this event") or a stall of our own.
func endpointFailed(out core.Outcome, d core.Decision) bool {
	return d.Verdict != core.VerdictSucceeded && out.StatusCode != 410 && !out.Stalled
}

// followEndpoint records an attempt's outcome on its endpoint: a success
// ends a run of failures; a failure starts one, or, when the run is older
// than DisableAfter, disables the endpoint (which ends its pending
// deliveries). The endpoint row is written only when the run starts or
// ends, never per attempt.
func (w *Worker) followEndpoint(ctx context.Context, log *slog.Logger, e core.Delivery, out core.Outcome, d core.Decision, at time.Time) {
	if w.endpoints == nil || e.Endpoint == nil {
		return
	}
	since := e.Endpoint.FailingSince
	failed := endpointFailed(out, d)
	switch {
	case !failed && d.Verdict == core.VerdictSucceeded && since != nil:
		w.updateEndpoint(ctx, log, e.EndpointID, func(ep *core.Endpoint) error {
			ep.FailingSince = nil
			return nil
		})
	case failed && since == nil:
		w.updateEndpoint(ctx, log, e.EndpointID, func(ep *core.Endpoint) error {
			if ep.FailingSince == nil {
				ep.FailingSince = &at
			}
			return nil
		})
	case failed && at.Sub(*since) >= w.cfg.DisableAfter:
		reason := fmt.Sprintf("failed without a success since %s (ENDPOINT_DISABLE_AFTER_MS %s); last error: %s",
			since.UTC().Format(time.RFC3339), w.cfg.DisableAfter, d.Error)
		var disabled bool
		ep, ok := w.updateEndpoint(ctx, log, e.EndpointID, func(ep *core.Endpoint) error {
			// Only if no success came in meanwhile, and only once.
			disabled = !ep.Disabled && ep.FailingSince != nil && at.Sub(*ep.FailingSince) >= w.cfg.DisableAfter
			if disabled {
				ep.Disabled, ep.DisabledReason = true, core.StorableText(reason)
			}
			return nil
		})
		if ok && disabled {
			log.Warn("endpoint disabled: its pending deliveries are dead", slog.String("reason", reason))
			w.notify(ctx, log, EventEndpointDisabled, map[string]any{
				"endpoint_id": ep.ID, "url": core.RedactURL(ep.URL), "reason": ep.DisabledReason,
				"failing_since": since.UTC().Format(time.RFC3339Nano),
			})
		}
	}
}

// updateEndpoint applies change to an endpoint, logging a failure (the
// next attempt's outcome tries again).
func (w *Worker) updateEndpoint(ctx context.Context, log *slog.Logger, id core.EndpointID, change func(*core.Endpoint) error) (core.Endpoint, bool) {
	sctx, cancel := detached(ctx)
	defer cancel()
	ep, err := w.endpoints.UpdateEndpoint(sctx, id, nil, change)
	if err != nil {
		log.Warn("could not record the endpoint's health", slog.String("error", err.Error()))
		return core.Endpoint{}, false
	}
	return ep, true
}

// deadNotice tells the operator that e ended dead, unless e was itself an
// operational webhook (no notice about a notice).
func (w *Worker) deadNotice(ctx context.Context, log *slog.Logger, e core.Delivery, d core.Decision) {
	if d.Status != core.StatusDead || w.cfg.OperationalURL == "" || e.TargetURL == w.cfg.OperationalURL {
		return
	}
	data := map[string]any{
		"event_id": e.EventID, "delivery_id": e.ID, "target_url": core.RedactURL(e.TargetURL),
		"attempts": e.AttemptedCount, "verdict": d.Verdict, "reason": d.Reason, "error": d.Error,
	}
	if e.EndpointID != "" {
		data["endpoint_id"] = e.EndpointID
	}
	if d.StatusCode != 0 {
		data["last_status_code"] = d.StatusCode
	}
	w.notify(ctx, log, EventDeliveryDead, data)
}

// notify queues an operational webhook to OperationalURL: an event like
// any other (stored before this returns, retried, signed with HMAC_SECRET),
// whose payload is {"type", "timestamp", "data"}.
func (w *Worker) notify(ctx context.Context, log *slog.Logger, eventType string, data map[string]any) {
	if w.cfg.OperationalURL == "" {
		return
	}
	now := w.clock.Now()
	payload, err := json.Marshal(map[string]any{"type": eventType, "timestamp": now.UTC().Format(time.RFC3339Nano), "data": data})
	if err != nil {
		log.Error("could not build an operational webhook", slog.String("error", err.Error()))
		return
	}
	id := core.NewEventID(now)
	sctx, cancel := detached(ctx)
	defer cancel()
	_, err = w.store.Insert(sctx, ports.InsertParams{Event: core.Event{
		ID: id, EventType: eventType, TargetURL: w.cfg.OperationalURL, Origin: w.operationalOrigin,
		Body: core.BuildBody(payload, id),
	}})
	if err != nil {
		log.Error("could not queue an operational webhook", slog.String("type", eventType), slog.String("error", err.Error()))
	}
}
