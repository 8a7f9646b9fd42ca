package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// goal is a target from the issue: op is ">=" or "<=" ("" for none).
type goal struct {
	op string
	v  float64
}

func (g goal) met(v float64) bool {
	switch g.op {
	case ">=":
		return v >= g.v
	case "<=":
		return v <= g.v
	}
	return false
}

// measureDef is one row of a store's table.
type measureDef struct {
	key, name, unit string
	goal            goal
	note            string // shown after the goal
	notMeasured     bool
}

// check is one correctness verdict of a scenario run.
type check struct {
	Scenario string `json:"scenario"`
	Run      int    `json:"run"`
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`
}

// storeResult is everything measured on one store.
type storeResult struct {
	store   string // "postgres" or "sqlite"
	title   string
	details string
	skipped string // why the store was not measured
	defs    []measureDef
	values  map[string][]float64
	checks  []check
	notes   []string
}

func newStoreResult(store, title string) *storeResult {
	return &storeResult{store: store, title: title, values: map[string][]float64{}}
}

func (s *storeResult) declare(d measureDef) {
	if !slices.ContainsFunc(s.defs, func(x measureDef) bool { return x.key == d.key }) {
		s.defs = append(s.defs, d)
	}
}

func (s *storeResult) failed() bool {
	return slices.ContainsFunc(s.checks, func(c check) bool { return !c.OK })
}

// stats are the median, min and max of a row's runs.
func stats(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func format(v float64, unit string) string {
	switch unit {
	case "events/s", "rows/s", "deliveries/s", "events":
		return humanInt(int(math.Round(v)))
	case "ms":
		if v < 10 {
			return strconv.FormatFloat(v, 'f', 2, 64)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	case "×":
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

func (g goal) String(unit string) string {
	sym := map[string]string{">=": "≥ ", "<=": "≤ "}[g.op]
	if sym == "" {
		return "—"
	}
	v := strconv.FormatFloat(g.v, 'f', -1, 64)
	if g.v >= 1000 {
		v = humanInt(int(g.v))
	}
	return sym + v + " " + unit
}

// printTable writes a store's table and its correctness summary.
func (s *storeResult) printTable(w io.Writer, runs int) {
	fmt.Fprintf(w, "\n== %s ==\n", s.title)
	if s.skipped != "" {
		fmt.Fprintf(w, "not measured: %s\n", s.skipped)
		return
	}
	fmt.Fprintf(w, "%s\n\n", s.details)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\tvalue (median of %d)\tmin–max\tunit\tgoal\tmet\n", runs)
	for _, d := range s.defs {
		if d.notMeasured {
			fmt.Fprintf(tw, "%s\tnot measured\t\t\t\t\n", d.name)
			continue
		}
		v := s.values[d.key]
		g := d.goal.String(d.unit)
		if d.note != "" {
			g += " (" + d.note + ")"
		}
		if len(v) == 0 {
			fmt.Fprintf(tw, "%s\t—\t\t%s\t%s\t%s\n", d.name, d.unit, g, "n/a")
			continue
		}
		med, lo, hi := stats(v)
		met := "—"
		if d.goal.op != "" {
			met = map[bool]string{true: "yes", false: "NO"}[d.goal.met(med)]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s–%s\t%s\t%s\t%s\n", d.name, format(med, d.unit), format(lo, d.unit), format(hi, d.unit), d.unit, g, met)
	}
	tw.Flush()
	for _, n := range s.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	bad := 0
	for _, c := range s.checks {
		if !c.OK {
			bad++
		}
	}
	if bad == 0 {
		fmt.Fprintf(w, "correctness: all %d checks passed\n", len(s.checks))
		return
	}
	fmt.Fprintf(w, "correctness: %d of %d checks FAILED:\n", bad, len(s.checks))
	for _, c := range s.checks {
		if !c.OK {
			fmt.Fprintf(w, "  FAIL %s run %d: %s: %s\n", c.Scenario, c.Run, c.Name, c.Detail)
		}
	}
}

// JSON output.
type jsonMeasure struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Unit        string    `json:"unit"`
	Median      *float64  `json:"median"`
	Min         *float64  `json:"min"`
	Max         *float64  `json:"max"`
	Runs        []float64 `json:"runs"`
	Goal        string    `json:"goal,omitempty"`
	Met         *bool     `json:"met,omitempty"`
	NotMeasured bool      `json:"not_measured,omitempty"`
}

type jsonStore struct {
	Store    string        `json:"store"`
	Details  string        `json:"details,omitempty"`
	Skipped  string        `json:"skipped,omitempty"`
	Measures []jsonMeasure `json:"measures"`
	Checks   []check       `json:"checks"`
	Notes    []string      `json:"notes,omitempty"`
}

type jsonReport struct {
	Header        map[string]any `json:"header"`
	Stores        []jsonStore    `json:"stores"`
	CorrectnessOK bool           `json:"correctness_ok"`
	Interrupted   bool           `json:"interrupted,omitempty"`
}

func (s *storeResult) json() jsonStore {
	out := jsonStore{Store: s.store, Details: s.details, Skipped: s.skipped, Checks: s.checks, Notes: s.notes}
	if out.Checks == nil {
		out.Checks = []check{}
	}
	for _, d := range s.defs {
		m := jsonMeasure{Key: d.key, Name: d.name, Unit: d.unit, Runs: s.values[d.key], NotMeasured: d.notMeasured}
		if m.Runs == nil {
			m.Runs = []float64{}
		}
		if d.goal.op != "" {
			m.Goal = d.goal.String(d.unit)
		}
		if len(m.Runs) > 0 {
			med, lo, hi := stats(m.Runs)
			m.Median, m.Min, m.Max = &med, &lo, &hi
			if d.goal.op != "" {
				met := d.goal.met(med)
				m.Met = &met
			}
		}
		out.Measures = append(out.Measures, m)
	}
	return out
}

func writeJSON(path string, r jsonReport) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// humanInt writes n with thousands separators: 12,345.
func humanInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
