package postgres

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// scanClaimed reads the rows of a claim made with p (claimSQL's final
// SELECT, column by column in its order) into deliveries. It is bun's
// scan written out: a claim returns hundreds of rows, and bun's
// reflection (field lookups, a slice grown one row at a time) cost a busy
// worker as much CPU as parsing them. Every value is scanned into an any,
// which database/sql fills without conversion; the ids come as text (cast
// in the SELECT), so they are strings already.
func scanClaimed(rows *sql.Rows, p ports.ClaimParams) (out []core.Delivery, err error) {
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	if cols, err := rows.Columns(); err != nil || len(cols) != claimColumns {
		return nil, fmt.Errorf("postgres: claim: %d columns, want %d (%v)", len(cols), claimColumns, err)
	}
	var v [claimColumns]any
	var dest [claimColumns]any
	for i := range v {
		dest[i] = &v[i]
	}
	out = make([]core.Delivery, 0, max(p.Limit, 0))
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return nil, err
		}
		r := deliveryRow{
			ID: colText(v[0]), EventID: colText(v[1]), EndpointID: colText(v[2]), TargetURL: colText(v[3]), Origin: colText(v[4]),
			AttemptedCount: int(colInt(v[5])), ClaimSeq: colInt(v[6]),
			NextAttemptAt: colTime(v[7]), ActiveSince: colTime(v[8]), CreatedAt: colTime(v[9]),
			LastAttemptedAt: colTimePtr(v[10]), LastStatusCode: int(colInt(v[11])), LastError: colText(v[12]), Body: colBytes(v[13]),
			HasKeys: v[14] == true, KeyCurrent: colBytes(v[15]), KeyPrevious: colBytes(v[16]), KeyPreviousUntil: colTimePtr(v[17]),
			EndpointRate: int(colInt(v[18])), EndpointFailing: colTimePtr(v[19]),
			Probe: v[20] == true, TargetOpenUntil: colTimePtr(v[21]),
		}
		if err := leased(&r, p); err != nil {
			return nil, err
		}
		d, err := deliveryToCore(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// claimColumns is how many columns claimSQL returns.
const claimColumns = 22

// leased fills in what a claim set alike on every row it leased, and so
// does not return (claimSQL): delivering, held by p.Worker since the
// attempt began, until p.Lease after (the statement adds the same
// microseconds to the same time).
func leased(r *deliveryRow, p ports.ClaimParams) error {
	if r.LastAttemptedAt == nil {
		return fmt.Errorf("postgres: claim: delivery %s returned without its attempt time", r.ID)
	}
	until := r.LastAttemptedAt.Add(time.Duration(p.Lease.Microseconds()) * time.Microsecond)
	r.Status, r.LockedBy, r.UpdatedAt, r.LeaseExpiresAt = string(core.StatusDelivering), p.Worker, *r.LastAttemptedAt, &until
	return nil
}

// The driver's values: string (text), int64, bool, []byte (bytea, copied
// by database/sql), time.Time, or nil for NULL, which reads as the zero
// value, as bun's nullzero fields do.

func colText(v any) string {
	s, _ := v.(string)
	return s
}

func colInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

func colBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

func colTime(v any) time.Time {
	t, _ := v.(time.Time)
	return t
}

func colTimePtr(v any) *time.Time {
	t, ok := v.(time.Time)
	if !ok {
		return nil
	}
	return &t
}
