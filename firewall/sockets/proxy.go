package sockets

import (
	"net/netip"
	"strconv"
	"strings"
)

// proxyPrograms are the user-space forwarders container engines run for published ports;
// the connection they accept is carried on to the container.
var proxyPrograms = []string{"docker-proxy", "rootlessport", "rootlesskit", "slirp4netns", "pasta"}

// ForwardsTo reads where a container engine's port forwarder sends what it accepts,
// from its command line: docker-proxy's "-container-ip 172.17.0.2 -container-port 80".
// ok is false when p is no such forwarder or its command line does not say.
func ForwardsTo(p Process) (to netip.AddrPort, ok bool) {
	f := strings.Fields(p.Cmdline)
	if len(f) == 0 || !strings.HasSuffix(f[0], "docker-proxy") {
		return netip.AddrPort{}, false
	}
	var ip netip.Addr
	var port uint64
	for i := 1; i+1 < len(f); i++ {
		switch strings.TrimLeft(f[i], "-") {
		case "container-ip":
			ip, _ = netip.ParseAddr(f[i+1])
		case "container-port":
			port, _ = strconv.ParseUint(f[i+1], 10, 16)
		}
	}
	if !ip.IsValid() || port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

// IsForwarder reports whether a process is a container engine's port forwarder.
func IsForwarder(p Process) bool {
	for _, name := range proxyPrograms {
		if p.Comm == name || strings.HasPrefix(p.Comm, name) {
			return true
		}
	}
	_, ok := ForwardsTo(p)
	return ok
}

// Forwarder is the listener a container engine's forwarder holds on port, if any.
func (t *Table) Forwarder(proto string, port uint16) (Socket, bool) {
	for _, s := range t.Listeners() {
		if s.Proto != proto || s.Local.Port() != port {
			continue
		}
		for _, p := range s.Procs {
			if IsForwarder(p) {
				return s, true
			}
		}
	}
	return Socket{}, false
}

// forwardNote says where a forwarder's socket leads: ", forwarding to the container at 172.17.0.2:80".
func forwardNote(s Socket) string {
	for _, p := range s.Procs {
		if to, ok := ForwardsTo(p); ok {
			return ", forwarding to the container at " + to.String()
		}
	}
	for _, p := range s.Procs {
		if IsForwarder(p) {
			return ", a container engine's port forwarder"
		}
	}
	return ""
}
