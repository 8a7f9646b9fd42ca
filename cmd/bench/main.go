// Command bench measures webhookd the way the performance issue asks, on
// PostgreSQL and on SQLite: ingest (ROLE=api, 32 and 64 clients, against a
// pgbench-like one-row INSERT baseline on PostgreSQL), sustained end to end
// at rising fixed rates, a backlog drain by ROLE=worker (with its peak RSS),
// 202 → receiver latency at 200/s and 1,000/s, and GET /events over a big
// table. It runs bin/dispatcher (make build) against its own in-process
// receiver, which checks every delivery's signature and counts distinct
// event ids: every scenario ends by checking that each accepted event
// arrived, and nothing else. It prints one table per store and writes
// bench-results.json; it exits non-zero when a correctness check failed.
//
//	make build && go run ./cmd/bench [-stores postgres,sqlite] [-scale 0.1] [-runs 3]
//
// PostgreSQL is DATABASE_URL when that is a postgres:// URL (each scenario
// run in a fresh DATABASE_SCHEMA, dropped afterwards), else a throwaway
// cluster from scripts/testdb.sh with PostgreSQL's durable settings
// (TESTDB_DURABLE=1: fsync, synchronous_commit on), stopped at the end, also
// on Ctrl-C.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// epoch is the bench's time origin: the load and the receiver both record
// times as durations since it (monotonic).
var epoch = time.Now()

func since() time.Duration { return time.Since(epoch) }

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(epoch).Seconds(), fmt.Sprintf(format, args...))
}

type options struct {
	dispatcher string
	stores     []string
	scenarios  []string
	scale      float64
	runs       int
	out        string
	rates      []float64
	step       time.Duration
	verify     bool
	receiver   string // lean or std
	tmp        string
	listFill   string
	extraEnv   map[string]string // -env: added to every dispatcher's environment
}

type bench struct {
	opts   options
	bin    string // absolute path of the dispatcher
	secret string // HMAC_SECRET, also the receiver's key
	encKey string // ENCRYPTION_KEY
	tmp    string // this bench's temp dir (SQLite files, logs)
}

// scaled is n × -scale, at least 50.
func (b *bench) scaled(n int) int {
	return max(int(float64(n)*b.opts.scale+0.5), 50)
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	var stores, scenarios, rates string
	fs.StringVar(&o.dispatcher, "dispatcher", "bin/dispatcher", "the dispatcher binary (make build)")
	fs.StringVar(&stores, "stores", "postgres,sqlite", "stores to measure, comma-separated: postgres, sqlite")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated")
	fs.Float64Var(&o.scale, "scale", 1, "multiply every event count by this (0.1: a quick run)")
	fs.IntVar(&o.runs, "runs", 1, "runs of each scenario; the table shows their median, min and max")
	fs.StringVar(&o.out, "out", "bench-results.json", "where to write the results as JSON")
	fs.StringVar(&rates, "rates", "250,500,1000,2000,2500,3000,4000", "end-to-end offered rates, events/s, rising")
	fs.DurationVar(&o.step, "step", 10*time.Second, "how long each fixed rate is offered (e2e, latency)")
	fs.BoolVar(&o.verify, "verify", true, "verify every delivery's Standard Webhooks signature at the receiver")
	fs.StringVar(&o.receiver, "receiver", "lean", "the receiver's HTTP server: lean (a minimal HTTP/1.1 keep-alive server) or std (net/http's)")
	fs.StringVar(&o.tmp, "tmp", "", "directory for SQLite files and dispatcher logs (default: the system temp dir)")
	fs.StringVar(&o.listFill, "list-fill", "sql", "how the list scenario fills PostgreSQL: sql (INSERT … SELECT) or api; SQLite always uses the API")
	o.extraEnv = map[string]string{}
	fs.Func("env", "`KEY=VALUE` added to every dispatcher's environment after the bench's own (repeatable), e.g. -env PER_TARGET_WINDOW=fixed", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		o.extraEnv[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.stores = splitList(stores)
	o.scenarios = splitList(scenarios)
	for _, s := range o.stores {
		if s != "postgres" && s != "sqlite" {
			fmt.Fprintf(os.Stderr, "bench: -stores: unknown store %q (postgres, sqlite)\n", s)
			return 2
		}
	}
	for _, s := range o.scenarios {
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(os.Stderr, "bench: -scenarios: unknown scenario %q (%s)\n", s, strings.Join(allScenarios, ", "))
			return 2
		}
	}
	for _, r := range splitList(rates) {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "bench: -rates: %q is not a positive number\n", r)
			return 2
		}
		o.rates = append(o.rates, v)
	}
	if o.scale <= 0 || o.runs < 1 || o.step < time.Second || (o.listFill != "sql" && o.listFill != "api") ||
		(o.receiver != "lean" && o.receiver != "std") {
		fmt.Fprintln(os.Stderr, "bench: -scale must be > 0, -runs ≥ 1, -step ≥ 1s, -list-fill sql or api, -receiver lean or std")
		return 2
	}

	bin, err := filepath.Abs(o.dispatcher)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(bin); err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
			err = errors.New("not an executable file")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: -dispatcher %s: %v (run make build first)\n", o.dispatcher, err)
		return 2
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b := &bench{opts: o, bin: bin, secret: "whsec_" + base64.StdEncoding.EncodeToString(key), encKey: randomHex(32)}
	b.tmp, err = os.MkdirTemp(o.tmp, "webhookd-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	defer os.RemoveAll(b.tmp)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	header := b.header()
	for _, l := range header.lines {
		logf("%s", l)
	}
	var results []*storeResult
	for _, store := range o.stores {
		if ctx.Err() != nil {
			break
		}
		switch store {
		case "postgres":
			sr := newStoreResult(store, "PostgreSQL")
			results = append(results, sr)
			pg, err := startPostgres(ctx)
			if err != nil {
				sr.skipped = err.Error()
				fmt.Printf("PostgreSQL: cannot be started (%v): running SQLite only\n", err)
				continue
			}
			sr.details = pg.describe()
			func() {
				defer pg.close()
				b.runStore(ctx, sr, pg)
			}()
		case "sqlite":
			sr := newStoreResult(store, "SQLite")
			results = append(results, sr)
			sr.details = fmt.Sprintf("SQLite: a fresh file per scenario run under %s (%s), WAL, synchronous=FULL (every commit fsynced)",
				b.tmp, fsType(b.tmp))
			b.runStore(ctx, sr, nil)
		}
	}

	// The report.
	fmt.Println()
	for _, l := range header.lines {
		fmt.Println(l)
	}
	ok := true
	rep := jsonReport{Header: header.json, Interrupted: ctx.Err() != nil}
	for _, sr := range results {
		sr.printTable(os.Stdout, o.runs)
		rep.Stores = append(rep.Stores, sr.json())
		ok = ok && !sr.failed()
	}
	rep.CorrectnessOK = ok
	if err := writeJSON(o.out, rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench: write results:", err)
		return 1
	}
	fmt.Printf("\nresults written to %s\n", o.out)
	switch {
	case ctx.Err() != nil:
		fmt.Println("interrupted: the results are partial")
		return 130
	case !ok:
		fmt.Println("FAILED: a correctness check failed (see above)")
		return 1
	}
	return 0
}

// runStore runs every scenario -runs times on one store.
func (b *bench) runStore(ctx context.Context, sr *storeResult, pg *pgEnv) {
	b.declare(sr, pg != nil)
	if pg == nil {
		sr.notes = append(sr.notes, "no pgbench-like baseline on SQLite: the ingest ratio goal is PostgreSQL's")
	} else if b.opts.listFill == "sql" && slices.Contains(b.opts.scenarios, "list") {
		sr.notes = append(sr.notes, "list: rows inserted by SQL (valid pending events), then VACUUM ANALYZE and CHECKPOINT")
	}
	if slices.Contains(b.opts.scenarios, "e2e") {
		sr.notes = append(sr.notes, "end to end: a rate is sustained when the backlog (accepted − delivered) grew by ≤ 10 % of what was offered "+
			"over the step, ≥ 90 % of it was accepted, at ≥ 90 % of the rate offered, and every POST got a 202; the ramp stops at the first rate that is not")
	}
	if slices.Contains(b.opts.scenarios, "drain") {
		sr.notes = append(sr.notes, "drain: deliveries/s counted from the worker process's start to the last arrival")
	}
	if pg != nil && slices.Contains(b.opts.scenarios, "claim") {
		sr.notes = append(sr.notes, "claim cost: the finished rows are inserted by SQL (succeeded deliveries), then VACUUM ANALYZE and CHECKPOINT; "+
			"each backlog is stored through ROLE=api and drained by a fresh ROLE=worker, BATCH_SIZE=100")
	}
	for _, sc := range b.opts.scenarios {
		for run := 1; run <= b.opts.runs; run++ {
			if ctx.Err() != nil {
				return
			}
			logf("== %s: %s, run %d/%d ==", sr.title, sc, run, b.opts.runs)
			rc, err := b.newRun(sr, pg, sc, run)
			if err != nil {
				sr.checks = append(sr.checks, check{Scenario: sc, Run: run, Name: "set-up", OK: false, Detail: err.Error()})
				continue
			}
			t0, checksBefore := time.Now(), len(sr.checks)
			err = scenarioFuncs[sc](ctx, rc)
			if err != nil && ctx.Err() == nil {
				rc.check("scenario ran to the end", false, err.Error())
			}
			if slices.ContainsFunc(sr.checks[checksBefore:], func(c check) bool { return !c.OK }) {
				logs, _ := filepath.Glob(filepath.Join(rc.dir, "dispatcher-*.log"))
				for _, l := range logs {
					logf("dispatcher log of the failed run:\n%s", tail(l, 20))
				}
			}
			rc.close()
			logf("   %s run %d took %.1fs", sc, run, time.Since(t0).Seconds())
		}
	}
}

type headerInfo struct {
	lines []string
	json  map[string]any
}

func (b *bench) header() headerInfo {
	now := time.Now().UTC().Format("2006-01-02 15:04:05 UTC")
	arch := strings.TrimSpace(cmdOut("uname", "-m"))
	commit := strings.TrimSpace(cmdOut("git", "rev-parse", "--short", "HEAD"))
	if commit == "" {
		commit = "unknown"
	}
	dirty := strings.TrimSpace(cmdOut("git", "status", "--porcelain", "--untracked-files=no")) != ""
	rev := commit
	if dirty {
		rev += " + uncommitted changes"
	}
	lines := []string{
		"webhookd benchmarks, " + now,
		fmt.Sprintf("machine: %s, %d CPUs; load generator, receiver, dispatcher and database all on this box", arch, runtime.NumCPU()),
		fmt.Sprintf("%s, webhookd %s, dispatcher %s", runtime.Version(), rev, b.opts.dispatcher),
		fmt.Sprintf("scale %g, %d run(s) per scenario, fixed rates offered for %v, receiver %s, its signature checks %v",
			b.opts.scale, b.opts.runs, b.opts.step, b.opts.receiver, map[bool]string{true: "on", false: "off"}[b.opts.verify]),
	}
	if len(b.opts.extraEnv) > 0 {
		keys := slices.Sorted(maps.Keys(b.opts.extraEnv))
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+b.opts.extraEnv[k])
		}
		lines = append(lines, "extra dispatcher environment (-env): "+strings.Join(kv, " "))
	}
	return headerInfo{lines: lines, json: map[string]any{
		"extra_env": b.opts.extraEnv,
		"date":      now, "arch": arch, "cpus": runtime.NumCPU(), "go": runtime.Version(), "commit": commit, "dirty": dirty,
		"scale": b.opts.scale, "runs": b.opts.runs, "step_seconds": b.opts.step.Seconds(), "rates": b.opts.rates,
		"stores": b.opts.stores, "scenarios": b.opts.scenarios, "verify_signatures": b.opts.verify,
		"receiver": b.opts.receiver,
	}}
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// fsType is the file system type of the mount holding dir (/proc/mounts).
func fsType(dir string) string {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	raw, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "file system unknown"
	}
	best, typ := "", "file system unknown"
	for _, line := range bytes.Split(raw, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	return typ
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// randomHex returns 2n hex digits of n random bytes.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
