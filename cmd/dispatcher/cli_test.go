package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/env"
	"github.com/webhookd/webhookd/test/harness"
	"github.com/webhookd/webhookd/wiring"
)

// The command line, run in-process through run and exitCode as main
// runs them.

// lookupOf is an environment of exactly kv.
func lookupOf(kv map[string]string) env.Lookup {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

// cli runs the command line with the environment kv and returns the exit
// status, stdout and stderr.
func cli(t *testing.T, kv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return cliLookup(t, lookupOf(kv), args...)
}

func cliLookup(t *testing.T, lookup env.Lookup, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := exitCode(run(t.Context(), args, lookup, &stdout, &stderr), &stderr)
	return code, stdout.String(), stderr.String()
}

// TestHelp: every way of asking for help succeeds, on an empty
// environment, and lists the commands; the root's and serve's list every
// variable the service reads, with its default.
func TestHelp(t *testing.T) {
	t.Parallel()
	root := []string{"serve", "migrate", "healthcheck", "secret", "events", "endpoints", "help"}
	for _, tc := range []struct {
		args    []string
		want    []string
		withEnv bool
	}{
		{[]string{"--help"}, root, true},
		{[]string{"-h"}, root, true},
		{[]string{"help"}, root, true},
		{[]string{"serve", "--help"}, []string{"--role"}, true},
		{[]string{"help", "serve"}, []string{"--role"}, true},
		{[]string{"-role", "api", "--help"}, root, true},
		{[]string{"migrate", "--help"}, []string{"up", "down", "status", "DATABASE_URL", "DB_CONNECT_TIMEOUT_MS  30000"}, false},
		{[]string{"migrate", "status", "--help"}, []string{"DATABASE_URL", "DATABASE_SCHEMA  public"}, false},
		{[]string{"events", "--help"}, []string{"list", "get", "retry", "recover", "--api-url", "--token"}, false},
		{[]string{"help", "events"}, []string{"list", "get", "retry", "recover"}, false},
		{[]string{"events"}, []string{"list", "get", "retry", "recover"}, false},
		{[]string{"events", "list", "--help"}, []string{"--status", "--endpoint", "--origin", "--after", "--all", "WEBHOOKD_URL", "WEBHOOKD_TOKEN", "API_TOKENS"}, false},
		{[]string{"endpoints", "--help"}, []string{"list", "create", "rotate-secret", "WEBHOOKD_URL  http://127.0.0.1:$DISPATCHER_PORT"}, false},
		{[]string{"healthcheck", "--help"}, []string{"--role", "METRICS_PORT", "DISPATCHER_PORT  3000"}, false},
		{[]string{"secret", "--help"}, []string{"HMAC_SECRET", "HMAC_EXTRA_SECRETS"}, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := cli(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, w := range tc.want {
				// "NAME  DEFAULT": a row of the environment table.
				if name, def, row := strings.Cut(w, "  "); row {
					if !regexp.MustCompile(`(?m)^\s+` + name + `\s+` + regexp.QuoteMeta(def) + `\s+\S`).MatchString(out) {
						t.Errorf("the help lacks the row %s %s:\n%s", name, def, out)
					}
					continue
				}
				if !strings.Contains(out, w) {
					t.Errorf("the help does not mention %s:\n%s", w, out)
				}
			}
			hasEnv := strings.Contains(out, "POLL_INTERVAL_MS")
			if hasEnv != tc.withEnv {
				t.Fatalf("environment table shown: %v, want %v", hasEnv, tc.withEnv)
			}
			if !tc.withEnv {
				return
			}
			for _, v := range wiring.EnvVars() {
				def := v.Default
				if def == "" {
					def = "-"
				}
				if !regexp.MustCompile(`(?m)^\s+` + v.Name + `\s+` + regexp.QuoteMeta(def) + `\s+\S`).MatchString(out) {
					t.Errorf("the help lacks the line of %s with its default %s", v.Name, def)
				}
			}
			if !regexp.MustCompile(`(?m)^\s+POLL_INTERVAL_MS\s+5000\s`).MatchString(out) {
				t.Error("the help lacks POLL_INTERVAL_MS 5000")
			}
		})
	}
}

// recorder is a Lookup that remembers whether anything read it.
type recorder struct {
	mu   sync.Mutex
	read []string
	kv   map[string]string
}

func (r *recorder) lookup(k string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read = append(r.read, k)
	v, ok := r.kv[k]
	return v, ok
}

// TestUsageErrors: a mistake on the command line exits 2, says what is
// wrong, and starts nothing: not a variable is read, although the
// environment would let the service start.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"serv"}, "did you mean serve"},
		{[]string{"serve", "now"}, `"now"`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"-role", "boss"}, "role"},
		{[]string{"-role=boss"}, "role"},
		{[]string{"--role"}, "role"},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"events", "bogus"}, `unknown command "bogus" for "dispatcher events"`},
		{[]string{"events", "get"}, "1 arg"},
		{[]string{"events", "list", "--after", "yesterday"}, "RFC 3339"},
		{[]string{"events", "list", "--limit", "ten"}, "--limit"},
		{[]string{"events", "list", "--page", "0"}, "--page"},
		{[]string{"events", "list", "--api-url", "localhost:3000"}, "--api-url"},
		{[]string{"events", "recover", "--rate", "-1"}, "--rate"},
		{[]string{"endpoints", "create"}, "--url is required"},
		{[]string{"endpoints", "rotate-secret"}, "1 arg"},
		{[]string{"migrate", "sideways"}, "sideways"},
		{[]string{"healthcheck", "--role", "boss"}, "role"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{kv: map[string]string{"STORE": "memory", "HMAC_SECRET": harness.Secret, "DISPATCHER_PORT": "0"}}
			start := time.Now()
			code, out, errOut := cliLookup(t, rec.lookup, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help' for usage") {
				t.Errorf("exit %d, stderr %q; want 2 and a message containing %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if len(rec.read) > 0 || time.Since(start) > 5*time.Second {
				t.Errorf("something started: the environment was read (%v)", rec.read)
			}
		})
	}
}

// TestSingleDashRole: the old -role X and -role=X still select the role.
func TestSingleDashRole(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-role", "worker"}, {"-role=worker"}, {"--role", "worker"}, {"serve", "-role", "worker"}} {
		got := singleDashRole(args)
		if !slices.Contains(got, "--role") && !slices.Contains(got, "--role=worker") {
			t.Errorf("%q became %q", args, got)
		}
	}
	if got := singleDashRole([]string{"events", "list", "--", "-role"}); got[3] != "-role" {
		t.Errorf("an argument after -- was rewritten: %q", got)
	}
	// A worker has no API: the healthcheck asks METRICS_PORT's /ready.
	// Nothing listens on either port, so the error names the one asked.
	kv := map[string]string{"DISPATCHER_PORT": strconv.Itoa(harness.FreePort(t)), "METRICS_PORT": strconv.Itoa(harness.FreePort(t))}
	for _, args := range [][]string{{"healthcheck", "-role", "worker"}, {"-role=worker", "healthcheck"}} {
		code, _, errOut := cli(t, kv, args...)
		if code != 1 || !strings.Contains(errOut, ":"+kv["METRICS_PORT"]+"/ready") {
			t.Errorf("%q: exit %d, stderr %q; want 1 asking METRICS_PORT", args, code, errOut)
		}
	}
}

// TestMigrateReturns: migrate never hangs. The memory store has nothing
// to migrate and says so (exit 0); SQLite answers at once; an unreachable
// PostgreSQL is waited for DB_CONNECT_TIMEOUT_MS, saying so, then fails.
func TestMigrateReturns(t *testing.T) {
	t.Parallel()
	sqliteURL := "sqlite:" + t.TempDir() + "/webhookd.db"
	closed := harness.FreePort(t)
	for _, tc := range []struct {
		name           string
		env            map[string]string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"memory status", map[string]string{"STORE": "memory"}, []string{"migrate", "status"}, 0, "nothing to migrate", ""},
		{"memory up", map[string]string{"STORE": "memory"}, []string{"migrate"}, 0, "nothing to migrate", ""},
		{"memory down", map[string]string{"STORE": "memory"}, []string{"migrate", "down"}, 0, "nothing to migrate", ""},
		{"memory over a sqlite URL", map[string]string{"STORE": "memory", "DATABASE_URL": sqliteURL}, []string{"migrate", "status"}, 0, "nothing to migrate", ""},
		// The tests' memory environment (security_test.go's memoryEnv).
		{"the tests' memory env", memoryEnv(nil), []string{"migrate", "status"}, 0, "nothing to migrate", ""},
		{"sqlite status", map[string]string{"DATABASE_URL": sqliteURL}, []string{"migrate", "status"}, 0, "pending", ""},
		{"bad STORE", map[string]string{"STORE": "mongo"}, []string{"migrate", "status"}, 1, "", "STORE"},
		{"postgres down", map[string]string{"DATABASE_URL": fmt.Sprintf("postgres://u:p@127.0.0.1:%d/x", closed), "DB_CONNECT_TIMEOUT_MS": "2500"},
			[]string{"migrate", "status"}, 1, "", "still waiting for postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := exitCode(run(ctx, tc.args, lookupOf(maps.Clone(tc.env)), &stdout, &stderr), &stderr)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestExitStatusOfTheBinary: the real process exits 2 for a usage
// mistake, 0 for help, 1 for a failure.
func TestExitStatusOfTheBinary(t *testing.T) {
	t.Parallel()
	bins := harness.Build(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"bogus"}, 2},
		{[]string{"--help"}, 0},
		{[]string{"help", "migrate"}, 0},
		{[]string{"-role", "boss"}, 2},
		{[]string{"migrate", "status"}, 0}, // STORE=memory below
		{[]string{"events", "list", "--api-url", "http://127.0.0.1:" + strconv.Itoa(harness.FreePort(t))}, 1},
	} {
		name := "exit-" + strings.NewReplacer(" ", "-", "/", "_", ":", "_").Replace(strings.Join(tc.args, " "))
		p := harness.Start(t, name, bins.Dispatcher, map[string]string{"STORE": "memory"}, tc.args...)
		if code := p.Wait(20 * time.Second); code != tc.code {
			t.Errorf("dispatcher %q exited %d, want %d; output %q", tc.args, code, tc.code, p.Log())
		}
	}
}
