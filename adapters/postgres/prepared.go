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
// prepared statements, written with bun's ?name placeholders as every
// other statement here and turned into $1…$n once: parsed once per
// connection, and the completion planned once per connection too
// (planGeneric; it cost 0.7 ms of planning per call for 0.8 ms of work).
//
// Each runs in a transaction that first sets its plan settings
// (planSettings): index scans whatever the tables' statistics say. A
// queue's statistics are wrong exactly when it matters: a burst lands
// between two autovacuum analyses (or in a new install's never-analysed
// tables), and the planner, believing the pending index holds a few dozen
// rows, fetched every due row with a bitmap scan and sorted them all to
// keep the oldest n (47 ms per claim of 100 among 30,000), or read a table
// whole where a key lookup was wanted. Every part of these statements has
// an index path reading only the rows it needs; no part wants a bitmap or
// sequential scan. The settings last until the transaction ends
// (set_config(…, true)): no other statement's plan, nor the plans
// PostgreSQL caches for foreign-key checks made elsewhere, is affected (a
// generic plan forced for a whole connection froze one such check, made on
// a young table, into scanning deliveries whole for every attempt
// recorded: 43 ms per completion).
//
// The claim is planned per call (planCustom): its generic plan, made
// without the values, read the due deliveries through the per-origin index
// and sorted them all (74 ms per claim among 33,000 pending), where the
// planner with the values reads n rows off the due index. 2–3 ms of
// planning per claim of up to BATCH_SIZE is the price of that certainty.

// plan is how a prepared statement is planned.
type plan string

const (
	planGeneric plan = "force_generic_plan" // once per connection
	planCustom  plan = "force_custom_plan"  // per call, with its values
)

// planSettings is the SQL run first in a prepared statement's transaction.
func planSettings(p plan) string {
	return "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true), " +
		"set_config('plan_cache_mode', '" + string(p) + "', true)"
}

// preparedQuery is one such statement.
type preparedQuery struct {
	text     string   // the SQL, $i in place of each name
	names    []string // names[i-1] is $i's name
	settings string   // planSettings of its plan

	mu   sync.Mutex
	stmt *sql.Stmt // prepared on the pool (database/sql prepares it on each connection it uses)
}

var placeholder = regexp.MustCompile(`\?([a-z_]+)`)

// newPreparedQuery numbers query's ?name placeholders in order of first
// use. wrap gives the SQL around a name's parameter where the parameter is
// not the value itself ("coalesce(%s::timestamptz, now())").
func newPreparedQuery(query string, pl plan, wrap map[string]string) *preparedQuery {
	p := &preparedQuery{settings: planSettings(pl)}
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
// its plan settings, and scans its rows into dest as bun would.
func (p *preparedQuery) scan(ctx context.Context, db *bun.DB, named map[string]any, dest any) error {
	stmt, err := p.prepared(ctx, db) // before the transaction holds a connection
	if err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, p.settings); err != nil {
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
