package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portpath/portpath/report"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// listenTCP opens a TCP listener on a loopback address; the kernel completes the
// handshake from the backlog, so nothing needs to accept.
func listenTCP(t *testing.T, a netip.Addr) (*net.TCPListener, int) {
	t.Helper()
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		if a.Is6() {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// closedTCPPort is a loopback port that was just listened on and is now closed.
func closedTCPPort(t *testing.T, a netip.Addr) int {
	t.Helper()
	l, port := listenTCP(t, a)
	l.Close()
	return port
}

func listenUDP(t *testing.T, a netip.Addr) (*net.UDPConn, int) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		if a.Is6() {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

func tcpTarget(port int) report.Target {
	return report.Target{Host: "localhost", Port: port, Transport: "tcp"}
}

func udpTarget(port int) report.Target {
	return report.Target{Host: "localhost", Port: port, Transport: "udp", Scheme: "udp"}
}

// blockingDial never connects; it returns when ctx ends, as a dial through a DROP does.
func blockingDial(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// errnoDial fails at once with errno, wrapped as net.Dial wraps it.
func errnoDial(errno syscall.Errno) func(context.Context, string, string) (net.Conn, error) {
	return func(_ context.Context, network, address string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", errno)}
	}
}

func one(t *testing.T, steps []report.Step) report.Step {
	t.Helper()
	if len(steps) != 1 {
		t.Fatalf("got %d steps, want 1: %+v", len(steps), steps)
	}
	return steps[0]
}

func TestProbeTCPOpen(t *testing.T) {
	for _, a := range []netip.Addr{lo4, lo6} {
		t.Run(a.String(), func(t *testing.T) {
			l, port := listenTCP(t, a)
			accepted := make(chan struct{})
			go func() {
				c, err := l.Accept()
				if err == nil {
					// The probe closes without sending: the first read sees EOF.
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, _ := c.Read(make([]byte, 1))
					if n != 0 {
						t.Errorf("the probe sent %d bytes", n)
					}
					c.Close()
				}
				close(accepted)
			}()
			p := &Prober{Timeout: 2 * time.Second}
			s := one(t, p.Probe(context.Background(), tcpTarget(port), []netip.Addr{a}))
			if s.Layer != "probe.tcp" || s.Decision != report.Allow || s.Symptom != report.Connected ||
				s.Address != a.String() || s.Error != "" || !strings.Contains(s.Detail, "connected") {
				t.Errorf("step %+v, want probe.tcp allow connected", s)
			}
			<-accepted
		})
	}
}

func TestProbeTCPRefused(t *testing.T) {
	for _, a := range []netip.Addr{lo4, lo6} {
		t.Run(a.String(), func(t *testing.T) {
			port := closedTCPPort(t, a)
			p := &Prober{Timeout: 2 * time.Second}
			s := one(t, p.Probe(context.Background(), tcpTarget(port), []netip.Addr{a}))
			if s.Decision != report.Reject || s.Symptom != report.Refused || s.Error == "" ||
				!strings.Contains(s.Detail, "connection refused") || !strings.Contains(s.Detail, "nothing listens") {
				t.Errorf("step %+v, want reject refused", s)
			}
		})
	}
}

func TestProbeTCPFiltered(t *testing.T) {
	p := &Prober{Timeout: 100 * time.Millisecond, Dial: blockingDial}
	start := time.Now()
	s := one(t, p.Probe(context.Background(), tcpTarget(8282), []netip.Addr{lo4}))
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("a filtered probe with a 100ms timeout took %s", took)
	}
	if s.Decision != report.Drop || s.Symptom != report.Timeout {
		t.Errorf("step %+v, want drop timeout", s)
	}
	if !strings.Contains(s.Detail, "no answer within 100ms") || !strings.Contains(s.Detail, "drops") {
		t.Errorf("detail %q", s.Detail)
	}
	if s.Error != "dial tcp4 127.0.0.1:8282: i/o timeout" {
		t.Errorf("error %q, want the net package's wording", s.Error)
	}
}

// A deadline before the timeout ends the attempt there, and it is a timeout (a drop), not
// a stopped check; a deadline already past leaves the address untried and unknown.
func TestProbeDeadline(t *testing.T) {
	p := &Prober{Timeout: time.Minute, Deadline: time.Now().Add(150 * time.Millisecond), Dial: blockingDial}
	start := time.Now()
	s := one(t, p.Probe(context.Background(), tcpTarget(8282), []netip.Addr{lo4}))
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the deadline did not end the attempt: %s", took)
	}
	if s.Decision != report.Drop || s.Symptom != report.Timeout {
		t.Errorf("step %+v, want drop timeout", s)
	}
	if strings.Contains(s.Detail, "1m0s") || !strings.Contains(s.Detail, "no answer within 1") {
		t.Errorf("detail %q, want the wait the deadline left, not the timeout", s.Detail)
	}
	p.Deadline = time.Now().Add(-time.Second)
	s = one(t, p.Probe(context.Background(), tcpTarget(8282), []netip.Addr{lo4}))
	if s.Decision != report.Unknown || s.Symptom != "" || !strings.Contains(s.Error, "--timeout was used up") {
		t.Errorf("past deadline: step %+v, want unknown and why", s)
	}
}

func TestProbeDialThatIgnoresContext(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var returned atomic.Bool
	p := &Prober{Timeout: 100 * time.Millisecond, Dial: func(context.Context, string, string) (net.Conn, error) {
		<-release
		returned.Store(true)
		return nil, errors.New("released")
	}}
	start := time.Now()
	s := one(t, p.Probe(context.Background(), tcpTarget(80), []netip.Addr{lo4}))
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("took %s with a dialer that ignores its context", took)
	}
	if s.Decision != report.Drop || s.Symptom != report.Timeout || returned.Load() {
		t.Errorf("step %+v, want drop timeout", s)
	}
}

func TestProbeErrnos(t *testing.T) {
	tests := []struct {
		errno    syscall.Errno
		decision report.Decision
		symptom  report.Symptom
		words    string
	}{
		{syscall.EHOSTUNREACH, report.Reject, report.NoRoute, "no route"},
		{syscall.ENETUNREACH, report.Reject, report.NoRoute, "no route"},
		{syscall.EACCES, report.Reject, report.PermissionDenied, "permission denied"},
		{syscall.EPERM, report.Reject, report.PermissionDenied, "permission denied"},
		{syscall.EADDRNOTAVAIL, report.Unknown, report.AddressNotAvailable, "this machine"},
		{syscall.ETIMEDOUT, report.Drop, report.Timeout, "no answer within"},
		{syscall.ECONNRESET, report.Reject, report.Refused, "refused"},
		{syscall.EINVAL, report.Unknown, "", "does not classify"},
	}
	for _, tt := range tests {
		p := &Prober{Timeout: time.Second, Dial: errnoDial(tt.errno)}
		s := one(t, p.Probe(context.Background(), tcpTarget(80), []netip.Addr{lo4}))
		if s.Decision != tt.decision || s.Symptom != tt.symptom || !strings.Contains(s.Detail, tt.words) {
			t.Errorf("%v: step %+v, want %s %q with %q", tt.errno, s, tt.decision, tt.symptom, tt.words)
		}
		if s.Error == "" || !strings.Contains(s.Error, tt.errno.Error()) {
			t.Errorf("%v: error %q does not carry the raw error", tt.errno, s.Error)
		}
	}
}

func TestProbeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	p := &Prober{Timeout: time.Minute, Dial: blockingDial}
	start := time.Now()
	steps := p.Probe(ctx, tcpTarget(80), []netip.Addr{lo4, lo6, netip.MustParseAddr("127.0.0.2")})
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("cancel took %s to stop the probe", took)
	}
	for _, s := range steps {
		if s.Decision != report.Unknown || s.Symptom != "" || !strings.Contains(s.Detail, "stopped") {
			t.Errorf("step %+v, want unknown: stopped", s)
		}
	}

	// Already cancelled: nothing is dialled.
	var dials atomic.Int32
	p = &Prober{Dial: func(ctx context.Context, n, a string) (net.Conn, error) { dials.Add(1); return blockingDial(ctx, n, a) }}
	for _, s := range p.Probe(ctx, tcpTarget(80), []netip.Addr{lo4, lo4}) {
		if s.Decision != report.Unknown {
			t.Errorf("step %+v after cancel, want unknown", s)
		}
	}
	if dials.Load() != 0 {
		t.Errorf("dialled %d times after cancel", dials.Load())
	}
}

func TestProbeUDPCancel(t *testing.T) {
	_, port := listenUDP(t, lo4)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	p := &Prober{Timeout: time.Minute}
	start := time.Now()
	s := one(t, p.Probe(ctx, udpTarget(port), []netip.Addr{lo4}))
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("cancel took %s to stop the UDP probe", took)
	}
	if s.Decision != report.Unknown || s.Symptom != "" || !strings.Contains(s.Detail, "stopped") {
		t.Errorf("step %+v, want unknown: stopped", s)
	}
}

func TestProbeOrderAndBound(t *testing.T) {
	var inFlight, peak atomic.Int32
	p := &Prober{Timeout: 50 * time.Millisecond, Dial: func(ctx context.Context, n, a string) (net.Conn, error) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := peak.Load()
			if now <= old || peak.CompareAndSwap(old, now) {
				break
			}
		}
		return blockingDial(ctx, n, a)
	}}
	var as []netip.Addr
	for i := range 20 {
		as = append(as, netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}))
	}
	steps := p.Probe(context.Background(), tcpTarget(80), as)
	if len(steps) != len(as) {
		t.Fatalf("got %d steps for %d addresses", len(steps), len(as))
	}
	for i, s := range steps {
		if s.Address != as[i].String() || s.Decision != report.Drop {
			t.Errorf("step %d = %+v, want a drop for %s", i, s, as[i])
		}
	}
	if peak.Load() > maxParallel || peak.Load() < 2 {
		t.Errorf("peak of %d dials at once, want 2..%d", peak.Load(), maxParallel)
	}
}

func TestProbeMixedFamilies(t *testing.T) {
	_, port := listenTCP(t, lo4)
	// Nothing listens on ::1 at the port (the v4 listener does not cover it).
	l6, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	l6.Close()
	p := &Prober{Timeout: 2 * time.Second}
	steps := p.Probe(context.Background(), tcpTarget(port), []netip.Addr{lo4, lo6})
	if len(steps) != 2 || steps[0].Address != "127.0.0.1" || steps[0].Symptom != report.Connected ||
		steps[1].Address != "::1" || steps[1].Symptom != report.Refused {
		t.Errorf("steps %+v, want 127.0.0.1 connected then ::1 refused", steps)
	}
}

func TestProbeDefaultTimeout(t *testing.T) {
	var left time.Duration
	p := &Prober{Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dl, _ := ctx.Deadline()
		left = time.Until(dl)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}}
	p.Probe(context.Background(), tcpTarget(80), []netip.Addr{lo4})
	if left <= DefaultTimeout-time.Second || left > DefaultTimeout {
		t.Errorf("a zero Timeout gave the dial %s, want about %s", left, DefaultTimeout)
	}
}

func TestProbeUDPRefused(t *testing.T) {
	for _, a := range []netip.Addr{lo4, lo6} {
		t.Run(a.String(), func(t *testing.T) {
			c, port := listenUDP(t, a)
			c.Close()
			p := &Prober{Timeout: 2 * time.Second}
			s := one(t, p.Probe(context.Background(), udpTarget(port), []netip.Addr{a}))
			if s.Layer != "probe.udp" || s.Decision != report.Reject || s.Symptom != report.Refused ||
				!strings.Contains(s.Detail, "ICMP port unreachable") || s.Error == "" {
				t.Errorf("step %+v, want probe.udp reject refused", s)
			}
		})
	}
}

func TestProbeUDPAnswered(t *testing.T) {
	for _, a := range []netip.Addr{lo4, lo6} {
		t.Run(a.String(), func(t *testing.T) {
			c, port := listenUDP(t, a)
			var wg sync.WaitGroup
			wg.Go(func() { // echo one datagram
				buf := make([]byte, 1500)
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err == nil {
					c.WriteToUDPAddrPort(buf[:n], from)
				}
			})
			defer wg.Wait()
			defer c.Close()
			p := &Prober{Timeout: 2 * time.Second}
			s := one(t, p.Probe(context.Background(), udpTarget(port), []netip.Addr{a}))
			if s.Decision != report.Allow || s.Symptom != report.Connected || s.Error != "" ||
				!strings.Contains(s.Detail, "answered") {
				t.Errorf("step %+v, want allow connected", s)
			}
		})
	}
}

func TestProbeUDPSilent(t *testing.T) {
	_, port := listenUDP(t, lo4) // bound, never answers
	p := &Prober{Timeout: 150 * time.Millisecond}
	start := time.Now()
	s := one(t, p.Probe(context.Background(), udpTarget(port), []netip.Addr{lo4}))
	if took := time.Since(start); took < 150*time.Millisecond || took > 900*time.Millisecond {
		t.Errorf("a silent UDP probe took %s, want about 150ms", took)
	}
	if s.Decision != report.Unknown || s.Symptom != report.NoAnswer || s.Error == "" {
		t.Errorf("step %+v, want unknown no-answer", s)
	}
	for _, w := range []string{"no answer within 150ms", "stay silent", "drops looks the same"} {
		if !strings.Contains(s.Detail, w) {
			t.Errorf("detail %q lacks %q", s.Detail, w)
		}
	}
}

func TestProbeCannotAsk(t *testing.T) {
	var p Prober
	for _, tg := range []report.Target{
		{Host: "localhost", Port: 80, Transport: "sctp"},
		{Host: "localhost", Port: 0, Transport: "tcp"},
		{Host: "localhost", Port: 70000, Transport: "udp"},
	} {
		s := one(t, p.Probe(context.Background(), tg, []netip.Addr{lo4}))
		if s.Decision != report.Unknown || s.Detail == "" {
			t.Errorf("%+v: step %+v, want unknown with a reason", tg, s)
		}
	}
	if steps := p.Probe(context.Background(), tcpTarget(80), nil); len(steps) != 0 {
		t.Errorf("no addresses gave %d steps", len(steps))
	}
}
