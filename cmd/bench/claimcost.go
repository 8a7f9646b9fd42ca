package main

import (
	"context"
	"fmt"
	"time"
)

// scClaimCost (PostgreSQL): the same backlog drained by one worker beside
// 10,000 and then beside 1,000,000 finished deliveries (inserted by SQL, as
// history a week of retention keeps): claiming reads only the queue's
// partial indexes, so the rates should match. The goal is a ratio ≤ 1.5.
func scClaimCost(ctx context.Context, rc *runCtx) error {
	if rc.pg == nil {
		return nil // filling a million rows through SQLite's API takes too long; declared only on PostgreSQL
	}
	db, err := rc.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	backlog := rc.b.scaled(20000)
	filled := 0
	var rates []float64
	for i, size := range claimCostSizes(rc.b) {
		fill := func() error { // once the API process has migrated the schema
			logf("    %s finished deliveries in the table", humanInt(size))
			err := fillEvents(ctx, db, size-filled, rc.recv.url+"/webhook", rc.origin(), "succeeded")
			filled = size
			return err
		}
		rate, err := drainPhase(ctx, rc, backlog, fmt.Sprintf("claim%d", i), fill)
		if err != nil {
			return err
		}
		rc.set(fmt.Sprintf("claim_rate_%d", i), rate)
		logf("    beside %s finished: drained %s pending at %s deliveries/s", humanInt(size), humanInt(backlog), humanInt(int(rate)))
		rates = append(rates, rate)
	}
	if len(rates) == 2 && rates[1] > 0 {
		rc.set("claim_cost_ratio", rates[0]/rates[1])
	}
	return nil
}

func claimCostSizes(b *bench) []int { return []int{b.scaled(10000), b.scaled(1000000)} }

// drainPhase runs before once a ROLE=api process is up, stores n events
// through it, then drains them
// with a fresh ROLE=worker process (BATCH_SIZE=100) and returns the rate
// from the worker's start to the last of them received, checking that
// every one arrived.
func drainPhase(ctx context.Context, rc *runCtx, n int, prefix string, before func() error) (float64, error) {
	api, err := rc.start(ctx, "api", nil, true)
	if err != nil {
		return 0, err
	}
	if err := before(); err != nil {
		rc.stop(api)
		return 0, err
	}
	r := runLoad(ctx, loadSpec{label: prefix + ": storing", base: api.base, clients: 64, total: n, prefix: prefix})
	rc.checkLoad(prefix+": every POST answered 202", r, n)
	rc.stop(api)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	already := rc.recv.distinct()
	worker, err := rc.start(ctx, "worker", map[string]string{"BATCH_SIZE": "100"}, false)
	if err != nil {
		return 0, err
	}
	rc.waitDelivered(ctx, already+len(r.ids), time.Minute+time.Duration(n)*3*time.Millisecond)
	if err := rc.alive(worker); err != nil {
		return 0, err
	}
	rc.stop(worker)
	at, ok := rc.recv.arrivalsOf(r.ids)
	var last time.Duration
	missing := 0
	for i := range at {
		if !ok[i] {
			missing++
		}
		last = max(last, at[i])
	}
	rc.check(prefix+": every stored event delivered", missing == 0, fmt.Sprintf("%d of %d missing", missing, len(r.ids)))
	start := worker.started.Sub(epoch)
	if missing > 0 || last <= start {
		return 0, fmt.Errorf("%s: %d of %d not delivered", prefix, missing, len(r.ids))
	}
	return float64(len(r.ids)) / (last - start).Seconds(), nil
}
