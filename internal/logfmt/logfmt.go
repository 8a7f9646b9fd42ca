// Package logfmt is what every JSON logger of ours shares, the
// dispatcher's and the mock receiver's alike: durations in milliseconds.
package logfmt

import (
	"log/slog"
	"math"
	"strings"
	"time"
)

// Options are the handler options of our JSON loggers, at level.
func Options(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: ReplaceAttr}
}

// ReplaceAttr, a slog.HandlerOptions.ReplaceAttr, writes every
// time.Duration attribute in milliseconds (a number, to the microsecond)
// instead of slog's integer nanoseconds, and names the unit: a duration
// "took" becomes "took_ms"; a key that already ends in _ms is kept.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Float64(key, Millis(a.Value.Duration()))
}

// Millis is d in milliseconds, rounded to the microsecond.
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
