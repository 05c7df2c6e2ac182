package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/firewall/sockets"
)

// ErrNoSockets means the socket table was neither read from this host nor given as files.
var ErrNoSockets = errors.New("no socket table: run portpath on the server, or give --proc-net DIR")

// Listener is a listening socket with the addresses clients would use to reach it.
type Listener struct {
	Socket sockets.Socket
	// Addrs are the destination addresses to evaluate: the bound address, or for a wildcard
	// the host addresses of the families it accepts. Empty for a loopback socket, or a
	// wildcard when no host address is known.
	Addrs []netip.Addr
	// Loopback is true when only this host can reach the socket.
	Loopback bool
}

// Listeners lists the host's listening sockets, one per protocol, address and port (sockets
// sharing one by SO_REUSEPORT are one, with all their processes). A wildcard socket is
// evaluated at every one of hostAddrs of a family it accepts.
func (h *Host) Listeners(hostAddrs []netip.Addr) ([]Listener, error) {
	if h.sockets == nil {
		if h.sockErr != nil {
			return nil, fmt.Errorf("read the listening sockets: %w", h.sockErr)
		}
		return nil, ErrNoSockets
	}
	var out []Listener
	for _, s := range h.sockets.Listeners() {
		if n := len(out); n > 0 && out[n-1].Socket.Proto == s.Proto && out[n-1].Socket.Local == s.Local && out[n-1].Socket.Iface == s.Iface {
			prev := &out[n-1].Socket
			for _, p := range s.Procs {
				if !slices.ContainsFunc(prev.Procs, func(q sockets.Process) bool { return q.PID == p.PID }) {
					prev.Procs = append(slices.Clip(prev.Procs), p)
				}
			}
			continue
		}
		l := Listener{Socket: s}
		a := s.Local.Addr()
		switch {
		case a.Unmap().IsLoopback():
			l.Loopback = true
		case !a.IsUnspecified():
			l.Addrs = []netip.Addr{a.Unmap()}
		default:
			v4 := a.Is4() || s.V6Only != sockets.Yes // a v6 wildcard takes IPv4 too unless IPV6_V6ONLY
			for _, ha := range hostAddrs {
				if ha.Is4() && v4 || ha.Is6() && a.Is6() {
					l.Addrs = append(l.Addrs, ha)
				}
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// ExternalAddrs are this host's addresses that outside clients can use: those of interfaces
// that are up, leaving out loopback, link-local and container or overlay devices.
func ExternalAddrs() ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || netfilter.IsInternalIface(ifc.Name) {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			if ad := p.Addr().Unmap(); !ad.IsLinkLocalUnicast() && !ad.IsLoopback() {
				out = append(out, ad)
			}
		}
	}
	return out, nil
}
