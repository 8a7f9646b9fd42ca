package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/webhookd/webhookd/ports"
)

// targetDTO is one target's circuit breaker, as GET /targets shows it.
type targetDTO struct {
	Origin              string  `json:"origin"`
	State               string  `json:"state"`
	ConsecutiveFailures int     `json:"consecutive_failures"`
	OpenedAt            *string `json:"opened_at"`
	OpenUntil           *string `json:"open_until"`
}

func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return formatTimePtr(&t)
}

// targets lists this process's circuit breakers, non-closed first. Each
// dispatcher process has its own breakers; this is the local view.
func (a *api) targets(c *gin.Context) {
	var states []ports.TargetState
	if a.breakers != nil {
		states = a.breakers.Targets()
	}
	out := make([]targetDTO, len(states))
	for i, s := range states {
		out[i] = targetDTO{Origin: s.Origin, State: s.State, ConsecutiveFailures: s.ConsecutiveFailures,
			OpenedAt: optionalTime(s.OpenedAt), OpenUntil: optionalTime(s.OpenUntil)}
	}
	writeJSON(c, http.StatusOK, gin.H{"data": out})
}
