package dashboard

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// The activity chart is drawn here, as inline SVG geometry: one line per
// series over the last hour's minutes, a legend with the hour's totals,
// labelled axes, and an invisible column per minute whose <title> is that
// minute's numbers (a tooltip without JavaScript).

// chartMinutes is the hour the charts show, the current minute last.
const chartMinutes = 60

type seriesSpec struct {
	Name, Class, Color string
	value              func(ports.ActivityCount) int64
}

var (
	seriesAccepted  = seriesSpec{"accepted", "s-accepted", "#2563eb", func(c ports.ActivityCount) int64 { return c.Accepted }}
	seriesDelivered = seriesSpec{"delivered", "s-delivered", "#16a34a", func(c ports.ActivityCount) int64 { return c.Delivered }}
	seriesRetried   = seriesSpec{"retried", "s-retried", "#d97706", func(c ports.ActivityCount) int64 { return c.Retried }}
	seriesDead      = seriesSpec{"dead", "s-dead", "#dc2626", func(c ports.ActivityCount) int64 { return c.Dead }}
)

type chartSeries struct {
	Name, Class, Color string
	Points             string
	Total              int64
	LegendX, TextX     string
}

type chartTick struct {
	X, Y  string
	Label string
}

type chartCol struct {
	X, W  string
	Title string
}

type chart struct {
	ID, Label      string
	Width, Height  int
	X0, X1, Y0, Y1 string // the plot box: left, right, top, bottom
	PlotH, MidY    string
	YLabelX        string // right end of the y tick labels
	XLabelY        string // baseline of the x tick labels
	AxisTitleX     string
	AxisTitleY     string
	YTitleX        string // along the rotated y axis
	LegendY        string
	LegendSwatchY  string
	Series         []chartSeries
	YTicks, XTicks []chartTick
	Cols           []chartCol
	Empty          bool   // no count in the hour
	Unavailable    string // why there is no data to show
}

// hourWindow is the last chartMinutes minutes, the current one included.
func hourWindow(now time.Time) (from, to time.Time) {
	to = now.UTC().Truncate(time.Minute).Add(time.Minute)
	return to.Add(-chartMinutes * time.Minute), to
}

// The chart's geometry, in SVG user units.
const (
	chartW, chartH = 760, 270
	plotX0, plotX1 = 56.0, 744.0
	plotY0, plotY1 = 40.0, 232.0
	legendY        = 18.0
	legendStep     = 175.0
	maxYTicks      = 5
)

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// buildChart lays out counts (one per minute from from; absent minutes
// are zero) for the given series.
func buildChart(id, label string, from time.Time, counts map[int64]ports.ActivityCount, specs []seriesSpec) chart {
	c := chart{ID: id, Label: label, Width: chartW, Height: chartH,
		X0: f1(plotX0), X1: f1(plotX1), Y0: f1(plotY0), Y1: f1(plotY1),
		PlotH: f1(plotY1 - plotY0), MidY: f1((plotY0 + plotY1) / 2),
		YLabelX: f1(plotX0 - 8), XLabelY: f1(plotY1 + 18), AxisTitleX: f1((plotX0 + plotX1) / 2), AxisTitleY: f1(chartH - 4),
		YTitleX: f1(-(plotY0 + plotY1) / 2), LegendY: f1(legendY + 4), LegendSwatchY: f1(legendY - 6)}
	minutes := make([]ports.ActivityCount, chartMinutes)
	var peak int64
	for i := range minutes {
		m := from.Add(time.Duration(i) * time.Minute)
		minutes[i] = counts[m.Unix()]
		minutes[i].Minute = m
		for _, s := range specs {
			peak = max(peak, s.value(minutes[i]))
		}
	}
	c.Empty = peak == 0
	step, top := yScale(peak)
	x := func(i int) float64 { return plotX0 + (plotX1-plotX0)*float64(i)/float64(chartMinutes-1) }
	y := func(v int64) float64 { return plotY1 - (plotY1-plotY0)*float64(v)/float64(top) }
	for v := int64(0); v <= top; v += step {
		c.YTicks = append(c.YTicks, chartTick{Y: f1(y(v)), Label: strconv.FormatInt(v, 10)})
	}
	for _, i := range []int{0, 15, 30, 45, chartMinutes - 1} {
		c.XTicks = append(c.XTicks, chartTick{X: f1(x(i)), Label: minutes[i].Minute.Format("15:04")})
	}
	colW := (plotX1 - plotX0) / float64(chartMinutes-1)
	for i, m := range minutes {
		parts := make([]string, 0, len(specs))
		for _, s := range specs {
			parts = append(parts, fmt.Sprintf("%s %d", s.Name, s.value(m)))
		}
		c.Cols = append(c.Cols, chartCol{X: f1(x(i) - colW/2), W: f1(colW),
			Title: m.Minute.Format("15:04") + " UTC: " + strings.Join(parts, ", ")})
	}
	for k, s := range specs {
		cs := chartSeries{Name: s.Name, Class: s.Class, Color: s.Color,
			LegendX: f1(plotX0 + legendStep*float64(k)), TextX: f1(plotX0 + legendStep*float64(k) + 16)}
		pts := make([]string, len(minutes))
		for i, m := range minutes {
			v := s.value(m)
			cs.Total += v
			pts[i] = f1(x(i)) + "," + f1(y(v))
		}
		cs.Points = strings.Join(pts, " ")
		c.Series = append(c.Series, cs)
	}
	return c
}

// yScale picks a round step (1, 2 or 5 × 10^k) giving at most maxYTicks
// intervals, and the top of the axis, a multiple of it at or above peak.
func yScale(peak int64) (step, top int64) {
	if peak <= 0 {
		return 1, 4
	}
	step = 1
	for {
		for _, m := range []int64{1, 2, 5} {
			if s := step * m; (peak+s-1)/s <= maxYTicks-1 {
				return s, s * ((peak + s - 1) / s)
			}
		}
		step *= 10
	}
}

// activity reads the rows of the hour: the cluster's (ids empty) or those
// of the endpoints ids; from is the hour's first minute.
func (d *Dashboard) activity(ctx context.Context, ids []core.EndpointID) (from time.Time, rows []ports.ActivityCount, err error) {
	from, to := hourWindow(d.now())
	if d.deps.Activity == nil {
		return from, nil, nil
	}
	rows, err = d.deps.Activity.Activity(ctx, ports.ActivityQuery{From: from, To: to, EndpointIDs: ids})
	return from, rows, err
}

// byMinute sums rows of one endpoint ("" for the cluster) by minute.
func byMinute(rows []ports.ActivityCount, endpoint core.EndpointID) map[int64]ports.ActivityCount {
	out := make(map[int64]ports.ActivityCount)
	for _, r := range rows {
		if r.EndpointID != endpoint {
			continue
		}
		k := r.Minute.UTC().Truncate(time.Minute).Unix()
		c := out[k]
		c.Accepted += r.Accepted
		c.Delivered += r.Delivered
		c.Retried += r.Retried
		c.Dead += r.Dead
		out[k] = c
	}
	return out
}

// chartFor reads the hour and builds a chart, or one that says why it
// cannot.
func (d *Dashboard) chartFor(ctx context.Context, id, label string, endpoint core.EndpointID, specs []seriesSpec) chart {
	var ids []core.EndpointID
	if endpoint != "" {
		ids = []core.EndpointID{endpoint}
	}
	from, rows, err := d.activity(ctx, ids)
	c := buildChart(id, label, from, byMinute(rows, endpoint), specs)
	switch {
	case d.deps.Activity == nil:
		c.Unavailable = "no activity store: the chart is not available"
	case err != nil:
		d.deps.Logger.WarnContext(ctx, "dashboard: read activity", "error", err)
		c.Unavailable = "the activity could not be read"
	}
	return c
}
