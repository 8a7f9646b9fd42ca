// Package endpoints is the application service behind /endpoints: it
// validates and registers merchants' endpoints, seals their secrets before
// the store sees them, and rotates them. It implements ports.Endpoints.
package endpoints

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/core/secretbox"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Endpoints = (*Service)(nil)

// DefaultRotationGrace is how long a rotated-out secret keeps signing
// beside the new one (SECRET_ROTATION_GRACE_MS): a day, time for every
// merchant server to pick the new one up.
const DefaultRotationGrace = 24 * time.Hour

// Config of the endpoints service.
type Config struct {
	// Addresses is the SSRF guard every endpoint URL must pass, as every
	// target_url does.
	Addresses core.AddressPolicy
	// RotationGrace is DefaultRotationGrace when zero.
	RotationGrace time.Duration
}

// Service implements ports.Endpoints over an EndpointStore.
type Service struct {
	store ports.EndpointStore
	box   *secretbox.Box
	clock ports.Clock
	log   *slog.Logger
	cfg   Config
}

// NewService returns a Service. A missing store, box or clock is an error;
// a nil log discards.
func NewService(store ports.EndpointStore, box *secretbox.Box, clock ports.Clock, log *slog.Logger, cfg Config) (*Service, error) {
	if store == nil || box == nil || clock == nil {
		return nil, errors.New("endpoints: a service needs a store, a secret box and a clock")
	}
	if cfg.RotationGrace < 0 {
		return nil, fmt.Errorf("endpoints: rotation grace %s: must not be negative", cfg.RotationGrace)
	}
	cfg.RotationGrace = cmp.Or(cfg.RotationGrace, DefaultRotationGrace)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, box: box, clock: clock, log: log, cfg: cfg}, nil
}

// Create validates spec and registers the endpoint.
func (s *Service) Create(ctx context.Context, spec ports.EndpointSpec) (ports.EndpointWithSecret, error) {
	origin, err := s.checkURL(spec.URL)
	if err != nil {
		return ports.EndpointWithSecret{}, err
	}
	types, err := core.NormalizeEventTypes(spec.EventTypes)
	if err != nil {
		return ports.EndpointWithSecret{}, err
	}
	metadata, err := core.ValidateMetadata(spec.Metadata)
	if err != nil {
		return ports.EndpointWithSecret{}, err
	}
	if err := errors.Join(core.ValidateDescription(spec.Description), core.ValidateRateLimit(spec.RateLimitPerSecond)); err != nil {
		return ports.EndpointWithSecret{}, err
	}
	key, err := newKey(spec.Secret)
	if err != nil {
		return ports.EndpointWithSecret{}, err
	}
	id := core.NewEndpointID(s.clock.Now())
	e, err := s.store.CreateEndpoint(ctx, core.Endpoint{
		ID: id, URL: spec.URL, Origin: origin, EventTypes: types, Description: spec.Description,
		RateLimitPerSecond: spec.RateLimitPerSecond, Metadata: metadata, Secret: s.box.Seal(key, string(id)),
	}, nil)
	if err != nil {
		return ports.EndpointWithSecret{}, fmt.Errorf("endpoints: create: %w", err)
	}
	s.log.Info("endpoint created", slog.String("endpoint_id", string(e.ID)), slog.String("url", core.RedactURL(e.URL)),
		slog.Any("event_types", e.EventTypes))
	return ports.EndpointWithSecret{Endpoint: e, Secret: signing.EndpointSecretText(key)}, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, id core.EndpointID) (core.Endpoint, error) {
	e, err := s.store.GetEndpoint(ctx, id)
	if err != nil {
		return core.Endpoint{}, fmt.Errorf("endpoints: get %s: %w", id, err)
	}
	return e, nil
}

// List returns a page of endpoints, newest first.
func (s *Service) List(ctx context.Context, f ports.EndpointFilter) (ports.EndpointList, error) {
	res, err := s.store.ListEndpoints(ctx, f)
	if err != nil {
		return ports.EndpointList{}, fmt.Errorf("endpoints: list: %w", err)
	}
	return res, nil
}

// Update validates every field patch sets, then applies them together.
func (s *Service) Update(ctx context.Context, id core.EndpointID, p ports.EndpointPatch) (core.Endpoint, error) {
	var origin string
	var metadata []byte
	if p.URL != nil {
		var err error
		if origin, err = s.checkURL(*p.URL); err != nil {
			return core.Endpoint{}, err
		}
	}
	var eventTypes []string
	if p.EventTypes != nil {
		var err error
		if eventTypes, err = core.NormalizeEventTypes(*p.EventTypes); err != nil {
			return core.Endpoint{}, err
		}
	}
	if p.Metadata != nil {
		var err error
		if metadata, err = core.ValidateMetadata(*p.Metadata); err != nil {
			return core.Endpoint{}, err
		}
	}
	if p.Description != nil {
		if err := core.ValidateDescription(*p.Description); err != nil {
			return core.Endpoint{}, err
		}
	}
	if p.RateLimitPerSecond != nil {
		if err := core.ValidateRateLimit(*p.RateLimitPerSecond); err != nil {
			return core.Endpoint{}, err
		}
	}
	e, err := s.store.UpdateEndpoint(ctx, id, nil, func(e *core.Endpoint) error {
		if p.URL != nil {
			e.URL, e.Origin = *p.URL, origin
		}
		if p.EventTypes != nil {
			e.EventTypes = eventTypes
		}
		if p.Metadata != nil {
			e.Metadata = metadata
		}
		if p.Description != nil {
			e.Description = *p.Description
		}
		if p.RateLimitPerSecond != nil {
			e.RateLimitPerSecond = *p.RateLimitPerSecond
		}
		if p.Disabled != nil && *p.Disabled != e.Disabled {
			e.Disabled, e.DisabledReason = *p.Disabled, ""
			if e.Disabled {
				e.DisabledReason = ReasonDisabledByRequest
			} else {
				// A fresh start: the failures that disabled it must not
				// disable it again at its first new failure.
				e.FailingSince = nil
			}
		}
		return nil
	})
	if err != nil {
		return core.Endpoint{}, fmt.Errorf("endpoints: update %s: %w", id, err)
	}
	s.log.Info("endpoint updated", slog.String("endpoint_id", string(id)), slog.Bool("disabled", e.Disabled))
	return e, nil
}

// ReasonDisabledByRequest is DisabledReason of an endpoint disabled
// through the API.
const ReasonDisabledByRequest = "disabled through the API"

// Delete removes the endpoint.
func (s *Service) Delete(ctx context.Context, id core.EndpointID) error {
	if err := s.store.DeleteEndpoint(ctx, id); err != nil {
		return fmt.Errorf("endpoints: delete %s: %w", id, err)
	}
	s.log.Info("endpoint deleted", slog.String("endpoint_id", string(id)))
	return nil
}

// Secret returns the endpoint's current secret in its "whsec_" form.
func (s *Service) Secret(ctx context.Context, id core.EndpointID) (string, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	key, err := s.box.Open(e.Secret, string(e.ID))
	if err != nil {
		return "", fmt.Errorf("endpoints: secret of %s: %w", id, err)
	}
	return signing.EndpointSecretText(key), nil
}

// RotateSecret makes secret (generated when "") the endpoint's secret; the
// one it replaces keeps signing beside it for the rotation grace. A
// previous secret still in its grace is dropped: deliveries carry at most
// two signatures.
func (s *Service) RotateSecret(ctx context.Context, id core.EndpointID, secret string) (string, error) {
	key, err := newKey(secret)
	if err != nil {
		return "", err
	}
	until := s.clock.Now().Add(s.cfg.RotationGrace)
	_, err = s.store.UpdateEndpoint(ctx, id, nil, func(e *core.Endpoint) error {
		e.PreviousSecret, e.PreviousSecretUntil = e.Secret, &until
		e.Secret = s.box.Seal(key, string(e.ID))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("endpoints: rotate the secret of %s: %w", id, err)
	}
	s.log.Info("endpoint secret rotated", slog.String("endpoint_id", string(id)), slog.Time("previous_signs_until", until))
	return signing.EndpointSecretText(key), nil
}

func (s *Service) checkURL(raw string) (string, error) {
	origin, err := core.ValidateEndpointURL(raw)
	if err != nil {
		return "", err
	}
	if err := s.cfg.Addresses.CheckTarget(raw); err != nil {
		var v *core.ValidationError
		if errors.As(err, &v) {
			v.Field = "url"
		}
		return "", err
	}
	return origin, nil
}

// newKey is the key of a client's secret, or a new one when text is "".
func newKey(text string) ([]byte, error) {
	if text == "" {
		text = signing.NewEndpointSecret()
	}
	key, err := signing.ParseEndpointSecret(text)
	if err != nil {
		return nil, &core.ValidationError{Field: "secret", Code: "invalid_secret", Message: err.Error()}
	}
	return key, nil
}
