// Package breaker is a ports.Sender decorator with one circuit breaker
// (sony/gobreaker v2) per target origin. A target that keeps failing is
// refused with *core.TargetOpenError for a while, so the worker parks its
// events without spending attempts, and a merchant offline for hours costs
// one probe per open interval instead of thousands of requests.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var (
	_ ports.Sender     = (*Sender)(nil)
	_ ports.TargetGate = (*Sender)(nil)
)

var (
	// errUnhealthy tells gobreaker that an attempt was made and the target
	// answered badly (core.Outcome.TargetUnhealthy).
	errUnhealthy = errors.New("breaker: target unhealthy")
	// errPanicked is reported when the next Sender panics, so a half-open
	// probe slot is never leaked (that would refuse the target forever).
	errPanicked = errors.New("breaker: next sender panicked")
)

// Sender refuses requests to targets whose breaker is open and counts the
// health of every attempt it lets through. It is safe for concurrent use.
//
// State changes are logged and reported to ports.Metrics by the Send that
// caused them, once outside gobreaker's lock; no goroutine is needed.
type Sender struct {
	next    ports.Sender
	cfg     Config
	clock   ports.Clock
	metrics ports.Metrics
	log     *slog.Logger

	reg     *registry
	changes changeLog
}

// NewSender wraps next. Zero fields of cfg take DefaultConfig's values; an
// invalid cfg, or a missing next, clock or metrics, is an error. A nil log
// discards.
func NewSender(next ports.Sender, cfg Config, clock ports.Clock, metrics ports.Metrics, log *slog.Logger) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if next == nil || clock == nil || metrics == nil {
		return nil, errors.New("breaker: a sender needs the next sender, a clock and metrics")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{next: next, cfg: cfg, clock: clock, metrics: metrics, log: log, reg: newRegistry(cfg)}, nil
}

// Send passes d to the next Sender unless the target's breaker refuses it,
// in which case no request is made and the error is a
// *core.TargetOpenError. next's outcome and error are returned unchanged.
func (s *Sender) Send(ctx context.Context, d core.Request) (out core.Outcome, err error) {
	e := s.reg.acquire(d.Origin, s.clock.Now(), s.newBreaker)
	defer s.changes.flush(s.log, s.metrics)
	defer e.inflight.Add(-1)

	done, err := e.cb.Allow()
	if err != nil {
		return core.Outcome{}, s.refusal(e, err)
	}
	// With MaxRequests 1, the one request let through while half-open is
	// the probe: it tests the target, and its failure says the target is
	// still down, not that this event is bad (see core.Outcome.Probe).
	probe := e.state() == gobreaker.StateHalfOpen
	// Report open → half-open now, not when the probe returns.
	s.changes.flush(s.log, s.metrics)
	health := errPanicked
	defer func() { done(health) }()
	out, err = s.next.Send(ctx, d)
	health = classify(out, err)
	out.Probe = probe && err == nil
	return out, err
}

// classify turns one attempt into what gobreaker counts: nil is a success,
// context.Canceled is excluded (see newBreaker), anything else a failure.
// A per-request timeout arrives as an unhealthy outcome or a
// DeadlineExceeded error and counts.
func classify(out core.Outcome, err error) error {
	switch {
	case err != nil:
		return err
	case out.TargetUnhealthy():
		return errUnhealthy
	}
	return nil
}

// refusal builds the error for a request the breaker did not allow.
func (s *Sender) refusal(e *entry, err error) error {
	now := s.clock.Now()
	var until time.Time
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		until = e.openUntil(s.cfg.OpenFor)
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		until = now.Add(s.cfg.ProbeWait) // the probe is in flight; ask again soon
	default:
		return fmt.Errorf("breaker: allow %s: %w", e.origin, err)
	}
	// gobreaker times with the wall clock, openedAt with the injected one.
	// Should they disagree, never park into the past: that is a hot loop.
	if !until.After(now) {
		until = now.Add(s.cfg.ProbeWait)
	}
	return &core.TargetOpenError{Target: e.origin, Until: until}
}

// OpenUntil implements ports.TargetGate: true while origin's breaker is
// open (until it half-opens) or half-open with its probe in flight. It
// never creates a breaker nor moves one to another state.
func (s *Sender) OpenUntil(origin string) (time.Time, bool) {
	e := s.reg.lookup(origin)
	if e == nil {
		return time.Time{}, false
	}
	now := s.clock.Now()
	switch e.state() {
	case gobreaker.StateOpen:
		if until := e.openUntil(s.cfg.OpenFor); now.Before(until) {
			return until, true
		}
	case gobreaker.StateHalfOpen:
		// Counts, unlike State, does not advance the breaker.
		if probing(e.cb.Counts()) {
			return now.Add(s.cfg.ProbeWait), true
		}
	}
	return time.Time{}, false
}

// probing reports whether a half-open breaker (MaxRequests 1) has let its
// probe through and not heard back. An excluded (cancelled) probe frees the slot again.
func probing(c gobreaker.Counts) bool { return c.Requests > c.TotalExclusions }

// newBreaker builds e's breaker. Its callbacks run under gobreaker's
// mutex, so they only touch e's atomics and queue the change.
func (s *Sender) newBreaker(e *entry) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        e.origin,
		MaxRequests: 1,
		Timeout:     s.cfg.OpenFor,
		Interval:    0, // consecutive failures only: per-target volume is too low for ratios
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if int64(c.ConsecutiveFailures) < int64(s.cfg.Failures) {
				return false
			}
			e.failures.Store(c.ConsecutiveFailures)
			return true
		},
		// Our own shutdown says nothing about the target.
		IsExcluded:    func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) { s.onStateChange(e, from, to) },
	})
}

// onStateChange runs under gobreaker's mutex: record, queue, return.
func (s *Sender) onStateChange(e *entry, from, to gobreaker.State) {
	now := s.clock.Now()
	switch to {
	case gobreaker.StateOpen:
		e.openedAt.Store(&now)
		if from == gobreaker.StateHalfOpen {
			e.failures.Add(1) // the failed probe extends the streak
		}
	case gobreaker.StateClosed:
		e.failures.Store(0)
	}
	e.st.Store(int32(to))
	c := change{origin: e.origin, from: from, to: to, failures: e.failures.Load()}
	if to == gobreaker.StateOpen {
		c.until = e.openUntil(s.cfg.OpenFor)
	}
	s.changes.push(c)
}
