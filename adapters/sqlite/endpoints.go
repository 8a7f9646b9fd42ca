package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.EndpointStore = (*Store)(nil)

func (s *Store) CreateEndpoint(ctx context.Context, e core.Endpoint, now *time.Time) (core.Endpoint, error) {
	e.CreatedAt = s.now(now)
	e.UpdatedAt = e.CreatedAt
	row, err := endpointFromCore(e)
	if err != nil {
		return core.Endpoint{}, err
	}
	err = s.write(ctx, "create endpoint "+string(e.ID), func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		return core.Endpoint{}, err
	}
	return endpointToCore(row)
}

// GetEndpoint finds nothing for a malformed id, as for an unknown one.
func (s *Store) GetEndpoint(ctx context.Context, id core.EndpointID) (core.Endpoint, error) {
	var row endpointRow
	if err := s.db.Read.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
		return core.Endpoint{}, interpretError("get endpoint "+string(id), err)
	}
	return endpointToCore(row)
}

func (s *Store) ListEndpoints(ctx context.Context, f ports.EndpointFilter) (ports.EndpointList, error) {
	var rows []endpointRow
	q := s.db.Read.NewSelect().Model(&rows)
	if f.Page < 1 || f.Limit < 1 {
		// Total only: bun would read Limit(0) as "no limit".
		n, err := q.Count(ctx)
		return ports.EndpointList{Total: int(n)}, interpretError("list endpoints: count", err)
	}
	total, err := q.OrderExpr("created_at DESC, id DESC").
		Limit(int64(f.Limit)).Offset(int64(f.Page-1) * int64(f.Limit)).
		ScanAndCount(ctx)
	if err != nil {
		return ports.EndpointList{}, interpretError("list endpoints", err)
	}
	res := ports.EndpointList{Total: int(total)}
	for _, r := range rows {
		e, err := endpointToCore(r)
		if err != nil {
			return ports.EndpointList{}, err
		}
		res.Endpoints = append(res.Endpoints, e)
	}
	return res, nil
}

// UpdateEndpoint reads, changes and writes back in one write transaction,
// which makes concurrent updates apply in turn, and applies the change to
// the endpoint's deliveries in the same transaction (followEndpoint).
func (s *Store) UpdateEndpoint(ctx context.Context, id core.EndpointID, now *time.Time, change func(*core.Endpoint) error) (core.Endpoint, error) {
	at := s.now(now)
	var row endpointRow
	err := s.write(ctx, "update endpoint "+string(id), func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite: endpoint %s: %w", id, core.ErrNotFound)
			}
			return err
		}
		e, err := endpointToCore(row)
		if err != nil {
			return err
		}
		if err := change(&e); err != nil {
			return err // rolled back: nothing written
		}
		e.ID, e.CreatedAt, e.UpdatedAt = core.EndpointID(row.ID), fromMicros(row.CreatedAt), at
		if row, err = endpointFromCore(e); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model(&row).ExcludeColumn("id", "created_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		return followEndpoint(ctx, tx, e, at)
	})
	if err != nil {
		return core.Endpoint{}, err
	}
	return endpointToCore(row)
}

// DeleteEndpoint removes the endpoint and, in the same transaction, ends
// its pending deliveries (core.Delivery.Cancel). Those in flight are left
// to their worker; its next claim of them finds no endpoint and no keys.
// Every delivery stays, with its history.
func (s *Store) DeleteEndpoint(ctx context.Context, id core.EndpointID) error {
	now := s.now(nil)
	return s.write(ctx, "delete endpoint "+string(id), func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*endpointRow)(nil)).Where("id = ?", string(id)).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: endpoint %s: %w", id, core.ErrNotFound)
		}
		pending, err := selectDeliveries(ctx, tx.NewSelect().Where("endpoint_id = ?", string(id)).Where("status = 'pending'"))
		if err != nil {
			return err
		}
		for _, d := range pending {
			if ended, changed := d.Cancel(core.ErrorEndpointDeleted, now); changed {
				if err := save(ctx, tx, ended); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// followEndpoint applies an endpoint's new state to its unfinished
// deliveries, as memory's does: disabled, its pending ones end
// (core.Delivery.Cancel); moved, the rest move with it
// (core.Delivery.Move), so that they are parked, excluded and capped under
// the new origin. Finished ones are history and keep their target.
func followEndpoint(ctx context.Context, tx bun.Tx, ep core.Endpoint, now time.Time) error {
	ds, err := selectDeliveries(ctx, tx.NewSelect().Where("endpoint_id = ?", string(ep.ID)).
		Where("status IN ('pending', 'delivering')"))
	if err != nil {
		return err
	}
	for _, d := range ds {
		var cancelled bool
		if ep.Disabled {
			d, cancelled = d.Cancel(core.ErrorEndpointDisabled, now)
		}
		d, moved := d.Move(ep.URL, ep.Origin, now)
		if cancelled || moved {
			if err := save(ctx, tx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// endpointRow is an endpoints row. Optional values are NULL in the table
// and nil in core.
type endpointRow struct {
	bun.BaseModel `bun:"table:endpoints"`

	ID                  string `bun:"id,pk"`
	URL                 string `bun:"url"`
	Origin              string `bun:"origin"`
	EventTypes          string `bun:"event_types"` // a JSON array of strings
	Description         string `bun:"description"`
	RateLimitPerSecond  int    `bun:"rate_limit_per_second"`
	Metadata            string `bun:"metadata,nullzero"` // TEXT: a []byte would bind as a BLOB, which STRICT refuses
	Disabled            bool   `bun:"disabled"`
	DisabledReason      string `bun:"disabled_reason"`
	Secret              []byte `bun:"secret"`
	PreviousSecret      []byte `bun:"previous_secret"` // nil binds as NULL
	PreviousSecretUntil *int64 `bun:"previous_secret_until"`
	FailingSince        *int64 `bun:"failing_since"`
	CreatedAt           int64  `bun:"created_at"`
	UpdatedAt           int64  `bun:"updated_at"`
}

func endpointFromCore(e core.Endpoint) (endpointRow, error) {
	types := e.EventTypes
	if types == nil {
		types = []string{} // "[]", not "null"
	}
	js, err := json.Marshal(types)
	if err != nil {
		return endpointRow{}, fmt.Errorf("sqlite: endpoint %s: event types: %w", e.ID, err)
	}
	return endpointRow{
		ID:                  string(e.ID),
		URL:                 e.URL,
		Origin:              e.Origin,
		EventTypes:          string(js),
		Description:         e.Description,
		RateLimitPerSecond:  e.RateLimitPerSecond,
		Metadata:            string(e.Metadata),
		Disabled:            e.Disabled,
		DisabledReason:      e.DisabledReason,
		Secret:              e.Secret,
		PreviousSecret:      e.PreviousSecret,
		PreviousSecretUntil: microsPtr(e.PreviousSecretUntil),
		FailingSince:        microsPtr(e.FailingSince),
		CreatedAt:           e.CreatedAt.UnixMicro(),
		UpdatedAt:           e.UpdatedAt.UnixMicro(),
	}, nil
}

func endpointToCore(r endpointRow) (core.Endpoint, error) {
	var types []string
	if err := json.Unmarshal([]byte(r.EventTypes), &types); err != nil {
		return core.Endpoint{}, fmt.Errorf("sqlite: endpoint %s: event types %q: %w", r.ID, r.EventTypes, err)
	}
	if len(types) == 0 {
		types = nil
	}
	var metadata []byte
	if r.Metadata != "" {
		metadata = []byte(r.Metadata)
	}
	return core.Endpoint{
		ID:                  core.EndpointID(r.ID),
		URL:                 r.URL,
		Origin:              r.Origin,
		EventTypes:          types,
		Description:         r.Description,
		RateLimitPerSecond:  r.RateLimitPerSecond,
		Metadata:            metadata,
		Disabled:            r.Disabled,
		DisabledReason:      r.DisabledReason,
		Secret:              r.Secret,
		PreviousSecret:      r.PreviousSecret,
		PreviousSecretUntil: fromMicrosPtr(r.PreviousSecretUntil),
		FailingSince:        fromMicrosPtr(r.FailingSince),
		CreatedAt:           fromMicros(r.CreatedAt),
		UpdatedAt:           fromMicros(r.UpdatedAt),
	}, nil
}
