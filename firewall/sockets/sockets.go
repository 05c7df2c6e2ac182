// Package sockets reads a host's socket table (/proc/net/{tcp,tcp6,udp,udp6}, the owning
// processes, and what only the kernel's sock_diag knows: IPV6_V6ONLY, the bound device and
// the listen backlog) and says whether a connection to one address and port finds a socket.
//
// The parsers and the analysis are pure; Read is the only part that touches the host.
package sockets

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// TCP states as /proc/net/tcp prints them (include/net/tcp_states.h).
const (
	StateEstablished uint8 = 0x01
	StateSynSent     uint8 = 0x02
	StateSynRecv     uint8 = 0x03
	StateFinWait1    uint8 = 0x04
	StateFinWait2    uint8 = 0x05
	StateTimeWait    uint8 = 0x06
	// StateClose is also the state of an unconnected UDP socket.
	StateClose      uint8 = 0x07
	StateCloseWait  uint8 = 0x08
	StateLastAck    uint8 = 0x09
	StateListen     uint8 = 0x0A
	StateClosing    uint8 = 0x0B
	StateNewSynRecv uint8 = 0x0C
)

var stateNames = map[uint8]string{
	StateEstablished: "ESTABLISHED",
	StateSynSent:     "SYN_SENT",
	StateSynRecv:     "SYN_RECV",
	StateFinWait1:    "FIN_WAIT1",
	StateFinWait2:    "FIN_WAIT2",
	StateTimeWait:    "TIME_WAIT",
	StateClose:       "CLOSE",
	StateCloseWait:   "CLOSE_WAIT",
	StateLastAck:     "LAST_ACK",
	StateListen:      "LISTEN",
	StateClosing:     "CLOSING",
	StateNewSynRecv:  "NEW_SYN_RECV",
}

// StateName is the kernel's name of a TCP state ("LISTEN", "TIME_WAIT"); unknown states print as hex.
func StateName(st uint8) string {
	if n, ok := stateNames[st]; ok {
		return n
	}
	return fmt.Sprintf("0x%02X", st)
}

// Tri is a yes/no answer that may be unknown; the zero value is Unknown.
type Tri uint8

const (
	Unknown Tri = iota
	Yes
	No
)

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// Process is a process holding a socket open.
type Process struct {
	PID int
	// Comm is the short command name (/proc/PID/comm, at most 15 bytes).
	Comm string
	// Cmdline is the command line with arguments joined by spaces; empty for kernel threads.
	Cmdline string
}

// Socket is one row of /proc/net/{tcp,tcp6,udp,udp6}, with what else is known about it.
type Socket struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Local and Remote are the socket's addresses. A socket of the tcp6/udp6 files has a
	// 16-byte address even when it is IPv4-mapped (::ffff:a.b.c.d), so Local.Addr().Is4()
	// tells an AF_INET socket from an AF_INET6 one.
	Local  netip.AddrPort
	Remote netip.AddrPort
	// State is the kernel state (StateListen, StateClose, …).
	State uint8
	// Inode identifies the socket; 0 for TIME_WAIT and request sockets, which no process holds.
	Inode uint64
	// UID owns the socket.
	UID int
	// RxQueue is, for a TCP listener, the number of connections waiting in the accept queue;
	// for other sockets, bytes not yet read.
	RxQueue int
	// Backlog is a TCP listener's accept-queue limit; 0 when unknown (it is not in /proc).
	Backlog int
	// V6Only is IPV6_V6ONLY of an AF_INET6 socket; Unknown for AF_INET sockets and when
	// it could not be read (it is not in /proc).
	V6Only Tri
	// Iface is the device the socket is bound to (SO_BINDTODEVICE); empty when it is bound
	// to none or when that could not be read (Table.Kernel says which).
	Iface string
	// Procs are the processes holding the socket, by PID; several share one socket in
	// prefork servers and under socket activation.
	Procs []Process
}

// IsV6 reports whether the socket is AF_INET6 (including IPv4-mapped addresses).
func (s Socket) IsV6() bool { return s.Local.Addr().Is6() }

// Listening reports whether the socket accepts new connections or datagrams from anyone:
// a TCP socket in LISTEN, or an unconnected UDP socket.
func (s Socket) Listening() bool {
	switch s.Proto {
	case "tcp":
		return s.State == StateListen
	case "udp":
		return s.State == StateClose && s.Remote.Port() == 0
	}
	return false
}

// Address prints the local address the way ss does, with the bound device: "0.0.0.0%eth0:80".
func (s Socket) Address() string {
	a := s.Local.Addr()
	host := a.String()
	if a.Is6() {
		host = "[" + host + "]"
	}
	if s.Iface != "" {
		host += "%" + s.Iface
	}
	return host + ":" + strconv.Itoa(int(s.Local.Port()))
}

// Table is a host's socket table.
type Table struct {
	// Sockets are the rows of the files read, in file order (tcp, tcp6, udp, udp6).
	Sockets []Socket
	// Dir is the directory the files were read from.
	Dir string
	// Live is true when Dir is this host's own /proc/net.
	Live bool
	// Missing names the files of the four that were not there.
	Missing []string
	// Kernel says where V6Only, Iface and Backlog come from: "sock_diag", "ss" or a file
	// of ss output; empty when they are unknown, and KernelNote says why.
	Kernel     string
	KernelNote string
	// OwnersRead is true when processes were searched for socket owners; OwnersNote says
	// why owners are missing or may be incomplete, empty when every process could be read.
	OwnersRead bool
	OwnersNote string
}

// Listeners are the listening sockets (Socket.Listening), sorted by port, protocol and address.
func (t *Table) Listeners() []Socket {
	var out []Socket
	for _, s := range t.Sockets {
		if s.Listening() {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, compareSockets)
	return out
}

// Connections are the sockets that do not listen (established, TIME_WAIT, connected UDP, …),
// sorted by local port, protocol and addresses.
func (t *Table) Connections() []Socket {
	var out []Socket
	for _, s := range t.Sockets {
		if !s.Listening() {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, compareSockets)
	return out
}

func compareSockets(a, b Socket) int {
	return cmp.Or(
		cmp.Compare(a.Local.Port(), b.Local.Port()),
		cmp.Compare(a.Proto, b.Proto),
		a.Local.Addr().Compare(b.Local.Addr()),
		a.Remote.Compare(b.Remote),
	)
}
