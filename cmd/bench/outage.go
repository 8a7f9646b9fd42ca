package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"time"
)

// scOutage (PostgreSQL): 10,000 events to a merchant that refuses every
// connection, BREAKER_OPEN_MS=5000. Once the breaker has tripped and the
// backlog is parked, what does the outage cost the database per second?
// Row updates and dead tuples of the deliveries table over outageWindow
// (pg_stat_user_tables), and the probes made (attempt rows): the issue
// measured ~10,700 row updates/s and 102,000 dead tuples in 90 s before
// target health moved into the database.
const outageWindow = 60 * time.Second

func scOutage(ctx context.Context, rc *runCtx) error {
	if rc.pg == nil {
		return nil // the measure is PostgreSQL's statistics; declared only there
	}
	dead, err := deadPort()
	if err != nil {
		return err
	}
	n := rc.b.scaled(10000)
	d, err := rc.start(ctx, "all", map[string]string{
		"TARGET_URL": fmt.Sprintf("http://127.0.0.1:%d/hook", dead), "BREAKER_OPEN_MS": "5000", "POLL_INTERVAL_MS": "1000",
	}, true)
	if err != nil {
		return err
	}
	defer rc.stop(d)
	r := runLoad(ctx, loadSpec{label: "outage: storing", base: d.base, clients: 32, total: n, prefix: "outage"})
	rc.checkLoad("every POST answered 202", r, n)
	db, err := rc.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	// Settle: the breaker trips, the backlog is parked, stats are flushed.
	if !sleepCtx(ctx, 15*time.Second) {
		return ctx.Err()
	}
	before, err := outageStats(ctx, db)
	if err != nil {
		return err
	}
	if !sleepCtx(ctx, outageWindow) {
		return ctx.Err()
	}
	after, err := outageStats(ctx, db)
	if err != nil {
		return err
	}
	secs := outageWindow.Seconds()
	rc.set("outage_updates", float64(after.updates-before.updates)/secs)
	rc.set("outage_dead", float64(after.dead))
	rc.set("outage_probes", float64(after.attempts-before.attempts))
	logf("    outage of %s events over %v: %.1f row updates/s, %d dead tuples at the end (%d before), %d attempts made",
		humanInt(n), outageWindow, float64(after.updates-before.updates)/secs, after.dead, before.dead, after.attempts-before.attempts)
	rc.check("nothing delivered, nothing lost", after.pending == n,
		fmt.Sprintf("%s of %s deliveries pending after the window", humanInt(after.pending), humanInt(n)))
	return rc.alive(d)
}

type outageSnapshot struct {
	updates, dead, attempts, pending int
}

func outageStats(ctx context.Context, db *sql.DB) (outageSnapshot, error) {
	var s outageSnapshot
	err := db.QueryRowContext(ctx, `
SELECT (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'deliveries'::regclass),
       (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'deliveries'::regclass),
       (SELECT count(*) FROM delivery_attempts),
       (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'delivering'))`).Scan(&s.updates, &s.dead, &s.attempts, &s.pending)
	return s, err
}

// deadPort is a local port nothing listens on: connections are refused.
func deadPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
