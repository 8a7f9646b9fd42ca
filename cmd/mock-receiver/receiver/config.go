package receiver

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/env"
)

// Config drives the receiver. Every field maps to one environment variable
// (named in the comment); LoadConfig reads them. The zero value of each
// chaos knob means "no chaos", so an in-process test can build
// Config{Secret: s} and get a well-behaved receiver, while LoadConfig
// starts from DefaultConfig, the seed's odds.
type Config struct {
	Port         int      // MOCK_RECEIVER_PORT
	Secret       string   // HMAC_SECRET: required, strong unless DEV_MODE (which defaults it to the seed's public example)
	ExtraSecrets []string // HMAC_EXTRA_SECRETS, comma-separated; accepted too (rotation)
	// UsingSeedSecret reports that HMAC_SECRET was unset under DEV_MODE and
	// the seed's public example secret (signing.SeedExampleSecret) is used.
	UsingSeedSecret bool

	FailFirstN    int     // FAIL_FIRST_N: the first N requests per event id answer 500
	FirstHangRate float64 // FIRST_HANG_RATE: share of those that hang first

	MinDelay time.Duration // MIN_DELAY_MS: random sleep before every chaos answer …
	MaxDelay time.Duration // MAX_DELAY_MS: … drawn uniformly from [MinDelay, MaxDelay]

	FailRate float64       // FAIL_RATE: after FailFirstN, share answered 500 at once
	HangRate float64       // HANG_RATE: share that hang for Hang, then answer 500
	Hang     time.Duration // HANG_MS

	SignatureTolerance time.Duration // SIGNATURE_TOLERANCE_MS: webhook-timestamp skew allowed
	LogFile            string        // LOG_FILE: JSON log lines are appended here too

	// Rand returns numbers in [0, 1); it must be safe for concurrent use.
	// nil means math/rand/v2.Float64. Tests inject a scripted one.
	Rand func() float64
}

// DefaultConfig returns the seed receiver's behaviour: 5 forced failures per
// event (20 % of them after a 12 s hang), a 200–2000 ms sleep before every
// answer, then 40 % → 500, 30 % → 12 s hang and 500, 30 % → 200.
func DefaultConfig() Config {
	return Config{
		Port:               3001,
		FailFirstN:         5,
		FirstHangRate:      0.2,
		MinDelay:           200 * time.Millisecond,
		MaxDelay:           2000 * time.Millisecond,
		FailRate:           0.4,
		HangRate:           0.3,
		Hang:               12 * time.Second,
		SignatureTolerance: signing.DefaultTimestampTolerance,
	}
}

// setDefaults fills the fields whose zero value is meaningless.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	c.Port = cmp.Or(c.Port, d.Port)
	c.Hang = cmp.Or(c.Hang, d.Hang)
	c.SignatureTolerance = cmp.Or(c.SignatureTolerance, d.SignatureTolerance)
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// Validate reports the first invalid field, naming its environment variable.
func (c *Config) Validate() error {
	if c.Secret == "" {
		return errors.New("receiver: config: HMAC_SECRET is required")
	}
	if _, err := signing.NewVerifier(append([]string{c.Secret}, c.ExtraSecrets...)...); err != nil {
		return fmt.Errorf("receiver: config: HMAC_SECRET or HMAC_EXTRA_SECRETS: %w", err)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("receiver: config: MOCK_RECEIVER_PORT must be 1–65535, got %d", c.Port)
	}
	if c.FailFirstN < 0 {
		return fmt.Errorf("receiver: config: FAIL_FIRST_N must be ≥ 0, got %d", c.FailFirstN)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"FIRST_HANG_RATE", c.FirstHangRate}, {"FAIL_RATE", c.FailRate}, {"HANG_RATE", c.HangRate}} {
		if r.v < 0 || r.v > 1 || r.v != r.v { // r.v != r.v catches NaN
			return fmt.Errorf("receiver: config: %s must be between 0 and 1, got %v", r.name, r.v)
		}
	}
	if c.FailRate+c.HangRate > 1 {
		return fmt.Errorf("receiver: config: FAIL_RATE + HANG_RATE must be ≤ 1, got %v + %v", c.FailRate, c.HangRate)
	}
	if c.MinDelay < 0 {
		return fmt.Errorf("receiver: config: MIN_DELAY_MS must be ≥ 0, got %d", c.MinDelay.Milliseconds())
	}
	if c.MaxDelay < c.MinDelay {
		return fmt.Errorf("receiver: config: MAX_DELAY_MS (%d) must be ≥ MIN_DELAY_MS (%d)",
			c.MaxDelay.Milliseconds(), c.MinDelay.Milliseconds())
	}
	if c.Hang <= 0 {
		return fmt.Errorf("receiver: config: HANG_MS must be > 0, got %d", c.Hang.Milliseconds())
	}
	if c.SignatureTolerance <= 0 {
		return fmt.Errorf("receiver: config: SIGNATURE_TOLERANCE_MS must be > 0, got %d", c.SignatureTolerance.Milliseconds())
	}
	return nil
}

// LoadConfig reads the environment through lookup (os.LookupEnv in main),
// starting from DefaultConfig. Errors name the offending variable.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	r := env.NewReader(lookup)
	var dev bool
	r.Bool("DEV_MODE", &dev)
	r.String("HMAC_SECRET", &c.Secret)
	r.List("HMAC_EXTRA_SECRETS", &c.ExtraSecrets)
	// The same rule as the dispatcher's, so the two agree: a weak secret is
	// refused unless DEV_MODE, which falls back to the seed's example.
	switch {
	case c.Secret == "" && dev:
		c.Secret = signing.SeedExampleSecret
		c.UsingSeedSecret = true
	case c.Secret == "":
		r.Fail("HMAC_SECRET", "is required: the dispatcher's signing secret (DEV_MODE=true falls back to the seed's public example)")
	}
	for i, secret := range append([]string{c.Secret}, c.ExtraSecrets...) {
		if err := signing.CheckSecret(secret); err != nil && secret != "" && (!dev || !errors.Is(err, signing.ErrWeakSecret)) {
			name := "HMAC_SECRET"
			if i > 0 {
				name = fmt.Sprintf("HMAC_EXTRA_SECRETS (entry %d)", i)
			}
			r.Fail(name, "%v (DEV_MODE=true allows weak secrets on a development machine)", err)
		}
	}
	r.Int("MOCK_RECEIVER_PORT", &c.Port, 1, 65535)
	r.Int("FAIL_FIRST_N", &c.FailFirstN, 0, math.MaxInt32)
	r.Float("FIRST_HANG_RATE", &c.FirstHangRate, 0, 1)
	r.Millis("MIN_DELAY_MS", &c.MinDelay, 0, maxMS)
	r.Millis("MAX_DELAY_MS", &c.MaxDelay, 0, maxMS)
	r.Float("FAIL_RATE", &c.FailRate, 0, 1)
	r.Float("HANG_RATE", &c.HangRate, 0, 1)
	r.Millis("HANG_MS", &c.Hang, 1, maxMS)
	r.Millis("SIGNATURE_TOLERANCE_MS", &c.SignatureTolerance, 1, maxMS)
	r.String("LOG_FILE", &c.LogFile)
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("receiver: config:\n%w", err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// maxMS bounds millisecond knobs (a day) so that they cannot overflow.
const maxMS = 24 * 60 * 60 * 1000
