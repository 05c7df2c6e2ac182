//go:build linux

package sockets

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portpath/portpath/report"
)

// needLab skips a test that reads this host's sockets unless it runs as root; with
// PORTPATH_LAB=1 it fails instead, so a lab run cannot pass by skipping.
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("PORTPATH_LAB") == "1" {
		t.Fatal("PORTPATH_LAB=1 but not running as root")
	}
	t.Skip("reading this host's sockets and owners is tested as root (or set PORTPATH_LAB=1 to require it)")
}

func listenOrSkip(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		if network != "tcp4" {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// mappedAddr is the address of a listener made by listenMapped.
type mappedAddr netip.AddrPort

func (a mappedAddr) Network() string { return "tcp" }
func (a mappedAddr) String() string  { return netip.AddrPort(a).String() }

// listenMapped listens on an AF_INET6 socket bound to [::ffff:127.0.0.1]:0, which Go's net
// package would make AF_INET; its IPV6_V6ONLY is 0, like a dual-stack [::] listener's, but
// it takes loopback connections only.
func listenMapped(t *testing.T) net.Addr {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 here: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet6{Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	a := sa.(*syscall.SockaddrInet6)
	return mappedAddr(netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)))
}

func findSocket(t *testing.T, tb *Table, proto string, addr net.Addr) Socket {
	t.Helper()
	want, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tb.Listeners() {
		if s.Proto == proto && s.Local == want {
			return s
		}
	}
	t.Fatalf("%s %s not in the live table", proto, want)
	return Socket{}
}

func TestReadLive(t *testing.T) {
	needLab(t)
	l4 := listenOrSkip(t, "tcp4", "127.0.0.1:0")
	l6only := listenOrSkip(t, "tcp6", "[::1]:0") // the kernel sets IPV6_V6ONLY on a bind to a specific IPv6 address
	ldual := listenMapped(t)                     // an AF_INET6 socket on ::ffff:127.0.0.1 keeps it 0
	u6, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer u6.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb, err := Read(ctx, LiveProcNet, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	if !tb.Live || tb.Kernel != "sock_diag" {
		t.Errorf("Live=%v Kernel=%q (%s), want a live table read through sock_diag", tb.Live, tb.Kernel, tb.KernelNote)
	}
	if !tb.OwnersRead || tb.OwnersNote != "" {
		t.Errorf("owners: read=%v note=%q, want all read as root", tb.OwnersRead, tb.OwnersNote)
	}

	s4 := findSocket(t, tb, "tcp", l4.Addr())
	if !slices.ContainsFunc(s4.Procs, func(p Process) bool { return p.PID == os.Getpid() }) {
		t.Errorf("owners of %s = %v, want pid %d", s4.Address(), s4.Procs, os.Getpid())
	}
	if s4.Backlog <= 0 || s4.Iface != "" {
		t.Errorf("%s: backlog %d iface %q, want a backlog and no device", s4.Address(), s4.Backlog, s4.Iface)
	}
	for _, c := range []struct {
		l    net.Addr
		want Tri
	}{{l6only.Addr(), Yes}, {ldual, No}} {
		if s := findSocket(t, tb, "tcp", c.l); s.V6Only != c.want {
			t.Errorf("%s: v6only %v, want %v", s.Address(), s.V6Only, c.want)
		}
	}
	if s := findSocket(t, tb, "udp", u6.LocalAddr()); s.V6Only != Yes {
		t.Errorf("udp %s: v6only %v, want yes", s.Address(), s.V6Only)
	}

	lo := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		port  uint16
		want  report.Decision
		cause string
	}{
		{s4.Local.Port(), report.Allow, ""},
		{findSocket(t, tb, "tcp", ldual).Local.Port(), report.Allow, ""},
		{findSocket(t, tb, "tcp", l6only.Addr()).Local.Port(), report.Reject, report.CauseListenWrongFamily},
	} {
		st := Analyze(tb, "tcp", lo, c.port, true)
		if st.Decision != c.want || st.Cause != c.cause {
			t.Errorf("Analyze(127.0.0.1:%d) = %s %s (%s), want %s %s", c.port, st.Decision, st.Cause, st.Detail, c.want, c.cause)
		}
	}
	if st := Analyze(tb, "tcp", lo, s4.Local.Port(), true); !strings.Contains(st.Detail, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("Analyze detail %q does not name this process", st.Detail)
	}
}

// TestSSAgreesWithSockDiag checks the fallback reads the same facts as sock_diag.
func TestSSAgreesWithSockDiag(t *testing.T) {
	needLab(t)
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss is not installed")
	}
	l6only := listenOrSkip(t, "tcp6", "[::1]:0")
	ldual := listenMapped(t)
	ctx := context.Background()
	diag, err := sockDiag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "ss", "-Hltnue").Output()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ParseSS(bytes.NewReader(out), "ss")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Read(ctx, LiveProcNet, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []net.Addr{l6only.Addr(), ldual} {
		s := findSocket(t, tb, "tcp", l)
		if diag[s.Inode] != ss[s.Inode] {
			t.Errorf("%s: sock_diag says %+v, ss says %+v", s.Address(), diag[s.Inode], ss[s.Inode])
		}
	}
}

// DumpTCP's one walk finds what /proc/net/tcp and tcp6 list: an IPv4 connection, an IPv6
// one, an AF_INET6 socket with IPv4-mapped addresses, and a TIME_WAIT socket, each with the
// same addresses, state and inode.
func TestDumpTCPAgreesWithProcNet(t *testing.T) {
	l4 := listenOrSkip(t, "tcp4", "127.0.0.1:0")
	l6 := listenOrSkip(t, "tcp6", "[::1]:0")
	mapped := listenMapped(t)
	dial := func(a net.Addr) net.Conn {
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c4, c6, cm := dial(l4.Addr()), dial(l6.Addr()), dial(mapped)
	// the side that closes first keeps its port in TIME_WAIT
	tw := dial(l4.Addr())
	tw.Close()
	want := map[netip.AddrPort]uint8{
		addrPortOf(t, c4.LocalAddr()): StateEstablished,
		addrPortOf(t, c6.LocalAddr()): StateEstablished,
		addrPortOf(t, cm.LocalAddr()): StateEstablished,
		addrPortOf(t, tw.LocalAddr()): 0, // FIN_WAIT2 or TIME_WAIT, whichever the kernel is at
	}
	// the server side of the mapped connection: an AF_INET6 child with ::ffff: addresses
	mappedRemote := netip.AddrPortFrom(netip.AddrFrom16(addrPortOf(t, cm.LocalAddr()).Addr().As16()), addrPortOf(t, cm.LocalAddr()).Port())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dumped, err := DumpTCP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []Socket
	for _, f := range []struct {
		name string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		b, err := os.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := ParseProcNet(bytes.NewReader(b), f.name, "tcp", f.v6)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, ss...)
	}
	find := func(ss []Socket, match func(Socket) bool) (Socket, bool) {
		i := slices.IndexFunc(ss, match)
		if i < 0 {
			return Socket{}, false
		}
		return ss[i], true
	}
	for local, state := range want {
		byLocal := func(s Socket) bool {
			return s.Local == local || s.Local == netip.AddrPortFrom(netip.AddrFrom16(local.Addr().As16()), local.Port())
		}
		d, okD := find(dumped, byLocal)
		p, okP := find(listed, byLocal)
		if !okD || !okP {
			t.Errorf("%s: in the dump %v, in /proc/net %v; want both", local, okD, okP)
			continue
		}
		if d.Local != p.Local || d.Remote != p.Remote || d.Inode != p.Inode || d.UID != p.UID {
			t.Errorf("%s: dump %+v, /proc/net %+v", local, d, p)
		}
		if state != 0 && (d.State != state || p.State != state) {
			t.Errorf("%s: state %s in the dump, %s in /proc/net, want %s", local, StateName(d.State), StateName(p.State), StateName(state))
		}
	}
	byRemote := func(s Socket) bool { return s.Remote == mappedRemote }
	d, okD := find(dumped, byRemote)
	p, okP := find(listed, byRemote)
	if !okD || !okP || d.Local != p.Local || !d.Local.Addr().Is6() || !d.Local.Addr().Is4In6() {
		t.Errorf("the mapped listener's connection: dump %+v (%v), /proc/net %+v (%v); want the same ::ffff: socket", d, okD, p, okP)
	}
}

func addrPortOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
