package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// eventsPageSize is how many events a page of the list shows.
const eventsPageSize = 50

// eventFilterNames are the list's filters, named as the API's query
// parameters.
var eventFilterNames = []string{"status", "endpoint_id", "event_type", "origin", "created_after", "created_before"}

type eventsData struct {
	Filters map[string]string // the form's values
	Rows    []eventRow
	Total   string
	Next    string // the next page's URL, "" on the last
	First   string
	Paged   bool // showing a page after the first
	Recover recoverForm
}

type eventRow struct {
	ID         core.EventID
	CreatedAt  time.Time
	EventType  string
	Status     core.Status
	Deliveries int
	Attempts   int
}

// recoverForm pre-fills form#recover.
type recoverForm struct {
	Return         string
	Status         string // dead (the default) or succeeded
	EndpointID     string
	EndpointHidden bool // on an endpoint's page: its id, hidden
	Origin         string
	CreatedAfter   string
	CreatedBefore  string
}

// listFilter reads the events page's query with the API's rules (and
// messages). It also returns the filters normalized for links, and the
// values for the form.
func listFilter(q url.Values) (ports.ListFilter, url.Values, map[string]string, error) {
	var f ports.ListFilter
	links := url.Values{}
	form := make(map[string]string, len(eventFilterNames))
	raw := func(name string) string { return strings.TrimSpace(q.Get(name)) }
	for _, name := range eventFilterNames {
		form[name] = raw(name)
	}
	var errs []error
	if s := raw("status"); s != "" {
		st, err := core.ParseStatus(s)
		errs = append(errs, err)
		f.Status = st
	}
	if s := raw("endpoint_id"); s != "" {
		id, err := parseEndpointField("endpoint_id", s)
		errs = append(errs, err)
		f.EndpointID = id
	}
	if s := raw("event_type"); s != "" {
		err := core.ValidateEventType(s)
		errs = append(errs, err)
		if err == nil {
			f.EventType = s
		}
	}
	if s := raw("origin"); s != "" {
		o, err := core.ParseOrigin(s)
		errs = append(errs, err)
		f.Origin = o
	}
	for _, w := range []struct {
		name string
		to   *time.Time
	}{{"created_after", &f.Window.From}, {"created_before", &f.Window.To}} {
		if s := raw(w.name); s != "" {
			t, err := parseWhen(w.name, s)
			errs = append(errs, err)
			if err == nil {
				*w.to = t
				form[w.name] = localValue(t)
			}
		}
	}
	if err := firstError(errs); err != nil {
		return f, nil, form, err
	}
	for _, name := range []string{"status", "endpoint_id", "event_type", "origin"} {
		if form[name] != "" {
			links.Set(name, form[name])
		}
	}
	if !f.Window.From.IsZero() {
		links.Set("created_after", f.Window.From.Format(time.RFC3339Nano))
	}
	if !f.Window.To.IsZero() {
		links.Set("created_before", f.Window.To.Format(time.RFC3339Nano))
	}
	if s := raw("cursor"); s != "" {
		cur, err := ports.ParseListCursor(s)
		if err != nil {
			return f, nil, form, err
		}
		f.After = &cur
	}
	return f, links, form, nil
}

// firstError returns the first error of errs that is not nil: a page
// shows one problem at a time, as the API does.
func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	f, links, form, err := listFilter(r.URL.Query())
	data := eventsData{Filters: form, First: Prefix + "/events", Recover: d.recoverDefaults(r, form)}
	if err != nil {
		status, msg := d.describe(r, err)
		d.render(w, r, page{Name: "events", Title: "Events", Status: status, Error: msg, Data: data})
		return
	}
	if len(links) > 0 {
		data.First += "?" + links.Encode()
	}
	data.Paged = f.After != nil
	f.Page, f.Limit = 1, eventsPageSize
	res, err := d.deps.Events.List(r.Context(), f)
	if err != nil {
		status, msg := d.describe(r, err)
		d.render(w, r, page{Name: "events", Title: "Events", Status: status, Error: msg, Data: data})
		return
	}
	for _, rec := range res.Events {
		row := eventRow{ID: rec.Event.ID, CreatedAt: rec.Event.CreatedAt, EventType: rec.Event.EventType,
			Status: core.EventStatus(rec.Deliveries), Deliveries: len(rec.Deliveries)}
		for _, dl := range rec.Deliveries {
			row.Attempts += dl.AttemptedCount
		}
		data.Rows = append(data.Rows, row)
	}
	data.Total = fmt.Sprintf("%d matching events", res.Total)
	if !res.TotalExact {
		data.Total = fmt.Sprintf("at least %d matching events", res.Total)
	}
	if res.Next != nil {
		next := url.Values{}
		for k, v := range links {
			next[k] = v
		}
		next.Set("cursor", res.Next.String())
		data.Next = Prefix + "/events?" + next.Encode()
	}
	d.render(w, r, page{Name: "events", Title: "Events", Data: data})
}

// recoverDefaults pre-fills the events page's form#recover with the
// list's filters: what you see is what you recover. Without an endpoint,
// an origin or a start, it offers the last 24 hours, since a recovery
// needs one of them (no one replays a whole history by accident).
func (d *Dashboard) recoverDefaults(r *http.Request, form map[string]string) recoverForm {
	rf := recoverForm{Return: safeReturn(r.URL.RequestURI(), Prefix+"/events"), Status: form["status"],
		EndpointID: form["endpoint_id"], Origin: form["origin"],
		CreatedAfter: form["created_after"], CreatedBefore: form["created_before"]}
	if rf.EndpointID == "" && rf.Origin == "" && rf.CreatedAfter == "" {
		rf.CreatedAfter = localValue(d.now().Add(-recoverDefaultWindow).UTC().Truncate(time.Minute))
	}
	return rf
}

// recoverDefaultWindow is how far back the events page's recover form
// reaches when the list names no endpoint, origin or start.
const recoverDefaultWindow = 24 * time.Hour

type eventData struct {
	Event      core.Event
	Status     core.Status
	Payload    string
	Deliveries []deliveryView
}

type deliveryView struct {
	core.Delivery
	Attempts   []core.Attempt
	Replayable bool
}

func (d *Dashboard) event(w http.ResponseWriter, r *http.Request) {
	id, err := core.ParseEventID(r.PathValue("id"))
	if err != nil {
		d.fail(w, r, "event", http.StatusNotFound, "There is no such event.")
		return
	}
	det, err := d.deps.Events.Get(r.Context(), id)
	if errors.Is(err, core.ErrNotFound) {
		d.fail(w, r, "event", http.StatusNotFound, "There is no event "+string(id)+".")
		return
	}
	if err != nil {
		d.failErr(w, r, "event", err)
		return
	}
	data := eventData{Event: det.Event, Payload: prettyJSON(det.Event.Payload())}
	ds := make([]core.Delivery, 0, len(det.Deliveries))
	for _, dd := range det.Deliveries {
		ds = append(ds, dd.Delivery)
		data.Deliveries = append(data.Deliveries, deliveryView{Delivery: dd.Delivery, Attempts: dd.Attempts,
			Replayable: dd.Delivery.Status.Finished()})
	}
	data.Status = core.EventStatus(ds)
	d.render(w, r, page{Name: "event", Title: "Event " + string(id), Data: data})
}

// replay is POST …/events/{id}/deliveries/{delivery}/replay.
func (d *Dashboard) replay(w http.ResponseWriter, r *http.Request) {
	id, err1 := core.ParseEventID(r.PathValue("id"))
	did, err2 := core.ParseEventID(r.PathValue("delivery"))
	if err1 != nil || err2 != nil {
		d.fail(w, r, "event", http.StatusNotFound, "There is no such delivery.")
		return
	}
	back := Prefix + "/events/" + string(id)
	_, err := d.deps.Events.ReplayDelivery(r.Context(), id, did)
	switch {
	case errors.Is(err, core.ErrNotFound):
		d.fail(w, r, "event", http.StatusNotFound, "There is no delivery "+string(did)+" of event "+string(id)+".")
	case err != nil:
		d.done(w, r, back, flash{Error: true, Message: d.message(r, err)})
	default:
		d.done(w, r, back, flash{Message: "delivery queued again"})
	}
}

// recoverDeliveries is POST /dashboard/recover: form#recover.
func (d *Dashboard) recoverDeliveries(w http.ResponseWriter, r *http.Request) {
	back := safeReturn(r.PostFormValue("return"), Prefix+"/events")
	req, err := recoverRequest(r)
	if err == nil {
		var res ports.RecoverResult
		res, err = d.deps.Events.Recover(r.Context(), req)
		if err == nil {
			rate := req.RatePerSecond
			if rate == 0 {
				rate = ports.DefaultRecoverRate
			}
			msg := fmt.Sprintf("%d deliveries queued (at most %s/s per target)", res.Queued, formatRate(rate))
			if res.More {
				msg += fmt.Sprintf("; more than %d matched: send the form again to queue the rest", ports.RecoverMax)
			}
			d.done(w, r, back, flash{Message: msg})
			return
		}
	}
	d.done(w, r, back, flash{Error: true, Message: d.message(r, err)})
}

func recoverRequest(r *http.Request) (ports.RecoverRequest, error) {
	var req ports.RecoverRequest
	val := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	var err error
	if s := val("status"); s != "" {
		if req.Filter.Status, err = core.ParseStatus(s); err != nil {
			return req, err
		}
	}
	if s := val("endpoint_id"); s != "" {
		if req.Filter.EndpointID, err = parseEndpointField("endpoint_id", s); err != nil {
			return req, err
		}
	}
	if s := val("origin"); s != "" {
		if req.Filter.Origin, err = core.ParseOrigin(s); err != nil {
			return req, err
		}
	}
	if s := val("created_after"); s != "" {
		if req.Filter.Window.From, err = parseWhen("created_after", s); err != nil {
			return req, err
		}
	}
	if s := val("created_before"); s != "" {
		if req.Filter.Window.To, err = parseWhen("created_before", s); err != nil {
			return req, err
		}
	}
	if req.RatePerSecond, err = parseRecoverRate(val("rate_per_second")); err != nil {
		return req, err
	}
	return req, nil
}
