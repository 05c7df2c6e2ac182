package sockets

import (
	"encoding/binary"
	"fmt"
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
	diagMsgOffState  = 1
	diagMsgOffIf     = 40
	diagMsgOffWqueue = 60
	diagMsgOffInode  = 68
)

// diagRequest builds a dump request for one family and protocol. The kernel sends
// INET_DIAG_SKV6ONLY only with the TCLASS extension, and only for LISTEN and CLOSE sockets
// of AF_INET6, which covers TCP listeners and unconnected UDP sockets.
func diagRequest(family, proto uint8, states uint32, seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = proto
	r[2] = 1 << (inetDiagTclass - 1)
	ne.PutUint32(r[4:], states)
	return b
}

// diagEntry is what one inet_diag_msg says.
type diagEntry struct {
	inode   uint64
	ifindex uint32
	state   uint8
	wqueue  uint32
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
		case sockDiagByFamily:
		default:
			continue
		}
		if len(body) < diagMsgLen {
			return entries, done, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(body))
		}
		e := diagEntry{
			state:   body[diagMsgOffState],
			ifindex: ne.Uint32(body[diagMsgOffIf:]),
			wqueue:  ne.Uint32(body[diagMsgOffWqueue:]),
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
