package logfmt_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/logfmt"
)

func TestDurationsAreLoggedInMilliseconds(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, logfmt.Options(slog.LevelInfo)))
	log.Info("done",
		slog.Duration("took", 1500*time.Microsecond),
		slog.Duration("retry_in_ms", 2*time.Second),
		slog.Any("wait", 250*time.Millisecond),
		slog.Group("probe", slog.Duration("rtt", 1234567*time.Nanosecond)),
		slog.Int64("count", 7))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	for key, want := range map[string]any{
		"took_ms": 1.5, "retry_in_ms": 2000.0, "wait_ms": 250.0, "count": 7.0,
	} {
		if m[key] != want {
			t.Errorf("%s = %v, want %v (line %s)", key, m[key], want, buf.String())
		}
	}
	if probe, _ := m["probe"].(map[string]any); probe["rtt_ms"] != 1.235 {
		t.Errorf("probe.rtt_ms = %v, want 1.235 (line %s)", probe["rtt_ms"], buf.String())
	}
	for _, key := range []string{"took", "wait", "retry_in_ms_ms"} {
		if _, ok := m[key]; ok {
			t.Errorf("key %s present (line %s)", key, buf.String())
		}
	}
}

func TestMillis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		d    time.Duration
		want float64
	}{
		{"zero", 0, 0},
		{"nanoseconds round to the microsecond", 1499 * time.Nanosecond, 0.001},
		{"whole", 3 * time.Second, 3000},
		{"negative", -2500 * time.Microsecond, -2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := logfmt.Millis(tc.d); got != tc.want {
				t.Errorf("Millis(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}
