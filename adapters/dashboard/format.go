package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/webhookd/webhookd/core"
)

// parseTemplates builds one template set per page: the layout, the shared
// partials and the page's own content.
func (d *Dashboard) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":      d.assetURL,
		"utc":        formatUTC,
		"utcp":       formatUTCPtr,
		"iso":        formatISO,
		"ms":         func(x time.Duration) int64 { return x.Milliseconds() },
		"human":      humanDuration,
		"redact":     core.RedactURL,
		"join":       strings.Join,
		"statusList": func() []core.Status { return core.Statuses },
	}
	out := make(map[string]*template.Template)
	for _, name := range []string{"overview", "events", "event", "endpoints", "endpoint", "login", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: templates of %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func formatUTC(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

func formatUTCPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return formatUTC(*t)
}

func formatISO(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// humanDuration says how long, to the second, in its two largest units:
// "0s", "42s", "3m 5s", "2h 10m", "3d 4h".
func humanDuration(x time.Duration) string {
	if x < time.Second {
		return "0s"
	}
	s := int64(x.Round(time.Second) / time.Second)
	days, s := s/86400, s%86400
	hours, s := s/3600, s%3600
	mins, secs := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	}
	return fmt.Sprintf("%ds", secs)
}

// prettyJSON indents a JSON payload for reading; its numbers and strings
// keep their exact text. Anything that is not JSON is shown as it is.
func prettyJSON(raw []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// --- form input -------------------------------------------------------

// Time inputs accept what a datetime-local field sends (read as UTC) and
// RFC 3339.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"}

func parseWhen(field, raw string) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t.UTC(), nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, raw, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &core.ValidationError{Field: field, Code: "invalid_" + field,
		Message: "must be a date and time like 2026-12-01T09:30 (UTC) or an RFC 3339 time like 2026-12-01T09:30:00Z"}
}

// localValue is t as a datetime-local input shows it (UTC).
func localValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.Nanosecond() != 0 {
		return t.UTC().Format("2006-01-02T15:04:05.999")
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// splitTypes reads an event types field: names separated by commas or
// white space. The service validates them.
func splitTypes(raw string) []string {
	return strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// parseRateLimit reads rate_limit_per_second: empty is 0 (none); the
// service checks the range.
func parseRateLimit(raw string) (int, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, &core.ValidationError{Field: "rate_limit_per_second", Code: "invalid_rate_limit",
			Message: fmt.Sprintf("must be a whole number between 1 and %d, or empty for none", core.MaxRateLimitPerSecond)}
	}
	return n, nil
}

// parseRecoverRate reads rate_per_second: empty is 0 (the default); the
// service checks the range.
func parseRecoverRate(raw string) (float64, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, &core.ValidationError{Field: "rate_per_second", Code: "invalid_rate",
			Message: "must be a number more than 0, or empty for the default"}
	}
	return f, nil
}

// parseEndpointField reads an endpoint id typed into a form.
func parseEndpointField(field, raw string) (core.EndpointID, error) {
	id, err := core.ParseEndpointID(strings.TrimSpace(raw))
	if err != nil {
		return "", &core.ValidationError{Field: field, Code: "invalid_endpoint_id", Message: "must be an endpoint's id (a UUID)"}
	}
	return id, nil
}

// formatRate prints a rate without float noise: 20, 2.5.
func formatRate(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
