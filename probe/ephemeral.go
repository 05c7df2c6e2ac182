package probe

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portpath/portpath/firewall/sockets"
	"github.com/portpath/portpath/report"
)

// PortRange is the kernel's ephemeral port range (net.ipv4.ip_local_port_range), both ends included.
type PortRange struct {
	Lo, Hi int
}

// Size is the number of ports in the range.
func (r PortRange) Size() int { return r.Hi - r.Lo + 1 }

// Contains reports whether p is in the range.
func (r PortRange) Contains(p int) bool { return p >= r.Lo && p <= r.Hi }

// ParsePortRange reads /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999").
func ParsePortRange(s string) (PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("ip_local_port_range %q: want two numbers", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return PortRange{}, fmt.Errorf("ip_local_port_range %q: want LOW HIGH within 1-65535", s)
	}
	return PortRange{lo, hi}, nil
}

// ParseReservedPorts reads /proc/sys/net/ipv4/ip_local_reserved_ports ("8080,9000-9100"; may be empty).
func ParseReservedPorts(s string) ([]PortRange, error) {
	var out []PortRange
	for part := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b > 65535 || a > b {
			return nil, fmt.Errorf("ip_local_reserved_ports: %q is not a port or LOW-HIGH range", part)
		}
		out = append(out, PortRange{a, b})
	}
	return out, nil
}

// EphemeralState is what decides whether connect() finds a free local port.
type EphemeralState struct {
	// Range is ip_local_port_range.
	Range PortRange
	// Reserved is ip_local_reserved_ports; connect() never picks these.
	Reserved []PortRange
	// TWReuse is net.ipv4.tcp_tw_reuse (0 off, 1 on, 2 loopback only); -1 when unknown.
	TWReuse int
	// Sockets are this machine's TCP or UDP sockets.
	Sockets []sockets.Socket
}

// PortUse counts the local ports of the range a connection to one destination cannot get.
type PortUse struct {
	// Usable is the range without reserved ports and ports held by listeners or bound UDP sockets.
	Usable int
	// ToDest are the local ports already used by sockets to the destination ip:port.
	ToDest int
	// ByState counts those sockets by state name ("TIME_WAIT": 7).
	ByState map[string]int
	// Global counts ports in the range that no destination can get (listeners, UDP sockets).
	Global int
	// Reusable counts the TIME_WAIT sockets to the destination that tcp_tw_reuse lets a new
	// connection take over (once they are 1 s old); they are not in ToDest.
	Reusable int
}

// twReusable reports whether tcp_tw_reuse lets connections to dst take over TIME_WAIT ports.
func (s EphemeralState) twReusable(dst netip.AddrPort) bool {
	return s.TWReuse == 1 || s.TWReuse == 2 && dst.Addr().Unmap().IsLoopback()
}

func (s EphemeralState) reserved(p int) bool {
	for _, r := range s.Reserved {
		if p >= r.Lo && p <= r.Hi {
			return true
		}
	}
	return false
}

// Use counts, for proto to dst, the ports connect() can still pick. TCP ports are taken per
// destination ip:port (the 4-tuple must be unique) plus those of listeners; UDP ports are
// taken by every UDP socket, whatever its destination.
func (s EphemeralState) Use(proto string, dst netip.AddrPort) PortUse {
	u := PortUse{ByState: map[string]int{}}
	reserved := 0
	for p := s.Range.Lo; p <= s.Range.Hi; p++ {
		if s.reserved(p) {
			reserved++
		}
	}
	global := map[uint16]bool{}
	dest := map[uint16]bool{}
	for _, so := range s.Sockets {
		lp := so.Local.Port()
		if so.Proto != proto || !s.Range.Contains(int(lp)) || s.reserved(int(lp)) {
			continue
		}
		remote := netip.AddrPortFrom(so.Remote.Addr().Unmap(), so.Remote.Port())
		switch {
		case proto == "udp" || so.Listening():
			global[lp] = true
		case remote == dst && so.State == sockets.StateTimeWait && proto == "tcp" && s.twReusable(dst):
			u.Reusable++
		case remote == dst:
			if !dest[lp] {
				u.ByState[sockets.StateName(so.State)]++
			}
			dest[lp] = true
		}
	}
	for p := range dest {
		if global[p] {
			delete(dest, p)
		}
	}
	u.Global, u.ToDest = len(global), len(dest)
	u.Usable = s.Range.Size() - reserved - u.Global
	return u
}

// Thresholds of the ephemeral-port step.
const (
	// ephemeralWarn is the share of usable ports in use above which the step warns.
	ephemeralWarn = 0.9
	// widerRange is the range the fix proposes: lo even, hi odd (the kernel wants different parity).
	widerRange = "10000 65535"
)

// EphemeralStep is the client.ports step for one destination: EPHEMERAL_PORTS_EXHAUSTED when no
// local port is left (connect() fails at once with "cannot assign requested address"), a
// warning above 90 %, else allow. The fix names the sysctl lines and when each helps.
func EphemeralStep(s EphemeralState, proto string, dst netip.AddrPort) report.Step {
	st := report.Step{Layer: "client.ports", Address: dst.Addr().String()}
	u := s.Use(proto, dst)
	free := u.Usable - u.ToDest
	used := fmt.Sprintf("ip_local_port_range %d-%d", s.Range.Lo, s.Range.Hi)
	if len(s.Reserved) > 0 {
		used += " minus ip_local_reserved_ports"
	}
	used = fmt.Sprintf("%d ephemeral ports (%s)", u.Usable+u.Global, used)
	if proto == "udp" {
		used += fmt.Sprintf(": %d held by UDP sockets", u.Global)
	} else {
		used += fmt.Sprintf(": %d taken by connections to %s", u.ToDest, dst)
		if u.ToDest > 0 {
			used += " (" + stateList(u.ByState) + ")"
		}
		if u.Global > 0 {
			used += fmt.Sprintf(", %d by listeners", u.Global)
		}
		if u.Reusable > 0 {
			used += fmt.Sprintf("; %d more in TIME_WAIT, which net.ipv4.tcp_tw_reuse=%d lets new connections take over once they are 1 s old", u.Reusable, s.TWReuse)
		}
	}
	if free > 0 && float64(u.ToDest+u.Global) < ephemeralWarn*float64(u.Usable+u.Global) {
		st.Decision = report.Allow
		st.Detail = used + fmt.Sprintf("; %d left", free)
		return st
	}
	st.Cause = report.CauseEphemeralExhausted
	st.Fix = ephemeralFix(s, u)
	if free > 0 {
		st.Decision = report.Allow
		st.Detail = used + fmt.Sprintf("; only %d left: new connections will soon fail with \"cannot assign requested address\"", free)
		return st
	}
	st.Decision, st.Symptom = report.Reject, report.AddressNotAvailable
	st.Detail = used + "; none is left, so connect() fails at once with \"cannot assign requested address\" (EADDRNOTAVAIL) before a packet is sent"
	return st
}

func stateList(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func ephemeralFix(s EphemeralState, u PortUse) []string {
	fix := []string{
		fmt.Sprintf("sudo sysctl -w net.ipv4.ip_local_port_range=%q  # widens the range for every destination (IPv4 and IPv6); helps whatever holds the ports", widerRange),
		fmt.Sprintf("echo 'net.ipv4.ip_local_port_range = %s' | sudo tee /etc/sysctl.d/60-ephemeral-ports.conf && sudo sysctl --system  # keep it after a reboot", widerRange),
	}
	tw := u.ByState["TIME_WAIT"]
	if tw > 0 && s.TWReuse != 1 {
		fix = append(fix, fmt.Sprintf("sudo sysctl -w net.ipv4.tcp_tw_reuse=1  # %d of the ports are in TIME_WAIT (held 60 s); reuse frees those older than 1 s for new outgoing connections (needs net.ipv4.tcp_timestamps=1), so it helps up to about one range of new connections per second", tw))
	}
	if open := u.ToDest - tw; open > 0 {
		fix = append(fix, fmt.Sprintf("# %d connections to this destination are still open: no sysctl frees them; the program must close them or reuse them (a connection pool / keep-alive)", open))
	}
	return fix
}

// portProto is the protocol whose ephemeral ports a connection to t takes.
func portProto(t report.Target) string {
	if t.Transport == "udp" {
		return "udp"
	}
	return "tcp"
}

// portSteps judges each destination against the ephemeral-port state; an unreadable state
// is one unknown step saying why.
func portSteps(s EphemeralState, err error, proto string, t report.Target, addrs []netip.Addr) []report.Step {
	if err != nil {
		return []report.Step{{Layer: "client.ports", Decision: report.Unknown,
			Detail: "the ephemeral ports could not be counted: " + err.Error()}}
	}
	var out []report.Step
	for _, a := range addrs {
		out = append(out, EphemeralStep(s, proto, netip.AddrPortFrom(a.Unmap(), uint16(t.Port))))
	}
	return out
}

func readEphemeral(ctx context.Context, root, proto string) (EphemeralState, error) {
	s := EphemeralState{TWReuse: -1}
	read := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", filepath.Join(root, rel), err)
		}
		return string(b), nil
	}
	v, err := read("sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return s, err
	}
	if s.Range, err = ParsePortRange(v); err != nil {
		return s, err
	}
	if v, err := read("sys/net/ipv4/ip_local_reserved_ports"); err == nil {
		if s.Reserved, err = ParseReservedPorts(v); err != nil {
			return s, err
		}
	}
	if v, err := read("sys/net/ipv4/tcp_tw_reuse"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			s.TWReuse = n
		}
	}
	// This machine's TCP sockets come from one sock_diag walk of the kernel's tables; the
	// files (a copy, or where sock_diag is refused) are read at the same time, as each of
	// tcp and tcp6 walks the tables once more.
	if proto == "tcp" {
		if ss, ok := sockets.LiveTCP(ctx, filepath.Join(root, "net")); ok {
			s.Sockets = ss
			return s, nil
		}
	}
	files := []struct {
		name string
		v6   bool
	}{{proto, false}, {proto + "6", true}}
	found := make([][]sockets.Socket, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			path := filepath.Join(root, "net", f.name)
			fh, err := os.Open(path)
			if err != nil {
				if !os.IsNotExist(err) || !f.v6 { // no tcp6 file: IPv6 is turned off
					errs[i] = fmt.Errorf("read %s: %w", path, err)
				}
				return
			}
			defer fh.Close()
			found[i], errs[i] = sockets.ParseProcNet(fh, path, proto, f.v6)
		})
	}
	wg.Wait()
	for i := range files {
		if errs[i] != nil {
			return s, errs[i]
		}
		s.Sockets = append(s.Sockets, found[i]...)
	}
	return s, nil
}
