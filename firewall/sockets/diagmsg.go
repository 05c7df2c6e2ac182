package sockets

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// The sock_diag protocol (linux/sock_diag.h, linux/inet_diag.h). Integers are in host byte
// order except ports and addresses inside inet_diag_sockid.
const (
	nlmsgHdrLen       = 16 // struct nlmsghdr
	diagReqLen        = 56 // struct inet_diag_req_v2
	diagMsgLen        = 72 // struct inet_diag_msg
	rtattrHdrLen      = 4
	nlmsgErrorPayload = 4  // the errno at the start of struct nlmsgerr
	sockDiagByFamily  = 20 // SOCK_DIAG_BY_FAMILY
	tcpDiagGetSock    = 18 // TCPDIAG_GETSOCK, the request that came before SOCK_DIAG_BY_FAMILY
	diagCompatReqLen  = 60 // struct inet_diag_req
	nlmsgError        = 2
	nlmsgDone         = 3
	nlmFRequest       = 0x1
	nlmFDump          = 0x300
	inetDiagTclass    = 6  // INET_DIAG_TCLASS
	inetDiagSkv6only  = 11 // INET_DIAG_SKV6ONLY
	ipprotoTCP        = 6
	ipprotoUDP        = 17
	afInet            = 2
	afInet6           = 10
	// idiag_states masks: bit N is TCP state N
	diagStatesListen = 1 << StateListen
	diagStatesAll    = 0xfff
	// offsets in struct inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid
	// (sport, dport, src[4], dst[4], if, cookie[2]), expires, rqueue, wqueue, uid, inode
	diagMsgOffFamily = 0
	diagMsgOffState  = 1
	diagMsgOffSport  = 4
	diagMsgOffDport  = 6
	diagMsgOffSrc    = 8
	diagMsgOffDst    = 24
	diagMsgOffIf     = 40
	diagMsgOffRqueue = 56
	diagMsgOffWqueue = 60
	diagMsgOffUID    = 64
	diagMsgOffInode  = 68
)

// dumpRequest is a netlink dump request of type typ with a zeroed payload of n bytes to fill.
func dumpRequest(typ uint16, seq uint32, n int) (b, payload []byte) {
	b = make([]byte, nlmsgHdrLen+n)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	return b, b[nlmsgHdrLen:]
}

// diagRequest builds a dump request for one family and protocol. The kernel sends
// INET_DIAG_SKV6ONLY only with the TCLASS extension, and only for LISTEN and CLOSE sockets
// of AF_INET6, which covers TCP listeners and unconnected UDP sockets.
func diagRequest(family, proto uint8, states uint32, seq uint32) []byte {
	b, r := dumpRequest(sockDiagByFamily, seq, diagReqLen)
	r[0] = family
	r[1] = proto
	r[2] = 1 << (inetDiagTclass - 1)
	binary.NativeEndian.PutUint32(r[4:], states)
	return b
}

// compatRequest builds a dump of every TCP socket in the given states, of both families in
// one request: TCPDIAG_GETSOCK with struct inet_diag_req, which the kernel answers for
// family AF_UNSPEC (SOCK_DIAG_BY_FAMILY wants one family, so two walks of its tables).
func compatRequest(states uint32, seq uint32) []byte {
	b, r := dumpRequest(tcpDiagGetSock, seq, diagCompatReqLen)
	// idiag_family, src_len, dst_len, ext stay 0, then the 48-byte inet_diag_sockid
	binary.NativeEndian.PutUint32(r[52:], states)
	return b
}

// diagEntry is what one inet_diag_msg says.
type diagEntry struct {
	family  uint8
	local   netip.AddrPort
	remote  netip.AddrPort
	inode   uint64
	ifindex uint32
	state   uint8
	rqueue  uint32
	wqueue  uint32
	uid     uint32
	v6only  Tri
}

// parseDiagMessages reads the netlink messages of one receive. done is true at NLMSG_DONE;
// messages of another sequence number are ignored.
func parseDiagMessages(b []byte, seq uint32) (entries []diagEntry, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		s := ne.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return entries, done, fmt.Errorf("sock_diag: message length %d of %d bytes", l, len(b))
		}
		body := b[nlmsgHdrLen:l]
		b = b[min(align4(l), len(b)):]
		if s != seq {
			continue
		}
		switch typ {
		case nlmsgDone:
			return entries, true, nil
		case nlmsgError:
			if len(body) < nlmsgErrorPayload {
				return entries, done, fmt.Errorf("sock_diag: short error message")
			}
			if errno := int32(ne.Uint32(body)); errno != 0 {
				return entries, done, fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
			}
			continue
		case sockDiagByFamily, tcpDiagGetSock:
		default:
			continue
		}
		if len(body) < diagMsgLen {
			return entries, done, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(body))
		}
		e := diagEntry{
			family:  body[diagMsgOffFamily],
			local:   diagAddrPort(body, diagMsgOffSrc, diagMsgOffSport),
			remote:  diagAddrPort(body, diagMsgOffDst, diagMsgOffDport),
			state:   body[diagMsgOffState],
			ifindex: ne.Uint32(body[diagMsgOffIf:]),
			rqueue:  ne.Uint32(body[diagMsgOffRqueue:]),
			wqueue:  ne.Uint32(body[diagMsgOffWqueue:]),
			uid:     ne.Uint32(body[diagMsgOffUID:]),
			inode:   uint64(ne.Uint32(body[diagMsgOffInode:])),
		}
		for attrs := body[diagMsgLen:]; len(attrs) >= rtattrHdrLen; {
			al := int(ne.Uint16(attrs[0:]))
			at := ne.Uint16(attrs[2:])
			if al < rtattrHdrLen || al > len(attrs) {
				break
			}
			if at == inetDiagSkv6only && al > rtattrHdrLen {
				if attrs[rtattrHdrLen] != 0 {
					e.v6only = Yes
				} else {
					e.v6only = No
				}
			}
			attrs = attrs[min(align4(al), len(attrs)):]
		}
		entries = append(entries, e)
	}
	return entries, done, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// diagAddrPort reads an address and port of inet_diag_sockid: 4 bytes of the 16 for
// AF_INET, all 16 for AF_INET6 (an IPv4-mapped one stays 16 bytes, as in /proc/net/tcp6).
func diagAddrPort(body []byte, addrOff, portOff int) netip.AddrPort {
	port := binary.BigEndian.Uint16(body[portOff:])
	if body[diagMsgOffFamily] == afInet6 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[addrOff:addrOff+16])), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[addrOff:addrOff+4])), port)
}

// socket is the entry as a Socket of proto, as the /proc/net files would show it.
func (e diagEntry) socket(proto string) Socket {
	return Socket{Proto: proto, Local: e.local, Remote: e.remote, State: e.state, Inode: e.inode, UID: int(e.uid), RxQueue: int(e.rqueue)}
}
