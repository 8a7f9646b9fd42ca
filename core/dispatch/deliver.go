package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// storeTimeout bounds each store write made on behalf of a delivery. It is
// detached from the delivery's context so that an outcome obtained just
// before shutdown is still recorded.
const storeTimeout = 10 * time.Second

// dispatch starts deliveries for a claimed batch. Per origin: if the
// target is known to be refusing requests the whole group is deferred in
// one store call; otherwise up to the per-target cap start now and any
// excess is handed straight back (due at once) for a later claim, by this
// worker or another.
func (w *Worker) dispatch(ctx, deliverCtx context.Context, evs []core.Event, wg *sync.WaitGroup) {
	if len(evs) == 0 {
		return
	}
	groups := make(map[string][]core.Event)
	var order []string
	for _, e := range evs {
		if _, seen := groups[e.Origin]; !seen {
			order = append(order, e.Origin)
		}
		groups[e.Origin] = append(groups[e.Origin], e)
	}
	var excess []ports.Claim
	for _, origin := range order {
		group := groups[origin]
		if w.gate != nil {
			if until, open := w.gate.OpenUntil(origin); open {
				w.park(ctx, origin, until, claimsOf(group))
				continue
			}
		}
		w.mu.Lock()
		room := max(w.cfg.PerTarget-w.perOrigin[origin], 0)
		start := group[:min(room, len(group))]
		w.inFlight += len(start)
		w.perOrigin[origin] += len(start)
		w.mu.Unlock()
		excess = append(excess, claimsOf(group[len(start):])...)
		for _, e := range start {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer w.release(e.Origin)
				w.deliver(deliverCtx, e)
			}()
		}
	}
	if len(excess) > 0 {
		w.handBack(excess, "per-target in-flight cap reached")
	}
}

func claimsOf(evs []core.Event) []ports.Claim {
	out := make([]ports.Claim, len(evs))
	for i, e := range evs {
		out[i] = ports.Claim{ID: e.ID, Attempt: e.AttemptedCount}
	}
	return out
}

// release frees a delivery slot.
func (w *Worker) release(origin string) {
	w.mu.Lock()
	w.inFlight--
	if w.perOrigin[origin]--; w.perOrigin[origin] <= 0 {
		delete(w.perOrigin, origin)
	}
	w.mu.Unlock()
	signal(w.freed)
}

// deliver makes one attempt and records its outcome.
func (w *Worker) deliver(ctx context.Context, e core.Event) {
	log := w.log.With(slog.String("event_id", string(e.ID)), slog.Int("attempt", e.AttemptedCount),
		slog.String("target", e.TargetURL))
	log.Info("pickup")
	started := w.clock.Now()
	out, err := w.sender.Send(ctx, core.Delivery{
		EventID: e.ID, TargetURL: e.TargetURL, Origin: e.Origin, Body: e.Body, Attempt: e.AttemptedCount,
	})
	if err != nil {
		var open *core.TargetOpenError
		if errors.As(err, &open) {
			w.park(ctx, e.Origin, open.Until, []ports.Claim{{ID: e.ID, Attempt: e.AttemptedCount}})
			return
		}
		// Our own shutdown cancelled the attempt: give the event back,
		// due at once, with its attempt unspent.
		w.handBack([]ports.Claim{{ID: e.ID, Attempt: e.AttemptedCount}}, err.Error())
		return
	}

	d := w.cfg.Policy.Decide(e.AttemptedCount, out, w.cfg.Rand())
	if d.Refund && w.gate != nil {
		// A failed probe re-opened the breaker: wait for its next probe.
		if until, open := w.gate.OpenUntil(e.Origin); open {
			d.RetryIn = max(until.Sub(w.clock.Now()), 0)
			d.Reason += "; parked until the breaker's next probe"
		}
	}
	// The lease was taken at claim time, a little before started.
	err = w.complete(ctx, ports.CompleteParams{
		Worker: w.cfg.WorkerID,
		Claim:  ports.Claim{ID: e.ID, Attempt: e.AttemptedCount},
		Record: core.Attempt{StartedAt: started, Duration: out.Duration, StatusCode: out.StatusCode,
			Error: d.Error, Response: out.Response},
		Decision: d,
	}, started.Add(w.cfg.Lease))
	w.metrics.DeliveryFinished(e.Origin, d.Verdict, out.Duration)

	attrs := []slog.Attr{slog.String("verdict", string(d.Verdict)), slog.Int("status_code", out.StatusCode),
		slog.Int64("duration_ms", out.Duration.Milliseconds()), slog.String("reason", d.Reason)}
	if d.Error != "" {
		attrs = append(attrs, slog.String("error", d.Error))
	}
	if d.Status == core.StatusPending {
		next := w.clock.Now().Add(d.RetryIn)
		attrs = append(attrs, slog.Duration("retry_in", d.RetryIn), slog.Time("next_attempt_at", next))
		w.schedule(next)
	}
	switch {
	case errors.Is(err, core.ErrLeaseLost):
		log.LogAttrs(ctx, slog.LevelWarn, "attempt finished after our lease was taken over; newer state kept", attrs...)
	case err != nil:
		log.LogAttrs(ctx, slog.LevelError, "attempt finished but its outcome could not be recorded; the lease will expire and the event will be delivered again",
			append(attrs, slog.String("store_error", err.Error()))...)
	case d.Verdict == core.VerdictSucceeded:
		log.LogAttrs(ctx, slog.LevelInfo, "delivered", attrs...)
	case d.Verdict == core.VerdictDead:
		log.LogAttrs(ctx, slog.LevelWarn, "dead", attrs...)
	default:
		log.LogAttrs(ctx, slog.LevelInfo, "attempt failed; will retry", attrs...)
	}
}

// complete records an outcome, retrying while the store is unavailable
// (a database restart) until shortly before the claim's lease ends, or
// until ctx ends (the shutdown grace is over). Past that point another
// worker may own the event, so the outcome is dropped: the lease expires
// and the event is delivered again (at-least-once).
func (w *Worker) complete(ctx context.Context, p ports.CompleteParams, leaseEnd time.Time) error {
	backoff := 200 * time.Millisecond
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := w.store.Complete(sctx, p)
		cancel()
		if err == nil || !errors.Is(err, core.ErrUnavailable) || w.clock.Now().Add(backoff+storeTimeout/5).After(leaseEnd) {
			return err
		}
		if !sleep(ctx, backoff) {
			return err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// park defers claims of a target whose breaker is open, and every other
// pending event of that target due before until, in one store call.
func (w *Worker) park(ctx context.Context, origin string, until time.Time, claims []ports.Claim) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	res, err := w.store.Defer(sctx, ports.DeferParams{Worker: w.cfg.WorkerID, Claims: claims, Origin: origin, Until: until})
	if err != nil {
		w.log.Error("could not park events of an open target; their leases will expire",
			slog.String("origin", origin), slog.String("error", err.Error()))
		return
	}
	w.schedule(until)
	w.log.Info("target open: events parked", slog.String("origin", origin), slog.Time("until", until),
		slog.Int("released", res.Released), slog.Int("parked", res.Parked))
}

// handBack returns claims to the store, due at once, attempts unspent.
func (w *Worker) handBack(claims []ports.Claim, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	res, err := w.store.Defer(ctx, ports.DeferParams{Worker: w.cfg.WorkerID, Claims: claims})
	if err != nil {
		w.log.Error("could not hand back claimed events; their leases will expire",
			slog.Int("events", len(claims)), slog.String("error", err.Error()))
		return
	}
	w.log.Debug("claims handed back", slog.Int("released", res.Released), slog.String("why", why))
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
