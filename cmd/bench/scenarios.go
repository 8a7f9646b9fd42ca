package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
)

// runCtx is one run of one scenario on one store: its own receiver, its
// own database (a fresh schema or SQLite file) and its own directory.
type runCtx struct {
	b        *bench
	sr       *storeResult
	pg       *pgEnv
	scenario string
	run      int
	dir      string
	dbURL    string
	schema   string // PostgreSQL only
	recv     *receiver
	procs    int
}

func (b *bench) newRun(sr *storeResult, pg *pgEnv, scenario string, run int) (*runCtx, error) {
	dir, err := os.MkdirTemp(b.tmp, fmt.Sprintf("%s-%s-%d-", sr.store, scenario, run))
	if err != nil {
		return nil, err
	}
	recv, err := newReceiver(b.secret, b.opts.verify, b.opts.receiver == "lean")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	rc := &runCtx{b: b, sr: sr, pg: pg, scenario: scenario, run: run, dir: dir, recv: recv}
	if pg != nil {
		rc.dbURL = pg.url
		rc.schema = "bench_" + randomHex(6)
	} else {
		rc.dbURL = "sqlite://" + filepath.Join(dir, "bench.db")
	}
	return rc, nil
}

func (rc *runCtx) close() {
	rc.recv.close()
	if rc.pg != nil {
		rc.pg.dropSchema(rc.schema)
	}
	os.RemoveAll(rc.dir)
}

func (rc *runCtx) set(key string, v float64) {
	rc.sr.values[key] = append(rc.sr.values[key], v)
}

func (rc *runCtx) check(name string, ok bool, detail string) {
	rc.sr.checks = append(rc.sr.checks, check{Scenario: rc.scenario, Run: rc.run, Name: name, OK: ok, Detail: detail})
	verdict := "ok  "
	if !ok {
		verdict = "FAIL"
	}
	logf("  check %s %s: %s", verdict, name, detail)
}

// checkLoad fails when a load saw any answer but 202, or fewer 202s than
// want (when want > 0).
func (rc *runCtx) checkLoad(name string, r loadResult, want int) {
	ok := r.errors == 0 && (want == 0 || r.accepted == want)
	detail := fmt.Sprintf("%s of %s POSTs answered 202, %d errors", humanInt(r.accepted), humanInt(r.issued), r.errors)
	if want > 0 && r.issued < want {
		detail += fmt.Sprintf(", only %s of %s sent", humanInt(r.issued), humanInt(want))
	}
	if len(r.errSamples) > 0 {
		detail += fmt.Sprintf(" (%q)", r.errSamples)
	}
	rc.check(name, ok, detail)
}

// checkDelivery compares the receiver's count with the accepted ids: every
// one delivered, nothing else, every signature valid. Duplicates are
// reported (delivery is at-least-once) but are not a failure.
func (rc *runCtx) checkDelivery(name string, ids []string) {
	d := rc.recv.compare(ids)
	detail := fmt.Sprintf("%s accepted, %s delivered (distinct), %d missing, %d unexpected, %d duplicate deliveries, %d bad deliveries",
		humanInt(d.Accepted), humanInt(d.Delivered), d.Missing, d.Unexpected, d.Duplicates, d.BadRequests)
	if len(d.BadSamples) > 0 {
		detail += fmt.Sprintf(" (%q)", d.BadSamples)
	}
	rc.check(name, d.ok(), detail)
}

// start runs a dispatcher of this run's store with the given role. Its
// settings are the defaults but for what the bench must set (store,
// target, secrets) and -env: LOG_LEVEL stays info, a JSON line per
// delivery into the process's log file, as a deployment at defaults
// writes.
func (rc *runCtx) start(ctx context.Context, role string, extra map[string]string, ready bool) (*proc, error) {
	rc.procs++
	env := map[string]string{
		"HMAC_SECRET":           rc.b.secret,
		"DATABASE_URL":          rc.dbURL,
		"TARGET_URL":            rc.recv.url + "/webhook",
		"ALLOW_PRIVATE_TARGETS": "true",
		"ENCRYPTION_KEY":        rc.b.encKey,
	}
	if rc.schema != "" {
		env["DATABASE_SCHEMA"] = rc.schema
	}
	maps.Copy(env, extra)
	maps.Copy(env, rc.b.opts.extraEnv)
	logPath := filepath.Join(rc.dir, fmt.Sprintf("dispatcher-%d-%s.log", rc.procs, role))
	return startProc(ctx, rc.b.bin, rc.dir, role, env, logPath, ready)
}

// stop stops a dispatcher: it must exit 0 on SIGTERM.
func (rc *runCtx) stop(p *proc) {
	if err := p.stop(); err != nil {
		rc.check(fmt.Sprintf("dispatcher ROLE=%s stopped cleanly on SIGTERM", p.role), false, err.Error()+"\n"+tail(p.logPath, 20))
	}
}

// alive fails when the dispatcher has exited on its own, with its log.
func (rc *runCtx) alive(p *proc) error {
	if p.exited() {
		return fmt.Errorf("dispatcher ROLE=%s exited during the scenario: %v\n%s", p.role, p.err, tail(p.logPath, 20))
	}
	return nil
}

// waitDelivered waits until the receiver has want distinct events.
func (rc *runCtx) waitDelivered(ctx context.Context, want int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		n := rc.recv.distinct()
		if n >= want {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			logf("    gave up waiting: %s/%s delivered after %v", humanInt(n), humanInt(want), timeout)
			return false
		}
		if time.Since(lastLog) >= 3*time.Second {
			logf("    waiting for deliveries: %s/%s", humanInt(n), humanInt(want))
			lastLog = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (rc *runCtx) openDB() (*sql.DB, error) { return openPG(rc.pg.url, rc.schema) }

func (rc *runCtx) origin() string { return rc.recv.url } // scheme://host:port

// ---- the scenarios ----

var scenarioFuncs = map[string]func(context.Context, *runCtx) error{
	"ingest":  scIngest,
	"e2e":     scE2E,
	"drain":   scDrain,
	"latency": scLatency,
	"list":    scList,
	"outage":  scOutage,
	"claim":   scClaimCost,
}

var allScenarios = []string{"ingest", "e2e", "drain", "latency", "list", "outage", "claim"}

var ingestClients = []int{32, 64}

// declare lays out a store's table, so that rows keep their order whatever
// runs and whatever fails.
func (b *bench) declare(sr *storeResult, postgres bool) {
	for _, sc := range b.opts.scenarios {
		switch sc {
		case "ingest":
			n := humanInt(b.scaled(ingestEvents))
			for _, c := range ingestClients {
				p := fmt.Sprintf("ingest (ROLE=api), %s events, %d clients: ", n, c)
				sr.declare(measureDef{key: fmt.Sprintf("ingest%d_rate", c), name: p + "accepted", unit: "events/s", goal: goal{">=", 5000}})
				sr.declare(measureDef{key: fmt.Sprintf("ingest%d_p50", c), name: p + "POST p50", unit: "ms"})
				sr.declare(measureDef{key: fmt.Sprintf("ingest%d_p99", c), name: p + "POST p99", unit: "ms", goal: goal{"<=", 25}})
			}
			if postgres {
				sr.declare(measureDef{key: "copy_rate", name: "one-row INSERTs into a copy of events, 32 conns, 5 s (pgbench-like)", unit: "rows/s"})
				for _, c := range ingestClients {
					sr.declare(measureDef{key: fmt.Sprintf("ingest%d_ratio", c), name: fmt.Sprintf("ingest %d clients ÷ one-row INSERT rate", c), unit: "×", goal: goal{">=", 0.6}})
				}
			}
		case "e2e":
			sr.declare(measureDef{key: "e2e_sustained", name: "end to end (ROLE=all): highest offered rate sustained", unit: "events/s", goal: goal{">=", 3000}})
			for _, r := range b.opts.rates {
				rs := humanInt(int(r))
				sr.declare(measureDef{key: e2eKey(r, "delivered"), name: fmt.Sprintf("end to end, %s/s offered for %v: delivered", rs, b.opts.step), unit: "events/s"})
				sr.declare(measureDef{key: e2eKey(r, "growth"), name: fmt.Sprintf("end to end, %s/s offered: backlog growth, of offered", rs), unit: "%", goal: goal{"<=", 10}})
			}
		case "drain":
			n := humanInt(b.scaled(100000))
			sr.declare(measureDef{key: "drain_rate", name: fmt.Sprintf("backlog drain, %s pending, ROLE=worker at its defaults", n), unit: "deliveries/s", goal: goal{">=", 10000}})
			sr.declare(measureDef{key: "drain_rss", name: fmt.Sprintf("worker peak RSS draining %s pending", n), unit: "MB", goal: goal{"<=", 150}, note: "goal is for 1M pending"})
			sr.declare(measureDef{key: "drain_cpu_box", name: "drain: CPU a delivery, the whole box", unit: "µs",
				note: fmt.Sprintf("10,000/s on %d CPUs leaves %d", runtime.NumCPU(), runtime.NumCPU()*100)})
			sr.declare(measureDef{key: "drain_cpu_dispatcher", name: "drain: CPU a delivery, the dispatcher", unit: "µs"})
			if postgres {
				sr.declare(measureDef{key: "drain_cpu_database", name: "drain: CPU a delivery, PostgreSQL", unit: "µs"})
			}
			sr.declare(measureDef{key: "drain_cpu_bench", name: "drain: CPU a delivery, the receiver (the bench process)", unit: "µs"})
			sr.declare(measureDef{key: "drain_idle", name: "drain: the box idle", unit: "%"})
			sr.declare(measureDef{key: "drain_steal", name: "drain: the box's time taken by its host (steal)", unit: "%"})
		case "latency":
			for _, r := range latencyRates {
				p := fmt.Sprintf("latency 202 → receiver at %s/s (ROLE=all, default poll): ", humanInt(int(r)))
				var g50, g99 goal
				if r == 1000 {
					g50, g99 = goal{"<=", 5}, goal{"<=", 25}
				}
				sr.declare(measureDef{key: latKey(r, "p50"), name: p + "p50", unit: "ms", goal: g50})
				sr.declare(measureDef{key: latKey(r, "p99"), name: p + "p99", unit: "ms", goal: g99})
			}
		case "list":
			n := humanInt(b.scaled(200000))
			p := fmt.Sprintf("GET /events?limit=20 with %s rows, 50 requests: ", n)
			sr.declare(measureDef{key: "list_p50", name: p + "p50", unit: "ms", goal: goal{"<=", 20}})
			sr.declare(measureDef{key: "list_p99", name: p + "p99", unit: "ms"})
			sr.declare(measureDef{key: "list_cursor_deep_p50", name: "GET /events?limit=20&cursor= 5,000 rows deep: p50", unit: "ms", goal: goal{"<=", 20}})
			sr.declare(measureDef{key: "list_page_deep_p50", name: "GET /events?limit=20&page=251 (the same depth by OFFSET): p50", unit: "ms"})
			sr.declare(measureDef{key: "list_1mib_rss_added_mb", name: "4 clients listing 100 events of 1 MiB, 10 times each: RSS added", unit: "MB", goal: goal{"<=", 200}})
		}
	}
	if postgres && slices.Contains(b.opts.scenarios, "outage") {
		n := humanInt(b.scaled(10000))
		sr.declare(measureDef{key: "outage_updates", name: fmt.Sprintf("outage: %s events to a dead merchant, row updates", n), unit: "rows/s"})
		sr.declare(measureDef{key: "outage_dead", name: "outage: dead tuples after 60 s parked", unit: "rows"})
		sr.declare(measureDef{key: "outage_probes", name: "outage: requests made in 60 s (BREAKER_OPEN_MS=5000)", unit: "requests"})
	}
	if postgres && slices.Contains(b.opts.scenarios, "claim") {
		sizes := claimCostSizes(b)
		backlog := humanInt(b.scaled(20000))
		for i, size := range sizes {
			sr.declare(measureDef{key: fmt.Sprintf("claim_rate_%d", i), unit: "deliveries/s",
				name: fmt.Sprintf("claim cost: %s pending drained beside %s finished", backlog, humanInt(size))})
		}
		sr.declare(measureDef{key: "claim_cost_ratio", unit: "×", goal: goal{"<=", 1.5},
			name: fmt.Sprintf("claim cost: rate beside %s ÷ rate beside %s finished", humanInt(sizes[0]), humanInt(sizes[1]))})
	}
}

func e2eKey(rate float64, what string) string {
	return "e2e_" + strconv.FormatFloat(rate, 'f', -1, 64) + "_" + what
}

func latKey(rate float64, what string) string {
	return "latency_" + strconv.FormatFloat(rate, 'f', -1, 64) + "_" + what
}

var latencyRates = []float64{200, 1000}

// ingestEvents is how many events each client count posts at -scale 1:
// ~3 s at 7,000/s. Runs of 5,000 took under a second, and their p99 was
// the first connections' start more than the steady state (64 clients'
// p99 swung 15–31 ms between runs of the same code).
const ingestEvents = 20000

// scIngest: ROLE=api, ingestEvents with 32 then 64 clients as fast as they
// go; on PostgreSQL the one-row INSERT baseline in the same schema.
func scIngest(ctx context.Context, rc *runCtx) error {
	d, err := rc.start(ctx, "api", nil, true)
	if err != nil {
		return err
	}
	defer rc.stop(d)
	stored := 0
	w := runLoad(ctx, loadSpec{label: "warm-up", base: d.base, clients: 32, total: 200, prefix: "warm"})
	stored += w.accepted
	rc.checkLoad("warm-up: every POST answered 202", w, 200)
	rates := map[int]float64{}
	for _, c := range ingestClients {
		n := rc.b.scaled(ingestEvents)
		r := runLoad(ctx, loadSpec{label: fmt.Sprintf("ingest %d clients", c), base: d.base, clients: c, total: n, prefix: fmt.Sprintf("ingest%d", c)})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		stored += r.accepted
		logf("    %d clients: %s", c, r.summary())
		rc.checkLoad(fmt.Sprintf("ingest %d clients: every POST answered 202", c), r, n)
		rates[c] = r.acceptedPerSec()
		rc.set(fmt.Sprintf("ingest%d_rate", c), rates[c])
		rc.set(fmt.Sprintf("ingest%d_p50", c), r.latencyMS(0.50))
		rc.set(fmt.Sprintf("ingest%d_p99", c), r.latencyMS(0.99))
	}
	if err := rc.alive(d); err != nil {
		return err
	}
	if rc.pg != nil {
		db, err := rc.openDB()
		if err != nil {
			return err
		}
		defer db.Close()
		logf("    one-row INSERTs into bench_copy: 32 connections for 5 s")
		copyRate, err := copyInsertRate(ctx, db, 32, 5*time.Second, rc.recv.url+"/webhook", rc.origin())
		if err != nil {
			rc.check("one-row INSERT baseline ran", false, err.Error())
		} else {
			logf("    one-row INSERTs: %s rows/s", humanInt(int(copyRate)))
			rc.set("copy_rate", copyRate)
			for _, c := range ingestClients {
				if _, ok := rates[c]; ok && copyRate > 0 {
					rc.set(fmt.Sprintf("ingest%d_ratio", c), rates[c]/copyRate)
				}
			}
		}
	}
	total, err := eventsTotal(ctx, d.base)
	rc.check("every accepted event stored (GET /events total)", err == nil && total == stored,
		fmt.Sprintf("%s accepted, total %s, error %v", humanInt(stored), humanInt(total), err))
	return nil
}

// scE2E: ROLE=all, fixed rates rising for opts.step each, until one is not
// sustained; then every accepted event must have arrived.
func scE2E(ctx context.Context, rc *runCtx) error {
	d, err := rc.start(ctx, "all", nil, true)
	if err != nil {
		return err
	}
	defer rc.stop(d)
	const clients = 64
	w := runLoad(ctx, loadSpec{label: "warm-up", base: d.base, clients: clients, rate: 200, duration: time.Second, prefix: "warm"})
	ids := w.ids
	rc.checkLoad("warm-up: every POST answered 202", w, 0)
	rc.waitDelivered(ctx, len(ids), 30*time.Second)
	best := 0.0
	step := rc.b.opts.step
	for _, rate := range rc.b.opts.rates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d0, a0 := rc.recv.distinct(), len(ids)
		r := runLoad(ctx, loadSpec{label: fmt.Sprintf("e2e %s/s", humanInt(int(rate))), base: d.base, clients: clients,
			rate: rate, duration: step, prefix: fmt.Sprintf("e2e%g", rate)})
		d1 := rc.recv.distinct()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ids = append(ids, r.ids...)
		a1 := len(ids)
		el := r.elapsed.Seconds()
		offered := rate * step.Seconds()
		delivered := float64(d1-d0) / el
		growth := float64((a1 - d1) - (a0 - d0))
		growthPct := 100 * growth / offered
		// Reached: the load went in at the rate offered, not just all of
		// it eventually (a generator that falls behind sends late).
		reached := float64(r.accepted) >= 0.9*offered && r.acceptedPerSec() >= 0.9*rate
		sustained := growthPct <= 10 && reached && r.errors == 0
		rc.set(e2eKey(rate, "delivered"), delivered)
		rc.set(e2eKey(rate, "growth"), growthPct)
		logf("    %s/s offered: %s accepted (%s/s), %s delivered in the window (%s/s), backlog %+d (%.1f %% of offered): %s",
			humanInt(int(rate)), humanInt(r.accepted), humanInt(int(r.acceptedPerSec())), humanInt(d1-d0), humanInt(int(delivered)),
			int(growth), growthPct, map[bool]string{true: "sustained", false: "NOT sustained"}[sustained])
		rc.checkLoad(fmt.Sprintf("%s/s: every POST answered 202", humanInt(int(rate))), r, 0)
		if err := rc.alive(d); err != nil {
			return err
		}
		if !sustained {
			break
		}
		best = rate
		if !rc.waitDelivered(ctx, len(ids), 30*time.Second) {
			break
		}
	}
	rc.set("e2e_sustained", best)
	rc.waitDelivered(ctx, len(ids), 60*time.Second)
	rc.checkDelivery("every accepted event delivered", ids)
	return nil
}

// scDrain: ROLE=api stores N events, stops; ROLE=worker, at its defaults
// (-env aside), delivers them all; deliveries/s from the worker's start, peak RSS.
func scDrain(ctx context.Context, rc *runCtx) error {
	n := rc.b.scaled(100000)
	api, err := rc.start(ctx, "api", nil, true)
	if err != nil {
		return err
	}
	r := runLoad(ctx, loadSpec{label: "drain: storing", base: api.base, clients: 64, total: n, prefix: "drain"})
	logf("    stored: %s", r.summary())
	rc.checkLoad("every POST answered 202", r, n)
	rc.stop(api)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	worker, err := rc.start(ctx, "worker", nil, false)
	if err != nil {
		return err
	}
	cpuFrom := sampleCPU(worker.cmd.Process.Pid)
	var peak int64
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, worker.rssKB())
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	timeout := time.Minute + time.Duration(n)*3*time.Millisecond // ~330/s at worst
	rc.waitDelivered(ctx, len(r.ids), timeout)
	cpuTo := sampleCPU(worker.cmd.Process.Pid)
	close(stopSampling)
	wg.Wait()
	peak = max(peak, worker.rssKB())
	first, last := rc.recv.span()
	startAt := worker.started.Sub(epoch)
	if err := rc.alive(worker); err != nil {
		return err
	}
	rc.stop(worker)
	rep := rc.recv.compare(r.ids)
	if rep.Missing == 0 && last > startAt {
		rate := float64(len(r.ids)) / (last - startAt).Seconds()
		rc.set("drain_rate", rate)
		logf("    drained %s in %.2fs from the worker's start (first delivery after %.0f ms): %s deliveries/s, peak RSS %.1f MB",
			humanInt(len(r.ids)), (last - startAt).Seconds(), ms(first-startAt), humanInt(int(rate)), float64(peak)/1024)
	}
	if peak > 0 {
		rc.set("drain_rss", float64(peak)/1024)
	}
	if rep.Missing == 0 {
		rc.reportDrainCPU(cpuFrom, cpuTo, len(r.ids))
	}
	rc.checkDelivery("every stored event delivered", r.ids)
	return nil
}

// reportDrainCPU records and logs what the box spent on a drain of n
// deliveries (cpu.go).
func (rc *runCtx) reportDrainCPU(from, to cpuSample, n int) {
	c, ok := spendPer(from, to, n)
	if !ok {
		return
	}
	rc.set("drain_cpu_box", c.box)
	rc.set("drain_cpu_dispatcher", c.dispatcher)
	rc.set("drain_cpu_bench", c.bench)
	rc.set("drain_idle", c.idlePct)
	rc.set("drain_steal", c.stealPct)
	database := ""
	if rc.pg != nil {
		rc.set("drain_cpu_database", c.database)
		database = fmt.Sprintf(", PostgreSQL %.0f", c.database)
	}
	logf("    CPU a delivery: %.0f µs of the box (dispatcher %.0f%s, receiver %.0f); the box %.1f%% idle, %.1f%% taken by its host",
		c.box, c.dispatcher, database, c.bench, c.idlePct, c.stealPct)
}

// scLatency: ROLE=all at 200/s then 1,000/s, each event's time from its 202
// to its arrival at the receiver.
func scLatency(ctx context.Context, rc *runCtx) error {
	d, err := rc.start(ctx, "all", nil, true)
	if err != nil {
		return err
	}
	defer rc.stop(d)
	w := runLoad(ctx, loadSpec{label: "warm-up", base: d.base, clients: 32, rate: 100, duration: time.Second, prefix: "warm"})
	ids := w.ids
	rc.checkLoad("warm-up: every POST answered 202", w, 0)
	rc.waitDelivered(ctx, len(ids), 30*time.Second)
	for _, rate := range latencyRates {
		r := runLoad(ctx, loadSpec{label: fmt.Sprintf("latency %s/s", humanInt(int(rate))), base: d.base, clients: 32,
			rate: rate, duration: rc.b.opts.step, prefix: fmt.Sprintf("lat%g", rate)})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ids = append(ids, r.ids...)
		rc.checkLoad(fmt.Sprintf("%s/s: every POST answered 202", humanInt(int(rate))), r, 0)
		rc.waitDelivered(ctx, len(ids), 30*time.Second)
		arr, ok := rc.recv.arrivalsOf(r.ids)
		var lat []time.Duration
		early := 0
		for i := range r.ids {
			if !ok[i] {
				continue
			}
			l := arr[i] - r.at[i]
			if l < 0 { // delivered before this process had read the 202
				early++
				l = 0
			}
			lat = append(lat, l)
		}
		if len(lat) > 0 {
			p50, p99 := ms(percentileDur(lat, 0.50)), ms(percentileDur(lat, 0.99))
			rc.set(latKey(rate, "p50"), p50)
			rc.set(latKey(rate, "p99"), p99)
			logf("    %s/s: %s events (%s/s accepted), 202 → receiver p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d arrived before the 202 was read: counted as 0)",
				humanInt(int(rate)), humanInt(len(lat)), humanInt(int(r.acceptedPerSec())), p50, p99, ms(percentileDur(lat, 1)), early)
		}
		if err := rc.alive(d); err != nil {
			return err
		}
	}
	rc.checkDelivery("every accepted event delivered", ids)
	return nil
}
