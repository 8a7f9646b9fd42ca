package env_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/env"
)

func lookup(kv map[string]string) env.Lookup {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestReaderKeepsDefaultsWhenUnset(t *testing.T) {
	t.Parallel()
	r := env.NewReader(lookup(map[string]string{"BLANK": "  "}))
	s, n, d, f, b, l := "def", 7, time.Second, 0.5, true, []string{"x"}
	r.String("S", &s)
	r.String("BLANK", &s)
	r.Int("N", &n, 0, 10)
	r.Millis("D", &d, 1, 1000)
	r.Float("F", &f, 0, 1)
	r.Bool("B", &b)
	r.List("L", &l)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if s != "def" || n != 7 || d != time.Second || f != 0.5 || !b || len(l) != 1 {
		t.Errorf("defaults overwritten: %q %d %s %v %v %q", s, n, d, f, b, l)
	}
}

func TestReaderReadsValues(t *testing.T) {
	t.Parallel()
	r := env.NewReader(lookup(map[string]string{
		"S": " v ", "N": "9", "D": "250", "F": "0.25", "B": "TRUE", "L": "a, ,b,",
	}))
	var (
		s string
		n int
		d time.Duration
		f float64
		b bool
		l []string
	)
	r.String("S", &s)
	r.Int("N", &n, 0, 10)
	r.Millis("D", &d, 1, 1000)
	r.Float("F", &f, 0, 1)
	r.Bool("B", &b)
	r.List("L", &l)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if s != "v" || n != 9 || d != 250*time.Millisecond || f != 0.25 || !b || strings.Join(l, "|") != "a|b" {
		t.Errorf("read %q %d %s %v %v %q", s, n, d, f, b, l)
	}
}

func TestReaderReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	r := env.NewReader(lookup(map[string]string{
		"N": "11", "D": "0", "F": "NaN", "B": "maybe", "M": "x",
	}))
	n, d, f, b := 1, time.Second, 0.5, false
	r.Int("N", &n, 0, 10)
	r.Millis("D", &d, 1, 1000)
	r.Float("F", &f, 0, 1)
	r.Bool("B", &b)
	r.Int("M", &n, 0, 10)
	err := r.Err()
	for _, key := range []string{"N", "D", "F", "B", "M"} {
		if err == nil || !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
	if n != 1 || d != time.Second || f != 0.5 || b {
		t.Errorf("a bad value overwrote a default: %d %s %v %v", n, d, f, b)
	}
}

func TestWithDotenvPrefersTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("WEBHOOKD_ENV_TEST_A=file\nWEBHOOKD_ENV_TEST_B=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEBHOOKD_ENV_TEST_A", "env")
	l, err := env.WithDotenv(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := l("WEBHOOKD_ENV_TEST_A"); v != "env" {
		t.Errorf("A = %q, want the environment's value", v)
	}
	if v, _ := l("WEBHOOKD_ENV_TEST_B"); v != "file" {
		t.Errorf("B = %q, want the file's value", v)
	}
	if _, err := env.WithDotenv(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing .env is not an error: %v", err)
	}
}
