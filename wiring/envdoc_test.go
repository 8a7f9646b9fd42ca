package wiring_test

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/webhookd/webhookd/wiring"
)

// recorder is a Lookup over kv that remembers every name asked for.
type recorder struct {
	mu   sync.Mutex
	read map[string]bool
}

func (r *recorder) lookup(kv map[string]string) wiring.Lookup {
	return func(k string) (string, bool) {
		r.mu.Lock()
		r.read[k] = true
		r.mu.Unlock()
		v, ok := kv[k]
		return v, ok
	}
}

// TestEnvVarsListWhatTheLoadersRead: the help's table names exactly the
// variables the loaders read, so that a new variable cannot be left out of
// `dispatcher --help` nor a removed one linger there.
func TestEnvVarsListWhatTheLoadersRead(t *testing.T) {
	t.Parallel()
	rec := &recorder{read: map[string]bool{}}
	// Some reads could depend on others (METRICS_PORT's), so load twice:
	// a minimal environment, and one that sets every variable the table
	// gives a literal default, plus the optional ones.
	every := map[string]string{"HMAC_SECRET": strongSecret, "METRICS_PORT": "9100", "ROLE": "worker",
		"DATABASE_URL": "postgres://u:p@db:5432/x", "TARGET_URL": "https://merchant.example/hook"}
	for _, v := range wiring.EnvVars() {
		if _, set := every[v.Name]; !set && v.Default != "" && !strings.HasPrefix(v.Default, "(") {
			every[v.Name] = v.Default
		}
	}
	for _, kv := range []map[string]string{{"HMAC_SECRET": strongSecret}, every} {
		_, _ = wiring.LoadConfig(rec.lookup(kv)) // errors do not matter: only what is read
		_, _ = wiring.LoadDatabaseConfig(rec.lookup(kv))
		_, _ = wiring.LoadHealthcheckPort(rec.lookup(kv), "")
	}

	documented := map[string]bool{}
	for _, v := range wiring.EnvVars() {
		if documented[v.Name] {
			t.Errorf("%s is listed twice", v.Name)
		}
		documented[v.Name] = true
		if strings.TrimSpace(v.Help) == "" || strings.Contains(v.Help, "\n") {
			t.Errorf("%s: help %q, want one non-empty line", v.Name, v.Help)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rec.read)) {
		if !documented[name] {
			t.Errorf("%s is read by the loaders but missing from wiring.EnvVars", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(documented)) {
		if !rec.read[name] {
			t.Errorf("%s is in wiring.EnvVars but no loader reads it", name)
		}
	}
}

// notLiteral are the variables whose default is not a value one could
// set: LoadConfig with the variable set to its Default would differ.
var notLiteral = map[string]string{
	"DATABASE_URL":       "unset keeps the seed's PostgreSQL URL for STORE=postgres; no sqlite: URL does that",
	"STORE":              "follows DATABASE_URL",
	"WORKER_CONCURRENCY": "derived from BATCH_SIZE when the worker starts",
	"LEASE_MS":           "derived from HTTP_TIMEOUT_MS when the worker starts",
	"WORKER_ID":          "generated per process",
	// The seed's default target is private: unset, the SSRF guard drops
	// it with a warning; set, it is kept (and refused at start).
	"TARGET_URL": "applies only when the SSRF guard allows it",
}

// TestEnvVarDefaultsAreLoadConfigs: setting a variable to the default the
// help shows changes nothing, so the help cannot drift from the code.
func TestEnvVarDefaultsAreLoadConfigs(t *testing.T) {
	t.Parallel()
	base := map[string]string{"HMAC_SECRET": strongSecret}
	want, err := wiring.LoadConfig(env(base))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, v := range wiring.EnvVars() {
		documented[v.Name] = true
		_, skip := notLiteral[v.Name]
		if strings.HasPrefix(v.Default, "(") && !skip {
			t.Errorf("%s: default %q is a description: list it in notLiteral, saying why", v.Name, v.Default)
		}
		if v.Default == "" || skip {
			continue
		}
		kv := maps.Clone(base)
		kv[v.Name] = v.Default
		got, err := wiring.LoadConfig(env(kv))
		if err != nil {
			t.Errorf("%s=%s (its documented default): %v", v.Name, v.Default, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			d := cmp.Or(strings.Join(diff("Config", reflect.ValueOf(got), reflect.ValueOf(want)), "\n"), "an unexported field")
			t.Errorf("%s=%s (its documented default) changes the configuration:\n%s", v.Name, v.Default, d)
		}
	}
	for name := range notLiteral {
		if !documented[name] {
			t.Errorf("notLiteral names %s, which wiring.EnvVars does not list", name)
		}
	}
}

// diff lists the fields where a and b differ, as "path: a, want b",
// descending into structs so that a drift names its field.
func diff(path string, a, b reflect.Value) []string {
	if a.Kind() == reflect.Struct {
		var out []string
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue // Interface cannot show it; the caller's DeepEqual saw it
			}
			out = append(out, diff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))...)
		}
		return out
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	return []string{fmt.Sprintf("%s: %v, want %v", path, a, b)}
}
