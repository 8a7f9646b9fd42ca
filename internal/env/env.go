// Package env reads typed settings from environment variables, for the
// dispatcher and the mock receiver alike.
//
// A Reader overwrites a destination only when its variable is set to a
// non-blank value, so every default lives with the component that owns the
// setting (its Config's defaults), never here or in the caller. A value
// that does not parse, or is out of range, is recorded as an error naming
// the variable, and Err reports every such error at once, so a bad
// deployment learns of all its mistakes in one start.
package env

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

// Lookup reads one variable, like os.LookupEnv.
type Lookup func(key string) (string, bool)

// Reader reads variables through a Lookup and collects errors.
type Reader struct {
	lookup Lookup
	errs   []error
}

// NewReader returns a Reader over lookup.
func NewReader(lookup Lookup) *Reader { return &Reader{lookup: lookup} }

// Value returns key's value with surrounding white space removed, and
// whether it is set to something other than blanks.
func (r *Reader) Value(key string) (string, bool) {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Fail records an error about key.
func (r *Reader) Fail(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Err joins every recorded error; nil when there is none.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// String sets *dst to key's value.
func (r *Reader) String(key string, dst *string) {
	if v, ok := r.Value(key); ok {
		*dst = v
	}
}

// Int sets *dst to key's value, a whole number in [lo, hi].
func (r *Reader) Int(key string, dst *int, lo, hi int) {
	v, ok := r.Value(key)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Fail(key, "%q is not a whole number from %d to %d", v, lo, hi)
		return
	}
	*dst = n
}

// Millis sets *dst to key's value, a whole number of milliseconds in
// [loMS, hiMS].
func (r *Reader) Millis(key string, dst *time.Duration, loMS, hiMS int) {
	n := -1
	r.Int(key, &n, loMS, hiMS)
	if n >= loMS {
		*dst = time.Duration(n) * time.Millisecond
	}
}

// Float sets *dst to key's value, a number in [lo, hi].
func (r *Reader) Float(key string, dst *float64, lo, hi float64) {
	v, ok := r.Value(key)
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= lo && f <= hi) { // the negation also catches NaN
		r.Fail(key, "%q is not a number from %v to %v", v, lo, hi)
		return
	}
	*dst = f
}

// Bool sets *dst to key's value: true/false, 1/0, t/f in any case.
func (r *Reader) Bool(key string, dst *bool) {
	v, ok := r.Value(key)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Fail(key, "%q is not true or false", v)
		return
	}
	*dst = b
}

// List sets *dst to key's comma-separated items, blanks dropped.
func (r *Reader) List(key string, dst *[]string) {
	v, ok := r.Value(key)
	if !ok {
		return
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*dst = out
}

// WithDotenv returns a Lookup over the process environment that falls back
// to the variables of the dotenv file at path when it exists (the seed
// reads ./.env). The real environment wins, as with dotenv.
func WithDotenv(path string) (Lookup, error) {
	file, err := godotenv.Read(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("env: read %s: %w", path, err)
		}
		file = nil
	}
	return func(key string) (string, bool) {
		if v, ok := os.LookupEnv(key); ok {
			return v, true
		}
		v, ok := file[key]
		return v, ok
	}, nil
}
