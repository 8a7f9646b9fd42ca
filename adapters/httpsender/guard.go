package httpsender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/webhookd/webhookd/core"
)

// hostKey carries the host being dialled, as the URL wrote it, from
// guardedDial to the dialer's ControlContext, which sees only the IP.
type hostKey struct{}

// guardedDial returns a DialContext that applies policy to every address
// actually dialled: the check runs in ControlContext, after DNS and just
// before connect(2), so every address a name resolves to is judged, not the
// one seen at ingest (DNS rebinding), and Go keeps its own resolution and
// happy-eyeballs racing. net.Dialer derives every per-address context from
// the one given to DialContext, so the host put there reaches the check.
func guardedDial(base net.Dialer, policy core.AddressPolicy) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := base
	d.ControlContext = func(ctx context.Context, _, address string, _ syscall.RawConn) error {
		return checkDial(ctx, policy, address)
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("httpsender: dial address %q: %w", address, err)
		}
		return d.DialContext(context.WithValue(ctx, hostKey{}, host), network, address)
	}
}

// checkDial judges one resolved "ip:port" for the host in ctx. A missing
// host fails closed: no name is then on the allow-list.
func checkDial(ctx context.Context, policy core.AddressPolicy, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed, without the text: it would be a resolved address.
		return errors.New("httpsender: unexpected dial address")
	}
	host, _ := ctx.Value(hostKey{}).(string)
	return policy.CheckAddr(host, ap.Addr(), int(ap.Port()))
}
