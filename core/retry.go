package core

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// RetryPolicy decides, after each attempt, whether to retry and when.
// It is pure: the random number for jitter comes from the caller.
type RetryPolicy struct {
	Base        time.Duration // delay after the first failure (RETRY_BASE_MS)
	Max         time.Duration // cap on any single delay (RETRY_MAX_BACKOFF_MS)
	MaxAttempts int           // real HTTP attempts before dead (MAX_ATTEMPTS)
	// Jitter spreads each delay uniformly over ±Jitter of itself (0 ≤ Jitter
	// < 1), so a recovering merchant is not hit by a synchronised herd.
	Jitter float64
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is the seed's: 10 attempts, 2 s doubling to at most
// an hour, ±10 % jitter, Retry-After honoured up to an hour.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		Base:          2 * time.Second,
		Max:           time.Hour,
		MaxAttempts:   10,
		Jitter:        0.1,
		MaxRetryAfter: time.Hour,
	}
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	switch {
	case p.Base <= 0:
		return fmt.Errorf("retry base must be positive, got %s", p.Base)
	case p.Max < p.Base:
		return fmt.Errorf("retry cap %s is below the base %s", p.Max, p.Base)
	case p.MaxAttempts < 1:
		return fmt.Errorf("max attempts must be at least 1, got %d", p.MaxAttempts)
	case p.Jitter < 0 || p.Jitter >= 1:
		return fmt.Errorf("jitter must be in [0, 1), got %v", p.Jitter)
	case p.MaxRetryAfter < 0:
		return fmt.Errorf("Retry-After cap must not be negative, got %s", p.MaxRetryAfter)
	}
	return nil
}

// Backoff is the delay after failed attempt n (1-based) before jitter:
// Base·2^(n-1), capped at Max.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	f := float64(p.Base) * math.Pow(2, float64(attempt-1))
	if f >= float64(p.Max) {
		return p.Max
	}
	return time.Duration(f)
}

// Delay is Backoff with jitter; rnd is uniform in [0, 1).
func (p RetryPolicy) Delay(attempt int, rnd float64) time.Duration {
	d := p.Backoff(attempt)
	if p.Jitter == 0 {
		return d
	}
	f := float64(d) * (1 - p.Jitter + 2*p.Jitter*rnd)
	return min(time.Duration(f).Round(time.Millisecond), p.Max)
}

// Decision is what to do with an event after one attempt.
type Decision struct {
	Verdict    Verdict
	Status     Status        // succeeded, pending (retry) or dead
	RetryIn    time.Duration // when Status is pending
	Reason     string        // why, for the attempt history and the log
	StatusCode int           // copied from the outcome
	Error      string        // the outcome's summary ("" on success)
	// Refund gives the attempt back: it does not count against MaxAttempts
	// (a failed probe of a target known to be down, see Outcome.Probe).
	Refund bool
}

// Decide applies the policy to the outcome of attempt n (1-based).
func (p RetryPolicy) Decide(attempt int, o Outcome, rnd float64) Decision {
	d := Decision{StatusCode: o.StatusCode, Error: o.Summary()}
	switch o.Verdict() {
	case VerdictSucceeded:
		d.Verdict, d.Status, d.Reason = VerdictSucceeded, StatusSucceeded, "delivered"
		return d
	case VerdictDead:
		d.Verdict, d.Status, d.Reason = VerdictDead, StatusDead, "410 Gone: the receiver refuses this event"
		return d
	}
	if o.Probe && o.TargetUnhealthy() {
		d.Verdict, d.Status, d.Refund = VerdictRetry, StatusPending, true
		d.RetryIn = p.Delay(attempt, rnd)
		d.Reason = "circuit-breaker probe failed: the target is still down; attempt not counted"
		return d
	}
	if attempt >= p.MaxAttempts {
		d.Verdict, d.Status = VerdictDead, StatusDead
		d.Reason = fmt.Sprintf("max attempts reached (%d of %d)", attempt, p.MaxAttempts)
		return d
	}
	d.Verdict, d.Status = VerdictRetry, StatusPending
	d.RetryIn = p.Delay(attempt, rnd)
	d.Reason = fmt.Sprintf("backoff %s (attempt %d of %d)", d.RetryIn, attempt, p.MaxAttempts)
	if ra := p.retryAfter(o); ra > d.RetryIn {
		d.RetryIn = ra
		d.Reason = fmt.Sprintf("Retry-After %s (attempt %d of %d)", ra, attempt, p.MaxAttempts)
	}
	return d
}

// retryAfter is the receiver's Retry-After, honoured on 429 and 503 only,
// capped.
func (p RetryPolicy) retryAfter(o Outcome) time.Duration {
	if o.StatusCode != http.StatusTooManyRequests && o.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	return min(o.RetryAfter, p.MaxRetryAfter)
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date. It returns 0 for an absent, past or unparsable value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var secs int64
	digits := true
	for _, c := range v {
		if c < '0' || c > '9' {
			digits = false
			break
		}
		secs = secs*10 + int64(c-'0')
		if secs > 1<<31 {
			break
		}
	}
	if digits {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
