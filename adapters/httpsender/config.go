package httpsender

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/webhookd/webhookd/core"
)

// Config tunes the HTTP client. Zero fields take DefaultConfig's values.
type Config struct {
	// Timeout bounds the whole attempt: dial, TLS, writing the request,
	// waiting for headers and reading the response body (HTTP_TIMEOUT_MS);
	// default 10 s, the seed's.
	Timeout time.Duration
	// UserAgent is sent on every request; default "webhookd".
	UserAgent string
	// MaxIdleConnsPerHost is the keep-alive pool per target; default 32.
	MaxIdleConnsPerHost int
	// Addresses decides which addresses deliveries may reach. It is
	// applied to every IP actually dialled, so a DNS answer that changes
	// after validation (rebinding) cannot bypass it. The zero value allows
	// only globally reachable addresses.
	Addresses core.AddressPolicy
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Timeout: 10 * time.Second, UserAgent: "webhookd", MaxIdleConnsPerHost: 32}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.UserAgent = cmp.Or(c.UserAgent, d.UserAgent)
	c.MaxIdleConnsPerHost = cmp.Or(c.MaxIdleConnsPerHost, d.MaxIdleConnsPerHost)
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("httpsender: timeout must be positive, got %s", c.Timeout)
	case c.MaxIdleConnsPerHost < 0:
		return fmt.Errorf("httpsender: max idle connections per host must not be negative, got %d", c.MaxIdleConnsPerHost)
	case c.Addresses.SelfPort < 0 || c.Addresses.SelfPort > 65535:
		return fmt.Errorf("httpsender: self port must be 0 to 65535, got %d", c.Addresses.SelfPort)
	case strings.ContainsFunc(c.UserAgent, unicode.IsControl):
		// net/http would refuse every request with such a header; fail at start instead.
		return errors.New("httpsender: user agent must not contain control characters")
	}
	return nil
}
