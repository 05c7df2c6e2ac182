package iptables

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

const (
	// maxDepth bounds nested jumps; the kernel refuses loops, a hand-written dump may not.
	maxDepth = 128
	// maxForks bounds the unknown matches one walk forks on (at most maxForks+1 outcomes).
	maxForks = 63
)

// frame is a chain being walked and the index of its next rule.
type frame struct {
	c *cchain
	i int
}

type walker struct {
	t     *ctable
	e     *netfilter.Eval
	env   *netfilter.Env
	hook  netfilter.Hook
	base  *cchain
	steps int
	forks int
	conds []string
}

// run walks the base chain for e.Pkt: rules in order, jumps and gotos into user chains,
// RETURN, and the policy at the end. A match that cannot be evaluated forks the walk;
// both outcomes are joined with netfilter.Fork.
func (t *ctable) run(base *cchain, hook netfilter.Hook, e *netfilter.Eval) netfilter.Result {
	w := &walker{t: t, e: e, env: e.Env, hook: hook, base: base}
	if w.env == nil {
		w.env = &netfilter.Env{}
	}
	stack := make([]frame, 1, 8)
	stack[0] = frame{c: base}
	return w.walk(stack, false)
}

// walk continues the walk from the top of stack. When forced, the current rule is taken
// as matched without evaluating it (the matched side of a fork).
func (w *walker) walk(stack []frame, forced bool) netfilter.Result {
	p := w.e.Pkt
	for {
		top := &stack[len(stack)-1]
		if top.i >= len(top.c.rules) {
			// the end of a user chain returns; the end of the base chain is its policy
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				return w.policy()
			}
			continue
		}
		r := &top.c.rules[top.i]
		if w.steps++; w.steps > w.t.budget {
			return w.undecided(r, fmt.Sprintf("the walk visits more than %d rules (a goto loop?)", w.t.budget))
		}
		if !forced {
			t, m := w.match(r)
			switch t {
			case netfilter.No:
				top.i++
				continue
			case netfilter.Maybe:
				reason := r.id() + ": " + m.text + " (" + m.why + ")"
				if w.forks >= maxForks {
					return w.undecided(r, fmt.Sprintf("more than %d matches on the way cannot be evaluated; the last is %s", maxForks, reason))
				}
				w.forks++
				mark, n := p.Mark, len(w.conds)
				matched := w.walk(append(make([]frame, 0, len(stack)+4), stack...), true)
				p.Mark, w.conds = mark, w.conds[:n]
				top.i++
				unmatched := w.walk(stack, false)
				return netfilter.Fork(matched, unmatched, reason)
			}
		}
		forced = false
		top.i++
		switch r.kind {
		case tAccept:
			return w.result(netfilter.Accept, r)
		case tDrop:
			return w.result(netfilter.Drop, r)
		case tReject:
			res := w.result(netfilter.Reject, r)
			res.RejectWith = r.arg
			return res
		case tReturn:
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				return w.policy()
			}
		case tJump:
			if len(stack) >= maxDepth {
				return w.undecided(r, fmt.Sprintf("jumps nest deeper than %d chains (a loop?)", maxDepth))
			}
			stack = append(stack, frame{c: r.jump})
		case tGoto:
			// the goto'd chain takes the place of this one: its RETURN goes to our caller
			stack[len(stack)-1] = frame{c: r.jump}
		case tMark:
			p.Mark = applyMark(p.Mark, r)
		case tDNAT, tRedirect:
			res := w.result(netfilter.Accept, r)
			res.NAT = natOf(r)
			return res
		case tNATAccept:
			return w.result(netfilter.Accept, r)
		case tUndecided:
			return w.undecided(r, r.arg)
		}
	}
}

// natOf describes the rewrite of a DNAT or REDIRECT rule.
func natOf(r *crule) *netfilter.NAT {
	n := *r.nat
	switch {
	case r.kind == tDNAT:
		n.Text = "DNAT to " + r.arg
	case r.arg != "":
		n.Text, n.Redirect = "REDIRECT to port "+r.arg, true
	default:
		n.Text, n.Redirect = "REDIRECT to this host", true
	}
	return &n
}

func applyMark(mark uint32, r *crule) uint32 {
	switch r.markOp {
	case markSet:
		return mark&^r.markM | r.markV
	case markXset:
		return mark&^r.markM ^ r.markV
	case markOr:
		return mark | r.markV
	case markAnd:
		return mark & r.markV
	case markXor:
		return mark ^ r.markV
	}
	return mark
}

func (w *walker) result(v netfilter.Verdict, r *crule) netfilter.Result {
	return netfilter.Result{Verdict: v, Rule: r.report(), Conditions: slices.Clone(w.conds)}
}

func (w *walker) undecided(r *crule, why string) netfilter.Result {
	res := w.result(netfilter.Undecided, r)
	res.Reason = r.id() + ": " + why
	return res
}

func (w *walker) policy() netfilter.Result {
	b := w.base
	v := netfilter.Accept
	if b.policy == "DROP" {
		v = netfilter.Drop
	}
	rule := &report.Rule{ID: b.t.name + "/" + b.name + " policy", Text: ":" + b.name + " " + b.policy, Origin: b.t.origin, Table: b.t.name, Chain: b.name}
	return netfilter.Result{Verdict: v, Rule: rule, Conditions: slices.Clone(w.conds)}
}

// match evaluates all matches of r: No as soon as one fails, else Maybe (with the first
// unknown match) when one is unknown, else Yes.
func (w *walker) match(r *crule) (netfilter.Tri, *matcher) {
	res := netfilter.Yes
	var unknown *matcher
	for i := range r.ms {
		m := &r.ms[i]
		switch w.eval(m, r) {
		case netfilter.No:
			return netfilter.No, nil
		case netfilter.Maybe:
			if unknown == nil {
				res, unknown = netfilter.Maybe, m
			}
		}
	}
	return res, unknown
}

func (w *walker) eval(m *matcher, r *crule) netfilter.Tri {
	p := w.e.Pkt
	var t netfilter.Tri
	switch m.kind {
	case mConst:
		return m.tri
	case mAssume:
		w.note(r.id() + ": " + m.why)
		return m.tri
	case mMaybe:
		return netfilter.Maybe
	case mSrc:
		t = netfilter.TriOf(w.e.SrcIn(m.addrs...))
	case mDst, mReplSrc:
		t = netfilter.TriOf(inRanges(m.addrs, p.Dst))
	case mProto:
		t = netfilter.TriOf(m.n == 0 || int(m.n) == protoOf(p.Proto))
	case mIn:
		t = w.e.InIface(m.s)
	case mOut:
		t = w.outIface(m.s)
	case mDPort, mReplSPort:
		t = netfilter.TriOf(inPorts(m.ports, p.DPort))
	case mSPort:
		t = clientPort(m.ports)
	case mPorts:
		t = netfilter.Yes
		if !inPorts(m.ports, p.DPort) {
			t = clientPort(m.ports)
		}
	case mCtState:
		t = netfilter.TriOf(w.ctState()&m.u1 != 0)
	case mOrigDst:
		d := p.Dst
		if p.DNATed {
			d = p.OrigDst
		}
		t = netfilter.TriOf(inRanges(m.addrs, d))
	case mOrigDPort:
		port := p.DPort
		if p.DNATed {
			port = p.OrigDPort
		}
		t = netfilter.TriOf(inPorts(m.ports, port))
	case mDstType:
		t = netfilter.TriOf(w.dstType()&m.u1 != 0)
	case mSrcType:
		t = w.srcType(m.u1)
	case mMark:
		t = netfilter.TriOf(p.Mark&m.u2 == m.u1)
	case mTCPFlags:
		if p.Proto != "tcp" {
			return netfilter.No
		}
		t = netfilter.TriOf(tcpSYN&m.u1 == m.u2)
	case mSetSrc:
		members, ok := w.env.IPSets[m.s]
		if !ok {
			return netfilter.Maybe
		}
		t = netfilter.TriOf(w.e.SrcIn(members...))
	case mSetDst:
		members, ok := w.env.IPSets[m.s]
		if !ok {
			return netfilter.Maybe
		}
		t = netfilter.TriOf(inRanges(members, p.Dst))
	case mPktType:
		t = netfilter.TriOf(pktType(p.Dst)&m.u1 != 0)
	}
	if m.neg {
		t = t.Not()
	}
	return t
}

func (w *walker) note(cond string) {
	if !slices.Contains(w.conds, cond) {
		w.conds = append(w.conds, cond)
	}
}

func protoOf(name string) int {
	switch name {
	case "tcp":
		return 6
	case "udp":
		return 17
	}
	if n, ok := protoNumber(name); ok {
		return n
	}
	return -1
}

// clientPort matches the client's source port, an ephemeral port nobody knows in advance:
// Yes when the ports cover every unprivileged port, No when all are privileged, else Maybe.
func clientPort(ps []report.PortRange) netfilter.Tri {
	low := true
	for _, r := range ps {
		if r.Lo <= 1024 && r.Hi == 65535 {
			return netfilter.Yes
		}
		if r.Hi >= 1024 {
			low = false
		}
	}
	if low {
		return netfilter.No
	}
	return netfilter.Maybe
}

// ctState is the conntrack state of the packet: NEW, or ESTABLISHED for the handshake's
// next packet (and DNAT once translated); in the raw
// table, which runs before conntrack, the packet has no connection yet and counts as INVALID.
func (w *walker) ctState() uint32 {
	if w.t.name == "raw" {
		return ctInvalid
	}
	if w.e.Pkt.Established {
		if w.e.Pkt.DNATed {
			return ctEstablished | ctDNAT
		}
		return ctEstablished
	}
	if w.e.Pkt.DNATed {
		return ctNew | ctDNAT
	}
	return ctNew
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (w *walker) dstType() uint32 {
	d := w.e.Pkt.Dst
	switch {
	case w.env.IsLocal(d):
		return atLocal
	case d.IsMulticast():
		return atMulticast
	case d == limitedBroadcast:
		return atBroadcast
	}
	return atUnicast
}

// srcType tests the source against this host's addresses through SrcIn, so that the
// source set is split where the answer changes.
func (w *walker) srcType(bits uint32) netfilter.Tri {
	lo := report.RangeOf(netip.MustParsePrefix("127.0.0.0/8"))
	if w.e.Pkt.Family == netfilter.IPv6 {
		lo = report.SingleAddr(netip.IPv6Loopback())
	}
	local := make([]report.AddrRange, 0, len(w.env.LocalAddrs)+1)
	local = append(local, lo)
	for _, a := range w.env.LocalAddrs {
		local = append(local, report.SingleAddr(a))
	}
	typ := atUnicast
	if w.e.SrcIn(local...) {
		typ = atLocal
	}
	return netfilter.TriOf(typ&bits != 0)
}

func pktType(d netip.Addr) uint32 {
	switch {
	case d.IsMulticast():
		return ptMulticast
	case d == limitedBroadcast:
		return ptBroadcast
	}
	return ptUnicast
}

// outIface matches -o. Before routing (prerouting) and on input there is no output
// interface, so only the wildcard "+" matches, as in the kernel. On forward it is the
// interface of the route to the destination, when the environment can tell.
func (w *walker) outIface(pattern string) netfilter.Tri {
	switch w.hook {
	case netfilter.Prerouting, netfilter.Input:
		return netfilter.TriOf(ifaceMatch(pattern, ""))
	case netfilter.Forward:
		if w.env.RouteIface != nil {
			if dev := w.env.RouteIface(w.e.Pkt.Dst); dev != "" {
				return netfilter.TriOf(ifaceMatch(pattern, dev))
			}
		}
	}
	return netfilter.Maybe
}

func ifaceMatch(pattern, name string) bool {
	if base, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, base)
	}
	return pattern == name
}
