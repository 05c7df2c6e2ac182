// Package netfilter simulates the first packet of a connection through the Linux
// netfilter hooks: base chains from every source (iptables-nft, iptables-legacy,
// native nftables) ordered by priority, DNAT before the routing decision, accept
// ending only its own base chain, drop and reject final anywhere.
//
// The rule languages live in firewall/iptables and firewall/nftables; each turns
// its rules into BaseChains whose Run walks the chain for one packet. This package
// owns the parts they share: the packet, the hook pipeline, the source set and the
// mapping from reject types to what the client sees.
package netfilter

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/report"
)

// Family is the address family of the packet: "ip" (IPv4) or "ip6" (IPv6).
type Family string

const (
	IPv4 Family = "ip"
	IPv6 Family = "ip6"
)

// FamilyOf is the family of an address.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// Hook is a netfilter hook a base chain is registered on.
type Hook string

const (
	Prerouting  Hook = "prerouting"
	Input       Hook = "input"
	Forward     Hook = "forward"
	Output      Hook = "output"
	Postrouting Hook = "postrouting"
	Ingress     Hook = "ingress"
)

// Packet is the first packet of the simulated connection (a TCP SYN or the first UDP datagram, ct state new).
type Packet struct {
	Family Family
	// Proto is "tcp" or "udp".
	Proto string
	Src   netip.Addr
	Dst   netip.Addr
	DPort uint16
	// InIface is the interface the packet arrives on; empty means unknown.
	InIface string
	// Mark is the packet mark set by earlier rules; starts at 0.
	Mark uint32
	// DNATed is true once a nat rule rewrote the destination; OrigDst/OrigDPort keep the values before.
	DNATed    bool
	OrigDst   netip.Addr
	OrigDPort uint16
	// Established marks the handshake's next packet (the client's ACK), which conntrack
	// sees as ct state established; false is the first packet (ct state new).
	Established bool
}

// Env is what the simulation knows about the host apart from its rules.
type Env struct {
	// LocalAddrs are the host's own addresses (routing decision, addrtype LOCAL, fib daddr type local).
	LocalAddrs []netip.Addr
	// IPForward says whether the host forwards packets (DNAT to a container needs it).
	IPForward bool
	// RouteLocalnet allows DNAT to 127.0.0.0/8 from other interfaces (net.ipv4.conf.*.route_localnet).
	RouteLocalnet bool
	// IPSets holds ipset members by set name; a set missing here makes its matches unknown.
	IPSets map[string][]report.AddrRange
	// IfaceAddrs lists an interface's addresses in the kernel's order (REDIRECT takes the
	// first of the packet's family); nil or an empty answer means unknown.
	IfaceAddrs func(iface string) []netip.Addr
	// RouteIface names the interface the route to an address leaves by: for a source, the
	// interface its traffic arrives on; for a forwarded destination, the one it leaves on.
	// nil or an empty answer means unknown.
	RouteIface func(addr netip.Addr) string
}

// IsLocal reports whether a is one of the host's addresses (loopback addresses always are).
func (e *Env) IsLocal(a netip.Addr) bool {
	return a.IsLoopback() || slices.Contains(e.LocalAddrs, a.Unmap())
}

// Verdict is the outcome of walking a chain.
type Verdict int

const (
	// Continue: the chain ended without a verdict (a user chain returned, or a base chain with no policy decision yet).
	Continue Verdict = iota
	Accept
	Drop
	Reject
	// Undecided: the outcome depends on something the rules do not show (an unreadable match, a queue to userspace).
	Undecided
)

func (v Verdict) String() string {
	return [...]string{"continue", "accept", "drop", "reject", "undecided"}[v]
}

// NAT is a destination rewrite done by a nat chain.
type NAT struct {
	// Addr is the new destination; invalid means unchanged (REDIRECT keeps a local address).
	Addr netip.Addr
	// Port is the new destination port; 0 means unchanged.
	Port uint16
	// Text describes the rewrite for people ("DNAT to 172.17.0.2:80").
	Text string
	// OneOf lists the rewrites a load-balancing rule picks from (kube-proxy's statistic,
	// nft numgen); empty for a single rewrite, when Addr and Port are the rewrite itself.
	OneOf []NAT
	// Redirect is a REDIRECT: the destination becomes the first address of the interface
	// the packet arrived on.
	Redirect bool
}

// choices is the list of rewrites n stands for.
func (n *NAT) choices() []NAT {
	if len(n.OneOf) > 0 {
		return n.OneOf
	}
	return []NAT{*n}
}

func sameNAT(a, b *NAT) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := a.choices(), b.choices()
	return slices.EqualFunc(ca, cb, func(x, y NAT) bool { return x.Addr == y.Addr && x.Port == y.Port })
}

// Result is what one chain walk decided.
type Result struct {
	Verdict Verdict
	// RejectWith is the canonical reject type ("icmp port-unreachable", "icmpx admin-prohibited", "tcp reset").
	RejectWith string
	// Rule is the rule that decided; for a chain policy, a Rule with Position 0 describing the policy.
	Rule *report.Rule
	// NAT is set when a nat chain rewrote the destination.
	NAT *NAT
	// Conditions are the stateful matches assumed for a first connection ("ufw limit: refused after 6 connections in 30 s").
	Conditions []string
	// Reason says why the verdict is Undecided.
	Reason string
}

// Same reports whether two results decide alike (same verdict, reject type and rewrite).
func (r Result) Same(o Result) bool {
	return r.Verdict == o.Verdict && r.RejectWith == o.RejectWith && sameNAT(r.NAT, o.NAT)
}

// Fork joins the two outcomes of a match that could not be evaluated: equal outcomes
// stay decided, different ones become Undecided with the reason given.
func Fork(matched, unmatched Result, reason string) Result {
	if matched.Same(unmatched) {
		matched.Conditions = mergeStrings(matched.Conditions, unmatched.Conditions)
		return matched
	}
	if matched.Verdict == Accept && unmatched.Verdict == Accept && matched.NAT != nil && unmatched.NAT != nil {
		// both ways rewrite the destination: a choice between endpoints, simulated one by one later
		all := append(slices.Clone(matched.NAT.choices()), unmatched.NAT.choices()...)
		matched.NAT = &NAT{OneOf: all, Text: fmt.Sprintf("DNAT to one of %d endpoints", len(all))}
		matched.Conditions = mergeStrings(matched.Conditions, unmatched.Conditions)
		return matched
	}
	out := Result{Verdict: Undecided, Reason: reason, Rule: matched.Rule}
	if out.Rule == nil {
		out.Rule = unmatched.Rule
	}
	return out
}

func mergeStrings(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Eval is handed to each chain walk; it carries the packet and records which source
// ranges the rules tested, so that the source set can be split where the answer changes.
type Eval struct {
	Pkt *Packet
	Env *Env
	// tested are the ranges passed to SrcIn.
	tested []report.AddrRange
}

// SrcIn reports whether the packet's source lies in any of the ranges, and remembers the ranges.
// Every rule language must test source addresses through it.
func (e *Eval) SrcIn(ranges ...report.AddrRange) bool {
	e.tested = append(e.tested, ranges...)
	for _, r := range ranges {
		if r.Contains(e.Pkt.Src) {
			return true
		}
	}
	return false
}

// BaseChain is one chain registered on a hook, with the function that walks it.
type BaseChain struct {
	// Origin is the rule source: "iptables-nft", "iptables-legacy" or "nftables".
	Origin string
	// Family is "ip", "ip6" or "inet" (both).
	Family string
	Table  string
	Chain  string
	// Type is "filter", "nat" or "route".
	Type     string
	Hook     Hook
	Priority int
	// Run walks the chain for e.Pkt; it ends with the chain's policy when no rule decides.
	// A nat chain returns Accept with NAT set when it rewrites the destination.
	Run func(e *Eval) Result
}

func (c BaseChain) appliesTo(f Family) bool {
	return c.Family == "inet" || Family(c.Family) == f
}

// Where names the chain for people: "iptables-nft filter/INPUT".
func (c BaseChain) Where() string { return fmt.Sprintf("%s %s/%s", c.Origin, c.Table, c.Chain) }

// Hop is one base chain the packet went through, with what it decided.
type Hop struct {
	Chain  BaseChain
	Result Result
}

// Trace is the full simulation of one packet.
type Trace struct {
	// Final is Accept, Drop, Reject or Undecided.
	Final Verdict
	// Decider is the hop whose result is final (the dropping chain, or the last accepting one).
	Decider *Hop
	// Path is "input" when the packet is for this host, "forward" when DNAT or routing sends it on.
	Path Hook
	// NAT is the destination rewrite, if any.
	NAT *NAT
	// Hops are all base chains in the order they ran.
	Hops []Hop
	// Conditions collects stateful assumptions from every hop.
	Conditions []string
	// Reason says why Final is Undecided, or why the kernel drops without a rule (martian, no forwarding).
	Reason string
	// Packet is the packet as it left the pipeline (after DNAT).
	Packet Packet
	tested []report.AddrRange
}

// hookOrder returns the base chains of hook that apply to family, by priority (stable: sources keep their order on ties).
func hookOrder(chains []BaseChain, hook Hook, f Family) []BaseChain {
	var out []BaseChain
	for _, c := range chains {
		if c.Hook == hook && c.appliesTo(f) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b BaseChain) int { return a.Priority - b.Priority })
	return out
}

// Simulate runs one packet through prerouting, the routing decision and input or forward.
func Simulate(chains []BaseChain, pkt Packet, env *Env) Trace {
	t := simulate(chains, pkt, env, -1)
	if t.NAT == nil || len(t.NAT.OneOf) < 2 {
		return t
	}
	// A load-balancing rewrite: follow every endpoint; the answer is certain only if they agree.
	lb := t.NAT
	var first Trace
	var verdicts []string
	agree := true
	for i, alt := range lb.OneOf {
		at := simulate(chains, pkt, env, i)
		verdicts = append(verdicts, fmt.Sprintf("%s → %s", alt.Text, at.Final))
		if i == 0 {
			first = at
			continue
		}
		first.tested = append(first.tested, at.tested...)
		first.Conditions = mergeStrings(first.Conditions, at.Conditions)
		agree = agree && at.Final == first.Final && at.Path == first.Path &&
			(at.Decider == nil) == (first.Decider == nil) &&
			(at.Decider == nil || at.Decider.Result.RejectWith == first.Decider.Result.RejectWith)
	}
	first.NAT = &NAT{OneOf: lb.OneOf, Text: fmt.Sprintf("%s (%s)", lb.Text, strings.Join(verdicts, ", "))}
	if !agree {
		first.Final = Undecided
		first.Reason = "the verdict depends on the endpoint the load balancing picks: " + strings.Join(verdicts, ", ")
	}
	return first
}

// simulate runs the pipeline; pick ≥ 0 chooses that endpoint of a load-balancing rewrite.
func simulate(chains []BaseChain, pkt Packet, env *Env, pick int) Trace {
	e := &Eval{Pkt: &pkt, Env: env}
	t := Trace{Path: Input}
	undecided := ""
	natUndecided := ""                // a rewrite that could not be read makes everything after it uncertain
	runHook := func(hook Hook) bool { // false when the packet is gone
		order := hookOrder(chains, hook, pkt.Family)
		for i, c := range order {
			if c.Type == "nat" && pkt.DNATed {
				continue // the first nat mapping of a flow wins; later nat chains do not run for it
			}
			res := c.Run(e)
			t.Hops = append(t.Hops, Hop{c, res})
			t.Conditions = mergeStrings(t.Conditions, res.Conditions)
			switch res.Verdict {
			case Drop, Reject:
				t.Final, t.Decider = res.Verdict, &t.Hops[len(t.Hops)-1]
				if natUndecided != "" {
					t.Final, t.Reason = Undecided, natUndecided
				} else if why := tieConflict(order, i, res, e); why != "" {
					t.Final, t.Reason = Undecided, why
				}
				return false
			case Undecided:
				if c.Type == "nat" && natUndecided == "" {
					natUndecided = fmt.Sprintf("%s: %s (the destination after it is not known)", c.Where(), res.Reason)
				}
				if undecided == "" {
					undecided = fmt.Sprintf("%s: %s", c.Where(), res.Reason)
				}
			case Accept, Continue:
				if c.Type != "nat" { // a nat chain's accept only means "no rewrite here"
					t.Decider = &t.Hops[len(t.Hops)-1]
				}
			}
			if res.NAT != nil && hook == Prerouting {
				if why := natTie(order, i, res, e); why != "" && natUndecided == "" {
					natUndecided = why
					if undecided == "" {
						undecided = why
					}
				}
				n := res.NAT
				if len(n.OneOf) > 1 && pick >= 0 && pick < len(n.OneOf) {
					n = &n.OneOf[pick]
				}
				applyNAT(&pkt, n)
				if n.Redirect {
					if a, ok := redirectAddr(env, pkt); ok {
						pkt.Dst = a
					}
				}
				t.NAT = res.NAT
				if n != res.NAT {
					t.NAT = n
				}
			}
		}
		return true
	}

	finish := func() Trace {
		t.Packet, t.tested = pkt, e.tested
		return t
	}
	if !runHook(Prerouting) {
		return finish()
	}
	// routing decision on the (translated) destination
	switch {
	case pkt.DNATed && pkt.Dst.IsLoopback() && !pkt.OrigDst.IsLoopback() && !env.RouteLocalnet:
		t.Final, t.Decider = Drop, nil
		t.Reason = fmt.Sprintf("DNAT to %s from another interface is dropped as martian (route_localnet=0)", pkt.Dst)
		return finish()
	case env.IsLocal(pkt.Dst), t.NAT != nil && !t.NAT.Addr.IsValid():
		// REDIRECT rewrites to an address of the arrival interface: always this host
		t.Path = Input
	case env.IPForward:
		t.Path = Forward
	default:
		t.Final, t.Decider = Drop, nil
		t.Reason = fmt.Sprintf("%s is not an address of this host and forwarding is off", pkt.Dst)
		return finish()
	}
	if !runHook(t.Path) {
		return finish()
	}
	t.Final = Accept
	if undecided != "" {
		t.Final, t.Reason = Undecided, undecided
	} else if why := handshakeBlocked(chains, pkt, t.Path, e); why != "" {
		t.Final, t.Reason = Undecided, why
	}
	return finish()
}

// natDstPriority is the priority at which conntrack applies a flow's destination rewrite.
const natDstPriority = -100

// handshakeBlocked runs the client's ACK, the TCP handshake's next packet, through the
// filter chains the accepted SYN passed: conntrack now calls it established and applies
// the SYN's rewrite (nat chains do not run again). Rules that accept only new connections
// and then drop or reject let the SYN through but not the connection; the client's
// connect may still succeed, and what it sees after depends on timing.
func handshakeBlocked(chains []BaseChain, syn Packet, path Hook, e *Eval) string {
	if syn.Proto != "tcp" {
		return ""
	}
	ack := syn
	ack.Established, ack.Mark = true, 0
	ae := &Eval{Pkt: &ack, Env: e.Env}
	defer func() { e.tested = append(e.tested, ae.tested...) }()
	for _, hook := range []Hook{Prerouting, path} {
		for _, c := range hookOrder(chains, hook, ack.Family) {
			if c.Type == "nat" {
				continue
			}
			// conntrack rewrites the ACK at the nat priority: chains before it see the
			// destination the client wrote
			var pre Packet
			if hook == Prerouting && c.Priority < natDstPriority && ack.DNATed {
				pre, ae.Pkt = ack, &pre
				pre.Dst, pre.DPort = ack.OrigDst, ack.OrigDPort
			}
			r := c.Run(ae)
			if ae.Pkt != &ack {
				ack.Mark, ae.Pkt = pre.Mark, &ack
			}
			switch r.Verdict {
			case Drop, Reject:
				rule := "its policy"
				if r.Rule != nil && r.Rule.Position > 0 {
					rule = "rule " + r.Rule.ID
				}
				return fmt.Sprintf("the first packet is accepted, but %s %s the handshake's next packet (ct state established) by %s: the client may connect, and the connection then fails",
					c.Where(), verb(r.Verdict, r.RejectWith), rule)
			case Undecided:
				return fmt.Sprintf("the first packet is accepted, but whether %s lets the handshake's next packet (ct state established) through cannot be decided: %s", c.Where(), r.Reason)
			}
		}
	}
	return ""
}

// tieConflict runs the filter chains after order[i] that share its priority. The kernel
// runs chains of equal priority in the order they were registered, which no dump shows;
// when one of them would end the packet differently, the outcome depends on that order.
func tieConflict(order []BaseChain, i int, res Result, e *Eval) string {
	c := order[i]
	for _, o := range order[i+1:] {
		if o.Priority != c.Priority {
			break
		}
		if o.Type == "nat" {
			continue
		}
		pk := *e.Pkt
		oe := &Eval{Pkt: &pk, Env: e.Env}
		r := o.Run(oe)
		e.tested = append(e.tested, oe.tested...)
		switch r.Verdict {
		case Drop, Reject, Undecided:
			if !r.Same(res) {
				return fmt.Sprintf("%s and %s both have priority %d on the %s hook and end the packet differently (%s, %s); the kernel runs them in the order they were registered, which the rules do not show",
					c.Where(), o.Where(), c.Priority, c.Hook, endText(res), endText(r))
			}
		}
	}
	return ""
}

// natTie runs the nat chains after order[i] that share its priority: the one the kernel
// registered last runs first, and the first rewrite of a flow wins, so a different rewrite
// from one of them makes the destination depend on that order.
func natTie(order []BaseChain, i int, res Result, e *Eval) string {
	c := order[i]
	for _, o := range order[i+1:] {
		if o.Priority != c.Priority {
			break
		}
		if o.Type != "nat" {
			continue
		}
		pk := *e.Pkt
		oe := &Eval{Pkt: &pk, Env: e.Env}
		r := o.Run(oe)
		e.tested = append(e.tested, oe.tested...)
		if r.NAT != nil && !sameNAT(r.NAT, res.NAT) || r.Verdict != Accept {
			return fmt.Sprintf("%s and %s both have priority %d on the %s hook and rewrite the destination differently (%s; %s); the kernel runs them in the order they were registered, which the rules do not show",
				c.Where(), o.Where(), c.Priority, c.Hook, res.NAT.Text, natText(r))
		}
	}
	return ""
}

func natText(r Result) string {
	if r.NAT != nil {
		return r.NAT.Text
	}
	return endText(r)
}

func endText(r Result) string {
	if r.Verdict == Undecided {
		return "undecided"
	}
	return verb(r.Verdict, r.RejectWith)
}

// redirectAddr is the address a REDIRECT sends the packet to: the first address of its
// family on the arrival interface; ok is false when that is not known.
func redirectAddr(env *Env, p Packet) (netip.Addr, bool) {
	if env.IfaceAddrs == nil || p.InIface == "" {
		return netip.Addr{}, false
	}
	for _, a := range env.IfaceAddrs(p.InIface) {
		if FamilyOf(a) == p.Family && !a.IsLinkLocalUnicast() {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func applyNAT(p *Packet, n *NAT) {
	p.DNATed, p.OrigDst, p.OrigDPort = true, p.Dst, p.DPort
	if n.Addr.IsValid() {
		p.Dst = n.Addr
	}
	if n.Port != 0 {
		p.DPort = n.Port
	}
}

// Query is the question asked of a ruleset: may any of Source reach Dst:Port?
type Query struct {
	// Source is the source set; its family must be Dst's.
	Source netip.Prefix
	Dst    netip.Addr
	// Proto is "tcp" or "udp".
	Proto string
	Port  uint16
	// InIface is the interface traffic from the source arrives on; empty means unknown.
	InIface string
}

// Class is a part of the source set for which every rule answers alike.
type Class struct {
	Range report.AddrRange
	Trace Trace
}

// maxClasses bounds the refinement: beyond it the rest of the source set is one Undecided class.
const maxClasses = 4096

// Classes splits the source set into parts on which the rules decide alike and simulates each.
// Loopback sources are left out unless the destination is loopback: the kernel drops them
// as martians on any other interface.
func Classes(chains []BaseChain, q Query, env *Env) []Class {
	full := report.RangeOf(q.Source)
	work := []report.AddrRange{full}
	if !q.Dst.IsLoopback() {
		lo := report.RangeOf(netip.MustParsePrefix("127.0.0.0/8"))
		if q.Dst.Is6() {
			lo = report.SingleAddr(netip.IPv6Loopback())
		}
		work = full.Subtract([]report.AddrRange{lo})
	}
	var out []Class
	for len(work) > 0 {
		r := work[0]
		work = work[1:]
		pkt := Packet{Family: FamilyOf(q.Dst), Proto: q.Proto, Src: r.From, Dst: q.Dst, DPort: q.Port, InIface: q.InIface}
		switch {
		case q.Dst.IsLoopback():
			pkt.InIface = "lo"
		case pkt.InIface == "" && env.RouteIface != nil:
			rep := r.From
			if rep.IsUnspecified() {
				rep = rep.Next()
			}
			pkt.InIface = env.RouteIface(rep)
		}
		tr := Simulate(chains, pkt, env)
		if parts := split(r, tr.tested); len(parts) > 1 && len(out)+len(work) < maxClasses {
			work = append(parts, work...)
			continue
		}
		out = append(out, Class{Range: r, Trace: tr})
	}
	slices.SortFunc(out, func(a, b Class) int { return a.Range.From.Compare(b.Range.From) })
	return out
}

// split cuts r at the edges of every tested range that covers only part of it.
func split(r report.AddrRange, tested []report.AddrRange) []report.AddrRange {
	cuts := []netip.Addr{} // addresses where a new part starts
	for _, t := range tested {
		if t.From.BitLen() != r.From.BitLen() {
			continue
		}
		if t.From.Compare(r.From) > 0 && t.From.Compare(r.To) <= 0 {
			cuts = append(cuts, t.From)
		}
		if t.To.Compare(r.From) >= 0 && t.To.Compare(r.To) < 0 {
			cuts = append(cuts, t.To.Next())
		}
	}
	if len(cuts) == 0 {
		return []report.AddrRange{r}
	}
	slices.SortFunc(cuts, func(a, b netip.Addr) int { return a.Compare(b) })
	cuts = slices.Compact(cuts)
	var parts []report.AddrRange
	from := r.From
	for _, c := range cuts {
		parts = append(parts, report.AddrRange{From: from, To: c.Prev()})
		from = c
	}
	return append(parts, report.AddrRange{From: from, To: r.To})
}

// SymptomOf is what a client sees when the host rejects its first packet with the given
// type, per the measured table in DESIGN.md. Drop is always a timeout.
func SymptomOf(f Family, proto string, v Verdict, rejectWith string) report.Symptom {
	switch v {
	case Drop:
		return report.Timeout
	case Reject:
	default:
		return ""
	}
	kind, code, _ := strings.Cut(rejectWith, " ")
	if kind == "icmpx" {
		kind = "icmp"
		if f == IPv6 {
			kind = "icmpv6"
		}
	}
	udp := proto == "udp"
	softForUDP := func(s report.Symptom) report.Symptom { // net/host unreachable are non-fatal ICMP errors for UDP
		if udp {
			return report.Timeout
		}
		return s
	}
	switch kind + " " + code {
	case "tcp reset", "icmp port-unreachable", "icmpv6 port-unreachable", " ", "icmp ", "icmpv6 ":
		return report.Refused
	case "icmp prot-unreachable":
		return report.Refused
	case "icmp net-unreachable", "icmp host-unreachable", "icmp no-route",
		"icmpv6 no-route", "icmpv6 addr-unreachable", "icmpv6 host-unreachable":
		return softForUDP(report.NoRoute)
	case "icmp net-prohibited", "icmp host-prohibited", "icmp admin-prohibited":
		return report.NoRoute
	case "icmpv6 admin-prohibited", "icmpv6 policy-fail", "icmpv6 reject-route":
		return report.PermissionDenied
	}
	return report.Refused
}

// iptablesRejects maps iptables' --reject-with names to the canonical "kind code" form.
var iptablesRejects = map[string]string{
	"icmp-net-unreachable":   "icmp net-unreachable",
	"icmp-host-unreachable":  "icmp host-unreachable",
	"icmp-port-unreachable":  "icmp port-unreachable",
	"icmp-proto-unreachable": "icmp prot-unreachable",
	"icmp-net-prohibited":    "icmp net-prohibited",
	"icmp-host-prohibited":   "icmp host-prohibited",
	"icmp-admin-prohibited":  "icmp admin-prohibited",
	"tcp-reset":              "tcp reset",
	"icmp6-no-route":         "icmpv6 no-route",
	"no-route":               "icmpv6 no-route",
	"icmp6-adm-prohibited":   "icmpv6 admin-prohibited",
	"adm-prohibited":         "icmpv6 admin-prohibited",
	"icmp6-addr-unreachable": "icmpv6 addr-unreachable",
	"addr-unreach":           "icmpv6 addr-unreachable",
	"icmp6-port-unreachable": "icmpv6 port-unreachable",
	"port-unreach":           "icmpv6 port-unreachable",
	"icmp6-policy-fail":      "icmpv6 policy-fail",
	"icmp6-reject-route":     "icmpv6 reject-route",
}

// CanonicalIPTablesReject turns an iptables --reject-with value into the canonical form;
// empty means the default for the family. Unknown names come back with ok false.
func CanonicalIPTablesReject(f Family, name string) (canon string, ok bool) {
	if name == "" {
		if f == IPv6 {
			return "icmpv6 port-unreachable", true
		}
		return "icmp port-unreachable", true
	}
	canon, ok = iptablesRejects[name]
	return canon, ok
}

// Tri is a three-valued match result.
type Tri int8

const (
	No Tri = iota
	Yes
	// Maybe: the match depends on something the simulation cannot know; the walker forks on it.
	Maybe
)

// TriOf turns a bool into Yes or No.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// Not negates Yes and No; Maybe stays Maybe.
func (t Tri) Not() Tri {
	switch t {
	case Yes:
		return No
	case No:
		return Yes
	}
	return Maybe
}

// internalIfaces are interface name prefixes that traffic from an outside client never
// arrives on: loopback, container bridges and veths, CNI and VPN-less overlay devices.
var internalIfaces = []string{"lo", "docker", "br-", "veth", "cni", "cali", "flannel", "kube-", "virbr", "podman", "cilium_", "weave", "vxlan.calico", "tunl"}

// InIface matches the arrival interface against an iptables (`eth+`) or nft (`eth*`) pattern.
// When the interface is unknown, a pattern naming an internal device is No (outside clients
// do not come from there) and any other pattern is Maybe.
func (e *Eval) InIface(pattern string) Tri {
	if e.Pkt.InIface != "" {
		return TriOf(ifaceMatch(pattern, e.Pkt.InIface))
	}
	for _, p := range internalIfaces {
		if ifaceMatch(pattern, p) || strings.HasPrefix(strings.TrimRight(pattern, "+*"), p) {
			return No
		}
	}
	return Maybe
}

// IsInternalIface reports whether traffic from an outside client never arrives on the
// interface: loopback, container bridges and veths, CNI and overlay devices.
func IsInternalIface(name string) bool {
	return slices.ContainsFunc(internalIfaces, func(p string) bool { return strings.HasPrefix(name, p) })
}

func ifaceMatch(pattern, name string) bool {
	if base, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, base)
	}
	if base, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, base)
	}
	return pattern == name
}
