package logfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/webhookd/webhookd/internal/logfile"
)

func TestOpenIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "dispatcher.log")
	f, err := logfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one\n")
	f.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("new log file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("new log directory mode %v, want 0700", fi.Mode().Perm())
	}
	// A file left world-readable by an earlier version is tightened, and
	// appended to, not truncated.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = logfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened log file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Errorf("content %q", b)
	}
}
