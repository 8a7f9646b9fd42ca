package ports

import "time"

// Clock is the only source of "now" in core.
type Clock interface {
	Now() time.Time
}
