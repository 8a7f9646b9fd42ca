package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// The hot statements (the claim, the group completion) run as server-side
// prepared statements: parsed and planned once per connection, not on
// every call. bun formats its arguments into the SQL text, so PostgreSQL
// plans each call afresh, and planning the claim cost more than running
// it (pg_stat_statements during a drain: 3.5 ms of planning and 2.8 ms of
// execution per claim). Each is written with bun's ?name placeholders, as
// every other statement here, and turned into $1…$n once.

// The prepared statements run in a transaction that first sets
// indexScansSQL: their generic plan (plan_cache_mode), made once per
// connection at the first run, and index scans whatever the tables'
// statistics say. A queue's statistics are wrong exactly when it matters:
// a burst lands between two autovacuum analyses (or in a new install's
// never-analysed tables), and the planner, believing the pending index
// holds a few dozen rows, fetched every due row with a bitmap scan and
// sorted them all to keep the oldest n (47 ms per claim of 100 among
// 30,000), or read a table whole where a key lookup was wanted. Every part
// of these statements has an index path reading only the rows it needs;
// no part wants a bitmap or sequential scan. The settings last until the
// transaction ends (set_config(…, true)), so no other statement's plan,
// nor the plans PostgreSQL caches for foreign-key checks made elsewhere,
// is forced generic (one such, made on a young table, scanned deliveries
// whole for every attempt recorded: 43 ms per completion).
const indexScansSQL = "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true), " +
	"set_config('plan_cache_mode', 'force_generic_plan', true)"

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
// after a failed attempt: the database may have been down). Preparing
// takes a connection of the pool, so the caller must hold none (no open
// transaction): callers holding one while waiting here for a connection
// would starve the pool.
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

// scan runs the statement with named's values, in a transaction on
// index scans (indexScansSQL), and scans its rows into dest as bun would.
func (p *preparedQuery) scan(ctx context.Context, db *bun.DB, named map[string]any, dest any) error {
	stmt, err := p.prepared(ctx, db) // before the transaction holds a connection
	if err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, indexScansSQL); err != nil {
			return err
		}
		return p.scanStmt(ctx, db, tx.StmtContext(ctx, stmt), named, dest)
	})
}

// scanStmt runs stmt (this statement, prepared) with named's values and
// scans its rows into dest as bun would.
func (p *preparedQuery) scanStmt(ctx context.Context, db *bun.DB, stmt *sql.Stmt, named map[string]any, dest any) error {
	args, err := p.args(named)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, args...)
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

// nowWrap is dbNow's SQL for a prepared statement.
const nowWrap = "coalesce(%s::timestamptz, now())"

// intervalWrap is interval's SQL for a parameter given in microseconds.
const intervalWrap = "(%s::bigint * interval '1 microsecond')"

// arrayParam is the text of a PostgreSQL array of v's elements: strings
// quoted and escaped, numbers and booleans as they are.
func arrayParam[T string | int | int64 | float64 | bool](v []T) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		switch x := any(e).(type) {
		case string:
			b.WriteByte('"')
			for _, r := range x {
				if r == '"' || r == '\\' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte('"')
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		default:
			fmt.Fprint(&b, x)
		}
	}
	b.WriteByte('}')
	return b.String()
}
