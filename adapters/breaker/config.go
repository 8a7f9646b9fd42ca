package breaker

import (
	"fmt"
	"time"
)

// Config tunes the per-target breakers. Zero fields take their defaults.
type Config struct {
	// Failures is how many consecutive unhealthy attempts trip a target's
	// breaker (BREAKER_FAILURES); default 5.
	Failures int
	// OpenFor is how long a tripped breaker refuses requests before it
	// lets one probe through (BREAKER_OPEN_MS); default 30s.
	OpenFor time.Duration
	// IdleTTL: a closed breaker unused this long is forgotten; default 10m.
	IdleTTL time.Duration
	// MaxTargets caps the registry: past it, closed breakers are evicted,
	// idle ones first, least recently used next. Open and half-open ones
	// are never evicted, so the cap can be exceeded while they are many.
	// Default 100000.
	MaxTargets int
	// ProbeWait is how long requests are deferred while a half-open
	// target's single probe is in flight; default 1s.
	ProbeWait time.Duration
}

const (
	defaultFailures   = 5
	defaultOpenFor    = 30 * time.Second
	defaultIdleTTL    = 10 * time.Minute
	defaultMaxTargets = 100_000
	defaultProbeWait  = time.Second
)

func (c *Config) setDefaults() {
	if c.Failures == 0 {
		c.Failures = defaultFailures
	}
	if c.OpenFor == 0 {
		c.OpenFor = defaultOpenFor
	}
	if c.IdleTTL == 0 {
		c.IdleTTL = defaultIdleTTL
	}
	if c.MaxTargets == 0 {
		c.MaxTargets = defaultMaxTargets
	}
	if c.ProbeWait == 0 {
		c.ProbeWait = defaultProbeWait
	}
}

// Validate reports a configuration that cannot work. Zero fields are
// valid: they mean "default".
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
