package sqlite

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultPath is where the store lives when DATABASE_URL is unset,
// relative to the working directory.
const DefaultPath = "data/webhookd.db"

// Config of the SQLite store.
type Config struct {
	// Path of the database file. Its directory is created (0700) and the
	// file too (0600); the WAL and shared-memory files beside it take the
	// file's mode.
	Path string
	// BusyTimeout is how long a statement waits for a lock held by a
	// checkpoint or a stray reader before failing. Default 5s.
	BusyTimeout time.Duration
	// MaxReaders caps the connections that serve reads. Default 4.
	MaxReaders int
}

// DefaultConfig returns every default, the path included.
func DefaultConfig() Config {
	return Config{Path: DefaultPath, BusyTimeout: 5 * time.Second, MaxReaders: 4}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Path = cmp.Or(c.Path, d.Path)
	c.BusyTimeout = cmp.Or(c.BusyTimeout, d.BusyTimeout)
	c.MaxReaders = cmp.Or(c.MaxReaders, d.MaxReaders)
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	// The path goes into a file: URI for the driver, where these would be
	// read as the start of its query or fragment.
	if strings.ContainsAny(c.Path, "?#") {
		return fmt.Errorf("sqlite: config: path %q: must not contain '?' or '#'", c.Path)
	}
	if c.BusyTimeout < 0 {
		return fmt.Errorf("sqlite: config: BusyTimeout %s: must not be negative", c.BusyTimeout)
	}
	if c.MaxReaders < 1 {
		return fmt.Errorf("sqlite: config: MaxReaders %d: want at least 1", c.MaxReaders)
	}
	return nil
}

// PathFromURL returns the file a DATABASE_URL of the sqlite scheme names:
// sqlite:///abs/path.db (absolute) or sqlite:relative/path.db (relative to
// the working directory).
func PathFromURL(url string) (string, error) {
	rest, ok := strings.CutPrefix(url, "sqlite:")
	if !ok {
		return "", fmt.Errorf("sqlite: %q is not a sqlite: URL", url)
	}
	switch {
	case strings.HasPrefix(rest, "///"):
		rest = rest[2:] // sqlite:///abs → /abs
	case strings.HasPrefix(rest, "//"):
		return "", errors.New("sqlite: URL has a host part: write sqlite:///absolute/path.db or sqlite:relative/path.db")
	}
	if rest == "" || strings.HasSuffix(rest, "/") {
		return "", fmt.Errorf("sqlite: URL %q names no file: write sqlite:///absolute/path.db or sqlite:relative/path.db", url)
	}
	return rest, nil
}
