package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// pgEnv is the PostgreSQL the bench runs against: DATABASE_URL when it is a
// postgres:// URL, else a throwaway cluster from scripts/testdb.sh.
type pgEnv struct {
	url   string
	dir   string // the throwaway cluster's PGTEST_DIR; "" for a given DATABASE_URL
	admin *sql.DB

	version, fsync, syncCommit string
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// startPostgres returns the PostgreSQL to use, or an error saying why there
// is none.
func startPostgres(ctx context.Context) (*pgEnv, error) {
	p := &pgEnv{}
	if u := os.Getenv("DATABASE_URL"); isPostgresURL(u) {
		p.url = u
	} else {
		if _, err := os.Stat("scripts/testdb.sh"); err != nil {
			return nil, errors.New("no DATABASE_URL and no scripts/testdb.sh here (run from the repository root)")
		}
		logf("PostgreSQL: starting a throwaway durable cluster (TESTDB_DURABLE=1 scripts/testdb.sh start)")
		cmd := exec.Command("bash", "scripts/testdb.sh", "start")
		cmd.Env = append(os.Environ(), "TESTDB_DURABLE=1") // every commit flushed, as in production
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		// Its own process group, so that a Ctrl-C reaches the bench only,
		// which then stops the cluster with testdb.sh stop.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err := cmd.Run()
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := exportValue(line, "TEST_DATABASE_URL"); ok {
				p.url = v
			}
			if v, ok := exportValue(line, "PGTEST_DIR"); ok {
				p.dir = v
			}
		}
		if err != nil || p.url == "" {
			if p.dir != "" {
				p.close()
			}
			last := strings.TrimSpace(errOut.String())
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:]
			}
			return nil, fmt.Errorf("scripts/testdb.sh start: %v: %s", err, last)
		}
	}
	admin, err := openPG(p.url, "")
	if err != nil {
		p.close()
		return nil, err
	}
	p.admin = admin
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = admin.QueryRowContext(qctx, "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')").
		Scan(&p.version, &p.fsync, &p.syncCommit)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(p.url), err)
	}
	return p, nil
}

// exportValue parses a line `export NAME='value'`.
func exportValue(line, name string) (string, bool) {
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "export "+name+"=")
	if !ok {
		return "", false
	}
	return strings.Trim(v, `'"`), true
}

func (p *pgEnv) describe() string {
	if p.dir != "" {
		return fmt.Sprintf("PostgreSQL %s: throwaway cluster (TESTDB_DURABLE=1 scripts/testdb.sh), fsync=%s, synchronous_commit=%s",
			p.version, p.fsync, p.syncCommit)
	}
	return fmt.Sprintf("PostgreSQL %s: the given DATABASE_URL %s, fsync=%s, synchronous_commit=%s",
		p.version, redactURL(p.url), p.fsync, p.syncCommit)
}

// close stops the throwaway cluster (if ours) and closes the pool.
func (p *pgEnv) close() {
	if p.admin != nil {
		p.admin.Close()
		p.admin = nil
	}
	if p.dir != "" {
		logf("PostgreSQL: stopping the throwaway cluster (scripts/testdb.sh stop %s)", p.dir)
		cmd := exec.Command("bash", "scripts/testdb.sh", "stop", p.dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if out, err := cmd.CombinedOutput(); err != nil {
			logf("PostgreSQL: testdb.sh stop: %v: %s", err, strings.TrimSpace(string(out)))
		}
		p.dir = ""
	}
}

// openPG opens a pool on dsn with search_path = schema (when not empty).
func openPG(dsn, schema string) (db *sql.DB, err error) {
	defer func() { // pgdriver.WithDSN panics on a DSN it cannot parse
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("postgres DSN: %v", r)
		}
	}()
	opts := []pgdriver.Option{pgdriver.WithDSN(dsn)}
	if schema != "" {
		opts = append(opts, pgdriver.WithConnParams(map[string]any{"search_path": schema}))
	}
	return sql.OpenDB(pgdriver.NewConnector(opts...)), nil
}

func (p *pgEnv) dropSchema(schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		logf("PostgreSQL: drop schema %s: %v", schema, err)
	}
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// copyInsertRate is the pgbench-like baseline: `clients` connections, each
// inserting one row per statement (autocommit) into bench_copy, a copy of
// events (LIKE events INCLUDING ALL: same columns, defaults, constraints
// and indexes), for dur. Each row carries what webhookd's own INSERT of a
// posted event does: a time-ordered uuid, target, origin and a body of the
// same size. (webhookd also writes the event's delivery, a row of the
// deliveries queue, in the same statement; the baseline keeps to the one
// row that holds the body.) Returns rows/s.
func copyInsertRate(ctx context.Context, db *sql.DB, clients int, dur time.Duration, target, origin string) (float64, error) {
	if _, err := db.ExecContext(ctx, "CREATE TABLE bench_copy (LIKE events INCLUDING ALL)"); err != nil {
		return 0, fmt.Errorf("create bench_copy: %w", err)
	}
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	conns := make([]*sql.Conn, clients)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if err := c.PingContext(ctx); err != nil {
			return 0, err
		}
		conns[i] = c
	}
	const q = "INSERT INTO bench_copy (id, target_url, origin, body, created_at) VALUES ($1, $2, $3, $4, now())"
	var rows atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(dur)
	for g, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 0, 128)
			for n := 0; time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				id := uuidV7()
				body = append(body[:0], `{"event_id":"`...)
				body = append(body, id...)
				body = append(body, fmt.Sprintf(`","order_id":"copy-%d-%d","amount":12.5,"n":%d}`, g, n, n)...)
				if _, err := c.ExecContext(ctx, q, id, target, origin, body); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				rows.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return 0, fmt.Errorf("insert into bench_copy: %w", firstErr)
	}
	return float64(rows.Load()) / el.Seconds(), nil
}

// fillEvents inserts n valid target_url events straight into the tables
// (what ROLE=api would have stored: the event, and its one delivery under
// the event's id), their deliveries in status (pending, or succeeded as
// finished history), oldest first, in chunks.
func fillEvents(ctx context.Context, db *sql.DB, n int, target, origin, status string) error {
	const q = `WITH ev AS (
    INSERT INTO events (id, target_url, origin, body, created_at)
    SELECT s.id, $1, $2,
           convert_to('{"event_id":"' || s.id || '","order_id":"fill-' || s.g || '","amount":12.5,"n":' || s.g || '}', 'UTF8'),
           s.t
    FROM (SELECT gen_random_uuid() AS id, g, now() - (($3 - g) * interval '1 millisecond') AS t
          FROM generate_series($4::int, $5::int) AS g) AS s
    RETURNING id, target_url, origin, created_at
)
INSERT INTO deliveries (id, event_id, target_url, origin, status, created_at, updated_at, next_attempt_at, active_since)
SELECT id, id, target_url, origin, $6::text, created_at, created_at, created_at, created_at FROM ev`
	const chunk = 50000
	for lo := 1; lo <= n; lo += chunk {
		hi := min(lo+chunk-1, n)
		if _, err := db.ExecContext(ctx, q, target, origin, n, lo, hi, status); err != nil {
			return fmt.Errorf("fill events %d-%d: %w", lo, hi, err)
		}
		logf("    filled %s/%s %s events by SQL", humanInt(hi), humanInt(n), status)
	}
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE events, deliveries"); err != nil {
		return err
	}
	// A bulk fill writes a gigabyte of WAL in seconds, which history kept
	// for a week never does: the checkpoint it sets off would otherwise
	// run into the drain measured next, and tax its writes with full-page
	// images, in some runs and not in others.
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		logf("    CHECKPOINT after the fill refused (%v): the fill's checkpoint may overlap the drain", err)
	}
	return nil
}

// uuidV7 is a time-ordered UUID, as webhookd's ids are.
func uuidV7() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
