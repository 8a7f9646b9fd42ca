package postgres

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/core"
)

// scanClaimed reads a claim's rows (claimSQL's final SELECT, column by
// column in its order) into deliveries. It is bun's scan written out:
// a claim returns hundreds of rows, and bun's reflection (field lookups,
// a slice grown one row at a time) cost a busy worker as much CPU as
// parsing them. Every value is scanned into an any, which database/sql
// fills without conversion; the ids come as text (cast in the SELECT),
// so they are strings already.
func scanClaimed(rows *sql.Rows, limit int) (out []core.Delivery, err error) {
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
	out = make([]core.Delivery, 0, limit)
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return nil, err
		}
		r := deliveryRow{
			ID: colText(v[0]), EventID: colText(v[1]), EndpointID: colText(v[2]), TargetURL: colText(v[3]), Origin: colText(v[4]),
			Status: colText(v[5]), AttemptedCount: int(colInt(v[6])), ClaimSeq: colInt(v[7]),
			NextAttemptAt: colTime(v[8]), ActiveSince: colTime(v[9]), CreatedAt: colTime(v[10]), UpdatedAt: colTime(v[11]),
			LastAttemptedAt: colTimePtr(v[12]), LockedBy: colText(v[13]), LeaseExpiresAt: colTimePtr(v[14]),
			LastStatusCode: int(colInt(v[15])), LastError: colText(v[16]), Body: colBytes(v[17]),
			HasKeys: v[18] == true, KeyCurrent: colBytes(v[19]), KeyPrevious: colBytes(v[20]), KeyPreviousUntil: colTimePtr(v[21]),
			EndpointRate: int(colInt(v[22])), EndpointFailing: colTimePtr(v[23]),
			Probe: v[24] == true, TargetOpenUntil: colTimePtr(v[25]),
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
const claimColumns = 26

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
