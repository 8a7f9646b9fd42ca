package ports

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
)

// EndpointStore keeps merchants' endpoints. Every store that is an
// EventStore is one too, over the same database, so that routing an event
// to its endpoints can read them in the transaction that stores it.
//
// Errors: core.ErrNotFound for an unknown id, *core.ConflictError for a
// duplicate one, core.ErrUnavailable when the database cannot answer.
type EndpointStore interface {
	// CreateEndpoint stores e, setting CreatedAt and UpdatedAt to now.
	CreateEndpoint(ctx context.Context, e core.Endpoint, now *time.Time) (core.Endpoint, error)
	// GetEndpoint returns one endpoint.
	GetEndpoint(ctx context.Context, id core.EndpointID) (core.Endpoint, error)
	// ListEndpoints returns a page of endpoints, newest first, and the
	// total.
	ListEndpoints(ctx context.Context, f EndpointFilter) (EndpointList, error)
	// UpdateEndpoint reads the endpoint, lets change modify it and writes
	// it back with UpdatedAt = now, atomically: concurrent updates of one
	// endpoint apply one after the other. If change returns an error,
	// nothing is written and that error is returned. ID and CreatedAt are
	// not changeable.
	UpdateEndpoint(ctx context.Context, id core.EndpointID, now *time.Time, change func(*core.Endpoint) error) (core.Endpoint, error)
	// DeleteEndpoint removes the endpoint.
	DeleteEndpoint(ctx context.Context, id core.EndpointID) error
}

// EndpointFilter selects a page of endpoints. Page is 1-based; Limit is
// 1–MaxListLimit.
type EndpointFilter struct {
	Page  int
	Limit int
}

// EndpointList is one page of endpoints and the total number.
type EndpointList struct {
	Endpoints []core.Endpoint
	Total     int
}

// Endpoints is the driving port for managing endpoints (the HTTP API's
// /endpoints). core/endpoints implements it.
type Endpoints interface {
	// Create validates spec and registers the endpoint, generating its
	// secret unless spec gives one. The secret is returned in the clear
	// this once (and by Secret).
	Create(ctx context.Context, spec EndpointSpec) (EndpointWithSecret, error)
	Get(ctx context.Context, id core.EndpointID) (core.Endpoint, error)
	List(ctx context.Context, f EndpointFilter) (EndpointList, error)
	// Update applies the fields patch sets.
	Update(ctx context.Context, id core.EndpointID, patch EndpointPatch) (core.Endpoint, error)
	Delete(ctx context.Context, id core.EndpointID) error
	// Secret returns the current secret, "whsec_…".
	Secret(ctx context.Context, id core.EndpointID) (string, error)
	// RotateSecret replaces the secret with secret (generated when ""),
	// keeping the previous one signing beside it for the rotation grace,
	// and returns the new one.
	RotateSecret(ctx context.Context, id core.EndpointID, secret string) (string, error)
}

// EndpointSpec is a new endpoint as a client describes it.
type EndpointSpec struct {
	URL                string
	EventTypes         []string
	Description        string
	Secret             string // "" generates one
	RateLimitPerSecond int    // 0: none
	Metadata           []byte // a JSON object, or nil
}

// EndpointPatch changes the fields that are not nil.
type EndpointPatch struct {
	URL                *string
	EventTypes         *[]string
	Description        *string
	RateLimitPerSecond *int // 0 removes the limit
	Metadata           *[]byte
	Disabled           *bool
}

// EndpointWithSecret is a created endpoint and its secret in the clear.
type EndpointWithSecret struct {
	Endpoint core.Endpoint
	Secret   string
}
