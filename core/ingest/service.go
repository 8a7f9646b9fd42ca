// Package ingest is the application service behind the API: it validates
// and stores submitted events, and reads and replays them. It implements
// ports.Events.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Events = (*Service)(nil)

// Config of the ingest service.
type Config struct {
	// DefaultTargetURL is used when a submission has none (TARGET_URL);
	// "" means submissions must name their target.
	DefaultTargetURL string
	// Addresses is the SSRF guard: which targets may be accepted. The
	// sender applies it again to every address it dials.
	Addresses core.AddressPolicy
	// MaxPayloadDepth bounds payload nesting (MAX_PAYLOAD_DEPTH); 0 means
	// core.DefaultMaxPayloadDepth.
	MaxPayloadDepth int
}

// Service implements ports.Events over an EventStore.
type Service struct {
	store ports.EventStore
	// endpoints, when set, lets Submit refuse an unknown endpoint_id
	// instead of accepting an event with no delivery.
	endpoints ports.EndpointStore
	clock     ports.Clock
	metrics   ports.Metrics
	log       *slog.Logger
	cfg       Config
}

// NewService returns a Service. A missing store, clock or metrics is an
// error, and so is a default target that Submit would refuse; a nil log
// discards.
func NewService(store ports.EventStore, clock ports.Clock, metrics ports.Metrics, log *slog.Logger, cfg Config) (*Service, error) {
	if store == nil || clock == nil || metrics == nil {
		return nil, errors.New("ingest: a service needs a store, a clock and metrics")
	}
	if cfg.DefaultTargetURL != "" {
		if _, err := checkTarget(cfg.DefaultTargetURL, cfg.Addresses); err != nil {
			return nil, fmt.Errorf("ingest: default target: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: store, clock: clock, metrics: metrics, log: log, cfg: cfg}
	s.endpoints, _ = store.(ports.EndpointStore) // every real store is both
	return s, nil
}

// Submit validates s and stores it as an event with its deliveries. The
// event is durable when Submit returns without error. On
// core.ErrUnavailable it may or may not have been stored (the connection
// can break during the commit); on any other error nothing was.
func (s *Service) Submit(ctx context.Context, sub ports.Submission) (ports.SubmitResult, error) {
	ev, err := s.route(ctx, sub)
	if err != nil {
		return ports.SubmitResult{}, err
	}
	if err := core.ValidatePayload(sub.Payload, s.cfg.MaxPayloadDepth); err != nil {
		return ports.SubmitResult{}, err
	}
	if err := core.ValidateIdempotencyKey(sub.IdempotencyKey); err != nil {
		return ports.SubmitResult{}, err
	}
	payload := bytes.TrimSpace(sub.Payload)
	ev.ID = core.NewEventID(s.clock.Now())
	ev.Body = core.BuildBody(payload, ev.ID)
	ev.IdempotencyKey = sub.IdempotencyKey
	in, err := s.store.Insert(ctx, ports.InsertParams{Event: ev})
	if err != nil {
		return ports.SubmitResult{}, fmt.Errorf("ingest: store event: %w", err)
	}
	if !in.Created {
		// Same key, different request: refuse rather than silently drop
		// the new payload.
		first := in.Event
		if first.TargetURL != ev.TargetURL || first.EventType != ev.EventType || first.EndpointID != ev.EndpointID ||
			!bytes.Equal(first.Payload(), payload) {
			return ports.SubmitResult{}, &core.ConflictError{Code: "idempotency_key_reused",
				Message: fmt.Sprintf("Idempotency-Key %q was already used for event %s with a different target_url, event_type, endpoint_id or payload", sub.IdempotencyKey, first.ID)}
		}
		return ports.SubmitResult{Event: first, Deliveries: in.Deliveries, Replayed: true}, nil
	}
	s.metrics.EventAccepted()
	attrs := []slog.Attr{slog.String("event_id", string(ev.ID)), slog.Int("bytes", len(ev.Body)), slog.Int("deliveries", len(in.Deliveries))}
	if ev.TargetURL != "" {
		attrs = append(attrs, slog.String("target", core.RedactURL(ev.TargetURL)))
	}
	if ev.EventType != "" {
		attrs = append(attrs, slog.String("event_type", ev.EventType))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "event accepted", attrs...)
	return ports.SubmitResult{Event: in.Event, Deliveries: in.Deliveries}, nil
}

// route validates where sub goes and returns the event's routing fields:
// a target_url (given, or the default when nothing else is), or endpoints
// by event type or by id.
func (s *Service) route(ctx context.Context, sub ports.Submission) (core.Event, error) {
	ev := core.Event{EventType: sub.EventType, EndpointID: sub.EndpointID}
	if sub.EventType != "" {
		if err := core.ValidateEventType(sub.EventType); err != nil {
			return core.Event{}, err
		}
	}
	if sub.EndpointID != "" {
		if sub.TargetURL != "" {
			return core.Event{}, &core.ValidationError{Field: "endpoint_id", Code: "conflicting_routes",
				Message: "give target_url or endpoint_id, not both"}
		}
		if s.endpoints != nil {
			if _, err := s.endpoints.GetEndpoint(ctx, sub.EndpointID); errors.Is(err, core.ErrNotFound) {
				return core.Event{}, &core.ValidationError{Field: "endpoint_id", Code: "unknown_endpoint",
					Message: fmt.Sprintf("no endpoint %s", sub.EndpointID)}
			} else if err != nil {
				return core.Event{}, fmt.Errorf("ingest: read endpoint %s: %w", sub.EndpointID, err)
			}
		}
		return ev, nil
	}
	if sub.TargetURL == "" && sub.EventType != "" {
		return ev, nil // every endpoint subscribed to the type
	}
	ev.TargetURL = sub.TargetURL
	if ev.TargetURL == "" {
		ev.TargetURL = s.cfg.DefaultTargetURL
	}
	origin, err := checkTarget(ev.TargetURL, s.cfg.Addresses)
	if err != nil {
		return core.Event{}, err
	}
	ev.Origin = origin
	return ev, nil
}

// checkTarget validates a target URL and applies the SSRF guard to it,
// returning its origin.
func checkTarget(target string, addrs core.AddressPolicy) (string, error) {
	origin, err := core.ValidateTargetURL(target)
	if err != nil {
		return "", err
	}
	if err := addrs.CheckTarget(target); err != nil {
		return "", err
	}
	return origin, nil
}

// Get returns an event, its deliveries and their attempt history.
func (s *Service) Get(ctx context.Context, id core.EventID) (ports.EventDetail, error) {
	rec, err := s.store.Event(ctx, id)
	if err != nil {
		return ports.EventDetail{}, fmt.Errorf("ingest: get %s: %w", id, err)
	}
	out := ports.EventDetail{Event: rec.Event, Deliveries: make([]ports.DeliveryDetail, 0, len(rec.Deliveries))}
	for _, d := range rec.Deliveries {
		atts, err := s.store.Attempts(ctx, d.ID)
		if err != nil {
			return ports.EventDetail{}, fmt.Errorf("ingest: attempts of %s: %w", d.ID, err)
		}
		out.Deliveries = append(out.Deliveries, ports.DeliveryDetail{Delivery: d, Attempts: atts})
	}
	return out, nil
}

// List returns a page of events, newest first.
func (s *Service) List(ctx context.Context, f ports.ListFilter) (ports.ListResult, error) {
	if f.Page < 1 {
		return ports.ListResult{}, &core.ValidationError{Field: "page", Code: "invalid_page", Message: "must be at least 1"}
	}
	if f.After != nil && f.Page > 1 {
		return ports.ListResult{}, &core.ValidationError{Field: "cursor", Code: "conflicting_paging",
			Message: "page a list by cursor or by page number, not both: leave page out with a cursor"}
	}
	if f.Limit < 1 || f.Limit > ports.MaxListLimit {
		return ports.ListResult{}, &core.ValidationError{Field: "limit", Code: "invalid_limit",
			Message: fmt.Sprintf("must be between 1 and %d", ports.MaxListLimit)}
	}
	if err := checkWindow(f.Window); err != nil {
		return ports.ListResult{}, err
	}
	res, err := s.store.List(ctx, f)
	if err != nil {
		return ports.ListResult{}, fmt.Errorf("ingest: list: %w", err)
	}
	return res, nil
}

func checkWindow(w ports.TimeWindow) error {
	if !w.From.IsZero() && !w.To.IsZero() && !w.From.Before(w.To) {
		return &core.ValidationError{Field: "created_before", Code: "invalid_window",
			Message: "created_before must be later than created_after"}
	}
	return nil
}

// Recover sends the finished deliveries a filter matches again, dead ones
// unless it says succeeded, paced per origin. It needs a filter beyond the
// status, so that no one replays a whole history by mistake.
func (s *Service) Recover(ctx context.Context, r ports.RecoverRequest) (ports.RecoverResult, error) {
	f := r.Filter
	if f.Status == "" {
		f.Status = core.StatusDead
	}
	if !f.Status.Finished() {
		return ports.RecoverResult{}, &core.ValidationError{Field: "status", Code: "invalid_status",
			Message: "must be dead or succeeded: only finished deliveries are recovered"}
	}
	if f.EndpointID == "" && f.Origin == "" && f.Window.From.IsZero() {
		return ports.RecoverResult{}, &core.ValidationError{Code: "filter_required",
			Message: "say what to recover: endpoint_id, origin or created_after (or several)"}
	}
	if err := checkWindow(f.Window); err != nil {
		return ports.RecoverResult{}, err
	}
	rate := r.RatePerSecond
	if rate == 0 {
		rate = ports.DefaultRecoverRate
	}
	if !(rate > 0 && rate <= ports.MaxRecoverRate) { // NaN too
		return ports.RecoverResult{}, &core.ValidationError{Field: "rate_per_second", Code: "invalid_rate",
			Message: fmt.Sprintf("must be more than 0 and at most %d", ports.MaxRecoverRate)}
	}
	res, err := s.store.Recover(ctx, ports.RecoverParams{Filter: f, RatePerSecond: rate, Limit: ports.RecoverMax})
	if err != nil {
		return ports.RecoverResult{}, fmt.Errorf("ingest: recover: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "deliveries recovered", slog.Int("queued", res.Queued), slog.Bool("more", res.More),
		slog.String("status", string(f.Status)), slog.String("endpoint_id", string(f.EndpointID)),
		slog.String("origin", f.Origin), slog.Float64("rate_per_second", rate))
	return res, nil
}

// Replay sends every succeeded or dead delivery of an event again.
func (s *Service) Replay(ctx context.Context, id core.EventID) (ports.EventRecord, error) {
	rec, err := s.store.Event(ctx, id)
	if err != nil {
		return ports.EventRecord{}, fmt.Errorf("ingest: replay %s: %w", id, err)
	}
	replayed := 0
	for i, d := range rec.Deliveries {
		if !d.Status.Finished() {
			continue
		}
		again, err := s.store.Replay(ctx, ports.ReplayParams{ID: d.ID})
		if errors.As(err, new(*core.ConflictError)) {
			continue // it was replayed meanwhile
		}
		if err != nil {
			return ports.EventRecord{}, fmt.Errorf("ingest: replay %s delivery %s: %w", id, d.ID, err)
		}
		again.Body = nil // an EventRecord's deliveries leave the body to the event
		rec.Deliveries[i] = again
		replayed++
	}
	if replayed == 0 {
		return ports.EventRecord{}, &core.ConflictError{Code: "not_replayable",
			Message: fmt.Sprintf("event %s is %s; only succeeded or dead events can be replayed", id, core.EventStatus(rec.Deliveries))}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "event replayed", slog.String("event_id", string(id)), slog.Int("deliveries", replayed))
	return rec, nil
}

// ReplayDelivery sends one succeeded or dead delivery of an event again.
func (s *Service) ReplayDelivery(ctx context.Context, event core.EventID, delivery core.DeliveryID) (core.Delivery, error) {
	d, err := s.store.Get(ctx, delivery)
	if err == nil && d.EventID != event {
		err = core.ErrNotFound // a delivery of another event
	}
	if err != nil {
		return core.Delivery{}, fmt.Errorf("ingest: replay delivery %s of %s: %w", delivery, event, err)
	}
	again, err := s.store.Replay(ctx, ports.ReplayParams{ID: delivery})
	if err != nil {
		return core.Delivery{}, fmt.Errorf("ingest: replay delivery %s of %s: %w", delivery, event, err)
	}
	// Spelled as the dispatcher's delivery lines (dispatch.deliveryAttrs);
	// attempt is the count the replay left, 0: a new run of attempts.
	attrs := []slog.Attr{slog.String("event_id", string(event)), slog.String("delivery_id", string(delivery))}
	if again.EndpointID != "" {
		attrs = append(attrs, slog.String("endpoint_id", string(again.EndpointID)))
	}
	attrs = append(attrs, slog.String("origin", again.Origin), slog.Int("attempt", again.AttemptedCount),
		slog.String("target", core.RedactURL(again.TargetURL)))
	s.log.LogAttrs(ctx, slog.LevelInfo, "delivery replayed", attrs...)
	return again, nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("ingest: store: %w", err)
	}
	return nil
}
