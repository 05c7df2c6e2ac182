package sockets

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ParseProcNet reads one of /proc/net/{tcp,tcp6,udp,udp6}. name is the file's name, used in
// errors ("tcp6:4: bad local address …"); proto is "tcp" or "udp"; v6 says the file is tcp6 or
// udp6 (32 hex digits per address instead of 8).
//
// The kernel prints each 32-bit word of an address as a host-endian integer, so the bytes
// are recovered with the byte order of the machine that wrote the file, taken to be this one.
func ParseProcNet(r io.Reader, name string, proto string, v6 bool) ([]Socket, error) {
	return parseProcNet(r, name, proto, v6, binary.NativeEndian)
}

// parseProcNet is ParseProcNet for a file written by a machine of the given byte order.
func parseProcNet(r io.Reader, name string, proto string, v6 bool, order binary.ByteOrder) ([]Socket, error) {
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("%s: unknown protocol %q", name, proto)
	}
	var out []Socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "sl" {
			continue
		}
		s, err := parseProcNetLine(f, proto, v6, order)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// parseProcNetLine reads the fields of one row:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
func parseProcNetLine(f []string, proto string, v6 bool, order binary.ByteOrder) (Socket, error) {
	s := Socket{Proto: proto}
	if len(f) < 10 {
		return s, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	if !strings.HasSuffix(f[0], ":") {
		return s, fmt.Errorf("bad slot %q", f[0])
	}
	var err error
	if s.Local, err = parseHexAddrPort(f[1], v6, order); err != nil {
		return s, fmt.Errorf("bad local address %q: %w", f[1], err)
	}
	if s.Remote, err = parseHexAddrPort(f[2], v6, order); err != nil {
		return s, fmt.Errorf("bad remote address %q: %w", f[2], err)
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return s, fmt.Errorf("bad state %q", f[3])
	}
	s.State = uint8(st)
	_, rx, ok := strings.Cut(f[4], ":")
	if !ok {
		return s, fmt.Errorf("bad tx_queue:rx_queue %q", f[4])
	}
	q, err := strconv.ParseUint(rx, 16, 32)
	if err != nil {
		return s, fmt.Errorf("bad rx_queue %q", rx)
	}
	s.RxQueue = int(q)
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return s, fmt.Errorf("bad uid %q", f[7])
	}
	s.UID = int(uid)
	if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return s, fmt.Errorf("bad inode %q", f[9])
	}
	return s, nil
}

// parseHexAddrPort reads "0100007F:1F43" (127.0.0.1:8003) or the 32-digit IPv6 form.
func parseHexAddrPort(s string, v6 bool, order binary.ByteOrder) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	want := 8
	if v6 {
		want = 32
	}
	if len(h) != want {
		return netip.AddrPort{}, fmt.Errorf("%d hex digits, want %d", len(h), want)
	}
	var b [16]byte
	for i := 0; i < len(h)/8; i++ {
		w, err := strconv.ParseUint(h[8*i:8*i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("not hex")
		}
		order.PutUint32(b[4*i:], uint32(w))
	}
	if len(p) != 4 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", p)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", p)
	}
	a := netip.AddrFrom16(b)
	if !v6 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
