package main

import (
	"testing"
	"time"
)

func TestParseProcStatReadsTheTimesAfterAnOddName(t *testing.T) {
	// A name may hold spaces and parentheses; the fields are counted from
	// the last ')'.
	line := []byte("4242 (post (gres) x) S 17 4242 4242 0 -1 4194560 900 0 0 0 31 7 5 3 20 0 1 0 100 0 0\n")
	p, ok := parseProcStat(line)
	if !ok {
		t.Fatal("not parsed")
	}
	if p.comm != "post (gres) x" || p.ppid != "17" || p.own != 38 || p.child != 8 {
		t.Fatalf("got %+v, want comm %q, ppid 17, own 31+7, child 5+3", p, "post (gres) x")
	}
	if _, ok := parseProcStat([]byte("4242 (short) S 1 2")); ok {
		t.Fatal("a truncated line was parsed")
	}
}

func TestPostgresTicksCountReapedBackendsOnce(t *testing.T) {
	all := map[string]procTimes{
		"100": {comm: "postgres", ppid: "1", own: 10, child: 500},  // postmaster: its reaped backends count
		"101": {comm: "postgres", ppid: "100", own: 40, child: 99}, // a backend: its children are not postgres's
		"102": {comm: "postgres", ppid: "100", own: 25},
	}
	if got := postgresTicks(all); got != 10+500+40+25 {
		t.Fatalf("got %d ticks, want %d", got, 10+500+40+25)
	}
}

func TestSpendPerDividesTheWindowByDeliveries(t *testing.T) {
	a := cpuSample{busy: 1000, idle: 500, steal: 10, dispatcher: 100, bench: 50, database: 200, ok: true}
	b := cpuSample{busy: 1300, idle: 590, steal: 20, dispatcher: 220, bench: 80, database: 330, ok: true}
	c, ok := spendPer(a, b, 10_000)
	if !ok {
		t.Fatal("no spend")
	}
	tick := float64(clockTick.Microseconds())
	want := cpuSpend{box: 300 * tick / 10_000, dispatcher: 120 * tick / 10_000, bench: 30 * tick / 10_000,
		database: 130 * tick / 10_000, idlePct: 100 * 90.0 / 400, stealPct: 100 * 10.0 / 400}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if _, ok := spendPer(a, b, 0); ok {
		t.Fatal("spend over no deliveries")
	}
	if _, ok := spendPer(cpuSample{}, b, 10); ok {
		t.Fatal("spend from a failed sample")
	}
}

func TestSampleCPUSeesThisProcessWork(t *testing.T) {
	a := sampleCPU(0)
	if !a.ok {
		t.Skip("no /proc/stat: not Linux") // the bench reports no CPU rows there either
	}
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); {
	}
	b := sampleCPU(0)
	if b.bench-a.bench < 5 || b.busy-a.busy < 5 {
		t.Fatalf("100 ms of spinning: this process %d ticks, the box %d busy ticks; want ≥ 5 each", b.bench-a.bench, b.busy-a.busy)
	}
}

func TestSameReapedNoticesAnExitOrAReap(t *testing.T) {
	a := map[string]procTimes{"100": {ppid: "1", own: 10, child: 500}, "101": {ppid: "100", own: 40}}
	same := map[string]procTimes{"100": {ppid: "1", own: 12, child: 500}, "101": {ppid: "100", own: 45}}
	gone := map[string]procTimes{"100": {ppid: "1", own: 12, child: 500}}
	reaped := map[string]procTimes{"100": {ppid: "1", own: 12, child: 540}, "101": {ppid: "100", own: 45}}
	if !sameReaped(a, same) {
		t.Error("two readings of the same processes disagree")
	}
	if sameReaped(a, gone) || sameReaped(gone, a) {
		t.Error("a process that left was not noticed")
	}
	if sameReaped(a, reaped) {
		t.Error("a reap was not noticed")
	}
}
