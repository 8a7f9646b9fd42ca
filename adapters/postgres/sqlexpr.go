package postgres

import (
	"fmt"
	"time"

	"github.com/uptrace/bun/schema"
)

// dbNow renders a ports "Now *time.Time" parameter as
// coalesce(<t>, now()): nil (production) means the database's clock, so that
// every replica agrees; tests pin a time. now() is the transaction's start,
// so every use within one statement is the same instant.
type dbNow struct{ t *time.Time }

var _ schema.QueryAppender = dbNow{}

func (n dbNow) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	b = append(b, "coalesce("...)
	if n.t == nil {
		b = append(b, "NULL"...)
	} else {
		b = gen.Append(b, n.t.UTC())
	}
	return append(b, "::timestamptz, now())"...), nil
}

// interval renders a duration as an SQL interval, to the microsecond
// (PostgreSQL's resolution).
type interval time.Duration

var _ schema.QueryAppender = interval(0)

func (d interval) AppendQuery(_ schema.QueryGen, b []byte) ([]byte, error) {
	return fmt.Appendf(b, "(%d * interval '1 microsecond')", time.Duration(d).Microseconds()), nil
}
