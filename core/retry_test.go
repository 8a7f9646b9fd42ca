package core_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/core"
)

var policy = core.RetryPolicy{Base: 2 * time.Second, Max: 10 * time.Minute, MaxAttempts: 10, Jitter: 0.2, MaxRetryAfter: time.Hour}

func TestBackoffDoublesFromBaseAndCaps(t *testing.T) {
	t.Parallel()
	want := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600}
	for i, w := range want {
		if got := policy.Backoff(i + 1); got != w*time.Second {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w*time.Second)
		}
	}
	if got := policy.Backoff(10_000); got != policy.Max {
		t.Errorf("Backoff(10000) = %s, want the cap (no overflow)", got)
	}
}

func TestDelayJitterStaysInBand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0, 1600 * time.Millisecond},
		{1, 0.5, 2 * time.Second},
		{1, 0.999999, 2400 * time.Millisecond},
		{3, 0.25, 7200 * time.Millisecond},
		{20, 0.999999, 10 * time.Minute}, // never above the cap
		{20, 0, 8 * time.Minute},
	} {
		if got := policy.Delay(tc.attempt, tc.rnd); got != tc.want {
			t.Errorf("Delay(%d, %v) = %s, want %s", tc.attempt, tc.rnd, got, tc.want)
		}
	}
	noJitter := policy
	noJitter.Jitter = 0
	if got := noJitter.Delay(2, 0.9); got != 4*time.Second {
		t.Errorf("no-jitter Delay = %s", got)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		attempt   int
		out       core.Outcome
		status    core.Status
		verdict   core.Verdict
		retryIn   time.Duration
		reasonHas string
	}{
		{"200", 1, core.Outcome{StatusCode: 200}, core.StatusSucceeded, core.VerdictSucceeded, 0, "delivered"},
		{"204", 1, core.Outcome{StatusCode: 204}, core.StatusSucceeded, core.VerdictSucceeded, 0, "delivered"},
		{"2xx cut off", 1, core.Outcome{StatusCode: 200, Err: "response body: timeout"}, core.StatusPending, core.VerdictRetry, 2 * time.Second, "backoff"},
		{"410 dead at once", 1, core.Outcome{StatusCode: 410}, core.StatusDead, core.VerdictDead, 0, "410"},
		{"500 retried", 1, core.Outcome{StatusCode: 500}, core.StatusPending, core.VerdictRetry, 2 * time.Second, "backoff 2s (attempt 1 of 10)"},
		{"400 retried", 2, core.Outcome{StatusCode: 400}, core.StatusPending, core.VerdictRetry, 4 * time.Second, "attempt 2"},
		{"302 retried", 1, core.Outcome{StatusCode: 302}, core.StatusPending, core.VerdictRetry, 2 * time.Second, "backoff"},
		{"timeout retried", 3, core.Outcome{Err: "timeout after 10s", Timeout: true}, core.StatusPending, core.VerdictRetry, 8 * time.Second, "backoff"},
		{"last attempt dead", 10, core.Outcome{StatusCode: 500}, core.StatusDead, core.VerdictDead, 0, "max attempts reached (10 of 10)"},
		{"429 Retry-After longer", 1, core.Outcome{StatusCode: 429, RetryAfter: 30 * time.Second}, core.StatusPending, core.VerdictRetry, 30 * time.Second, "Retry-After 30s"},
		{"503 Retry-After shorter keeps backoff", 3, core.Outcome{StatusCode: 503, RetryAfter: time.Second}, core.StatusPending, core.VerdictRetry, 8 * time.Second, "backoff"},
		{"Retry-After capped", 1, core.Outcome{StatusCode: 503, RetryAfter: 48 * time.Hour}, core.StatusPending, core.VerdictRetry, time.Hour, "Retry-After 1h"},
		{"Retry-After ignored on 500", 1, core.Outcome{StatusCode: 500, RetryAfter: time.Minute}, core.StatusPending, core.VerdictRetry, 2 * time.Second, "backoff"},
		{"failed probe refunded even on the last attempt", 10, core.Outcome{Err: "connection refused", Probe: true}, core.StatusPending, core.VerdictRetry, 10 * time.Minute, "probe failed"},
		{"successful probe", 3, core.Outcome{StatusCode: 200, Probe: true}, core.StatusSucceeded, core.VerdictSucceeded, 0, "delivered"},
		{"probe answered 410", 3, core.Outcome{StatusCode: 410, Probe: true}, core.StatusDead, core.VerdictDead, 0, "410"},
		{"probe answered 400: the target is up", 10, core.Outcome{StatusCode: 400, Probe: true}, core.StatusDead, core.VerdictDead, 0, "max attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := policy
			p.Jitter = 0
			d := p.Decide(tc.attempt, tc.out, 0.5)
			if d.Status != tc.status || d.Verdict != tc.verdict || d.RetryIn != tc.retryIn {
				t.Errorf("Decide = %s/%s in %s, want %s/%s in %s", d.Status, d.Verdict, d.RetryIn, tc.status, tc.verdict, tc.retryIn)
			}
			if !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("Reason %q does not mention %q", d.Reason, tc.reasonHas)
			}
			if wantRefund := tc.out.Probe && tc.out.TargetUnhealthy(); d.Refund != wantRefund {
				t.Errorf("Refund = %v, want %v", d.Refund, wantRefund)
			}
			if d.StatusCode != tc.out.StatusCode || d.Error != tc.out.Summary() {
				t.Errorf("Decision carries %d %q", d.StatusCode, d.Error)
			}
		})
	}
}

func TestTargetUnhealthy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out  core.Outcome
		want bool
	}{
		{core.Outcome{StatusCode: 200}, false},
		{core.Outcome{StatusCode: 302}, false},
		{core.Outcome{StatusCode: 400}, false},
		{core.Outcome{StatusCode: 404}, false},
		{core.Outcome{StatusCode: 410}, false},
		{core.Outcome{StatusCode: 429}, true},
		{core.Outcome{StatusCode: 500}, true},
		{core.Outcome{StatusCode: 503}, true},
		{core.Outcome{Err: "connection refused"}, true},
		{core.Outcome{Err: "timeout", Timeout: true}, true},
		{core.Outcome{Err: "timeout (this process stalled)", Timeout: true, Stalled: true}, false},
	} {
		if got := tc.out.TargetUnhealthy(); got != tc.want {
			t.Errorf("%+v.TargetUnhealthy() = %v, want %v", tc.out, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"120", 2 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
		{"-5", 0},
		{"1.5", 0},
	} {
		if got := core.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := policy.Validate(); err != nil {
		t.Fatalf("valid policy: %v", err)
	}
	for _, bad := range []core.RetryPolicy{
		{Base: 0, Max: time.Second, MaxAttempts: 1},
		{Base: time.Second, Max: time.Millisecond, MaxAttempts: 1},
		{Base: time.Second, Max: time.Second, MaxAttempts: 0},
		{Base: time.Second, Max: time.Second, MaxAttempts: 1, Jitter: 1},
		{Base: time.Second, Max: time.Second, MaxAttempts: 1, MaxRetryAfter: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}
