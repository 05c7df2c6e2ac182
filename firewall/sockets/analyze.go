package sockets

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// Options refine Analyze.
type Options struct {
	// ArrivalIface is the device the client's packets arrive on; empty when not known.
	// Packets to a loopback address always arrive on "lo".
	ArrivalIface string
}

// Analyze says whether a connection (TCP) or datagram (UDP) to dst:port finds a socket on
// this host, following the kernel's socket lookup: an IPv4 destination reaches an AF_INET
// socket bound to it or to 0.0.0.0, or an AF_INET6 socket bound to ::ffff:dst or to :: without
// IPV6_V6ONLY; an IPv6 destination reaches AF_INET6 sockets bound to it or to ::. A socket
// bound to a device takes only packets arriving on that device.
//
// dstIsLocal says dst is an address of this host; when it is not, the step is skipped.
func Analyze(t *Table, proto string, dst netip.Addr, port uint16, dstIsLocal bool) report.Step {
	return AnalyzeWith(t, proto, dst, port, dstIsLocal, Options{})
}

// AnalyzeWith is Analyze with options.
func AnalyzeWith(t *Table, proto string, dst netip.Addr, port uint16, dstIsLocal bool, o Options) report.Step {
	st := report.Step{Layer: "host.socket", Address: dst.String()}
	d := dst.Unmap().WithZone("")
	target := fmt.Sprintf("%s %s", strings.ToUpper(proto), netip.AddrPortFrom(d, port))
	switch {
	case !dstIsLocal:
		st.Decision = report.Skipped
		st.Detail = fmt.Sprintf("%s is not an address of this host, so this host's sockets do not answer for it", d)
		return st
	case t == nil:
		st.Decision, st.Detail = report.Unknown, "no socket table was read"
		return st
	case proto != "tcp" && proto != "udp":
		st.Decision, st.Detail = report.Unknown, fmt.Sprintf("cannot look up sockets of protocol %q", proto)
		return st
	case !d.IsValid():
		st.Decision, st.Detail = report.Unknown, "no destination address"
		return st
	}
	arrival := o.ArrivalIface
	if d.IsLoopback() {
		arrival = "lo"
	}

	var accept, devUnknown, v6Unknown []Socket
	var refused []refusal
	for _, s := range t.Listeners() {
		if s.Proto != proto || s.Local.Port() != port {
			continue
		}
		switch m := matchAddr(s, d); {
		case m == Unknown:
			v6Unknown = append(v6Unknown, s)
		case m == No:
			refused = append(refused, classify(s, d))
		case s.Iface == "" || s.Iface == arrival:
			accept = append(accept, s)
		case arrival == "":
			devUnknown = append(devUnknown, s)
		default:
			refused = append(refused, refusal{s, report.CauseListenOtherAddress, rankDevice,
				fmt.Sprintf("%s is bound to device %s, and packets for %s arrive on %s", describe(s), s.Iface, d, arrival)})
		}
	}

	if len(accept) > 0 {
		return allow(st, t, accept, d)
	}
	if len(v6Unknown)+len(devUnknown) > 0 {
		var why []string
		for _, s := range v6Unknown {
			note := t.KernelNote
			if note == "" {
				note = "the kernel did not report it for this socket"
			}
			why = append(why, fmt.Sprintf("%s listens, but whether it accepts IPv4 depends on IPV6_V6ONLY, which could not be read (%s); it does unless the program set IPV6_V6ONLY or net.ipv6.bindv6only is 1", describe(s), note))
		}
		for _, s := range devUnknown {
			why = append(why, fmt.Sprintf("%s is bound to device %s: connections arriving on other devices are refused, and the device the client's packets arrive on is not known", describe(s), s.Iface))
		}
		st.Decision, st.Detail = report.Unknown, strings.Join(why, "; ")
		return st
	}
	if miss := t.missingFor(proto, d); len(miss) > 0 {
		st.Decision = report.Unknown
		st.Detail = fmt.Sprintf("no socket accepts %s in the files read, but %s %s missing from %s, and a socket there could", target, strings.Join(miss, " and "), plural(len(miss), "is", "are"), t.Dir)
		return st
	}
	st.Decision, st.Symptom = report.Reject, report.Refused
	if len(refused) > 0 {
		slices.SortStableFunc(refused, func(a, b refusal) int { return a.rank - b.rank })
		why := make([]string, len(refused))
		for i, r := range refused {
			why[i] = r.why
		}
		st.Cause = refused[0].cause
		st.Detail = fmt.Sprintf("nothing accepts %s: %s", target, strings.Join(why, "; "))
		st.Fix = fixFor(refused[0], d, port)
		return st
	}
	return notListening(st, t, proto, d, port)
}

// matchAddr says whether a socket's address takes packets for d (Unknown: it depends on an
// IPV6_V6ONLY that is not known).
func matchAddr(s Socket, d netip.Addr) Tri {
	a := s.Local.Addr().WithZone("")
	if d.Is4() {
		switch {
		case a.Is4():
			return triOf(a == d || a.IsUnspecified())
		case a.Is4In6(): // ::ffff:0.0.0.0 is IPv4's any address on an AF_INET6 socket
			return triOf(a.Unmap() == d || a.Unmap().IsUnspecified())
		case a.IsUnspecified():
			switch s.V6Only {
			case No:
				return Yes
			case Yes:
				return No
			}
			return Unknown
		}
		return No
	}
	return triOf(a.Is6() && !a.Is4In6() && (a == d || a.IsUnspecified()))
}

func triOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// Ranks of refusals: the first names the cause.
const (
	rankLoopback = iota
	rankFamily
	rankAddress
	rankDevice
)

type refusal struct {
	s     Socket
	cause string
	rank  int
	why   string
}

// classify explains why a listener on the right port does not take packets for d.
func classify(s Socket, d netip.Addr) refusal {
	a := s.Local.Addr().WithZone("")
	la := a.Unmap()
	switch {
	case la.IsLoopback() && !d.IsLoopback():
		return refusal{s, report.CauseListenLoopbackOnly, rankLoopback,
			fmt.Sprintf("%s listens on loopback only, so only this host can connect", describe(s))}
	case d.Is4() && a.Is6() && !a.Is4In6():
		if a.IsUnspecified() {
			return refusal{s, report.CauseListenWrongFamily, rankFamily,
				fmt.Sprintf("%s is IPv6-only (IPV6_V6ONLY=1) and refuses IPv4 clients", describe(s))}
		}
		return refusal{s, report.CauseListenWrongFamily, rankFamily,
			fmt.Sprintf("%s listens on an IPv6 address only", describe(s))}
	case d.Is6() && (a.Is4() || a.Is4In6()):
		return refusal{s, report.CauseListenWrongFamily, rankFamily,
			fmt.Sprintf("%s listens on IPv4 only and refuses IPv6 clients", describe(s))}
	}
	return refusal{s, report.CauseListenOtherAddress, rankAddress,
		fmt.Sprintf("%s is bound to %s only, another address of this host", describe(s), la)}
}

func fixFor(r refusal, d netip.Addr, port uint16) []string {
	p := strconv.Itoa(int(port))
	switch r.rank {
	case rankLoopback:
		if r.s.Local.Addr().Unmap().Is4() {
			fix := fmt.Sprintf("bind to 0.0.0.0:%s instead of %s", p, r.s.Local)
			if r.s.Proto == "tcp" {
				fix += fmt.Sprintf(" (Workerman: new Worker('websocket://0.0.0.0:%s'))", p)
			}
			return []string{fix}
		}
		return []string{fmt.Sprintf("bind to [::]:%s (dual-stack, takes IPv4 too) instead of %s", p, r.s.Local)}
	case rankFamily:
		if d.Is4() {
			return []string{fmt.Sprintf("make the socket dual-stack (IPV6_V6ONLY=0; in Go listen on %q rather than %q), or also listen on 0.0.0.0:%s", r.s.Proto, r.s.Proto+"6", p)}
		}
		return []string{fmt.Sprintf("listen on [::]:%s (dual-stack, takes IPv4 too) instead of %s, or have the client connect over IPv4", p, r.s.Local)}
	case rankDevice:
		return []string{fmt.Sprintf("drop the device binding of %s (SO_BINDTODEVICE, the program's bind-interface option)", r.s.Address())}
	}
	return []string{fmt.Sprintf("bind to 0.0.0.0:%s (all addresses) or to %s instead of %s", p, netip.AddrPortFrom(d, port), r.s.Local)}
}

// allow describes the socket the kernel would pick and warns about a full accept queue.
func allow(st report.Step, t *Table, accept []Socket, d netip.Addr) report.Step {
	score := func(s Socket) int {
		n := 0
		if s.Local.Addr().Unmap() == d {
			n += 4 // an exact address beats a wildcard
		}
		if s.Iface != "" {
			n += 2
		}
		if d.Is4() && s.Local.Addr().Is4() {
			n++
		}
		return n
	}
	best := slices.MaxFunc(accept, func(a, b Socket) int { return cmp.Compare(score(a), score(b)) })
	// sockets sharing the address (SO_REUSEPORT) split the connections between them
	var group []Socket
	for _, s := range accept {
		if s.Local == best.Local && s.Iface == best.Iface {
			group = append(group, s)
		}
	}
	st.Decision = report.Allow
	verb := "listening on"
	if best.Proto == "udp" {
		verb = "a socket is bound to"
	}
	shared := best
	for _, s := range group[1:] {
		for _, p := range s.Procs {
			if !slices.ContainsFunc(shared.Procs, func(q Process) bool { return q.PID == p.PID }) {
				shared.Procs = append(slices.Clip(shared.Procs), p)
			}
		}
	}
	slices.SortFunc(shared.Procs, func(a, b Process) int { return a.PID - b.PID })
	st.Detail = verb + " " + describe(shared)
	if len(group) > 1 {
		st.Detail += fmt.Sprintf(", %d sockets sharing the port (SO_REUSEPORT)", len(group))
	}
	if d.Is4() && best.IsV6() && best.Local.Addr().IsUnspecified() {
		st.Detail += ", which takes IPv4 too (IPV6_V6ONLY=0)"
	}
	if best.Proto != "tcp" {
		return st
	}
	var notes, conds []string
	for _, s := range group {
		switch {
		case s.RxQueue == 0:
		case s.Backlog > 0 && s.RxQueue >= s.Backlog:
			// the kernel drops SYNs once the queue holds more than the backlog
			state := "is full"
			if s.RxQueue == s.Backlog {
				state = "is at its limit"
			}
			notes = append(notes, fmt.Sprintf("the accept queue of %s %s (%d waiting, backlog %d): the program is not accepting, so new SYNs are dropped and clients time out", s.Address(), state, s.RxQueue, s.Backlog))
			conds = append(conds, fmt.Sprintf("room in the accept queue of %s (now %d waiting, backlog %d)", s.Address(), s.RxQueue, s.Backlog))
		case s.Backlog > 0:
			notes = append(notes, fmt.Sprintf("%d %s to be accepted on %s (backlog %d)", s.RxQueue, plural(s.RxQueue, "connection waits", "connections wait"), s.Address(), s.Backlog))
		default:
			notes = append(notes, fmt.Sprintf("%d %s to be accepted on %s and the backlog is not known: if the queue is full, new SYNs are dropped and clients time out", s.RxQueue, plural(s.RxQueue, "connection waits", "connections wait"), s.Address()))
			conds = append(conds, fmt.Sprintf("room in the accept queue of %s (now %d waiting, backlog unknown)", s.Address(), s.RxQueue))
		}
	}
	if len(notes) > 0 {
		st.Detail += "; " + strings.Join(notes, "; ")
	}
	st.Conditional = strings.Join(conds, "; ")
	return st
}

// nearPorts is how far from the target port another listener counts as a likely wrong port.
const nearPorts = 10

// notListening explains an empty port, naming a listener a few ports away when there is one.
func notListening(st report.Step, t *Table, proto string, d netip.Addr, port uint16) report.Step {
	P := strings.ToUpper(proto)
	answer := "the host answers the SYN with a reset (connection refused)"
	flags := "-ltnp"
	if proto == "udp" {
		answer = "the host answers with ICMP port unreachable (a connected UDP client sees connection refused)"
		flags = "-lunp"
	}
	var near, other []Socket
	for _, s := range t.Listeners() {
		if s.Proto != proto || s.Local.Port() == port || isSystem(s) {
			continue
		}
		if dist(s.Local.Port(), port) <= nearPorts && matchAddr(s, d) != No {
			near = append(near, s)
		} else {
			other = append(other, s)
		}
	}
	byDistance := func(a, b Socket) int {
		return cmp.Or(cmp.Compare(dist(a.Local.Port(), port), dist(b.Local.Port(), port)), cmp.Compare(a.Local.Port(), b.Local.Port()))
	}
	slices.SortStableFunc(near, byDistance)
	slices.SortStableFunc(other, byDistance)

	if len(near) > 0 {
		g, _ := groupByOwner(near, 3)
		st.Cause = report.CauseWrongPort
		st.Detail = fmt.Sprintf("nothing listens on %s port %d of %s, but %s", P, port, d, joinGroups(g))
		first := g[0]
		who := first.who()
		if len(first.procs) == 0 {
			who = "the program on port " + strconv.Itoa(int(first.port))
		}
		st.Fix = []string{fmt.Sprintf("connect to port %d instead, or make %s listen on %d", first.port, who, port)}
		if t.OwnersNote != "" && slices.ContainsFunc(g, func(g ownerGroup) bool { return len(g.procs) == 0 }) {
			st.Detail += " (" + t.OwnersNote + ")"
		}
		return st
	}
	st.Cause = report.CauseNotListening
	st.Detail = fmt.Sprintf("nothing listens on %s port %d of %s; %s", P, port, d, answer)
	if len(other) > 0 {
		g, all := groupByOwner(other, 3)
		st.Detail += "; other " + P + " listeners: " + joinGroups(g)
		if all > len(g) {
			st.Detail += fmt.Sprintf(" (and %d more)", all-len(g))
		}
	}
	if t.OwnersNote != "" {
		st.Detail += " (" + t.OwnersNote + ")"
	}
	st.Fix = []string{fmt.Sprintf("start the program that should listen on %s port %d, then check: ss %s 'sport = :%d'", P, port, flags, port)}
	return st
}

// ownerGroup is the listeners of one program on one port, all its processes together.
type ownerGroup struct {
	port  uint16
	procs []Process
	addrs []string
}

func (g ownerGroup) who() string { return Owner(g.procs) }

// groupByOwner folds the listeners of one program on one port ("nginx (pids 1, 2) listen on
// 0.0.0.0:80 and [::]:80") and keeps the first max groups; it also returns how many groups
// there were in all.
func groupByOwner(ss []Socket, max int) ([]ownerGroup, int) {
	var out []ownerGroup
	seen := map[string]bool{}
	for _, s := range ss {
		key := commKey(s.Procs)
		seen[key+"/"+strconv.Itoa(int(s.Local.Port()))] = true
		i := slices.IndexFunc(out, func(g ownerGroup) bool { return g.port == s.Local.Port() && commKey(g.procs) == key })
		if i < 0 {
			if len(out) == max {
				continue
			}
			out = append(out, ownerGroup{port: s.Local.Port()})
			i = len(out) - 1
		}
		g := &out[i]
		if a := s.Address(); !slices.Contains(g.addrs, a) {
			g.addrs = append(g.addrs, a)
		}
		for _, p := range s.Procs {
			if !slices.ContainsFunc(g.procs, func(q Process) bool { return q.PID == p.PID }) {
				g.procs = append(g.procs, p)
			}
		}
		slices.SortFunc(g.procs, func(a, b Process) int { return a.PID - b.PID })
	}
	return out, len(seen)
}

// commKey names the set of programs holding a socket.
func commKey(ps []Process) string {
	var cs []string
	for _, g := range byComm(ps) {
		cs = append(cs, g.comm)
	}
	slices.Sort(cs)
	return strings.Join(cs, "\x00")
}

func joinGroups(gs []ownerGroup) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		verb := "listens"
		if len(byComm(g.procs)) > 1 {
			verb = "listen"
		}
		parts[i] = fmt.Sprintf("%s %s on %s", g.who(), verb, strings.Join(g.addrs, " and "))
	}
	return strings.Join(parts, "; ")
}

func dist(a, b uint16) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// systemComms are daemons of the system, never the program a user means to reach.
var systemComms = map[string]bool{
	"sshd": true, "systemd": true, "systemd-resolve": true, "systemd-network": true,
	"systemd-timesyn": true, "chronyd": true, "ntpd": true, "rpcbind": true, "rpc.statd": true,
	"dnsmasq": true, "avahi-daemon": true, "cupsd": true, "dhclient": true, "NetworkManager": true,
	"exim4": true, "master": true, "named": true, "unbound": true,
}

// systemPorts stand in for the daemons when the owners are not known.
var systemPorts = map[uint16]bool{22: true, 53: true, 111: true, 123: true, 323: true, 631: true, 5353: true, 5355: true}

// isSystem reports whether only system daemons hold a socket.
func isSystem(s Socket) bool {
	if len(s.Procs) == 0 {
		return systemPorts[s.Local.Port()]
	}
	for _, p := range s.Procs {
		if !systemComms[p.Comm] {
			return false
		}
	}
	return true
}

// describe names a socket and its processes: "0.0.0.0:8282 (pid 1234 nginx)".
func describe(s Socket) string {
	if len(s.Procs) == 0 {
		return s.Address()
	}
	return s.Address() + " (" + pidsText(s.Procs) + forwardNote(s) + ")"
}

// pidsText is "pid 1234 nginx", "pids 1234, 1235 nginx" or "pid 1 systemd, pid 1234 nginx".
func pidsText(ps []Process) string {
	var parts []string
	for _, g := range byComm(ps) {
		parts = append(parts, fmt.Sprintf("%s %s %s", plural(len(g.pids), "pid", "pids"), listPIDs(g.pids), g.comm))
	}
	return strings.Join(parts, ", ")
}

// Owner names the processes holding a socket: "nginx (pid 1234)", "nginx (pids 1234, 1235)", "systemd (pid 1) and nginx (pid 1234)"
// or "an unknown program".
func Owner(ps []Process) string {
	if len(ps) == 0 {
		return "an unknown program"
	}
	var parts []string
	for _, g := range byComm(ps) {
		parts = append(parts, fmt.Sprintf("%s (%s %s)", g.comm, plural(len(g.pids), "pid", "pids"), listPIDs(g.pids)))
	}
	return strings.Join(parts, " and ")
}

type commGroup struct {
	comm string
	pids []int
}

func byComm(ps []Process) []commGroup {
	var out []commGroup
	for _, p := range ps {
		c := p.Comm
		if c == "" {
			c = "?"
		}
		i := slices.IndexFunc(out, func(g commGroup) bool { return g.comm == c })
		if i < 0 {
			out = append(out, commGroup{comm: c})
			i = len(out) - 1
		}
		out[i].pids = append(out[i].pids, p.PID)
	}
	return out
}

func listPIDs(pids []int) string {
	const show = 4
	s := make([]string, 0, show)
	for _, p := range pids[:min(len(pids), show)] {
		s = append(s, strconv.Itoa(p))
	}
	out := strings.Join(s, ", ")
	if len(pids) > show {
		out += fmt.Sprintf(" and %d more", len(pids)-show)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// missingFor names the files that were not read and could hold a socket taking packets for d.
func (t *Table) missingFor(proto string, d netip.Addr) []string {
	var out []string
	for _, f := range procNetFiles {
		if f.proto != proto || (d.Is6() && !f.v6) {
			continue
		}
		if slices.Contains(t.Missing, f.name) {
			out = append(out, f.name)
		}
	}
	return out
}
