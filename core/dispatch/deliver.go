package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

// dispatch starts deliveries for a claimed batch, under ctx. Per origin:
// if the target is refusing requests the whole group is parked in one
// store call; otherwise up to the per-target cap start now and any excess
// is released at once (due now) for a later claim, by this worker or
// another.
func (w *Worker) dispatch(ctx context.Context, evs []core.Delivery, wg *sync.WaitGroup) {
	if len(evs) == 0 {
		return
	}
	var excess []ports.Claim
	if oneOrigin(evs) { // the common claim: no grouping, no copy
		excess = w.dispatchOrigin(ctx, evs[0].Origin, evs, wg)
	} else {
		groups := make(map[string][]core.Delivery)
		var order []string
		for _, e := range evs {
			if _, seen := groups[e.Origin]; !seen {
				order = append(order, e.Origin)
			}
			groups[e.Origin] = append(groups[e.Origin], e)
		}
		for _, origin := range order {
			excess = append(excess, w.dispatchOrigin(ctx, origin, groups[origin], wg)...)
		}
	}
	if len(excess) > 0 {
		w.release(ctx, w.log, excess, "per-target in-flight cap reached")
	}
}

// oneOrigin reports whether every delivery of evs is to one origin.
func oneOrigin(evs []core.Delivery) bool {
	for _, e := range evs[1:] {
		if e.Origin != evs[0].Origin {
			return false
		}
	}
	return true
}

// dispatchOrigin is dispatch for one origin's group, which it overwrites:
// the stages below filter it in place (a delivery is a large struct, and
// copying each group at every stage was a fifth of a draining worker's
// allocations). It returns the claims to release.
func (w *Worker) dispatchOrigin(ctx context.Context, origin string, group []core.Delivery, wg *sync.WaitGroup) []ports.Claim {
	group = w.endUnsendable(ctx, group, wg)
	if len(group) == 0 {
		return nil
	}
	group = w.parkOpen(ctx, origin, group)
	if len(group) == 0 {
		return nil
	}
	group, held := w.rateLimit(group)
	for until, es := range held {
		w.hold(ctx, w.log, claimsOf(es), until)
	}
	start, first, rest := w.admit(origin, group)
	for i, e := range start {
		w.start(ctx, e, first+uint64(i), wg)
	}
	return claimsOf(rest)
}

// parkOpen parks the deliveries of group whose target is open, in the
// database (a claim flagged them) or in this process's breaker, and
// returns the rest: the others, and the target's probe if the claim made
// one (a probe is sent whatever this process's breaker says: the database
// decided it is time; a breaker that refuses it reopens the target).
func (w *Worker) parkOpen(ctx context.Context, origin string, group []core.Delivery) []core.Delivery {
	until, open := time.Time{}, false
	if w.gate != nil {
		until, open = w.gate.OpenUntil(origin)
	}
	send, parked := group[:0], []core.Delivery(nil) // send in place: each is read before its slot is written
	for _, e := range group {
		switch {
		case e.Probe:
			send = append(send, e)
		case e.TargetOpenUntil != nil:
			if !open || e.TargetOpenUntil.After(until) {
				until = *e.TargetOpenUntil
			}
			parked = append(parked, e)
		case open:
			parked = append(parked, e)
		default:
			send = append(send, e)
		}
	}
	if len(parked) > 0 {
		w.park(ctx, origin, until, claimsOf(parked))
	}
	return send
}

// probed records a probe's outcome for the whole cluster: the target
// closes (its parked deliveries come back at once), or reopens until the
// next interval (this process's breaker's, else ProbeInterval from now).
func (w *Worker) probed(ctx context.Context, log *slog.Logger, e core.Delivery, ok bool) {
	now := w.clock.Now()
	p := ports.ProbedParams{Origin: e.Origin, OK: ok, Until: now.Add(w.cfg.ProbeInterval), ParkFor: w.cfg.MaxAge}
	if w.gate != nil {
		if until, open := w.gate.OpenUntil(e.Origin); open {
			p.Until = until
		}
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := w.store.Probed(sctx, p); err != nil {
		log.Error("could not record a target's probe; it is probed again after its lease", slog.String("error", err.Error()))
		return
	}
	if ok {
		log.Info("target recovered: parked deliveries released") // log names the origin
		w.schedule(now)
		return
	}
	w.schedule(p.Until)
	log.Info("target still down: parked until the next probe", slog.Time("until", p.Until))
}

// endUnsendable ends, without a request, the deliveries of group that
// must not be sent: older than MaxAge (checked before parking: the
// deliveries of a target that never comes back must still die), or to an
// endpoint deleted or disabled since they were queued. It returns the
// others.
func (w *Worker) endUnsendable(ctx context.Context, group []core.Delivery, wg *sync.WaitGroup) []core.Delivery {
	now := w.clock.Now()
	live := group[:0] // in place: each is read before its slot is written
	for _, e := range group {
		// The goroutines get copies: capturing e itself would move every
		// delivery of the group to the heap, sent or not.
		switch {
		case e.EndpointID != "" && e.Endpoint == nil:
			gone := e
			wg.Go(func() { w.endpointGone(ctx, gone, now) })
		case !e.ActiveSince.IsZero() && now.Sub(e.ActiveSince) >= w.cfg.MaxAge:
			expired := e
			wg.Go(func() { w.expire(ctx, expired, now) })
		default:
			live = append(live, e)
		}
	}
	return live
}

// endpointGone records that e ends dead without a request: its endpoint
// was deleted or disabled while it was in flight or queued.
func (w *Worker) endpointGone(ctx context.Context, e core.Delivery, now time.Time) {
	d := core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead, Refund: true, Error: "endpoint deleted or disabled",
		Reason: fmt.Sprintf("endpoint %s was deleted or disabled; no request was made", e.EndpointID)}
	err := w.record(ctx, e, now, core.Outcome{}, d)
	w.report(ctx, w.deliveryLog(&e), e, core.Outcome{}, d, err)
}

// deliveryLog is the logger of one delivery's lines: each carries
// deliveryAttrs. They are formatted only for a line that is written: at
// LOG_LEVEL=warn a delivered one writes none, and formatting them up
// front for every delivery was 5 % of a busy worker's CPU.
func (w *Worker) deliveryLog(e *core.Delivery) *slog.Logger {
	return slog.New(&deliveryHandler{base: w.log.Handler(), e: e})
}

// deliveryAttrs are the attributes of every log line about a claimed
// delivery, spelled alike wherever one is logged: event_id, delivery_id,
// endpoint_id (an endpoint delivery's only), origin, attempt and the
// target, redacted. attempt is the number of the attempt this claim makes
// (or made): a claim counts it, so it is AttemptedCount.
func deliveryAttrs(e *core.Delivery) []slog.Attr {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("event_id", string(e.EventID)), slog.String("delivery_id", string(e.ID)))
	if e.EndpointID != "" {
		attrs = append(attrs, slog.String("endpoint_id", string(e.EndpointID)))
	}
	return append(attrs, slog.String("origin", e.Origin), slog.Int("attempt", e.AttemptedCount),
		slog.String("target", core.RedactURL(e.TargetURL)))
}

// deliveryHandler adds a delivery's attributes to the lines base writes,
// as base.WithAttrs would, when a line is written.
type deliveryHandler struct {
	base slog.Handler
	e    *core.Delivery
}

func (h *deliveryHandler) with() slog.Handler { return h.base.WithAttrs(deliveryAttrs(h.e)) }

func (h *deliveryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

// Handle writes r with the delivery's attributes ahead of its own, as
// with() would, without building a handler per line: base.WithAttrs
// formats its attributes into a new handler, which was two fifths of a
// delivered line's cost at LOG_LEVEL=info.
func (h *deliveryHandler) Handle(ctx context.Context, r slog.Record) error {
	line := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	line.AddAttrs(deliveryAttrs(h.e)...)
	r.Attrs(func(a slog.Attr) bool {
		line.AddAttrs(a)
		return true
	})
	return h.base.Handle(ctx, line)
}

func (h *deliveryHandler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.with().WithAttrs(attrs) }

func (h *deliveryHandler) WithGroup(name string) slog.Handler { return h.with().WithGroup(name) }

// keysOf opens the signing keys of an endpoint delivery: the current one,
// and the previous one while its grace lasts. A target_url delivery has
// none (the Sender signs it with HMAC_SECRET).
func (w *Worker) keysOf(e core.Delivery, now time.Time) ([][]byte, error) {
	if e.Endpoint == nil {
		return nil, nil
	}
	cur, err := w.box.Open(e.Endpoint.Current, string(e.EndpointID))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: current secret: %w", e.EndpointID, err)
	}
	keys := [][]byte{cur}
	if e.Endpoint.Previous != nil && e.Endpoint.PreviousUntil != nil && now.Before(*e.Endpoint.PreviousUntil) {
		prev, err := w.box.Open(e.Endpoint.Previous, string(e.EndpointID))
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: previous secret: %w", e.EndpointID, err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// expire records that e is given up without a request: dead, verdict
// expired, its claim's attempt given back.
func (w *Worker) expire(ctx context.Context, e core.Delivery, now time.Time) {
	log := w.deliveryLog(&e)
	d := core.Decision{Verdict: core.VerdictExpired, Status: core.StatusDead, Refund: true, Error: "expired",
		Reason: fmt.Sprintf("expired: not delivered within %s (MAX_DELIVERY_AGE_MS) of %s; no request was made",
			w.cfg.MaxAge, e.ActiveSince.UTC().Format(time.RFC3339))}
	err := w.record(ctx, e, now, core.Outcome{}, d)
	w.report(ctx, log, e, core.Outcome{}, d, err)
	if err == nil {
		w.deadNotice(ctx, log, e, d)
	}
}

func claimsOf(evs []core.Delivery) []ports.Claim {
	out := make([]ports.Claim, len(evs))
	for i, e := range evs {
		out[i] = claimOf(e)
	}
	return out
}

func claimOf(e core.Delivery) ports.Claim {
	return ports.Claim{ID: e.ID, Attempt: e.AttemptedCount, Seq: e.ClaimSeq}
}

// deliver makes one attempt, the seq-th request of its target's window,
// and records its outcome: send, decide, record, report. It calls
// answered once the request is over.
func (w *Worker) deliver(ctx context.Context, e *core.Delivery, seq uint64, answered func()) {
	log := w.deliveryLog(e)
	log.Debug("pickup")
	started := w.clock.Now()
	keys, err := w.keysOf(*e, started)
	if err != nil {
		// Never send unsigned or wrongly signed: hold the delivery, its
		// attempt unspent, until the operator restores ENCRYPTION_KEY.
		log.Error("cannot open the endpoint's secret; delivery held", slog.String("error", err.Error()))
		w.hold(ctx, log, []ports.Claim{claimOf(*e)}, started.Add(keyRetry))
		return
	}
	out, err := w.sender.Send(ctx, core.Request{
		EventID: e.EventID, TargetURL: e.TargetURL, Origin: e.Origin, Body: e.Body, Attempt: e.AttemptedCount, Keys: keys,
	})
	if err != nil {
		w.notSent(ctx, *e, err, answered)
		return
	}
	w.mu.Lock()
	w.windows.observe(e.Origin, seq, out, w.clock.Now())
	w.mu.Unlock()
	answered()
	if e.Probe {
		out.Probe = true // the cluster's probe of an open target: a failure only confirms the outage
	}
	d := w.decide(*e, out)
	err = w.record(ctx, *e, started, out, d)
	w.report(ctx, log, *e, out, d, err)
	if err == nil {
		w.followEndpoint(ctx, log, *e, out, d, started)
		w.deadNotice(ctx, log, *e, d)
	}
	if e.Probe && !errors.Is(err, core.ErrLeaseLost) {
		w.probed(ctx, log, *e, !out.TargetUnhealthy())
	}
}

// notSent handles an attempt the Sender refused to make: the target's
// breaker is open (park it, with what was claimed ahead behind it, which
// would be refused alike), or our own shutdown cancelled the attempt
// (release the event, due at once, its attempt unspent). It calls
// answered once nothing queued can start into an open breaker.
func (w *Worker) notSent(ctx context.Context, e core.Delivery, err error, answered func()) {
	if open, ok := errors.AsType[*core.TargetOpenError](err); ok {
		parked := append([]core.Delivery{e}, w.takeAhead(e.Origin, false)...)
		answered()
		w.park(ctx, e.Origin, open.Until, claimsOf(parked))
		if e.Probe {
			w.probed(ctx, w.deliveryLog(&e), e, false)
		}
		return
	}
	answered()
	w.release(ctx, w.deliveryLog(&e), []ports.Claim{claimOf(e)}, err.Error())
}

// decide applies the retry policy. A refunded failure (a failed probe)
// waits for the breaker's next probe rather than a backoff.
func (w *Worker) decide(e core.Delivery, out core.Outcome) core.Decision {
	d := w.cfg.Policy.Decide(e.AttemptedCount, out, w.cfg.Rand())
	if d.Refund && w.gate != nil {
		if until, open := w.gate.OpenUntil(e.Origin); open {
			d.RetryIn = max(until.Sub(w.clock.Now()), 0)
			d.Reason += "; parked until the breaker's next probe"
		}
	}
	return d
}

// record stores the decision and the attempt, retrying while the store is
// unavailable (a database restart) until shortly before the claim's lease
// ends, or until ctx ends (the shutdown grace is over). Past that point
// another worker may own the event, so the outcome is dropped: the lease
// expires and the event is delivered again (at-least-once).
func (w *Worker) record(ctx context.Context, e core.Delivery, started time.Time, out core.Outcome, d core.Decision) error {
	p := ports.CompleteParams{
		Worker: w.cfg.WorkerID,
		Claim:  claimOf(e),
		Record: core.Attempt{StartedAt: started, Duration: out.Duration, StatusCode: out.StatusCode,
			Error: d.Error, Response: out.Response},
		Decision: d,
	}
	leaseEnd := started.Add(w.cfg.Lease) // the lease was taken at claim time, a little earlier
	if e.LeaseExpiresAt != nil {
		leaseEnd = *e.LeaseExpiresAt // as the claim wrote it (it may have waited ahead)
	}
	backoff := 200 * time.Millisecond
	for {
		sctx, cancel := detached(ctx)
		err := w.store.Complete(sctx, p)
		cancel()
		if err == nil || !errors.Is(err, core.ErrUnavailable) || w.clock.Now().Add(backoff+storeTimeout/5).After(leaseEnd) {
			return err
		}
		if !wait.Sleep(ctx, backoff) {
			return err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// report counts and logs a finished attempt, and schedules a wake-up for
// its retry. An attempt was sent when it got a status or an error: one
// ended without a request has neither.
func (w *Worker) report(ctx context.Context, log *slog.Logger, e core.Delivery, out core.Outcome, d core.Decision, recordErr error) {
	r := ports.DeliveryReport{Origin: e.Origin, EndpointID: e.EndpointID, Verdict: d.Verdict,
		Sent: out.StatusCode != 0 || out.Err != "", Took: out.Duration}
	if !e.CreatedAt.IsZero() {
		r.Age = w.clock.Now().Sub(e.CreatedAt)
	}
	w.metrics.DeliveryFinished(r)
	attrs := []slog.Attr{slog.String("verdict", string(d.Verdict)), slog.Int("status_code", out.StatusCode),
		slog.Int64("duration_ms", out.Duration.Milliseconds()), slog.String("reason", d.Reason)}
	if d.Error != "" {
		attrs = append(attrs, slog.String("error", d.Error))
	}
	if d.Status == core.StatusPending {
		next := w.clock.Now().Add(d.RetryIn)
		attrs = append(attrs, slog.Int64("retry_in_ms", d.RetryIn.Milliseconds()), slog.Time("next_attempt_at", next))
		w.schedule(next)
	}
	switch {
	case errors.Is(recordErr, core.ErrLeaseLost):
		log.LogAttrs(ctx, slog.LevelWarn, "attempt finished after our lease was taken over; newer state kept", attrs...)
	case recordErr != nil:
		log.LogAttrs(ctx, slog.LevelError, "attempt finished but its outcome could not be recorded; the lease will expire and the event will be delivered again",
			append(attrs, slog.String("store_error", recordErr.Error()))...)
	case d.Verdict == core.VerdictSucceeded:
		log.LogAttrs(ctx, slog.LevelInfo, "delivered", attrs...)
	case d.Status == core.StatusDead:
		log.LogAttrs(ctx, slog.LevelWarn, "dead", attrs...)
	default:
		log.LogAttrs(ctx, slog.LevelInfo, "attempt failed; will retry", attrs...)
	}
}

// park releases claims of a target whose breaker is open, and parks every
// other pending event of that target due before until, in one store call.
func (w *Worker) park(ctx context.Context, origin string, until time.Time, claims []ports.Claim) {
	sctx, cancel := detached(ctx)
	defer cancel()
	res, err := w.store.Release(sctx, ports.ReleaseParams{Worker: w.cfg.WorkerID, Claims: claims, ParkOrigin: origin, Until: until,
		ParkFor: w.cfg.MaxAge})
	if err != nil {
		w.log.Error("could not park events of an open target; their leases will expire",
			slog.String("origin", origin), slog.String("error", err.Error()))
		return
	}
	w.schedule(until)
	if n := res.Released + res.Parked; n > 0 {
		w.metrics.DeliveriesParked(origin, n)
	}
	if res.Parked > 0 {
		w.log.Info("target open: deliveries parked until its probe succeeds", slog.String("origin", origin),
			slog.Time("probe_at", until), slog.Int("released", res.Released), slog.Int("parked", res.Parked))
	}
}

// keyRetry is how long a delivery whose secret cannot be opened waits
// before it is tried again.
const keyRetry = time.Minute

// hold gives claims back, attempts unspent, due at until. log is the
// delivery's logger when there is one claim, else the worker's.
func (w *Worker) hold(ctx context.Context, log *slog.Logger, claims []ports.Claim, until time.Time) {
	sctx, cancel := detached(ctx)
	defer cancel()
	if _, err := w.store.Release(sctx, ports.ReleaseParams{Worker: w.cfg.WorkerID, Claims: claims, Until: until}); err != nil {
		log.Error("could not hold claimed deliveries; their leases will expire", slog.String("error", err.Error()))
		return
	}
	w.schedule(until)
}

// release gives claims back to the store, due at once, attempts unspent.
// log is the delivery's logger when there is one claim, else the worker's.
func (w *Worker) release(ctx context.Context, log *slog.Logger, claims []ports.Claim, why string) {
	sctx, cancel := detached(ctx)
	defer cancel()
	res, err := w.store.Release(sctx, ports.ReleaseParams{Worker: w.cfg.WorkerID, Claims: claims})
	if err != nil {
		log.Error("could not release claimed events; their leases will expire",
			slog.Int("events", len(claims)), slog.String("error", err.Error()))
		return
	}
	log.Debug("claims released", slog.Int("released", res.Released), slog.String("why", why))
}
