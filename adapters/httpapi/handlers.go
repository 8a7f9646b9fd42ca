package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	if err := a.events.Ready(ctx); err != nil {
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
	if res.Replayed {
		msg = msgReplayed
		c.Header("Idempotent-Replayed", "true")
	}
	writeJSON(c, http.StatusAccepted, acceptedJSON{ID: res.Event.ID.String(), Status: string(res.Event.Status), Message: msg})
}

func (a *api) list(c *gin.Context) {
	page, limit := pageQuery(c)
	f := ports.ListFilter{Page: page, Limit: limit}
	if s := c.Query("status"); s != "" {
		st, err := core.ParseStatus(s)
		if err != nil {
			writeError(c, err)
			return
		}
		f.Status = st
	}
	res, err := a.events.List(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, newPage(res.Events, res.Total, f.Page, f.Limit, newEventJSON))
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
	out := eventDetailJSON{eventJSON: newEventJSON(d.Event), Attempts: make([]attemptJSON, 0, len(d.Attempts))}
	for _, at := range d.Attempts {
		out.Attempts = append(out.Attempts, newAttemptJSON(at))
	}
	writeJSON(c, http.StatusOK, out)
}

func (a *api) retry(c *gin.Context) {
	id, err := core.ParseEventID(c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	ev, err := a.events.Replay(c.Request.Context(), id)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, acceptedJSON{ID: ev.ID.String(), Status: string(ev.Status), Message: msgRetry})
}
