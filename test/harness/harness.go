// Package harness drives webhookd's real binaries in tests: it builds
// bin/dispatcher and bin/mock-receiver once per test binary, starts them as
// processes on 127.0.0.1 with a database of their own (a PostgreSQL schema
// or a SQLite file, see DB), and talks to them over HTTP and SQL. The end-to-end tests (cmd/dispatcher)
// and the fault suite (test/faults) share it.
package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Secret is the HMAC secret every harness process shares.
const Secret = "whsec_aGFybmVzcy1zZWNyZXQtZm9yLXdlYmhvb2tkLXRlc3Rz"

var build struct {
	once sync.Once
	dir  string
	err  error
}

// Binaries are the built commands.
type Binaries struct {
	Dispatcher, Receiver string
}

// Build compiles the dispatcher and the mock receiver once per test
// binary (with -race when the test itself runs under it, see race.go).
// Under -short it skips the test: real binaries are not unit tests.
func Build(t testing.TB) Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that builds and runs the real binaries")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "webhookd-bin-")
		if build.err != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		for _, cmd := range []string{"dispatcher", "mock-receiver"} {
			args := []string{"build", "-o", filepath.Join(build.dir, cmd)}
			if raceEnabled {
				args = append(args, "-race")
			}
			c := exec.Command("go", append(args, "./cmd/"+cmd)...)
			c.Dir = root
			if out, err := c.CombinedOutput(); err != nil {
				build.err = fmt.Errorf("go build %s: %v\n%s", cmd, err, out)
				return
			}
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return Binaries{Dispatcher: filepath.Join(build.dir, "dispatcher"), Receiver: filepath.Join(build.dir, "mock-receiver")}
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("harness: cannot locate the module root")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
