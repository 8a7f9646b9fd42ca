package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Seed-compatible messages.
const (
	msgAccepted = "Event accepted for processing"
	msgReplayed = "Event already accepted (Idempotency-Key replay)"
	msgRetry    = "Event queued for redelivery"
	// An event routed to endpoints when none is enabled and subscribed:
	// stored (it can be listed), but nothing is sent.
	msgNoDelivery = "Event accepted; no enabled endpoint is subscribed to it, so nothing will be delivered"
)

// List paging, as the seed did it: junk never fails, it falls back. The
// largest limit is ports.MaxListLimit.
const (
	defaultLimit = 20
	// maxPage keeps (page-1)*limit far from overflowing an offset.
	maxPage = 1_000_000
)

// readyTimeout bounds the store ping, so /ready answers even when the
// database hangs instead of refusing.
const readyTimeout = 2 * time.Second

func (a *api) health(c *gin.Context) {
	writeJSON(c, http.StatusOK, gin.H{"status": "ok"})
}

func (a *api) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := a.isReady(ctx); err != nil {
		// Whatever failed (refusal, timeout), the answer is "not ready".
		if !errors.Is(err, core.ErrUnavailable) {
			err = fmt.Errorf("httpapi: ready: %w: %w", core.ErrUnavailable, err)
		}
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, gin.H{"status": "ready"})
}

func (a *api) submit(c *gin.Context) {
	if err := refuseDeliveries(c); err != nil {
		writeError(c, err)
		return
	}
	if err := checkJSONContentType(c); err != nil {
		writeError(c, err)
		return
	}
	body, err := readBody(c, a.maxBody)
	if err != nil {
		writeError(c, err)
		return
	}
	req, err := parseSubmitRequest(body)
	if err != nil {
		writeError(c, err)
		return
	}
	res, err := a.events.Submit(c.Request.Context(), req.submission(c.GetHeader("Idempotency-Key")))
	if err != nil {
		writeError(c, err)
		return
	}
	msg := msgAccepted
	switch {
	case res.Replayed:
		msg = msgReplayed
		c.Header("Idempotent-Replayed", "true")
	case len(res.Deliveries) == 0:
		msg = msgNoDelivery
	}
	writeJSON(c, http.StatusAccepted, acceptedJSON{ID: res.Event.ID.String(), Status: string(core.EventStatus(res.Deliveries)),
		Message: msg, Deliveries: len(res.Deliveries)})
}

// pageQuery reads page and limit the seed's way (see clampQuery).
func pageQuery(c *gin.Context) (page, limit int) {
	return clampQuery(c.Query("page"), 1, 1, maxPage), clampQuery(c.Query("limit"), defaultLimit, 1, ports.MaxListLimit)
}

// clampQuery parses a paging parameter the seed's way: absent, junk or 0
// gives def; anything else is clamped to [lo, hi] (huge values included).
func clampQuery(raw string, def, lo, hi int) int {
	n, err := strconv.Atoi(raw)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return def
	}
	if n == 0 {
		return def
	}
	return min(max(n, lo), hi)
}

func (a *api) get(c *gin.Context) {
	id, err := core.ParseEventID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	d, err := a.events.Get(c.Request.Context(), id)
	if err != nil {
		writeError(c, err)
		return
	}
	rec := ports.EventRecord{Event: d.Event}
	for _, dd := range d.Deliveries {
		rec.Deliveries = append(rec.Deliveries, dd.Delivery)
	}
	out := eventDetailJSON{eventJSON: newEventJSON(rec), Attempts: []attemptJSON{}}
	for i, dd := range d.Deliveries {
		atts := make([]attemptJSON, 0, len(dd.Attempts))
		for _, at := range dd.Attempts {
			atts = append(atts, newAttemptJSON(at))
		}
		out.Deliveries[i].Attempts = atts
		out.Attempts = append(out.Attempts, atts...)
	}
	// The seed's list of attempts, in the order they started.
	slices.SortStableFunc(out.Attempts, func(a, b attemptJSON) int { return strings.Compare(a.StartedAt, b.StartedAt) })
	writeJSON(c, http.StatusOK, out)
}

func (a *api) retry(c *gin.Context) {
	id, err := core.ParseEventID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	rec, err := a.events.Replay(c.Request.Context(), id)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, acceptedJSON{ID: rec.Event.ID.String(), Status: string(core.EventStatus(rec.Deliveries)),
		Message: msgRetry, Deliveries: len(rec.Deliveries)})
}

// retryDelivery replays one delivery of an event.
func (a *api) retryDelivery(c *gin.Context) {
	id, err := core.ParseEventID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	did, err := core.ParseEventID(c.Param("delivery_id"))
	if err != nil {
		writeError(c, &apiError{Status: http.StatusBadRequest, Code: "invalid_id",
			Message: "delivery_id must be a UUID", Field: "delivery_id"})
		return
	}
	d, err := a.events.ReplayDelivery(c.Request.Context(), id, did)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, gin.H{"id": id.String(), "delivery_id": d.ID.String(), "status": string(d.Status),
		"message": "Delivery queued for redelivery"})
}
