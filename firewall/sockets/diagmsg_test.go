package sockets

import (
	"encoding/binary"
	"errors"
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
	want := []diagEntry{
		{inode: 100, state: StateListen, wqueue: 4096, v6only: Yes},
		{inode: 101, state: StateListen, ifindex: 3, wqueue: 128, v6only: No},
		{inode: 103, state: StateEstablished},
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

func FuzzParseDiagMessages(f *testing.F) {
	f.Add(append(diagMsg(1, StateListen, 2, 128, 100, 1), nlmsg(nlmsgDone, 1, make([]byte, 4))...))
	f.Add(nlmsg(nlmsgError, 1, make([]byte, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseDiagMessages(b, 1) // must not panic
	})
}
