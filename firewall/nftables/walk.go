package nftables

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/firewall/netfilter"
)

const (
	// maxLeaves bounds the paths explored for matches that cannot be evaluated;
	// beyond it the chain is undecided.
	maxLeaves = 64
	// maxDepth bounds the jump stack (the kernel allows 16 levels).
	maxDepth = 64
	// maxEntries bounds the chains entered by one walk (goto loops).
	maxEntries = 100000
)

// BaseChains turns every base chain of the ruleset into a netfilter.BaseChain whose Run
// walks it. Tables of families arp, bridge and netdev are left out (no hook of theirs sees
// the simulated packet). With skipIPTables, the tables iptables-nft owns (IPTablesOwned)
// are left out too: they are read from iptables-save instead. Rules are compiled here, once.
func BaseChains(rs *Ruleset, skipIPTables bool) ([]netfilter.BaseChain, error) {
	if rs == nil {
		return nil, errors.New("no ruleset")
	}
	ctMarkSet := setsCtMark(rs)
	var out []netfilter.BaseChain
	for _, t := range rs.Tables {
		switch t.Family {
		case "ip", "ip6", "inet":
		default:
			continue
		}
		if skipIPTables && iptablesOwned(t) {
			continue
		}
		p := compileTable(t, ctMarkSet)
		for _, c := range t.Chains {
			if !c.IsBase() {
				continue
			}
			typ := c.Type
			if typ == "" {
				typ = "filter"
			}
			out = append(out, netfilter.BaseChain{
				Origin: "nftables", Family: t.Family, Table: t.ID(), Chain: c.Name,
				Type: typ, Hook: netfilter.Hook(c.Hook), Priority: c.Prio,
				Run: p.runner(p.chains[c]),
			})
		}
	}
	return out, nil
}

// iptablesBuiltin are the chain names iptables-nft gives its base chains.
var iptablesBuiltin = []string{"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}

var iptablesTables = []string{"filter", "nat", "mangle", "raw", "security"}

func iptablesOwned(t *Table) bool {
	if t.HasXT {
		return true
	}
	if (t.Family != "ip" && t.Family != "ip6") || !slices.Contains(iptablesTables, t.Name) {
		return false
	}
	for _, c := range t.Chains {
		if c.IsBase() && slices.Contains(iptablesBuiltin, c.Name) {
			return true
		}
	}
	return false
}

// IPTablesOwned names the tables that iptables-nft manages ("ip filter", "ip6 nat"): family
// ip or ip6, an iptables table name and base chains with the iptables names, or any table
// holding xt expressions. iptables-save shows their rules with all parameters; nft -j does not.
func IPTablesOwned(rs *Ruleset) []string {
	var out []string
	for _, t := range rs.Tables {
		if iptablesOwned(t) {
			out = append(out, t.ID())
		}
	}
	return out
}

// setsCtMark reports whether any rule sets the conntrack mark.
func setsCtMark(rs *Ruleset) bool {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, st := range r.Stmts {
					switch s := st.(type) {
					case *Mangle:
						if k, ok := s.Key.(*Ct); ok && k.Key == "mark" {
							return true
						}
					case *XT:
						if s.Name == "CONNMARK" {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// walker is one walk of a base chain for one packet.
type walker struct {
	e    *netfilter.Eval
	hook netfilter.Hook
	// base is the base chain walked: its policy applies when the walk runs off the end,
	// also of a chain reached by goto
	base   *cchain
	leaves int
}

// conntrackPriority is where conntrack takes the packet on prerouting (NF_IP_PRI_CONNTRACK).
const conntrackPriority = -200

// beforeConntrack reports whether the chain walked runs before conntrack (prerouting below
// priority -200, where the raw table sits): the packet has no connection yet, and the
// kernel's ct state says invalid.
func (w *walker) beforeConntrack() bool {
	return w.hook == netfilter.Prerouting && w.base != nil && w.base.c.Prio < conntrackPriority
}

type frame struct {
	c  *cchain
	ri int
}

// wstate is where the walk is and what it changed; a fork copies it.
type wstate struct {
	stack []frame
	cur   *cchain
	// ri is the rule, si the step in it; cand (for an indexed chain) lists the rules that
	// may match, ci is ri's place in it
	ri, si  int
	cand    []int32
	ci      int
	mark    uint32
	markOK  bool
	ctmark  uint32
	ctOK    bool
	conds   []string
	entries int
}

func (s *wstate) clone() *wstate {
	c := *s
	c.stack = slices.Clone(s.stack)
	c.conds = slices.Clone(s.conds)
	return &c
}

// outcome is a result with the marks the walk left.
type outcome struct {
	res    netfilter.Result
	mark   uint32
	markOK bool
}

func (p *program) runner(cc *cchain) func(e *netfilter.Eval) netfilter.Result {
	hook := netfilter.Hook(cc.c.Hook)
	return func(e *netfilter.Eval) netfilter.Result {
		w := &walker{e: e, hook: hook, base: cc}
		s := &wstate{mark: e.Pkt.Mark, markOK: true, ctOK: !p.ctMarkSet}
		w.enter(s, cc, 0)
		o := w.run(s)
		if o.markOK {
			e.Pkt.Mark = o.mark
		}
		return o.res
	}
}

func (s *wstate) done(res netfilter.Result) outcome {
	if len(s.conds) > 0 {
		res.Conditions = s.conds
	}
	return outcome{res: res, mark: s.mark, markOK: s.markOK}
}

func (s *wstate) nextRule() {
	s.si = 0
	if s.cand == nil {
		s.ri++
		return
	}
	s.ci++
	if s.ci < len(s.cand) {
		s.ri = int(s.cand[s.ci])
	} else {
		s.ri = len(s.cur.rules)
	}
}

// enter moves the walk into chain c at rule ri.
func (w *walker) enter(s *wstate, c *cchain, ri int) {
	s.cur, s.si, s.cand = c, 0, nil
	if c.index == nil {
		s.ri = ri
		return
	}
	s.cand = c.index.candidates(w.e.Pkt.Proto, w.e.Pkt.DPort)
	s.ci, _ = slices.BinarySearch(s.cand, int32(ri))
	if s.ci < len(s.cand) {
		s.ri = int(s.cand[s.ci])
	} else {
		s.ri = len(c.rules)
	}
}

// run walks from the state's position to a verdict.
func (w *walker) run(s *wstate) outcome {
	for {
		if s.ri >= len(s.cur.rules) {
			if o, end := w.leave(s); end {
				return o
			}
			continue
		}
		r := s.cur.rules[s.ri]
		if s.si == 0 && r.inert {
			s.nextRule()
			continue
		}
		if s.si >= len(r.steps) {
			s.nextRule()
			continue
		}
		st := &r.steps[s.si]
		switch st.kind {
		case sMatch:
			t, m := evalGroup(w, s, st.ms)
			switch t {
			case netfilter.No:
				s.nextRule()
			case netfilter.Yes:
				s.si++
			default:
				return w.fork(s, r, m.why())
			}
		case sMaybe:
			return w.fork(s, r, st.text)
		case sCond:
			s.conds = append(s.conds, condText(r.id(), st.stmt))
			if st.tri == netfilter.No {
				s.nextRule()
			} else {
				s.si++
			}
		case sMark:
			v, ok := st.setMark(w, s)
			if st.ctMark {
				s.ctmark, s.ctOK = v, ok
			} else {
				s.mark, s.markOK = v, ok
			}
			s.si++
		case sVerdict:
			if o, end := w.verdict(s, r, target{kind: st.verdict, c: st.target}); end {
				return o
			}
		case sReject:
			if st.reject == "tcp reset" && w.e.Pkt.Proto != "tcp" {
				// the kernel sends nothing for a non-TCP packet and drops it
				return s.done(netfilter.Result{Verdict: netfilter.Drop, Rule: r.report()})
			}
			return s.done(netfilter.Result{Verdict: netfilter.Reject, RejectWith: st.reject, Rule: r.report()})
		case sUndecided:
			return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: r.id() + ": " + st.text})
		case sAcceptNAT:
			return s.done(netfilter.Result{Verdict: netfilter.Accept, Rule: r.report()})
		case sVMap:
			yes, maybes := st.vm.lookup(w, s)
			if len(maybes) > 0 {
				return w.forkMap(s, r, st.vm, maybes)
			}
			if yes < 0 {
				s.nextRule()
				continue
			}
			if o, end := w.verdict(s, r, st.vm.verdicts[yes]); end {
				return o
			}
		case sNAT:
			if o, end := w.nat(s, r, st.nat); end {
				return o
			}
		}
	}
}

// leave ends the current chain: back to the caller, or the policy of the base chain.
func (w *walker) leave(s *wstate) (outcome, bool) {
	if n := len(s.stack); n > 0 {
		f := s.stack[n-1]
		s.stack = s.stack[:n-1]
		w.enter(s, f.c, f.ri)
		return outcome{}, false
	}
	return s.done(netfilter.Result{Verdict: w.base.policy, Rule: w.base.policyRule}), true
}

// verdict applies a verdict; end is true when the walk is over.
func (w *walker) verdict(s *wstate, r *crule, t target) (outcome, bool) {
	switch t.kind {
	case "accept":
		return s.done(netfilter.Result{Verdict: netfilter.Accept, Rule: r.report()}), true
	case "drop":
		return s.done(netfilter.Result{Verdict: netfilter.Drop, Rule: r.report()}), true
	case "continue":
		s.nextRule()
	case "return":
		s.ri = len(s.cur.rules)
	case "jump", "goto":
		s.entries++
		if s.entries > maxEntries {
			return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: r.id() + ": the chains loop"}), true
		}
		if t.kind == "jump" {
			if len(s.stack) >= maxDepth {
				return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: fmt.Sprintf("%s: jumps nest deeper than %d chains", r.id(), maxDepth)}), true
			}
			s.stack = append(s.stack, frame{s.cur, s.ri + 1})
		}
		w.enter(s, t.c, 0)
	default:
		return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: r.id() + ": unknown verdict " + t.kind}), true
	}
	return outcome{}, false
}

// nat applies dnat or redirect: the nat chain ends accepting, with the rewrite.
func (w *walker) nat(s *wstate, r *crule, n *natStep) (outcome, bool) {
	if n.family != "" && n.family != w.e.Pkt.Family {
		s.nextRule() // "dnat ip to …" does not apply to an IPv6 packet, nor the reverse
		return outcome{}, false
	}
	addr, port := n.addr, n.port
	if n.lookup != nil {
		yes, maybes := n.lookup.lookup(w, s)
		if len(maybes) > 0 {
			return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: r.id() + ": " + n.text + ": the map key cannot be evaluated"}), true
		}
		if yes < 0 { // no mapping: the rule does not apply
			s.nextRule()
			return outcome{}, false
		}
		addr = n.lookup.addrs[yes]
		if p := n.lookup.ports[yes]; p != 0 {
			port = p
		}
	}
	if addr.IsValid() && netfilter.FamilyOf(addr) != w.e.Pkt.Family {
		s.nextRule() // a dnat of the other family does not apply to this packet
		return outcome{}, false
	}
	nat := &netfilter.NAT{Addr: addr, Port: port, Text: natDesc(n.kind, addr, port), Redirect: n.kind == "redirect"}
	return s.done(netfilter.Result{Verdict: netfilter.Accept, Rule: r.report(), NAT: nat}), true
}

func natDesc(kind string, addr netip.Addr, port uint16) string {
	var b strings.Builder
	b.WriteString(kind + " to ")
	switch {
	case addr.IsValid() && port != 0 && addr.Is6():
		fmt.Fprintf(&b, "[%s]:%d", addr, port)
	case addr.IsValid() && port != 0:
		fmt.Fprintf(&b, "%s:%d", addr, port)
	case addr.IsValid():
		b.WriteString(addr.String())
	case port != 0:
		fmt.Fprintf(&b, ":%d", port)
	default:
		return kind
	}
	return b.String()
}

// evalGroup evaluates a group of matches (the source last); m is the first that could
// not be decided.
func evalGroup(w *walker, s *wstate, ms []matcher) (netfilter.Tri, *matcher) {
	t := netfilter.Yes
	var first *matcher
	for i := range ms {
		switch ms[i].eval(w, s) {
		case netfilter.No:
			return netfilter.No, nil
		case netfilter.Maybe:
			if first == nil {
				first = &ms[i]
			}
			t = netfilter.Maybe
		}
	}
	return t, first
}

// fork evaluates the rest of the walk both ways for a step that cannot be decided:
// the rule's walk goes on (matched) or the next rule runs (unmatched).
func (w *walker) fork(s *wstate, r *crule, why string) outcome {
	reason := r.id() + ": " + why
	if w.leaves >= maxLeaves {
		return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: fmt.Sprintf("more than %d undecidable paths through the rules (at %s)", maxLeaves, reason)})
	}
	w.leaves++
	matched := s.clone()
	matched.si++
	s.nextRule()
	return join(w.run(matched), w.run(s), reason)
}

// forkMap follows every element a verdict map may select, and the case where none does.
func (w *walker) forkMap(s *wstate, r *crule, l *lookupStep, maybes []int) outcome {
	reason := r.id() + ": the key of " + l.text + " cannot be evaluated"
	if w.leaves+len(maybes) > maxLeaves {
		return s.done(netfilter.Result{Verdict: netfilter.Undecided, Rule: r.report(), Reason: fmt.Sprintf("more than %d undecidable paths through the rules (at %s)", maxLeaves, reason)})
	}
	w.leaves += len(maybes)
	none := s.clone()
	none.nextRule()
	acc := w.run(none)
	for i := len(maybes) - 1; i >= 0; i-- {
		b := s.clone()
		o, end := w.verdict(b, r, l.verdicts[maybes[i]])
		if !end {
			o = w.run(b)
		}
		acc = join(o, acc, reason)
	}
	return acc
}

func join(matched, unmatched outcome, reason string) outcome {
	return outcome{
		res:    netfilter.Fork(matched.res, unmatched.res, reason),
		mark:   matched.mark,
		markOK: matched.markOK && unmatched.markOK && matched.mark == unmatched.mark,
	}
}
