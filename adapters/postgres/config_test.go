package postgres

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://u:secret@db:5432/webhookd?sslmode=disable"
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{DSN: dsn}, ""},
		{"schema", Config{DSN: dsn, Schema: "tenant_7"}, ""},
		{"no dsn", Config{}, "DSN is required"},
		{"bad scheme", Config{DSN: "mysql://db/x"}, "scheme"},
		{"unparsable dsn keeps password out", Config{DSN: "postgres://u:secret@db:bad port/x"}, "not a valid URL"},
		{"upper-case schema", Config{DSN: dsn, Schema: "Tenant"}, "schema"},
		{"quoted schema", Config{DSN: dsn, Schema: `a"b`}, "schema"},
		{"long schema", Config{DSN: dsn, Schema: strings.Repeat("s", 50)}, "schema"},
		{"one connection", Config{DSN: dsn, MaxOpenConns: 1}, "MaxOpenConns"},
		{"negative connect timeout", Config{DSN: dsn, ConnectTimeout: -time.Second}, "ConnectTimeout"},
		{"negative statement timeout", Config{DSN: dsn, StatementTimeout: -time.Second}, "StatementTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want an error about %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestConfigDefaultsAndChannel(t *testing.T) {
	t.Parallel()
	var c Config
	c.setDefaults()
	if c.Schema != "public" || c.MaxOpenConns != 20 || c.ConnectTimeout != 30*time.Second || c.StatementTimeout != 0 {
		t.Errorf("defaults = %+v", c)
	}
	if got := (Config{Schema: "t_1"}).Channel(); got != "webhookd:t_1" {
		t.Errorf("Channel = %q", got)
	}
	// The longest valid schema still yields channel names PostgreSQL keeps
	// whole (identifiers are cut at 63 bytes).
	long := Config{Schema: strings.Repeat("s", 49)}
	if n := len(long.pingChannel()); n > 63 {
		t.Errorf("ping channel of a 49-byte schema is %d bytes", n)
	}
}
