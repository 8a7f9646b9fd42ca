package wiring

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/logfile"
)

// TestLoggerWritesWarningsAtOnceAndTheRestByCleanup: the service's logger
// writes routine lines behind its callers (logbatch), but a warning, with
// every line before it, is in LOG_FILE when its call returns, and the
// cleanup leaves nothing unwritten.
func TestLoggerWritesWarningsAtOnceAndTheRestByCleanup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatcher.log")
	log, cleanup, err := provideLogger(LogConfig{Level: slog.LevelInfo, File: path, Rotation: logfile.DefaultRotation()})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("routine", slog.Duration("took", 1500*time.Microsecond))
	log.Warn("trouble")
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"msg":"routine"`)) || !bytes.Contains(b, []byte(`"msg":"trouble"`)) {
		t.Fatalf("as the warning returned, LOG_FILE held:\n%s", b)
	}
	if !bytes.Contains(b, []byte(`"took_ms":1.5`)) {
		t.Errorf("the duration is not in milliseconds:\n%s", b)
	}
	for i := range 100 {
		log.Info("later", slog.Int("n", i))
	}
	cleanup()
	b, _ = os.ReadFile(path)
	if n := bytes.Count(b, []byte(`"msg":"later"`)); n != 100 {
		t.Fatalf("after cleanup LOG_FILE holds %d of the 100 routine lines", n)
	}
}
