package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testkit"
)

// Postgres is the throwaway cluster scripts/testdb.sh started for this test
// run (PGTEST_DIR), which a fault test may stop and start again.
type Postgres struct {
	Dir     string
	script  string
	stopped bool
}

// RequirePostgres returns the throwaway cluster, or skips the test when the
// database is not one that testdb.sh started (TEST_DATABASE_URL given from
// outside): stopping somebody else's server is not a test's business.
func RequirePostgres(t testing.TB) *Postgres {
	t.Helper()
	testkit.DatabaseURL(t)
	dir := os.Getenv("PGTEST_DIR")
	if dir == "" {
		t.Skip("PGTEST_DIR is not set: this test stops and restarts the database, so it needs the " +
			"throwaway cluster of scripts/testdb.sh (run `make test-faults` without TEST_DATABASE_URL)")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return &Postgres{Dir: dir, script: filepath.Join(root, "scripts", "testdb.sh")}
}

// Stop shuts the server down fast (sessions terminated, data kept) and
// returns once it is gone. If the test ends before Start, the server is
// started again, so that the tests after it still have a database.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if err := p.run(t, "pgstop"); err != nil {
		t.Fatal(err)
	}
	p.stopped = true
	t.Cleanup(func() {
		if p.stopped {
			if err := p.run(t, "pgstart"); err != nil {
				t.Error(err)
			}
		}
	})
}

// Start starts the server again on its old port and returns once it
// accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := p.run(t, "pgstart"); err != nil {
		t.Fatal(err)
	}
	p.stopped = false
}

func (p *Postgres) run(t testing.TB, cmd string) error {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("bash", p.script, cmd, p.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: testdb.sh %s: %w\n%s", cmd, err, out)
	}
	t.Logf("postgres %s took %s", cmd, time.Since(start).Round(time.Millisecond))
	return nil
}

// ResetPool closes the pool's idle connections. After a database restart
// they are all broken; the next queries then open fresh ones.
func (d *DB) ResetPool() {
	d.SQL.SetMaxIdleConns(0)
	d.SQL.SetMaxIdleConns(2) // database/sql's default
}
