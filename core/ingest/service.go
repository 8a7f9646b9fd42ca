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
	store   ports.EventStore
	clock   ports.Clock
	metrics ports.Metrics
	log     *slog.Logger
	cfg     Config
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
	return &Service{store: store, clock: clock, metrics: metrics, log: log, cfg: cfg}, nil
}

// Submit validates s and stores it as a pending event. The event is durable
// when Submit returns without error. On core.ErrUnavailable it may or may
// not have been stored (the connection can break during the commit); on
// any other error nothing was.
func (s *Service) Submit(ctx context.Context, sub ports.Submission) (ports.SubmitResult, error) {
	target := sub.TargetURL
	if target == "" {
		target = s.cfg.DefaultTargetURL
	}
	origin, err := checkTarget(target, s.cfg.Addresses)
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
	id := core.NewEventID(s.clock.Now())
	ev, created, err := s.store.Insert(ctx, ports.InsertParams{Event: core.Event{
		ID:             id,
		TargetURL:      target,
		Origin:         origin,
		Body:           core.BuildBody(payload, id),
		IdempotencyKey: sub.IdempotencyKey,
		Status:         core.StatusPending,
	}})
	if err != nil {
		return ports.SubmitResult{}, fmt.Errorf("ingest: store event: %w", err)
	}
	if !created {
		// Same key, different request: refuse rather than silently drop
		// the new payload.
		if ev.TargetURL != target || !bytes.Equal(ev.Payload(), payload) {
			return ports.SubmitResult{}, &core.ConflictError{Code: "idempotency_key_reused",
				Message: fmt.Sprintf("Idempotency-Key %q was already used for event %s with a different target_url or payload", sub.IdempotencyKey, ev.ID)}
		}
		return ports.SubmitResult{Event: ev, Replayed: true}, nil
	}
	s.metrics.EventAccepted()
	s.log.LogAttrs(ctx, slog.LevelInfo, "event accepted",
		slog.String("event_id", string(ev.ID)), slog.String("target", core.RedactURL(ev.TargetURL)), slog.Int("bytes", len(ev.Body)))
	return ports.SubmitResult{Event: ev}, nil
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

// Get returns an event and its attempt history.
func (s *Service) Get(ctx context.Context, id core.EventID) (ports.EventDetail, error) {
	ev, err := s.store.Get(ctx, id)
	if err != nil {
		return ports.EventDetail{}, fmt.Errorf("ingest: get %s: %w", id, err)
	}
	atts, err := s.store.Attempts(ctx, id)
	if err != nil {
		return ports.EventDetail{}, fmt.Errorf("ingest: attempts of %s: %w", id, err)
	}
	return ports.EventDetail{Event: ev, Attempts: atts}, nil
}

// List returns a page of events, newest first.
func (s *Service) List(ctx context.Context, f ports.ListFilter) (ports.ListResult, error) {
	if f.Page < 1 {
		return ports.ListResult{}, &core.ValidationError{Field: "page", Code: "invalid_page", Message: "must be at least 1"}
	}
	if f.Limit < 1 || f.Limit > ports.MaxListLimit {
		return ports.ListResult{}, &core.ValidationError{Field: "limit", Code: "invalid_limit",
			Message: fmt.Sprintf("must be between 1 and %d", ports.MaxListLimit)}
	}
	res, err := s.store.List(ctx, f)
	if err != nil {
		return ports.ListResult{}, fmt.Errorf("ingest: list: %w", err)
	}
	return res, nil
}

// Replay sends a succeeded or dead event again.
func (s *Service) Replay(ctx context.Context, id core.EventID) (core.Event, error) {
	ev, err := s.store.Replay(ctx, ports.ReplayParams{ID: id})
	if err != nil {
		return core.Event{}, fmt.Errorf("ingest: replay %s: %w", id, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "event replayed", slog.String("event_id", string(id)))
	return ev, nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("ingest: store: %w", err)
	}
	return nil
}
