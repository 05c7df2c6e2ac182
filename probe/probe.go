package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/portpath/portpath/report"
)

// DefaultTimeout is how long the probe waits for each address. It covers a path with a
// lost SYN (Linux retransmits the first one after 1 s) and stays short enough for a
// check to answer quickly; a DROP shows as a timeout after exactly this long.
const DefaultTimeout = 3 * time.Second

// maxParallel bounds the connections in flight at once; names rarely have more addresses.
const maxParallel = 8

// Prober connects to the target's addresses and reports what the client saw.
type Prober struct {
	// Timeout bounds each connection attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Deadline, when set, is when every attempt ends, however much of Timeout is left: the
	// end of the check's budget. An attempt that ends there is a timeout like any other.
	Deadline time.Time
	// Dial opens the connection; nil means a net.Dialer. It should return when ctx is done;
	// the probe stops waiting for it shortly after (abandonAfter).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

func (p *Prober) timeout() time.Duration {
	if p == nil {
		return DefaultTimeout
	}
	return waitFor(p.Timeout, p.Deadline)
}

// waitFor is how long an attempt starting now may wait: timeout (DefaultTimeout when not
// positive), cut at deadline when one is set; not positive when the deadline has passed.
func waitFor(timeout time.Duration, deadline time.Time) time.Duration {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if !deadline.IsZero() {
		timeout = min(timeout, time.Until(deadline))
	}
	return timeout
}

// errNoTimeLeft is the error of an attempt whose deadline passed before it started.
var errNoTimeLeft = errors.New("the check's --timeout was used up before this attempt started")

func (p *Prober) dialer() func(ctx context.Context, network, address string) (net.Conn, error) {
	if p == nil || p.Dial == nil {
		var d net.Dialer
		return d.DialContext
	}
	return p.Dial
}

// Probe connects to every address on t.Port over t.Transport, several at a time, each
// within the timeout, and returns one step per address in the order of addrs. TCP steps
// are "probe.tcp": the connection is closed as soon as it is made and nothing is sent.
// UDP steps are "probe.udp": one empty datagram on a connected socket, then a wait for a
// reply or an ICMP error. Cancelling ctx ends every attempt at once (their steps are unknown).
func (p *Prober) Probe(ctx context.Context, t report.Target, addrs []netip.Addr) []report.Step {
	steps := make([]report.Step, len(addrs))
	sem := make(chan struct{}, max(1, min(len(addrs), maxParallel)))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				steps[i] = p.probeOne(ctx, t, a.Unmap())
			case <-ctx.Done():
				steps[i] = stopped(layerOf(t), a.Unmap(), ctx.Err())
			}
		})
	}
	wg.Wait()
	return steps
}

func layerOf(t report.Target) string {
	if t.Transport == "udp" {
		return "probe.udp"
	}
	return "probe.tcp"
}

func (p *Prober) probeOne(ctx context.Context, t report.Target, a netip.Addr) report.Step {
	layer := layerOf(t)
	if t.Transport != "" && t.Transport != "tcp" && t.Transport != "udp" {
		return report.Step{Layer: layer, Decision: report.Unknown, Address: a.String(),
			Detail: fmt.Sprintf("transport %q cannot be probed (want tcp or udp)", t.Transport)}
	}
	if t.Port < 1 || t.Port > 65535 {
		return report.Step{Layer: layer, Decision: report.Unknown, Address: a.String(),
			Detail: fmt.Sprintf("port %d cannot be probed (want 1-65535)", t.Port)}
	}
	if err := ctx.Err(); err != nil {
		return stopped(layer, a, err)
	}
	timeout := p.timeout()
	if timeout <= 0 {
		return stopped(layer, a, errNoTimeLeft)
	}
	network := "tcp"
	if t.Transport == "udp" {
		network = "udp"
	}
	if a.Is4() {
		network += "4"
	} else {
		network += "6"
	}
	ap := netip.AddrPortFrom(a, uint16(t.Port))

	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := dialContext(dctx, p.dialer(), network, ap)
	if err == nil && conn == nil {
		err = errors.New("the dialer returned no connection and no error")
	}
	if err != nil {
		return failed(ctx, layer, a, err, timeout)
	}
	if layer == "probe.tcp" {
		took := time.Since(start)
		conn.Close()
		return report.Step{Layer: layer, Decision: report.Allow, Symptom: report.Connected, Address: a.String(),
			Detail: fmt.Sprintf("connected to %s in %s", ap, roundDuration(took))}
	}
	return udpExchange(ctx, dctx, conn, layer, a, timeout)
}

// udpExchange sends one empty datagram on the connected socket and waits for an answer.
// Only a connected UDP socket is told of the ICMP error a closed port or a REJECT sends back.
func udpExchange(ctx, dctx context.Context, conn net.Conn, layer string, a netip.Addr, timeout time.Duration) report.Step {
	defer conn.Close()
	if dl, ok := dctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Wake the read as soon as the parent context ends, not only at the deadline.
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(nil); err != nil {
		return failed(ctx, layer, a, err, timeout)
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return failed(ctx, layer, a, err, timeout)
	}
	return report.Step{Layer: layer, Decision: report.Allow, Symptom: report.Connected, Address: a.String(),
		Detail: fmt.Sprintf("answered with a %d-byte datagram", n)}
}

// abandonAfter is how long a dial may run on after its context ended before the probe
// stops waiting for it.
const abandonAfter = 100 * time.Millisecond

// dialContext runs dial and gives up shortly after ctx ends even if dial does not; a
// connection that arrives later is closed. The error is worded as the net package words its own.
func dialContext(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network string, ap netip.AddrPort) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dial(ctx, network, ap.String())
		ch <- result{c, err}
	}()
	wrap := func(err error) error {
		var oe *net.OpError
		if err == nil || errors.As(err, &oe) {
			return err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errTimeout
		}
		return &net.OpError{Op: "dial", Net: network, Addr: addrOf(network, ap), Err: err}
	}
	select {
	case r := <-ch:
		return r.conn, wrap(r.err)
	case <-ctx.Done():
	}
	// A dialer that honours ctx returns within moments; wait for it, so its own error
	// is the one reported and it is no longer running when the next address starts.
	grace := time.NewTimer(abandonAfter)
	defer grace.Stop()
	select {
	case r := <-ch:
		return r.conn, wrap(r.err)
	case <-grace.C:
	}
	go func() {
		if r := <-ch; r.conn != nil {
			r.conn.Close()
		}
	}()
	return nil, wrap(ctx.Err())
}

// errTimeout reads "i/o timeout", like the net package's own dial timeout.
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded
}

func addrOf(network string, ap netip.AddrPort) net.Addr {
	if network[:3] == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// failed turns a connection error into the step. ctx is the check's context: when it has
// ended, a timeout is the check being stopped, not the network's answer.
func failed(ctx context.Context, layer string, a netip.Addr, err error, timeout time.Duration) report.Step {
	sym := Classify(err)
	if (sym == "" || sym == report.Timeout) && ctx.Err() != nil {
		return stopped(layer, a, err)
	}
	s := report.Step{Layer: layer, Address: a.String(), Symptom: sym, Error: err.Error()}
	udp := layer == "probe.udp"
	wait := roundDuration(timeout)
	switch sym {
	case report.Refused:
		s.Decision = report.Reject
		s.Detail = "connection refused: nothing listens, or a firewall rejects with a reset/port-unreachable"
		if udp {
			s.Detail = "ICMP port unreachable: nothing listens on the UDP port, or a firewall rejects"
		}
	case report.Timeout:
		if udp {
			s.Decision, s.Symptom = report.Unknown, report.NoAnswer
			s.Detail = fmt.Sprintf("no answer within %s: UDP services often stay silent to unknown datagrams; a firewall that drops looks the same", wait)
		} else {
			s.Decision = report.Drop
			s.Detail = fmt.Sprintf("no answer within %s: a firewall drops the packets, or the host is down", wait)
		}
	case report.NoRoute:
		s.Decision = report.Reject
		s.Detail = "no route to host: a firewall rejects with host-prohibited/admin-prohibited (firewalld's default), a router reports the host unreachable, or this machine has no route to it"
	case report.PermissionDenied:
		s.Decision = report.Reject
		s.Detail = "permission denied: an IPv6 firewall rejects with adm-prohibited (firewalld's default), or a firewall on this machine blocks the outgoing packets"
	case report.AddressNotAvailable:
		s.Decision = report.Unknown
		s.Detail = "cannot assign requested address: a problem on this machine, not on the path (no free local port for this destination, or no usable source address); the server was not reached"
	default:
		s.Decision, s.Symptom = report.Unknown, ""
		s.Detail = "the connection failed with an error portpath does not classify; see the error"
	}
	return s
}

// stopped is the step of an attempt the check ended before it had an answer.
func stopped(layer string, a netip.Addr, err error) report.Step {
	return report.Step{Layer: layer, Decision: report.Unknown, Address: a.String(), Error: err.Error(),
		Detail: "the check was stopped before the probe had an answer"}
}

// roundDuration keeps a duration readable: microseconds below a millisecond, else milliseconds.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
