package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.EndpointStore = (*Store)(nil)

// endpointRow is an endpoints row. Optional values are NULL in the table
// and nil in core (metadata, the previous secret and its deadline); an
// empty subscription list is '{}'.
type endpointRow struct {
	bun.BaseModel `bun:"table:endpoints,alias:en"`

	ID                  string     `bun:"id,pk,type:uuid"`
	URL                 string     `bun:"url,notnull"`
	Origin              string     `bun:"origin,notnull"`
	EventTypes          []string   `bun:"event_types,notnull,array"`
	Description         string     `bun:"description,notnull"`
	RateLimitPerSecond  int        `bun:"rate_limit_per_second,notnull"`
	Metadata            jsonText   `bun:"metadata,type:json"`
	Disabled            bool       `bun:"disabled,notnull"`
	DisabledReason      string     `bun:"disabled_reason,notnull"`
	Secret              []byte     `bun:"secret,notnull,type:bytea"`
	PreviousSecret      []byte     `bun:"previous_secret,type:bytea"`
	PreviousSecretUntil *time.Time `bun:"previous_secret_until"`
	FailingSince        *time.Time `bun:"failing_since"`
	CreatedAt           time.Time  `bun:"created_at,notnull"`
	UpdatedAt           time.Time  `bun:"updated_at,notnull"`
}

// jsonText is a json column's text, kept byte for byte: sent as a string
// literal (json keeps its input text, unlike jsonb) and scanned back as is.
// nil (or empty: no metadata) is NULL. (bun would re-marshal a []byte or json.RawMessage tagged
// json, escaping HTML characters and writing nil as the JSON null.)
type jsonText []byte

var (
	_ driver.Valuer = jsonText(nil)
	_ sql.Scanner   = (*jsonText)(nil)
)

func (j jsonText) Value() (driver.Value, error) {
	if len(j) == 0 {
		return nil, nil
	}
	return string(j), nil
}

func (j *jsonText) Scan(src any) error {
	switch src := src.(type) {
	case nil:
		*j = nil
	case string:
		*j = jsonText(src)
	case []byte:
		*j = jsonText(append([]byte{}, src...))
	default:
		return fmt.Errorf("postgres: json column: unexpected %T", src)
	}
	return nil
}

func endpointToCore(r endpointRow) core.Endpoint {
	var types []string
	if len(r.EventTypes) > 0 {
		types = r.EventTypes
	}
	return core.Endpoint{
		ID:                  core.EndpointID(r.ID),
		URL:                 r.URL,
		Origin:              r.Origin,
		EventTypes:          types,
		Description:         r.Description,
		RateLimitPerSecond:  r.RateLimitPerSecond,
		Metadata:            []byte(r.Metadata),
		Disabled:            r.Disabled,
		DisabledReason:      r.DisabledReason,
		Secret:              r.Secret,
		PreviousSecret:      r.PreviousSecret,
		PreviousSecretUntil: utcPtr(r.PreviousSecretUntil),
		FailingSince:        utcPtr(r.FailingSince),
		CreatedAt:           r.CreatedAt.UTC(),
		UpdatedAt:           r.UpdatedAt.UTC(),
	}
}

func endpointFromCore(e core.Endpoint) endpointRow {
	types := e.EventTypes
	if types == nil {
		types = []string{} // NOT NULL: no types is '{}', every type
	}
	var until *time.Time
	if e.PreviousSecretUntil != nil {
		u := e.PreviousSecretUntil.UTC()
		until = &u
	}
	return endpointRow{
		ID:                  string(e.ID),
		URL:                 e.URL,
		Origin:              e.Origin,
		EventTypes:          types,
		Description:         e.Description,
		RateLimitPerSecond:  e.RateLimitPerSecond,
		Metadata:            jsonText(e.Metadata),
		Disabled:            e.Disabled,
		DisabledReason:      e.DisabledReason,
		Secret:              e.Secret,
		PreviousSecret:      e.PreviousSecret,
		PreviousSecretUntil: until,
		FailingSince:        utcPtr(e.FailingSince),
		CreatedAt:           e.CreatedAt,
		UpdatedAt:           e.UpdatedAt,
	}
}

// endpointColumns are the columns an update writes besides updated_at: all
// but id and created_at, which never change.
var endpointColumns = []string{
	"url", "origin", "event_types", "description", "rate_limit_per_second", "metadata",
	"disabled", "disabled_reason", "secret", "previous_secret", "previous_secret_until", "failing_since",
}

func (s *Store) CreateEndpoint(ctx context.Context, e core.Endpoint, now *time.Time) (core.Endpoint, error) {
	if !validEndpointID(e.ID) {
		return core.Endpoint{}, fmt.Errorf("postgres: create endpoint: id %q is not a UUID", e.ID)
	}
	row := endpointFromCore(e)
	at := dbNow{now}
	var out endpointRow
	err := s.db.NewInsert().Model(&row).
		Value("created_at", "?", at).
		Value("updated_at", "?", at).
		Returning("*").
		Scan(ctx, &out)
	if err != nil {
		return core.Endpoint{}, interpretError("create endpoint", err)
	}
	return endpointToCore(out), nil
}

func (s *Store) GetEndpoint(ctx context.Context, id core.EndpointID) (core.Endpoint, error) {
	if !validEndpointID(id) {
		return core.Endpoint{}, fmt.Errorf("postgres: get endpoint %s: %w", id, core.ErrNotFound)
	}
	var row endpointRow
	if err := s.db.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
		return core.Endpoint{}, interpretError("get endpoint "+string(id), err)
	}
	return endpointToCore(row), nil
}

func (s *Store) ListEndpoints(ctx context.Context, f ports.EndpointFilter) (ports.EndpointList, error) {
	var rows []endpointRow
	q := s.db.NewSelect().Model(&rows)
	if f.Page < 1 || f.Limit < 1 {
		// Nothing to show, but the total is still asked for (and bun
		// would read Limit(0) as "no limit").
		n, err := q.Count(ctx)
		return ports.EndpointList{Total: int(n)}, interpretError("list endpoints: count", err)
	}
	total, err := q.OrderExpr("created_at DESC, id DESC").
		Limit(int64(f.Limit)).Offset(int64(f.Page-1) * int64(f.Limit)).
		ScanAndCount(ctx)
	if err != nil {
		return ports.EndpointList{}, interpretError("list endpoints", err)
	}
	var out []core.Endpoint
	for _, r := range rows {
		out = append(out, endpointToCore(r))
	}
	return ports.EndpointList{Endpoints: out, Total: int(total)}, nil
}

func (s *Store) UpdateEndpoint(ctx context.Context, id core.EndpointID, now *time.Time, change func(*core.Endpoint) error) (core.Endpoint, error) {
	if !validEndpointID(id) {
		return core.Endpoint{}, fmt.Errorf("postgres: update endpoint %s: %w", id, core.ErrNotFound)
	}
	var (
		out       endpointRow
		changeErr error
	)
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var cur endpointRow
		// The row lock makes concurrent updates of one endpoint take turns
		// (each reads what the one before it wrote), and waits for inserts
		// routing to it, whose deliveries followEndpoint then sees.
		if err := tx.NewSelect().Model(&cur).Where("id = ?", string(id)).For("UPDATE").Scan(ctx); err != nil {
			return err
		}
		e := endpointToCore(cur)
		if err := change(&e); err != nil {
			changeErr = err
			return err // rolls back; nothing was written
		}
		e.ID, e.CreatedAt = core.EndpointID(cur.ID), cur.CreatedAt
		row := endpointFromCore(e)
		err := tx.NewUpdate().Model(&row).
			Column(endpointColumns...).
			Column("updated_at").
			Value("updated_at", "?", dbNow{now}).
			WherePK().
			Returning("*").
			Scan(ctx, &out)
		if err != nil {
			return err
		}
		return followEndpoint(ctx, tx, endpointToCore(out), dbNow{now})
	})
	if changeErr != nil {
		return core.Endpoint{}, changeErr
	}
	if err != nil {
		return core.Endpoint{}, interpretError("update endpoint "+string(id), err)
	}
	return endpointToCore(out), nil
}

// DeleteEndpoint removes the endpoint and ends its pending deliveries, in
// one transaction. The DELETE waits for inserts routing to the endpoint
// (they lock it, see insertBatchSQL); the cancel that follows, a statement
// of its own, sees what they stored.
func (s *Store) DeleteEndpoint(ctx context.Context, id core.EndpointID) error {
	if !validEndpointID(id) {
		return fmt.Errorf("postgres: delete endpoint %s: %w", id, core.ErrNotFound)
	}
	var gone bool
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*endpointRow)(nil)).Where("id = ?", string(id)).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // nothing deleted: nothing to cancel
		}
		gone = true
		_, err = tx.NewRaw(cancelSQL, &followArgs{Now: dbNow{}, Endpoint: string(id), Why: core.ErrorEndpointDeleted}).Exec(ctx)
		return err
	})
	if err != nil {
		return interpretError("delete endpoint "+string(id), err)
	}
	if !gone {
		return fmt.Errorf("postgres: delete endpoint %s: %w", id, core.ErrNotFound)
	}
	return nil
}

// cancelSQL ends an endpoint's pending deliveries without an attempt
// (mirrors core.Delivery.Cancel): it was disabled or deleted. A delivery in
// flight is left to its worker; a claim taking one right now is waited
// for, and then it is in flight.
const cancelSQL = `
UPDATE deliveries
SET status = 'dead', last_error = ?why, last_status_code = NULL, updated_at = ?now
WHERE endpoint_id = ?endpoint AND status = 'pending'`

// moveSQL points an endpoint's unfinished deliveries at its URL (mirrors
// core.Delivery.Move), so that they are parked, excluded and sent under
// its new origin.
const moveSQL = `
UPDATE deliveries
SET target_url = ?url, origin = ?origin, updated_at = ?now
WHERE endpoint_id = ?endpoint AND status IN ('pending', 'delivering')
  AND (target_url <> ?url OR origin <> ?origin)`

type followArgs struct {
	Now      dbNow
	Endpoint string
	Why      string
	URL      string
	Origin   string
}

// followEndpoint applies an endpoint's update to its deliveries, in the
// updating transaction: disabled, its pending deliveries end; moved, its
// unfinished ones move with it (as adapters/memory's followEndpoint does).
// Each is a statement of its own, after the endpoint's row lock was taken,
// so that it sees the deliveries of every insert that routed to the
// endpoint before the update.
func followEndpoint(ctx context.Context, tx bun.Tx, ep core.Endpoint, now dbNow) error {
	args := &followArgs{Now: now, Endpoint: string(ep.ID), URL: ep.URL, Origin: ep.Origin}
	if ep.Disabled {
		args.Why = core.ErrorEndpointDisabled
		if _, err := tx.NewRaw(cancelSQL, args).Exec(ctx); err != nil {
			return err
		}
	}
	_, err := tx.NewRaw(moveSQL, args).Exec(ctx)
	return err
}

func validEndpointID(id core.EndpointID) bool {
	_, err := core.ParseEndpointID(string(id))
	return err == nil
}
