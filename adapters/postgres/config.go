package postgres

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config of the PostgreSQL adapter.
type Config struct {
	// DSN, e.g. postgres://user:pass@host:5432/db?sslmode=disable
	// (DATABASE_URL).
	DSN string
	// Schema holds webhookd's tables and bun's migration tables. It is the
	// connections' search_path and names the NOTIFY channel. Default
	// "public". Lower-case letters, digits and '_' only, so that it needs
	// no quoting anywhere.
	Schema string
	// MaxOpenConns caps the pool. Default 20; at least 2, because
	// migrating holds one connection for the advisory lock while bun's
	// migrator uses another.
	MaxOpenConns int
	// ConnectTimeout is how long Open waits for the database to answer
	// (a dispatcher started beside a booting database waits instead of
	// crashing). Default 30s.
	ConnectTimeout time.Duration
	// StatementTimeout, when positive, is every session's
	// statement_timeout. 0 keeps the server's setting.
	StatementTimeout time.Duration
	// ApplicationName shows in pg_stat_activity unless the DSN sets
	// application_name. Default "webhookd".
	ApplicationName string
}

// The notify channel "webhookd:<schema>" (and its ":ping" sibling) must
// stay within PostgreSQL's 63-byte identifier limit, hence the length cap.
var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,48}$`)

// DefaultConfig returns every default but the DSN, which has none.
func DefaultConfig() Config {
	return Config{Schema: "public", MaxOpenConns: 20, ConnectTimeout: 30 * time.Second, ApplicationName: "webhookd"}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Schema = cmp.Or(c.Schema, d.Schema)
	c.MaxOpenConns = cmp.Or(c.MaxOpenConns, d.MaxOpenConns)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, d.ConnectTimeout)
	c.ApplicationName = cmp.Or(c.ApplicationName, d.ApplicationName)
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	if c.DSN == "" {
		return errors.New("postgres: config: DSN is required")
	}
	u, err := url.Parse(c.DSN)
	if err != nil {
		// url's error repeats the DSN, password included: keep it out.
		return errors.New("postgres: config: DSN is not a valid URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "unix" {
		return fmt.Errorf("postgres: config: DSN scheme %q: want postgres://", u.Scheme)
	}
	if !schemaRE.MatchString(c.Schema) {
		return fmt.Errorf("postgres: config: schema %q: want 1-49 of [a-z0-9_], not starting with a digit", c.Schema)
	}
	if c.MaxOpenConns < 2 {
		return fmt.Errorf("postgres: config: MaxOpenConns %d: want at least 2", c.MaxOpenConns)
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("postgres: config: ConnectTimeout %s: must not be negative", c.ConnectTimeout)
	}
	if c.StatementTimeout < 0 {
		return fmt.Errorf("postgres: config: StatementTimeout %s: must not be negative", c.StatementTimeout)
	}
	return nil
}

// Channel is the NOTIFY channel of cfg.Schema. The insert trigger in
// migrations builds the same name from TG_TABLE_SCHEMA.
func (c Config) Channel() string {
	c.setDefaults()
	return "webhookd:" + c.Schema
}

func (c Config) pingChannel() string { return c.Channel() + ":ping" }
