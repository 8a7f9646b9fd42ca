package postgres

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// The hot statements (the group insert, the claim, the group completion)
// run as server-side prepared statements, written with bun's ?name
// placeholders as every other statement here and turned into $1…$n once,
// on a pool of their own (the queue pool, queuePool) whose sessions plan
// them for a queue:
//
//   - index scans whatever the tables' statistics say (queueSession). A
//     queue's statistics are wrong exactly when it matters: a burst lands
//     between two autovacuum analyses (or in a new install's never-analysed
//     tables), and the planner, believing the pending index holds a few
//     dozen rows, fetched every due row with a bitmap scan and sorted them
//     all to keep the oldest n (47 ms per claim of 100 among 30,000), or
//     read a table whole where a key lookup was wanted. Every part of these
//     statements has an index path reading only the rows it needs, in the
//     order it needs them; none wants a bitmap or sequential scan, nor a
//     sort of rows read from a table;
//   - planned once per connection (a generic plan), not per call: the
//     claim's planning took 2.5 ms per call for 1.5 ms of work, the
//     insert's 0.6 ms for 0.9 ms, the completion's 0.7 ms for 0.8 ms.
//     (An earlier try, prepared with jit allowed, took 2 s per insert
//     batch: most likely compiled each time, as the claim was below.)
//     Made without the values, a generic plan cannot count on the LIMIT
//     being small; with sorts priced out it still reads the due index in
//     order (an earlier generic plan, with sorts allowed, read the
//     per-origin index and sorted every due row: 74 ms per claim among
//     33,000 pending).
//
// Being the session's settings, they cost no round trip: each of these
// is one statement, one round trip (they were four, in a
// transaction that set them first). Only these statements run in these
// sessions, and the plans PostgreSQL caches there for its foreign-key
// checks (an attempt's insert checks its delivery) are made under the
// same settings: by primary key. (Forcing generic plans on the main pool
// froze one such check, made on a young table, into scanning deliveries
// whole for every attempt recorded: 43 ms per completion.)

// queueSession is the queue pool's session settings.
var queueSession = map[string]string{
	"enable_bitmapscan": "off",
	"enable_seqscan":    "off",
	"enable_sort":       "off", // a sort is still made where nothing else can give the order, priced high
	"plan_cache_mode":   "force_generic_plan",
	// The prices above push the plans' costs past jit_above_cost:
	// compiling the claim took a second. These statements are short.
	"jit": "off",
}

// queueConns is the queue pool's size: the inserts' group-commit leaders
// and their notifier (notify.go), a worker's claim, the completions'
// leader, and one more for a second claimer (a test's, or RunOnce beside
// Run). It comes on top of DB_MAX_CONNS.
const queueConns = maxLeaders + 1 + 1 + maxLeaders + 1

// preparedQuery is one such statement.
type preparedQuery struct {
	text  string   // the SQL, $i in place of each name
	names []string // names[i-1] is $i's name

	mu   sync.Mutex
	stmt *sql.Stmt // prepared on the pool (database/sql prepares it on each connection it uses)
}

var placeholder = regexp.MustCompile(`\?([a-z_]+)`)

// newPreparedQuery numbers query's ?name placeholders in order of first
// use. wrap gives the SQL around a name's parameter where the parameter is
// not the value itself ("coalesce(%s::timestamptz, now())").
func newPreparedQuery(query string, wrap map[string]string) *preparedQuery {
	p := &preparedQuery{}
	index := map[string]int{}
	p.text = placeholder.ReplaceAllStringFunc(query, func(m string) string {
		name := m[1:]
		i, ok := index[name]
		if !ok {
			p.names = append(p.names, name)
			i = len(p.names)
			index[name] = i
		}
		param := "$" + strconv.Itoa(i)
		if w, ok := wrap[name]; ok {
			return fmt.Sprintf(w, param)
		}
		return param
	})
	return p
}

// prepared returns the statement, preparing it on first use (and again
// after a failed attempt: the database may have been down).
func (p *preparedQuery) prepared(ctx context.Context, db *bun.DB) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		stmt, err := db.DB.PrepareContext(ctx, p.text)
		if err != nil {
			return nil, err
		}
		p.stmt = stmt
	}
	return p.stmt, nil
}

// args orders named's values as the parameters. Every name must have one.
func (p *preparedQuery) args(named map[string]any) ([]any, error) {
	out := make([]any, len(p.names))
	for i, name := range p.names {
		v, ok := named[name]
		if !ok {
			return nil, fmt.Errorf("postgres: prepared statement: no value for ?%s", name)
		}
		out[i] = v
	}
	return out, nil
}

// query runs the statement on db (the queue pool) with named's values.
func (p *preparedQuery) query(ctx context.Context, db *bun.DB, named map[string]any) (*sql.Rows, error) {
	stmt, err := p.prepared(ctx, db)
	if err != nil {
		return nil, err
	}
	args, err := p.args(named)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// scan runs the statement as query does and scans its rows into dest as
// bun would.
func (p *preparedQuery) scan(ctx context.Context, db *bun.DB, named map[string]any, dest any) error {
	rows, err := p.query(ctx, db, named)
	if err != nil {
		return err
	}
	return db.ScanRows(ctx, rows, dest)
}

// Parameter values. The driver sends every parameter as text and
// PostgreSQL types it from the statement; these give the texts of the
// values it cannot send as they are.

// nowParam is a "Now *time.Time" for a parameter wrapped by nowWrap: NULL
// (the database's clock) or the pinned time.
func nowParam(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// arrayParam is the text of a PostgreSQL array of v's elements: strings
// quoted and escaped, numbers and booleans as they are. A group
// completion sends seventeen of these: the text is sized up front and
// written without fmt.
func arrayParam[T string | int | int64 | float64 | bool](v []T) string {
	size := 2
	for _, e := range v {
		if x, ok := any(e).(string); ok {
			size += len(x) + 3
		} else {
			size += 21
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	var num [32]byte
	for i, e := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		switch x := any(e).(type) {
		case string:
			b.WriteByte('"')
			if utf8.ValidString(x) {
				for j := 0; j < len(x); j++ { // '"' and '\\' are never part of a multi-byte rune
					if x[j] == '"' || x[j] == '\\' {
						b.WriteByte('\\')
					}
					b.WriteByte(x[j])
				}
			} else {
				for _, r := range x { // an invalid byte becomes U+FFFD, as PostgreSQL takes only UTF-8
					if r == '"' || r == '\\' {
						b.WriteByte('\\')
					}
					b.WriteRune(r)
				}
			}
			b.WriteByte('"')
		case int:
			b.Write(strconv.AppendInt(num[:0], int64(x), 10))
		case int64:
			b.Write(strconv.AppendInt(num[:0], x, 10))
		case float64:
			b.Write(strconv.AppendFloat(num[:0], x, 'g', -1, 64))
		case bool:
			b.Write(strconv.AppendBool(num[:0], x))
		}
	}
	b.WriteByte('}')
	return b.String()
}

// byteaArrayParam is the text of a PostgreSQL bytea array: each element
// in hex ("\\x…" in the array's quoting; nil is an empty body), written
// straight into the text, with no copy of a body in between.
func byteaArrayParam(v [][]byte) string {
	size := 2
	for _, e := range v {
		size += 2*len(e) + 6
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	enc := hex.NewEncoder(&b)
	for i, e := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"\\x`)
		_, _ = enc.Write(e) // a strings.Builder does not fail
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
