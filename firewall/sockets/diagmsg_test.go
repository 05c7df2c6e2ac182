package sockets

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"syscall"
	"testing"
)

func TestDiagRequest(t *testing.T) {
	b := diagRequest(afInet6, ipprotoTCP, diagStatesListen, 7)
	ne := binary.NativeEndian
	if len(b) != 72 || ne.Uint32(b) != 72 || ne.Uint16(b[4:]) != 20 || ne.Uint16(b[6:]) != 0x301 || ne.Uint32(b[8:]) != 7 {
		t.Fatalf("header % x", b[:16])
	}
	r := b[16:]
	if r[0] != 10 || r[1] != 6 || r[2] != 0x20 || ne.Uint32(r[4:]) != 1<<10 {
		t.Errorf("request % x: want AF_INET6, TCP, the TCLASS extension, LISTEN", r[:8])
	}
}

// diagMsg builds one SOCK_DIAG_BY_FAMILY message as the kernel sends it.
func diagMsg(seq uint32, state uint8, ifindex, wqueue, inode uint32, v6only int) []byte {
	ne := binary.NativeEndian
	body := make([]byte, diagMsgLen)
	body[0] = afInet6
	body[1] = state
	binary.BigEndian.PutUint16(body[4:], 8080) // sport, network order
	ne.PutUint32(body[40:], ifindex)
	ne.PutUint32(body[56:], 3) // rqueue
	ne.PutUint32(body[60:], wqueue)
	ne.PutUint32(body[68:], inode)
	// an attribute the reader skips (INET_DIAG_TCLASS, 1 byte padded to 8), then SKV6ONLY
	attr := func(typ uint16, v byte) []byte {
		a := make([]byte, 8)
		ne.PutUint16(a, 5)
		ne.PutUint16(a[2:], typ)
		a[4] = v
		return a
	}
	body = append(body, attr(inetDiagTclass, 0)...)
	if v6only >= 0 {
		body = append(body, attr(inetDiagSkv6only, byte(v6only))...)
	}
	return nlmsg(sockDiagByFamily, seq, body)
}

func nlmsg(typ uint16, seq uint32, body []byte) []byte {
	ne := binary.NativeEndian
	h := make([]byte, nlmsgHdrLen)
	ne.PutUint32(h, uint32(nlmsgHdrLen+len(body)))
	ne.PutUint16(h[4:], typ)
	ne.PutUint32(h[8:], seq)
	return append(h, body...)
}

func TestParseDiagMessages(t *testing.T) {
	var b []byte
	b = append(b, diagMsg(1, StateListen, 0, 4096, 100, 1)...)
	b = append(b, diagMsg(1, StateListen, 3, 128, 101, 0)...)
	b = append(b, diagMsg(9, StateListen, 0, 1, 102, 0)...) // another request's
	b = append(b, diagMsg(1, StateEstablished, 0, 0, 103, -1)...)
	got, done, err := parseDiagMessages(b, 1)
	if err != nil || done {
		t.Fatalf("done %v err %v", done, err)
	}
	local, remote := netip.MustParseAddrPort("[::]:8080"), netip.MustParseAddrPort("[::]:0")
	want := []diagEntry{
		{family: afInet6, local: local, remote: remote, inode: 100, state: StateListen, rqueue: 3, wqueue: 4096, v6only: Yes},
		{family: afInet6, local: local, remote: remote, inode: 101, state: StateListen, ifindex: 3, rqueue: 3, wqueue: 128, v6only: No},
		{family: afInet6, local: local, remote: remote, inode: 103, state: StateEstablished, rqueue: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	_, done, err = parseDiagMessages(nlmsg(nlmsgDone, 1, make([]byte, 4)), 1)
	if !done || err != nil {
		t.Errorf("NLMSG_DONE: done %v err %v", done, err)
	}
	e := make([]byte, 20)
	errno := -int32(syscall.EPERM)
	binary.NativeEndian.PutUint32(e, uint32(errno))
	if _, _, err = parseDiagMessages(nlmsg(nlmsgError, 1, e), 1); !errors.Is(err, syscall.EPERM) {
		t.Errorf("NLMSG_ERROR: %v, want EPERM", err)
	}
	if _, _, err = parseDiagMessages(nlmsg(sockDiagByFamily, 1, make([]byte, 10)), 1); err == nil {
		t.Error("short inet_diag_msg: no error")
	}
	bad := diagMsg(1, StateListen, 0, 0, 1, 0)
	binary.NativeEndian.PutUint32(bad, 9999)
	if _, _, err = parseDiagMessages(bad, 1); err == nil {
		t.Error("message longer than the buffer: no error")
	}
}

func TestCompatRequest(t *testing.T) {
	b := compatRequest(diagStatesAll, 5)
	ne := binary.NativeEndian
	if len(b) != 76 || ne.Uint32(b) != 76 || ne.Uint16(b[4:]) != 18 || ne.Uint16(b[6:]) != 0x301 || ne.Uint32(b[8:]) != 5 {
		t.Fatalf("header % x, want TCPDIAG_GETSOCK, a dump, seq 5", b[:16])
	}
	r := b[16:]
	if r[0] != 0 || ne.Uint32(r[52:]) != 0xfff || ne.Uint32(r[56:]) != 0 {
		t.Errorf("request % x: want AF_UNSPEC and every state", r)
	}
}

// compatMsg builds one TCPDIAG_GETSOCK answer for a connection local → remote.
func compatMsg(seq uint32, state uint8, local, remote netip.AddrPort, uid, inode uint32) []byte {
	ne := binary.NativeEndian
	body := make([]byte, diagMsgLen)
	body[0] = afInet
	if local.Addr().Is6() {
		body[0] = afInet6
	}
	body[1] = state
	binary.BigEndian.PutUint16(body[4:], local.Port())
	binary.BigEndian.PutUint16(body[6:], remote.Port())
	l, r := local.Addr().As16(), remote.Addr().As16()
	if local.Addr().Is4() {
		l4, r4 := local.Addr().As4(), remote.Addr().As4()
		copy(l[:], l4[:])
		copy(r[:], r4[:])
	}
	copy(body[8:], l[:])
	copy(body[24:], r[:])
	ne.PutUint32(body[64:], uid)
	ne.PutUint32(body[68:], inode)
	return nlmsg(tcpDiagGetSock, seq, body)
}

func TestParseCompatMessages(t *testing.T) {
	v4l, v4r := netip.MustParseAddrPort("10.0.0.5:43210"), netip.MustParseAddrPort("203.0.113.10:443")
	m6l, m6r := netip.MustParseAddrPort("[::ffff:10.0.0.5]:43211"), netip.MustParseAddrPort("[::ffff:203.0.113.10]:443")
	b := append(compatMsg(1, StateTimeWait, v4l, v4r, 0, 0), compatMsg(1, StateEstablished, m6l, m6r, 1000, 77)...)
	got, _, err := parseDiagMessages(b, 1)
	if err != nil || len(got) != 2 {
		t.Fatalf("entries %+v err %v", got, err)
	}
	want := []Socket{
		{Proto: "tcp", Local: v4l, Remote: v4r, State: StateTimeWait},
		{Proto: "tcp", Local: m6l, Remote: m6r, State: StateEstablished, UID: 1000, Inode: 77},
	}
	for i, e := range got {
		if s := e.socket("tcp"); !reflect.DeepEqual(s, want[i]) {
			t.Errorf("socket %d = %+v, want %+v", i, s, want[i])
		}
	}
	if !got[1].local.Addr().Is6() {
		t.Error("an IPv4-mapped address of an AF_INET6 socket must stay 16 bytes, as in /proc/net/tcp6")
	}
}

func FuzzParseDiagMessages(f *testing.F) {
	f.Add(append(diagMsg(1, StateListen, 2, 128, 100, 1), nlmsg(nlmsgDone, 1, make([]byte, 4))...))
	f.Add(nlmsg(nlmsgError, 1, make([]byte, 4)))
	f.Add(compatMsg(1, StateTimeWait, netip.MustParseAddrPort("10.0.0.5:43210"), netip.MustParseAddrPort("203.0.113.10:443"), 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseDiagMessages(b, 1) // must not panic
	})
}
