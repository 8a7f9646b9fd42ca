package postgres

import (
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun/schema"
)

// The SQL of the two parameters every transition takes, written once for
// both ways a statement gets its values: formatted into the text by bun
// (dbNow, interval) or bound to a prepared statement's $n (prepared.go,
// which wraps the parameter in the same SQL).
const (
	// nowWrap: a "Now *time.Time", NULL (production) meaning the
	// database's clock, so that every replica agrees; tests pin a time.
	// now() is the transaction's start, so every use within one statement
	// is the same instant.
	nowWrap = "coalesce(%s::timestamptz, now())"
	// intervalWrap: a duration in microseconds (PostgreSQL's resolution).
	intervalWrap = "(%s::bigint * interval '1 microsecond')"
)

// dbNow renders a ports "Now *time.Time" parameter as nowWrap.
type dbNow struct{ t *time.Time }

var _ schema.QueryAppender = dbNow{}

func (n dbNow) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	value := []byte("NULL")
	if n.t != nil {
		value = gen.Append(nil, n.t.UTC())
	}
	return fmt.Appendf(b, nowWrap, value), nil
}

// interval renders a duration as intervalWrap.
type interval time.Duration

var _ schema.QueryAppender = interval(0)

func (d interval) AppendQuery(_ schema.QueryGen, b []byte) ([]byte, error) {
	return fmt.Appendf(b, intervalWrap, strconv.FormatInt(time.Duration(d).Microseconds(), 10)), nil
}
