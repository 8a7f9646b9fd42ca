package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// eventPageJSON is GET /events: the seed's page (data, total, page,
// limit), whether total is exact (it is counted up to
// ports.ListTotalCap), and the cursor of the next page, null on the last.
type eventPageJSON struct {
	pageJSON[eventJSON]
	TotalExact bool    `json:"total_exact"`
	NextCursor *string `json:"next_cursor"`
}

func (a *api) list(c *gin.Context) {
	page, limit := pageQuery(c)
	f, err := listFilter(c)
	if err != nil {
		writeError(c, err)
		return
	}
	f.Page, f.Limit = page, limit
	res, err := a.events.List(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	out := eventPageJSON{pageJSON: newPage(res.Events, res.Total, f.Page, f.Limit, newListedEventJSON), TotalExact: res.TotalExact}
	if res.Next != nil {
		next := res.Next.String()
		out.NextCursor = &next
	}
	writeJSON(c, http.StatusOK, out)
}

// newListedEventJSON is an event in a list: as GET /events/:id shows it,
// but without a body larger than ports.ListBodyMax (payload null,
// payload_omitted true, body_bytes its size), so that a page stays small
// however large the events are.
func newListedEventJSON(rec ports.EventRecord) eventJSON {
	out := newEventJSON(rec)
	if rec.Event.Body == nil && rec.BodySize > 0 {
		out.PayloadOmitted, out.BodyBytes = true, rec.BodySize
	}
	return out
}

// listFilter reads GET /events' filters: status, endpoint_id, event_type,
// origin, created_after, created_before and cursor.
func listFilter(c *gin.Context) (ports.ListFilter, error) {
	var f ports.ListFilter
	if s := c.Query("status"); s != "" {
		st, err := core.ParseStatus(s)
		if err != nil {
			return f, err
		}
		f.Status = st
	}
	if s := c.Query("endpoint_id"); s != "" {
		id, err := parseEndpointIDField(s)
		if err != nil {
			return f, err
		}
		f.EndpointID = id
	}
	if s := c.Query("event_type"); s != "" {
		if err := core.ValidateEventType(s); err != nil {
			return f, err
		}
		f.EventType = s
	}
	if s := c.Query("origin"); s != "" {
		o, err := core.ParseOrigin(s)
		if err != nil {
			return f, err
		}
		f.Origin = o
	}
	var err error
	if f.Window, err = parseWindow(c.Query("created_after"), c.Query("created_before")); err != nil {
		return f, err
	}
	if s := c.Query("cursor"); s != "" {
		cur, err := ports.ParseListCursor(s)
		if err != nil {
			return f, err
		}
		f.After = &cur
	}
	return f, nil
}

func parseEndpointIDField(s string) (core.EndpointID, error) {
	id, err := core.ParseEndpointID(s)
	if err != nil {
		return "", &apiError{Status: http.StatusBadRequest, Code: "invalid_endpoint_id",
			Message: "endpoint_id must be an endpoint's id (a UUID)", Field: "endpoint_id"}
	}
	return id, nil
}

// parseWindow reads created_after (inclusive) and created_before
// (exclusive), RFC 3339 times; either may be empty.
func parseWindow(after, before string) (ports.TimeWindow, error) {
	var w ports.TimeWindow
	for _, p := range []struct {
		name, raw string
		to        *time.Time
	}{{"created_after", after, &w.From}, {"created_before", before, &w.To}} {
		if p.raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p.raw)
		if err != nil {
			return w, &apiError{Status: http.StatusBadRequest, Code: "invalid_" + p.name, Field: p.name,
				Message: p.name + " must be an RFC 3339 time like 2026-12-01T09:30:00Z"}
		}
		*p.to = t.UTC()
	}
	return w, nil
}

var recoverFields = []string{"status", "endpoint_id", "origin", "created_after", "created_before", "rate_per_second"}

// recoveredJSON answers POST /events/recover.
type recoveredJSON struct {
	Queued        int     `json:"queued"`
	More          bool    `json:"more"`
	RatePerSecond float64 `json:"rate_per_second"`
	Message       string  `json:"message"`
}

// recoverEvents is POST /events/recover: the finished deliveries a filter
// matches are queued again, paced per origin.
func (a *api) recoverEvents(c *gin.Context) {
	top, err := a.readObject(c, `{"endpoint_id":"…","created_after":"2026-12-01T00:00:00Z"}`)
	if err != nil {
		writeError(c, err)
		return
	}
	req, err := parseRecoverRequest(top)
	if err != nil {
		writeError(c, err)
		return
	}
	res, err := a.events.Recover(c.Request.Context(), req)
	if err != nil {
		writeError(c, err)
		return
	}
	rate := req.RatePerSecond
	if rate == 0 {
		rate = ports.DefaultRecoverRate
	}
	msg := fmt.Sprintf("%d deliveries queued, at most %g per second to each target", res.Queued, rate)
	if res.More {
		msg += fmt.Sprintf("; more matched than %d: call again to queue the rest", ports.RecoverMax)
	}
	writeJSON(c, http.StatusAccepted, recoveredJSON{Queued: res.Queued, More: res.More, RatePerSecond: rate, Message: msg})
}

func parseRecoverRequest(top map[string]json.RawMessage) (ports.RecoverRequest, error) {
	var r ports.RecoverRequest
	if err := checkFields(top, recoverFields); err != nil {
		return r, err
	}
	// The string members, in recoverFields' order, so that the first
	// mistake reported does not depend on map order.
	vals := make(map[string]string, len(recoverFields))
	for _, name := range recoverFields[:5] {
		raw, ok := top[name]
		if !ok || isNull(raw) {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return r, fieldError(name, "invalid_"+name, name+" must be a string")
		}
		vals[name] = s
	}
	status, endpoint, origin, after, before := vals["status"], vals["endpoint_id"], vals["origin"], vals["created_after"], vals["created_before"]
	var err error
	if status != "" {
		if r.Filter.Status, err = core.ParseStatus(status); err != nil {
			return r, err
		}
	}
	if endpoint != "" {
		if r.Filter.EndpointID, err = parseEndpointIDField(endpoint); err != nil {
			return r, err
		}
	}
	if origin != "" {
		if r.Filter.Origin, err = core.ParseOrigin(origin); err != nil {
			return r, err
		}
	}
	if r.Filter.Window, err = parseWindow(after, before); err != nil {
		return r, err
	}
	if raw, ok := top["rate_per_second"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &r.RatePerSecond) != nil || !(r.RatePerSecond > 0) || math.IsInf(r.RatePerSecond, 0) {
			return r, fieldError("rate_per_second", "invalid_rate",
				fmt.Sprintf("rate_per_second must be a number more than 0 and at most %d", ports.MaxRecoverRate))
		}
	}
	return r, nil
}
