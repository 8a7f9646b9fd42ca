package core

import (
	"fmt"
	"net/http"
	"time"
)

// Request is what a Sender needs for one attempt.
type Request struct {
	EventID   EventID
	TargetURL string
	Origin    string
	Body      []byte
	Attempt   int // 1-based attempt number, for headers and logs
	// Keys sign an endpoint delivery: the endpoint's secret keys in the
	// clear, current first (then the previous one during a rotation's
	// grace). Empty for a target_url delivery, signed with HMAC_SECRET.
	Keys [][]byte
}

// Outcome is what happened on one HTTP attempt. It is a value, not an
// error: a 500 or a refused connection is a normal, recorded result.
type Outcome struct {
	StatusCode int // 0 when no response was received
	// Err describes a failure to get a response (connection refused, TLS,
	// timeout, body cut off). "" when a full response arrived.
	Err     string
	Timeout bool // the attempt hit its deadline
	// Stalled means the deadline fired long after it was due, because this
	// process was frozen (SIGSTOP, a paused VM) or starved of CPU. The
	// attempt still failed and is retried, but it says nothing about the
	// target, so it must not trip the target's circuit breaker.
	Stalled bool
	// Probe marks a circuit breaker's half-open probe of a target known to
	// be down. If it fails that way, it only confirms the outage, so it must
	// not spend the event's attempt budget (or the probe event would die of
	// an outage that parking protects the others from).
	Probe    bool
	Duration time.Duration
	Response string // first bytes of the response body (≤ 1 KiB)
	// RetryAfter is the receiver's Retry-After (429/503), already converted
	// to a duration; 0 when absent or unparsable.
	RetryAfter time.Duration
}

// Verdict classifies an outcome.
type Verdict string

const (
	VerdictSucceeded Verdict = "succeeded"
	VerdictRetry     Verdict = "retry"
	VerdictDead      Verdict = "dead"
	// VerdictLost marks an attempt whose worker vanished before recording
	// an outcome (its lease expired).
	VerdictLost Verdict = "lost"
	// VerdictExpired marks a delivery given up without a request: it was
	// not delivered within the maximum age (MAX_DELIVERY_AGE_MS).
	VerdictExpired Verdict = "expired"
)

// Succeeded reports whether a full 2xx response arrived.
func (o Outcome) Succeeded() bool {
	return o.Err == "" && o.StatusCode >= 200 && o.StatusCode < 300
}

// Gone reports whether the receiver answered 410: it does not want this
// event, ever.
func (o Outcome) Gone() bool { return o.Err == "" && o.StatusCode == http.StatusGone }

// Verdict ignores the attempt budget: 2xx succeeds, 410 is dead at once and
// everything else (other 4xx, 5xx, 3xx since redirects are not followed,
// timeouts, connection errors) is worth retrying.
func (o Outcome) Verdict() Verdict {
	switch {
	case o.Succeeded():
		return VerdictSucceeded
	case o.Gone():
		return VerdictDead
	}
	return VerdictRetry
}

// TargetUnhealthy reports whether the outcome says the target itself is in
// trouble, which is what a circuit breaker counts: no response, a timeout,
// a 5xx or a 429. Any other answer (2xx, 3xx, 4xx) proves it is up, and a
// stalled attempt proves nothing.
func (o Outcome) TargetUnhealthy() bool {
	if o.Stalled {
		return false
	}
	return o.Err != "" || o.StatusCode >= 500 || o.StatusCode == http.StatusTooManyRequests
}

// Summary is a short human description for logs and LastError.
func (o Outcome) Summary() string {
	switch {
	case o.Err != "" && o.StatusCode != 0:
		return fmt.Sprintf("status %d: %s", o.StatusCode, o.Err)
	case o.Err != "":
		return o.Err
	case o.Succeeded():
		return ""
	default:
		return fmt.Sprintf("status %d", o.StatusCode)
	}
}
