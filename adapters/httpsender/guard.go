package httpsender

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/webhookd/webhookd/core"
)

// blockedError is a dial refused by the SSRF guard.
type blockedError struct {
	addr netip.Addr
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("blocked: %s is a private address (set ALLOW_PRIVATE_TARGETS=true to allow)", e.addr)
}

// guardDial is a net.Dialer ControlContext: it runs after DNS resolution,
// just before connect(2), with the literal IP being dialled, so every
// address a name resolves to is checked, not just the one seen at ingest.
func guardDial(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("httpsender: unexpected dial address %q: %w", address, err)
	}
	if core.PrivateAddr(ap.Addr()) {
		return &blockedError{addr: ap.Addr().Unmap()}
	}
	return nil
}
