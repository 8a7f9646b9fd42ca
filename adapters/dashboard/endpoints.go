package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// endpointsPageSize is how many endpoints a page of the list shows.
const endpointsPageSize = 50

// testEventType is the type of the event "send a test event" submits.
const testEventType = "webhookd.test"

type endpointsData struct {
	Unavailable bool
	Rows        []endpointRow
	Total       int
	Page        int
	Prev, Next  string
	Create      createForm
}

type endpointRow struct {
	core.Endpoint
	Health health
}

// health is an endpoint's last hour, its breaker and its state.
type health struct {
	SuccessRate  string // delivered / (delivered + retried + dead), "—" with no attempt
	Delivered    int64
	Retried      int64
	Dead         int64
	Breaker      string
	BreakerOpen  bool
	Disabled     string // "enabled", or why not
	FailingSince *time.Time
}

// createForm keeps what was typed into form#create-endpoint when it is
// refused.
type createForm struct {
	URL, EventTypes, RateLimit, Description string
}

type endpointData struct {
	Endpoint  core.Endpoint
	Health    health
	Metadata  string
	NewSecret string // set only by the answer to a create or a rotation
	Chart     chart
	Recover   recoverForm
}

// endpointsUnavailable answers the endpoint pages of a process that
// manages none.
func (d *Dashboard) endpointsUnavailable(w http.ResponseWriter, r *http.Request) bool {
	if d.deps.Endpoints != nil {
		return false
	}
	d.render(w, r, page{Name: "endpoints", Title: "Endpoints", Status: http.StatusServiceUnavailable,
		Error: "Endpoints are unavailable in this process.", Data: endpointsData{Unavailable: true}})
	return true
}

func (d *Dashboard) endpointList(w http.ResponseWriter, r *http.Request) {
	if d.endpointsUnavailable(w, r) {
		return
	}
	d.renderEndpoints(w, r, http.StatusOK, "", createForm{})
}

func (d *Dashboard) renderEndpoints(w http.ResponseWriter, r *http.Request, status int, msg string, form createForm) {
	pageNo, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	data := endpointsData{Page: pageNo, Create: form}
	list, err := d.deps.Endpoints.List(r.Context(), ports.EndpointFilter{Page: pageNo, Limit: endpointsPageSize})
	if err != nil {
		status, msg = d.describe(r, err)
		d.render(w, r, page{Name: "endpoints", Title: "Endpoints", Status: status, Error: msg, Data: data})
		return
	}
	data.Total = list.Total
	hs := d.health(r.Context(), list.Endpoints)
	for _, e := range list.Endpoints {
		data.Rows = append(data.Rows, endpointRow{Endpoint: e, Health: hs[e.ID]})
	}
	if pageNo > 1 {
		data.Prev = Prefix + "/endpoints?page=" + strconv.Itoa(pageNo-1)
	}
	if pageNo*endpointsPageSize < list.Total {
		data.Next = Prefix + "/endpoints?page=" + strconv.Itoa(pageNo+1)
	}
	d.render(w, r, page{Name: "endpoints", Title: "Endpoints", Status: status, Error: msg, Data: data})
}

// health reads the endpoints' last hour (one query for all of them) and
// the open targets.
func (d *Dashboard) health(ctx context.Context, eps []core.Endpoint) map[core.EndpointID]health {
	out := make(map[core.EndpointID]health, len(eps))
	if len(eps) == 0 {
		return out
	}
	ids := make([]core.EndpointID, len(eps))
	for i, e := range eps {
		ids[i] = e.ID
	}
	_, rows, err := d.activity(ctx, ids)
	if err != nil {
		d.deps.Logger.WarnContext(ctx, "dashboard: read endpoint activity", "error", err)
	}
	sums := make(map[core.EndpointID]ports.ActivityCount)
	for _, r := range rows {
		s := sums[r.EndpointID]
		s.Delivered += r.Delivered
		s.Retried += r.Retried
		s.Dead += r.Dead
		sums[r.EndpointID] = s
	}
	targets := d.openTargets(ctx)
	for _, e := range eps {
		s := sums[e.ID]
		h := health{Delivered: s.Delivered, Retried: s.Retried, Dead: s.Dead, SuccessRate: "—",
			Disabled: "enabled", FailingSince: e.FailingSince}
		if n := s.Delivered + s.Retried + s.Dead; n > 0 {
			h.SuccessRate = strconv.FormatFloat(100*float64(s.Delivered)/float64(n), 'f', 1, 64) + "%"
		}
		if err != nil {
			h.SuccessRate = "not available"
		}
		origin := e.Origin
		if o, oerr := core.ValidateTargetURL(e.URL); oerr == nil {
			origin = o
		}
		h.Breaker, h.BreakerOpen = breakerOf(origin, targets)
		if e.Disabled {
			h.Disabled = "disabled"
			if e.DisabledReason != "" {
				h.Disabled += ": " + e.DisabledReason
			}
		}
		out[e.ID] = h
	}
	return out
}

func (d *Dashboard) endpoint(w http.ResponseWriter, r *http.Request) {
	if d.endpointsUnavailable(w, r) {
		return
	}
	e, ok := d.loadEndpoint(w, r)
	if ok {
		d.renderEndpoint(w, r, e, "")
	}
}

// loadEndpoint reads the endpoint of the path, or answers 404.
func (d *Dashboard) loadEndpoint(w http.ResponseWriter, r *http.Request) (core.Endpoint, bool) {
	id, err := core.ParseEndpointID(r.PathValue("id"))
	if err != nil {
		d.fail(w, r, "endpoint", http.StatusNotFound, "There is no such endpoint.")
		return core.Endpoint{}, false
	}
	e, err := d.deps.Endpoints.Get(r.Context(), id)
	if errors.Is(err, core.ErrNotFound) {
		d.fail(w, r, "endpoint", http.StatusNotFound, "There is no endpoint "+string(id)+".")
		return core.Endpoint{}, false
	}
	if err != nil {
		d.failErr(w, r, "endpoint", err)
		return core.Endpoint{}, false
	}
	return e, true
}

// renderEndpoint shows an endpoint; secret is a new one, shown this once
// (the answer to a create or a rotation, never a redirect: a secret must
// never be in a URL). The page never reads the endpoint's secret itself.
func (d *Dashboard) renderEndpoint(w http.ResponseWriter, r *http.Request, e core.Endpoint, secret string) {
	data := endpointData{Endpoint: e, Health: d.health(r.Context(), []core.Endpoint{e})[e.ID], NewSecret: secret,
		Chart: d.chartFor(r.Context(), "endpoint-chart", "Delivered, retried and dead per minute, last hour", e.ID,
			[]seriesSpec{seriesDelivered, seriesRetried, seriesDead}),
		Recover: recoverForm{Return: Prefix + "/endpoints/" + string(e.ID), EndpointID: string(e.ID), EndpointHidden: true}}
	if len(e.Metadata) > 0 {
		data.Metadata = prettyJSON(e.Metadata)
	}
	d.render(w, r, page{Name: "endpoint", Title: "Endpoint " + core.RedactURL(e.URL), Data: data})
}

// createEndpoint is POST /dashboard/endpoints: form#create-endpoint.
func (d *Dashboard) createEndpoint(w http.ResponseWriter, r *http.Request) {
	if d.endpointsUnavailable(w, r) {
		return
	}
	form := createForm{URL: strings.TrimSpace(r.PostFormValue("url")), EventTypes: r.PostFormValue("event_types"),
		RateLimit: r.PostFormValue("rate_limit_per_second"), Description: r.PostFormValue("description")}
	rate, err := parseRateLimit(form.RateLimit)
	var created ports.EndpointWithSecret
	if err == nil {
		created, err = d.deps.Endpoints.Create(r.Context(), ports.EndpointSpec{URL: form.URL,
			EventTypes: splitTypes(form.EventTypes), Description: form.Description, RateLimitPerSecond: rate})
	}
	if err != nil {
		status, msg := d.describe(r, err)
		d.renderEndpoints(w, r, status, msg, form)
		return
	}
	d.renderEndpoint(w, r, created.Endpoint, created.Secret)
}

// updateEndpoint is POST /dashboard/endpoints/{id}: form#edit-endpoint.
func (d *Dashboard) updateEndpoint(w http.ResponseWriter, r *http.Request) {
	d.change(w, r, func(ctx context.Context, id core.EndpointID) (flash, error) {
		rate, err := parseRateLimit(r.PostFormValue("rate_limit_per_second"))
		if err != nil {
			return flash{}, err
		}
		types := splitTypes(r.PostFormValue("event_types"))
		desc := r.PostFormValue("description")
		_, err = d.deps.Endpoints.Update(ctx, id, ports.EndpointPatch{EventTypes: &types, RateLimitPerSecond: &rate, Description: &desc})
		return flash{Message: "endpoint updated"}, err
	})
}

func (d *Dashboard) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d.change(w, r, func(ctx context.Context, id core.EndpointID) (flash, error) {
			_, err := d.deps.Endpoints.Update(ctx, id, ports.EndpointPatch{Disabled: &disabled})
			if disabled {
				return flash{Message: "endpoint disabled: its pending deliveries are ended"}, err
			}
			return flash{Message: "endpoint enabled"}, err
		})
	}
}

// change runs an action on the endpoint of the path and goes back to its
// page with the outcome.
func (d *Dashboard) change(w http.ResponseWriter, r *http.Request, act func(context.Context, core.EndpointID) (flash, error)) {
	if d.endpointsUnavailable(w, r) {
		return
	}
	id, err := core.ParseEndpointID(r.PathValue("id"))
	if err != nil {
		d.fail(w, r, "endpoint", http.StatusNotFound, "There is no such endpoint.")
		return
	}
	f, err := act(r.Context(), id)
	back := Prefix + "/endpoints/" + string(id)
	switch {
	case errors.Is(err, core.ErrNotFound):
		d.fail(w, r, "endpoint", http.StatusNotFound, "There is no endpoint "+string(id)+".")
	case err != nil:
		d.done(w, r, back, flash{Error: true, Message: d.message(r, err)})
	default:
		d.done(w, r, back, f)
	}
}

// rotateSecret is POST …/rotate: the new secret is shown once, in the
// answer.
func (d *Dashboard) rotateSecret(w http.ResponseWriter, r *http.Request) {
	if d.endpointsUnavailable(w, r) {
		return
	}
	e, ok := d.loadEndpoint(w, r)
	if !ok {
		return
	}
	secret, err := d.deps.Endpoints.RotateSecret(r.Context(), e.ID, "")
	if err == nil {
		e, err = d.deps.Endpoints.Get(r.Context(), e.ID)
	}
	if err != nil {
		d.done(w, r, Prefix+"/endpoints/"+string(e.ID), flash{Error: true, Message: d.message(r, err)})
		return
	}
	d.renderEndpoint(w, r, e, secret)
}

// testEvent is POST …/test: an event of type webhookd.test to this
// endpoint alone.
func (d *Dashboard) testEvent(w http.ResponseWriter, r *http.Request) {
	d.change(w, r, func(ctx context.Context, id core.EndpointID) (flash, error) {
		payload, _ := json.Marshal(map[string]any{"test": true, "sent_at": d.now().UTC().Format(time.RFC3339Nano)})
		res, err := d.deps.Events.Submit(ctx, ports.Submission{EndpointID: id, EventType: testEventType, Payload: payload})
		if err != nil {
			return flash{}, err
		}
		f := flash{Message: "test event queued", Link: Prefix + "/events/" + string(res.Event.ID), LinkText: string(res.Event.ID)}
		if len(res.Deliveries) == 0 {
			f.Message = "test event stored, but nothing will be sent: the endpoint is disabled"
		}
		return f, nil
	})
}
