package logfile_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/logfile"
)

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func TestOpenIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "dispatcher.log")
	f, err := logfile.Open(path, logfile.DefaultRotation())
	if err != nil {
		t.Fatal(err)
	}
	// The file exists, private, before the first line.
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new log file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	write(t, f, "one\n")
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
	f, err = logfile.Open(path, logfile.DefaultRotation())
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "two\n")
	f.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened log file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Errorf("content %q", b)
	}
}

func TestOpenFailsOnAnUnwritablePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := logfile.Open(dir, logfile.DefaultRotation()); err == nil || !strings.Contains(err.Error(), "LOG_FILE") {
		t.Errorf("a directory as LOG_FILE: err = %v, want one naming LOG_FILE", err)
	}
}

func TestRotationIsValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rot  logfile.Rotation
		key  string
	}{
		{"no size", logfile.Rotation{MaxMB: 0}, "LOG_FILE_MAX_MB"},
		{"negative backups", logfile.Rotation{MaxMB: 1, MaxBackups: -1}, "LOG_FILE_MAX_BACKUPS"},
		{"negative age", logfile.Rotation{MaxMB: 1, MaxAgeDays: -1}, "LOG_FILE_MAX_AGE_DAYS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := logfile.Open(filepath.Join(t.TempDir(), "x.log"), tc.rot)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
	if err := logfile.DefaultRotation().Validate(); err != nil {
		t.Errorf("the default: %v", err)
	}
}

// backups lists the rotated files next to path.
func backups(t *testing.T, path string) []string {
	t.Helper()
	all, err := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*.log")
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// The file rotates when it would pass MaxMB; rotated files stay 0600 (even
// when the file was 0644 before we opened it) and beyond MaxBackups the
// oldest are deleted.
func TestOpenRotatesAtTheSize(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "dispatcher.log")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	f, err := logfile.Open(path, logfile.Rotation{MaxMB: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := strings.Repeat("x", 1023) + "\n" // 1 KiB
	chunk := strings.Repeat(line, 256)       // 256 KiB
	for range 3 {                            // 768 KiB (and "old"): no rotation yet
		write(t, f, chunk)
	}
	if got := backups(t, path); len(got) != 0 {
		t.Fatalf("rotated below the size: %v", got)
	}
	write(t, f, chunk) // would pass 1 MiB: rotates first
	got := backups(t, path)
	if len(got) != 1 {
		t.Fatalf("backups after passing 1 MiB: %v, want 1", got)
	}
	if b, _ := os.ReadFile(got[0]); !bytes.HasPrefix(b, []byte("old\n")) || len(b) != 4+3*len(chunk) {
		t.Errorf("backup holds %d bytes, want the old content and 3 chunks", len(b))
	}
	if b, _ := os.ReadFile(path); string(b) != chunk {
		t.Errorf("current file holds %d bytes, want the last chunk", len(b))
	}

	// Two more rotations: three backups made, two kept. Backup names carry
	// the time to the millisecond, so rotations are spaced.
	for range 2 {
		time.Sleep(5 * time.Millisecond)
		for range 4 {
			write(t, f, chunk)
		}
	}
	deadline := time.Now().Add(5 * time.Second) // old backups are deleted in the background
	for len(backups(t, path)) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got = backups(t, path)
	if len(got) != 2 {
		t.Fatalf("backups = %v, want the 2 newest (MaxBackups)", got)
	}
	for _, p := range append(got, path) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", filepath.Base(p), err, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("log directory mode %v, want 0700", fi.Mode().Perm())
	}
}
