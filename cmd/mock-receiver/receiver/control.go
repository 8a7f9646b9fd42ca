package receiver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Mode is how POST /webhook answers; tests and fault drills switch it at
// run time through /control.
type Mode string

const (
	// ModeChaos is the env-configured behaviour (the default).
	ModeChaos Mode = "chaos"
	// ModeOK answers 200 to every verified request, after DelayMS.
	ModeOK Mode = "ok"
	// ModeDown drops the connection without answering, like a dead server.
	ModeDown Mode = "down"
	// ModeStatus answers Status (and Retry-After when set) to every
	// verified request, after DelayMS.
	ModeStatus Mode = "status"
)

// maxControlDelay keeps a typo in delay_ms from wedging a test for hours.
const maxControlDelay = 10 * time.Minute

// Control is the runtime mode, the JSON body of /control.
type Control struct {
	Mode       Mode   `json:"mode"`
	Status     int    `json:"status,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	DelayMS    int    `json:"delay_ms,omitempty"`
}

// Validate rejects fields that do not fit the mode, so that a test asking
// for something the receiver would silently ignore fails loudly.
func (c Control) Validate() error {
	switch c.Mode {
	case ModeChaos, ModeOK, ModeDown, ModeStatus:
	default:
		return fmt.Errorf(`mode must be "chaos", "ok", "down" or "status", got %q`, c.Mode)
	}
	if c.Mode == ModeStatus {
		if c.Status < 200 || c.Status > 599 {
			return fmt.Errorf("status must be 200–599 in mode status, got %d", c.Status)
		}
	} else if c.Status != 0 || c.RetryAfter != "" {
		return fmt.Errorf("status and retry_after only apply to mode status, not %q", c.Mode)
	}
	if c.DelayMS < 0 || time.Duration(c.DelayMS)*time.Millisecond > maxControlDelay {
		return fmt.Errorf("delay_ms must be 0–%d, got %d", maxControlDelay.Milliseconds(), c.DelayMS)
	}
	if c.Mode == ModeChaos && c.DelayMS != 0 {
		return fmt.Errorf("delay_ms does not apply to mode chaos (it uses MIN_DELAY_MS/MAX_DELAY_MS)")
	}
	return nil
}

func (c Control) delay() time.Duration { return time.Duration(c.DelayMS) * time.Millisecond }

// SetControl switches the mode; in-process tests may call it directly
// instead of POST /control.
func (r *Receiver) SetControl(c Control) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("receiver: control: %w", err)
	}
	r.control.Store(&c)
	r.log.Info("control", "mode", c.Mode, "status", c.Status, "retry_after", c.RetryAfter, "delay_ms", c.DelayMS)
	return nil
}

// Control returns the current mode.
func (r *Receiver) Control() Control { return *r.control.Load() }

func (r *Receiver) handleGetControl(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, r.Control())
}

func (r *Receiver) handlePostControl(w http.ResponseWriter, req *http.Request) {
	var c Control
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "control body: "+err.Error())
		return
	}
	if err := r.SetControl(c); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, r.Control())
}
