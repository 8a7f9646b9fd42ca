package receiver

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenLogAppendsToFileAndStdout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "logs", "mock-receiver.log")
	var stdout bytes.Buffer
	for i := range 2 { // a restart appends, it does not truncate
		log, closeLog, err := openLog(path, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("webhook", "event_id", "evt", "attempt", i+1, "decision", decisionAccepted)
		closeLog()
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Fatalf("log file has %d lines, want 2:\n%s", len(lines), raw)
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m["attempt"] != float64(i+1) || m["decision"] != "ACCEPTED" || m["event_id"] != "evt" {
			t.Errorf("line %d = %v", i, m)
		}
	}
	if stdout.String() != string(raw) {
		t.Errorf("stdout got %q, file %q", stdout.String(), raw)
	}
}
