package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
)

type overviewData struct {
	Chart      chart
	HasReading bool
	Depth      []depthRow
	OldestDue  string
	ReadAt     time.Time
	Targets    targetList
}

// depthRow is one status's count: exact, an estimate, or not read.
type depthRow struct {
	Status   core.Status
	Count    string
	Estimate bool
}

type targetList struct {
	Count       int
	Rows        []targetRow
	Unavailable string // why the cluster's rows are missing
}

type targetRow struct {
	Origin    string
	State     string
	OpenUntil time.Time
	Probing   bool
	Local     bool // this process's breaker, not (yet) a shared row
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	data := overviewData{
		Chart: d.chartFor(r.Context(), "activity-chart", "Accepted, delivered, retried and dead per minute, last hour",
			"", []seriesSpec{seriesAccepted, seriesDelivered, seriesRetried, seriesDead}),
		Targets: d.openTargets(r.Context()),
	}
	var q QueueReading
	if d.deps.Queue != nil {
		q, data.HasReading = d.deps.Queue()
	}
	counts := []int64{q.Pending, q.Delivering, q.Succeeded, q.Dead}
	for i, st := range core.Statuses {
		row := depthRow{Status: st, Count: "—"}
		switch {
		case !data.HasReading:
		case st.Finished() && !q.Finished:
			row.Count = "not read yet"
		default:
			row.Count = strconv.FormatInt(counts[i], 10)
			row.Estimate = st.Finished() && q.Estimated
		}
		data.Depth = append(data.Depth, row)
	}
	if data.HasReading {
		data.OldestDue, data.ReadAt = humanDuration(q.OldestDue), q.At
		if d.deps.Targets == nil { // the reading's count is the cluster's
			data.Targets.Count = max(data.Targets.Count, q.OpenTargets)
		}
	}
	d.render(w, r, page{Name: "overview", Title: "Overview", Data: data})
}

// openTargets lists the cluster's open targets (their shared rows), then
// any breaker of this process that is open or probing without a row.
func (d *Dashboard) openTargets(ctx context.Context) targetList {
	var out targetList
	seen := make(map[string]bool)
	if d.deps.Targets != nil {
		rows, err := d.deps.Targets(ctx)
		if err != nil {
			d.deps.Logger.WarnContext(ctx, "dashboard: read open targets", "error", err)
			out.Unavailable = "the open targets could not be read"
		}
		for _, h := range rows {
			seen[h.Origin] = true
			out.Rows = append(out.Rows, targetRow{Origin: h.Origin, State: "open", OpenUntil: h.OpenUntil,
				Probing: h.ProbeUntil != nil && h.ProbeUntil.After(d.now())})
		}
	}
	if d.deps.Breakers != nil {
		for _, s := range d.deps.Breakers.Targets() {
			if s.State == "closed" || seen[s.Origin] {
				continue
			}
			out.Rows = append(out.Rows, targetRow{Origin: s.Origin, State: s.State, OpenUntil: s.OpenUntil, Local: true})
		}
	}
	slices.SortFunc(out.Rows, func(a, b targetRow) int { return strings.Compare(a.Origin, b.Origin) })
	out.Count = len(out.Rows)
	return out
}

// breakerOf says whether origin is open, for the endpoint pages: "open
// until …" from the shared rows or this process's breakers, else
// "closed".
func breakerOf(origin string, targets targetList) (string, bool) {
	for _, t := range targets.Rows {
		if t.Origin != origin {
			continue
		}
		switch {
		case t.Probing:
			return "probing (open until " + formatUTC(t.OpenUntil) + ")", true
		case t.State == "half-open":
			return "half-open: probing", true
		case !t.OpenUntil.IsZero():
			return "open until " + formatUTC(t.OpenUntil), true
		}
		return t.State, true
	}
	return "closed", false
}
