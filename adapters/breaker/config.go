package breaker

import (
	"cmp"
	"fmt"
	"time"
)

// Config tunes the per-target breakers. Zero fields take DefaultConfig's
// values.
type Config struct {
	// Failures is how many consecutive unhealthy attempts trip a target's
	// breaker (BREAKER_FAILURES); default 5.
	Failures int
	// OpenFor is how long a tripped breaker refuses requests before it
	// lets one probe through (BREAKER_OPEN_MS); default 30s.
	OpenFor time.Duration
	// IdleTTL is how long a closed breaker may go unused before it is
	// forgotten; default 10m.
	IdleTTL time.Duration
	// MaxTargets caps the registry: past it, closed breakers are evicted,
	// idle ones first, least recently used next. Open and half-open ones
	// are never evicted, so the cap can be exceeded while they are many.
	// Default 100000.
	MaxTargets int
	// ProbeWait is how long a target is parked while a half-open
	// target's single probe is in flight; default 1s.
	ProbeWait time.Duration
}

// DefaultConfig returns the defaults: trip after 5 consecutive failures,
// probe every 30 s.
func DefaultConfig() Config {
	return Config{
		Failures:   5,
		OpenFor:    30 * time.Second,
		IdleTTL:    10 * time.Minute,
		MaxTargets: 100_000,
		ProbeWait:  time.Second,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Failures = cmp.Or(c.Failures, d.Failures)
	c.OpenFor = cmp.Or(c.OpenFor, d.OpenFor)
	c.IdleTTL = cmp.Or(c.IdleTTL, d.IdleTTL)
	c.MaxTargets = cmp.Or(c.MaxTargets, d.MaxTargets)
	c.ProbeWait = cmp.Or(c.ProbeWait, d.ProbeWait)
}

// Validate reports a configuration that cannot work. Zero fields are
// valid: they take the defaults.
func (c Config) Validate() error {
	switch {
	case c.Failures < 0:
		return fmt.Errorf("breaker: failures must be positive, got %d", c.Failures)
	case c.OpenFor < 0:
		return fmt.Errorf("breaker: open duration must be positive, got %s", c.OpenFor)
	case c.IdleTTL < 0:
		return fmt.Errorf("breaker: idle TTL must be positive, got %s", c.IdleTTL)
	case c.MaxTargets < 0:
		return fmt.Errorf("breaker: max targets must be positive, got %d", c.MaxTargets)
	case c.ProbeWait < 0:
		return fmt.Errorf("breaker: probe wait must be positive, got %s", c.ProbeWait)
	}
	return nil
}
