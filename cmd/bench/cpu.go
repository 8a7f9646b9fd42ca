package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Where a drain's CPU goes. Everything shares this box, whose speed moves
// by a third within an hour (BENCHMARKS.md), so a rate alone cannot tell
// slower code from a slower hour: the drain also reports what the box
// spent per delivery, split by part, and how much of the box sat idle or
// was taken by the host (steal). Linux only; elsewhere these rows stay
// empty.

// clockTick is the unit of /proc's CPU times (USER_HZ), 100 a second on
// every Linux that Go runs on.
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU spent so far, in clock ticks: the whole box's,
// broken down as /proc/stat does, and three parts of it.
type cpuSample struct {
	busy, idle, steal int64 // the box, all CPUs
	dispatcher        int64 // the dispatcher process
	bench             int64 // this process: the receiver, and the load when there is one
	database          int64 // every process named postgres, and the backends they reaped
	ok                bool
}

// sampleCPU reads the counters now; dispatcherPID 0 leaves that part out.
func sampleCPU(dispatcherPID int) cpuSample {
	var s cpuSample
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line)) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	n := make([]int64, 9)
	for i := 1; i < 9; i++ {
		n[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	s.busy = n[1] + n[2] + n[3] + n[6] + n[7]
	s.idle = n[4] + n[5]
	s.steal = n[8]
	if dispatcherPID > 0 {
		if p, ok := procCPU(strconv.Itoa(dispatcherPID)); ok {
			s.dispatcher = p.own
		}
	}
	if p, ok := procCPU("self"); ok {
		s.bench = p.own
	}
	s.database = postgresCPU()
	s.ok = true
	return s
}

// procTimes are one process's CPU ticks: its own (user and system), and
// those of its children that exited and were waited for.
type procTimes struct {
	comm       string
	ppid       string
	own, child int64
}

// procCPU reads /proc/<pid>/stat.
func procCPU(pid string) (procTimes, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return procTimes{}, false
	}
	return parseProcStat(data)
}

// parseProcStat reads a /proc/<pid>/stat line.
func parseProcStat(data []byte) (procTimes, bool) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')') // comm may hold spaces
	if open < 0 || end < open {
		return procTimes{}, false
	}
	f := strings.Fields(string(data[end+1:])) // from field 3, state
	if len(f) < 15 {
		return procTimes{}, false
	}
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	// Fields 14–17 of proc(5): utime, stime, cutime, cstime.
	return procTimes{comm: string(data[open+1 : end]), ppid: f[1], own: num(11) + num(12), child: num(13) + num(14)}, true
}

// postgresCPU is the CPU of every PostgreSQL process on the box. A backend
// that exits takes its counters with it into its parent's: the children
// of a postmaster (a postgres whose parent is not one) count too, so
// connections that come and go are not lost. A backend reaped while the
// processes are read would be missed or counted twice (a client that just
// disconnected, such as the API stopped before a drain), so the reading is
// taken again until two in a row agree on who is there and what the
// postmasters reaped.
func postgresCPU() int64 {
	prev := postgresProcs()
	for range 20 {
		cur := postgresProcs()
		if sameReaped(prev, cur) {
			return postgresTicks(cur)
		}
		prev = cur
	}
	return postgresTicks(prev)
}

// postgresProcs reads every process named postgres, by pid.
func postgresProcs() map[string]procTimes {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	all := map[string]procTimes{}
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		if p, ok := procCPU(d.Name()); ok && p.comm == "postgres" {
			all[d.Name()] = p
		}
	}
	return all
}

// sameReaped reports whether a and b list the same processes, with the
// same reaped children's ticks.
func sameReaped(a, b map[string]procTimes) bool {
	if len(a) != len(b) {
		return false
	}
	for pid, p := range a {
		q, ok := b[pid]
		if !ok || p.child != q.child {
			return false
		}
	}
	return true
}

// postgresTicks adds up the PostgreSQL processes of all, by pid: each one's
// own ticks, and a postmaster's reaped children's.
func postgresTicks(all map[string]procTimes) int64 {
	var total int64
	for _, p := range all {
		total += p.own
		if _, parentIsPG := all[p.ppid]; !parentIsPG {
			total += p.child
		}
	}
	return total
}

// cpuSpend is what the box spent between two samples.
type cpuSpend struct {
	// per delivery, in µs of CPU
	box, dispatcher, bench, database float64
	idlePct, stealPct                float64 // of all the box's time
}

// spendPer divides what was spent between a and b over n deliveries.
func spendPer(a, b cpuSample, n int) (cpuSpend, bool) {
	if !a.ok || !b.ok || n <= 0 {
		return cpuSpend{}, false
	}
	perDelivery := func(ticks int64) float64 {
		return float64(ticks) * float64(clockTick.Microseconds()) / float64(n)
	}
	all := (b.busy - a.busy) + (b.idle - a.idle) + (b.steal - a.steal)
	if all <= 0 {
		return cpuSpend{}, false
	}
	return cpuSpend{
		box:        perDelivery(b.busy - a.busy),
		dispatcher: perDelivery(b.dispatcher - a.dispatcher),
		bench:      perDelivery(b.bench - a.bench),
		database:   perDelivery(b.database - a.database),
		idlePct:    100 * float64(b.idle-a.idle) / float64(all),
		stealPct:   100 * float64(b.steal-a.steal) / float64(all),
	}, true
}
