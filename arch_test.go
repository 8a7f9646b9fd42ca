// Package arch_test enforces the dependency rule of DESIGN.md §1 and
// STYLE.md §2 on non-test code: core knows nothing of ours, ports knows
// only core, adapters never import each other or the core services, and
// only wiring and cmd see everything.
package arch_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/webhookd/webhookd"

// rule: which of our packages, and whether third-party packages, a
// package may import. Checked by longest matching prefix.
type rule struct {
	ours       []string // allowed packages of ours (exact)
	thirdParty bool
}

var rules = map[string]rule{
	"core":                       {},
	"core/signing":               {},
	"core/secretbox":             {},
	"core/endpoints":             {ours: []string{"core", "core/secretbox", "core/signing", "ports"}},
	"ports":                      {ours: []string{"core"}},
	"ports/porttest":             {ours: []string{"core", "ports"}},
	"core/ingest":                {ours: []string{"core", "ports"}},
	"core/dispatch":              {ours: []string{"core", "core/secretbox", "ports", "internal/wait"}},
	"core/retention":             {ours: []string{"core", "internal/wait", "ports"}},
	"core/activity":              {ours: []string{"core", "ports"}},
	"adapters/":                  {ours: []string{"core", "core/signing", "ports", "internal/wait"}, thirdParty: true},
	"adapters/postgres":          {ours: []string{"core", "ports", "migrations", "internal/wait"}, thirdParty: true},
	"adapters/sqlite":            {ours: []string{"core", "ports", "migrations", "internal/wait"}, thirdParty: true},
	"adapters/prom":              {ours: []string{"core", "core/retention", "ports"}, thirdParty: true},
	"migrations":                 {thirdParty: true}, // the SQL, and bun's migrator to apply it
	"wiring":                     {ours: []string{"*"}, thirdParty: true},
	"cmd/dispatcher":             {ours: []string{"wiring", "core/signing", "internal/env"}, thirdParty: true}, // the CLI: cobra
	"cmd/mock-receiver":          {ours: []string{"cmd/mock-receiver/receiver"}},
	"cmd/bench":                  {ours: []string{"core/signing"}, thirdParty: true}, // the benchmark program (make bench)
	"cmd/mock-receiver/receiver": {ours: []string{"core/signing", "internal/env", "internal/wait", "internal/logfile", "internal/logfmt"}},
	// internal/: small helpers shared across the tree, leaves of the graph.
	// wait and testkit are standard library only, so that core services
	// may use them; env reads .env files with godotenv; logfile rotates
	// LOG_FILE with lumberjack; logbatch writes log lines in batches.
	"internal/wait":     {},
	"internal/testkit":  {},
	"internal/env":      {thirdParty: true},
	"internal/logfile":  {thirdParty: true},
	"internal/logfmt":   {},
	"internal/logbatch": {},
	"test/":             {ours: []string{"*"}, thirdParty: true}, // test harness and suites
	"":                  {},                                      // the root: tests only
}

func ruleFor(pkg string) (rule, string) {
	best := ""
	for prefix := range rules {
		match := pkg == prefix || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(pkg, prefix))
		if match && len(prefix) >= len(best) {
			best = prefix
		}
	}
	return rules[best], best
}

func TestDependencyRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, "|")
		pkg := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		r, matched := ruleFor(pkg)
		if matched == "" && pkg != "" {
			t.Errorf("%s: no dependency rule covers this package; add one to arch_test.go", pkg)
			continue
		}
		checked++
		for _, imp := range strings.Split(imports, ",") {
			switch {
			case imp == "":
			case strings.HasPrefix(imp, module+"/"):
				dep := strings.TrimPrefix(imp, module+"/")
				if !slices.Contains(r.ours, "*") && !slices.Contains(r.ours, dep) {
					t.Errorf("%s imports %s: forbidden by the dependency rule", pkg, dep)
				}
			case isStdlib(imp):
			case !r.thirdParty:
				t.Errorf("%s imports third-party %s: only the standard library is allowed there", pkg, imp)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages; go list output looks wrong", checked)
	}
}

// isStdlib: standard library paths have no dot in their first element.
func isStdlib(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func TestRuleMatching(t *testing.T) {
	for pkg, want := range map[string]string{
		"adapters/httpapi": "adapters/", "adapters/postgres": "adapters/postgres", "adapters/prom": "adapters/prom", "core": "core",
		"core/dispatch": "core/dispatch", "cmd/mock-receiver/receiver": "cmd/mock-receiver/receiver",
	} {
		if _, got := ruleFor(pkg); got != want {
			t.Errorf("ruleFor(%s) = %q, want %q", pkg, got, want)
		}
	}
}
