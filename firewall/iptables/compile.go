package iptables

import (
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// hookPlace is where a built-in chain sits in the netfilter pipeline.
type hookPlace struct {
	hook     netfilter.Hook
	priority int
}

// places are the classic priorities iptables (legacy and nft) registers its chains at.
var places = map[string]map[string]hookPlace{
	"raw": {
		"PREROUTING": {netfilter.Prerouting, -300},
		"OUTPUT":     {netfilter.Output, -300},
	},
	"mangle": {
		"PREROUTING":  {netfilter.Prerouting, -150},
		"INPUT":       {netfilter.Input, -150},
		"FORWARD":     {netfilter.Forward, -150},
		"OUTPUT":      {netfilter.Output, -150},
		"POSTROUTING": {netfilter.Postrouting, -150},
	},
	"nat": {
		"PREROUTING":  {netfilter.Prerouting, -100},
		"INPUT":       {netfilter.Input, 100},
		"OUTPUT":      {netfilter.Output, -100},
		"POSTROUTING": {netfilter.Postrouting, 100},
	},
	"filter": {
		"INPUT":   {netfilter.Input, 0},
		"FORWARD": {netfilter.Forward, 0},
		"OUTPUT":  {netfilter.Output, 0},
	},
	"security": {
		"INPUT":   {netfilter.Input, 50},
		"FORWARD": {netfilter.Forward, 50},
		"OUTPUT":  {netfilter.Output, 50},
	},
}

// BaseChains turns the built-in chains of a dump into base chains for the simulation.
// origin is "iptables-nft" or "iptables-legacy"; fam is IPv4 for iptables-save output and
// IPv6 for ip6tables-save output. Every rule is compiled here once, so Run only evaluates.
// Tables other than raw, mangle, nat, filter and security are left out.
func BaseChains(d *Dump, origin string, fam netfilter.Family) ([]netfilter.BaseChain, error) {
	return baseChains(d, origin, fam, runtime.GOMAXPROCS(0))
}

// baseChains is BaseChains compiling large tables on up to workers cores.
func baseChains(d *Dump, origin string, fam netfilter.Family, workers int) ([]netfilter.BaseChain, error) {
	if fam != netfilter.IPv4 && fam != netfilter.IPv6 {
		return nil, fmt.Errorf("%s: family %q is neither %q nor %q", d.Name, fam, netfilter.IPv4, netfilter.IPv6)
	}
	c := &compiler{dump: d, origin: origin, fam: fam, workers: workers}
	for _, t := range d.Tables {
		for _, ch := range t.Chains {
			for i := range ch.Rules {
				if ch.Rules[i].Target == "CONNMARK" {
					c.connmarkSet = true
				}
			}
		}
	}
	var out []netfilter.BaseChain
	for _, t := range d.Tables {
		pl, ok := places[t.Name]
		if !ok {
			continue
		}
		ct, err := c.table(t)
		if err != nil {
			return nil, err
		}
		for _, ch := range t.Chains {
			p, ok := pl[ch.Name]
			if !ok || !ch.Builtin() {
				continue
			}
			cc, hook := ct.chains[ch.Name], p.hook
			typ := "filter"
			if t.Name == "nat" {
				typ = "nat"
			}
			out = append(out, netfilter.BaseChain{
				Origin: origin, Family: string(fam), Table: t.Name, Chain: ch.Name,
				Type: typ, Hook: hook, Priority: p.priority,
				Run: func(e *netfilter.Eval) netfilter.Result { return ct.run(cc, hook, e) },
			})
		}
	}
	return out, nil
}

// ctable is a compiled table.
type ctable struct {
	name   string
	origin string
	chains map[string]*cchain
	// byIndex holds the chains in the order of the table's Chains.
	byIndex []*cchain
	// budget bounds the rules one Run may visit (a goto loop never ends otherwise).
	budget int
}

type cchain struct {
	t      *ctable
	name   string
	policy string
	// rules leaves out rules that cannot change the outcome (LOG, counters only…).
	rules []crule
}

type tkind uint8

const (
	tContinue tkind = iota // no verdict: LOG, CT, SET…
	tAccept
	tDrop
	tReject
	tReturn
	tJump
	tGoto
	tMark
	tDNAT      // accept with a rewrite of the destination
	tRedirect  // accept with a rewrite to this host
	tNATAccept // SNAT, MASQUERADE: ends the nat chain
	tUndecided // the verdict is taken elsewhere (NFQUEUE, TPROXY…)
)

type markOp uint8

const (
	markSet  markOp = iota // mark = (mark &^ mask) | value
	markXset               // mark = (mark &^ mask) ^ value
	markOr
	markAnd
	markXor
)

var markOps = map[string]markOp{"--set-mark": markSet, "--set-xmark": markXset, "--or-mark": markOr, "--and-mark": markAnd, "--xor-mark": markXor}

type crule struct {
	chain *cchain
	// text is the rule as written (the dump itself is not kept).
	text   string
	pos    int32
	kind   tkind
	markOp markOp
	ms     []matcher
	jump   *cchain
	// arg is the canonical reject type (tReject), why the verdict is open (tUndecided),
	// or the --to-destination (tDNAT) or --to-ports (tRedirect) value.
	arg   string
	nat   *netfilter.NAT
	markV uint32
	markM uint32
}

// id is the rule's name in reports: "filter/INPUT#7".
func (r *crule) id() string {
	return r.chain.t.name + "/" + r.chain.name + "#" + strconv.Itoa(int(r.pos))
}

func (r *crule) report() *report.Rule {
	return &report.Rule{ID: r.id(), Text: r.text, Origin: r.chain.t.origin, Table: r.chain.t.name, Chain: r.chain.name, Position: int(r.pos)}
}

type mkind uint8

const (
	mConst     mkind = iota // tri is the answer (already negated)
	mAssume                 // tri is the answer for a first connection; why is the condition
	mMaybe                  // unknown; why says what is unknown
	mSrc                    // source in addrs (through Eval.SrcIn)
	mDst                    // destination in addrs
	mProto                  // protocol number n (0: all)
	mIn                     // input interface pattern s
	mOut                    // output interface pattern s
	mDPort                  // destination port in ports
	mSPort                  // the client's (ephemeral) source port in ports
	mPorts                  // either port in ports (multiport --ports)
	mCtState                // conntrack state in u1
	mOrigDst                // destination before DNAT in addrs
	mOrigDPort              // destination port before DNAT in ports
	mReplSrc                // reply source (the destination after DNAT) in addrs
	mReplSPort              // reply source port (the port after DNAT) in ports
	mDstType                // address type of the destination in u1
	mSrcType                // address type of the source in u1
	mMark                   // mark & u2 == u1
	mTCPFlags               // SYN & u1 == u2
	mSetSrc                 // source in ipset s
	mSetDst                 // destination in ipset s
	mPktType                // link-layer packet type in u1
)

type matcher struct {
	kind  mkind
	neg   bool
	tri   netfilter.Tri
	n     int16
	u1    uint32
	u2    uint32
	addrs []report.AddrRange
	ports []report.PortRange
	s     string
	// text is the match as written; why explains a Maybe or states an assumption.
	text string
	why  string
}

// Packet types of -m pkttype.
const (
	ptUnicast uint32 = 1 << iota
	ptBroadcast
	ptMulticast
)

var (
	pktTypeNames = map[string]uint32{"UNICAST": ptUnicast, "HOST": ptUnicast, "BROADCAST": ptBroadcast, "MULTICAST": ptMulticast}
	// ctStatusNames are the statuses a connection's first packet does not have yet.
	ctStatusNames = map[string]uint32{"EXPECTED": 1, "SEEN_REPLY": 2, "ASSURED": 4, "CONFIRMED": 8}
)

type compiler struct {
	dump        *Dump
	origin      string
	fam         netfilter.Family
	connmarkSet bool
	// workers is how many cores a large table's chains may compile on.
	workers int

	addrs  chunk[report.AddrRange]
	ports  chunk[report.PortRange]
	ms     chunk[matcher]
	chains chunk[cchain]
	rules  chunk[crule]
	nats   chunk[netfilter.NAT]
	// scratch for one rule: plain matchers, source matchers, assumptions
	plain, source, assumed []matcher
	rule                   *Rule
}

func (c *compiler) errf(format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s", c.dump.Name, c.rule.Line, fmt.Sprintf(format, a...))
}

func (c *compiler) table(t *Table) (*ctable, error) {
	ct := &ctable{name: t.Name, origin: c.origin, chains: make(map[string]*cchain, len(t.Chains)), byIndex: make([]*cchain, len(t.Chains))}
	n := 0
	for i, ch := range t.Chains {
		cc := &c.chains.take(1)[0]
		cc.t, cc.name, cc.policy = ct, ch.Name, ch.Policy
		ct.chains[ch.Name], ct.byIndex[i] = cc, cc
		n += len(ch.Rules)
	}
	ct.budget = 64*n + 10000
	// The chains compile independently; a large table is cut in parts of about the same
	// number of rules, compiled at once, each by a compiler of its own.
	parts := cutChains(t.Chains, n, c.workers)
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		w := c
		if i > 0 {
			w = &compiler{dump: c.dump, origin: c.origin, fam: c.fam, connmarkSet: c.connmarkSet}
		}
		wg.Go(func() { errs[i] = w.compileChains(ct, part) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first in the dump's order
		}
	}
	return ct, nil
}

// parallelRules is the number of rules from which a table's chains compile on several cores.
const parallelRules = 20000

// cutChains cuts chains into at most n runs of about the same number of rules (total in all).
func cutChains(chains []*Chain, total, n int) [][]*Chain {
	if n < 2 || total < parallelRules {
		return [][]*Chain{chains}
	}
	var out [][]*Chain
	start, acc := 0, 0
	for i, ch := range chains {
		acc += len(ch.Rules)
		if len(out) < n-1 && acc >= total*(len(out)+1)/n {
			out = append(out, chains[start:i+1])
			start = i + 1
		}
	}
	return append(out, chains[start:])
}

// compileChains compiles the rules of chains into their compiled chains, already in ct.
func (c *compiler) compileChains(ct *ctable, chains []*Chain) error {
	for _, ch := range chains {
		cc := ct.chains[ch.Name]
		cc.rules = c.rules.take(len(ch.Rules))[:0]
		for i := range ch.Rules {
			r := &ch.Rules[i]
			c.rule = r
			cr := crule{text: r.Text, chain: cc, pos: int32(i + 1)}
			if err := c.target(ct, &cr); err != nil {
				return err
			}
			if cr.kind == tContinue {
				continue // nothing it matches can change the outcome
			}
			if err := c.matches(&cr); err != nil {
				return err
			}
			cc.rules = append(cc.rules, cr)
		}
	}
	return nil
}

func (c *compiler) target(ct *ctable, cr *crule) error {
	r := c.rule
	dst := (*cchain)(nil)
	if r.jump != nil && r.jump.index < len(ct.byIndex) && ct.byIndex[r.jump.index].name == r.Target {
		dst = ct.byIndex[r.jump.index] // resolved when the dump was read
	} else if r.Target != "" {
		dst = ct.chains[r.Target]
	}
	if dst != nil {
		cr.kind, cr.jump = tJump, dst
		if r.Goto {
			cr.kind = tGoto
		}
		return nil
	}
	switch r.Target {
	case "ACCEPT":
		cr.kind = tAccept
	case "DROP":
		cr.kind = tDrop
	case "RETURN":
		cr.kind = tReturn
	case "REJECT":
		with, _ := r.TargetOption("--reject-with")
		canon, ok := netfilter.CanonicalIPTablesReject(c.fam, with)
		if !ok {
			canon, _ = netfilter.CanonicalIPTablesReject(c.fam, "")
		}
		cr.kind, cr.arg = tReject, canon
	case "QUEUE", "NFQUEUE":
		cr.kind, cr.arg = tUndecided, "the packet is queued to a userspace program ("+r.Target+"), which decides"
	case "TPROXY":
		cr.kind, cr.arg = tUndecided, "TPROXY hands the packet to a local proxy socket"
	case "SYNPROXY":
		cr.kind, cr.arg = tUndecided, "SYNPROXY answers the SYN itself"
	case "TARPIT":
		cr.kind, cr.arg = tUndecided, "TARPIT holds the connection open without serving it"
	case "NETMAP":
		cr.kind, cr.arg = tUndecided, "NETMAP address mapping is not simulated"
	case "SNAT", "MASQUERADE":
		cr.kind = tNATAccept
	case "DNAT":
		to, ok := r.TargetOption("--to-destination")
		if !ok {
			cr.kind, cr.arg = tUndecided, "DNAT without --to-destination"
			return nil
		}
		addr, port, ok := parseNATDest(to)
		if !ok {
			return c.errf("bad DNAT destination %q", shorten(to))
		}
		if addr.IsValid() && netfilter.FamilyOf(addr) != c.fam {
			return c.errf("DNAT to %s in an %s dump", addr, familyName(c.fam))
		}
		if c.fam == netfilter.IPv4 {
			addr = addr.Unmap()
		}
		cr.kind, cr.nat, cr.arg = tDNAT, &c.nats.take(1)[0], to
		cr.nat.Addr, cr.nat.Port = addr, port
	case "REDIRECT":
		cr.kind, cr.nat = tRedirect, &c.nats.take(1)[0]
		if to, ok := r.TargetOption("--to-ports"); ok {
			pr, err := report.ParsePortRange(to, "-")
			if err != nil {
				return c.errf("bad REDIRECT port %q", shorten(to))
			}
			cr.nat.Port, cr.arg = pr.Lo, to
		}
	case "MARK":
		for _, o := range r.TargetOptions {
			op, ok := markOps[o.Name]
			if !ok {
				continue
			}
			v, m, ok := parseMark(o.Arg())
			if !ok {
				return c.errf("bad mark %q", shorten(o.Arg()))
			}
			cr.kind, cr.markOp, cr.markV, cr.markM = tMark, op, v, m
		}
	}
	return nil
}

func familyName(f netfilter.Family) string {
	if f == netfilter.IPv6 {
		return "IPv6 (ip6tables)"
	}
	return "IPv4 (iptables)"
}

// matches compiles the rule's matches: plain ones first, then those that test the source
// (so the source set is split only by rules that can match), then first-connection assumptions.
func (c *compiler) matches(cr *crule) error {
	c.plain, c.source, c.assumed = c.plain[:0], c.source[:0], c.assumed[:0]
	r := c.rule
	proto := ""
	for _, m := range r.Matches {
		if m.Module == "" {
			if o, ok := m.Option("-p"); ok && !o.Negated {
				proto = strings.ToLower(o.Arg())
			}
		}
	}
	for i := range r.Matches {
		if err := c.match(&r.Matches[i], proto); err != nil {
			return err
		}
	}
	n := len(c.plain) + len(c.source) + len(c.assumed)
	cr.ms = c.ms.take(n)
	k := copy(cr.ms, c.plain)
	k += copy(cr.ms[k:], c.source)
	copy(cr.ms[k:], c.assumed)
	return nil
}

// whyUnknown says what makes a matcher's answer Maybe.
var whyUnknown = map[mkind]string{
	mSetSrc: "members unknown", mSetDst: "members unknown",
	mIn: "input interface unknown", mOut: "output interface unknown",
	mSPort: "the client's source port is unknown", mPorts: "the client's source port is unknown",
}

func (c *compiler) add(m matcher) {
	if m.why == "" {
		m.why = whyUnknown[m.kind]
	}
	switch m.kind {
	case mSrc, mSetSrc, mSrcType:
		c.source = append(c.source, m)
	case mAssume:
		c.assumed = append(c.assumed, m)
	default:
		c.plain = append(c.plain, m)
	}
}

func (c *compiler) maybe(text, why string) { c.add(matcher{kind: mMaybe, text: text, why: why}) }

func (c *compiler) constant(t netfilter.Tri) { c.add(matcher{kind: mConst, tri: t}) }

func (c *compiler) assume(text string, t netfilter.Tri, why string) {
	c.add(matcher{kind: mAssume, tri: t, text: text, why: why})
}

// addrList compiles a comma-separated address list; ok is false when a mask is not a prefix.
func (c *compiler) addrList(s string) (out []report.AddrRange, ok bool, err error) {
	out = c.addrs.take(listLen(s))
	for i := 0; s != ""; i++ {
		var e string
		e, s = nextElem(s)
		p, contiguous, valid := parsePrefix(e)
		switch {
		case !valid:
			return nil, false, c.errf("bad address %q", shorten(e))
		case !contiguous:
			return nil, false, nil
		case netfilter.FamilyOf(p.Addr()) != c.fam && !(c.fam == netfilter.IPv6 && p.Addr().Is4In6()):
			return nil, false, c.errf("address %s in an %s dump", e, familyName(c.fam))
		}
		if p.IsSingleIP() {
			out[i] = report.SingleAddr(p.Addr())
		} else {
			out[i] = report.RangeOf(p)
		}
	}
	return out, true, nil
}

// portList compiles ports and ranges separated by commas, ranges written a:b.
func (c *compiler) portList(s string) ([]report.PortRange, error) {
	out := c.ports.take(listLen(s))
	for i := 0; s != ""; i++ {
		var e string
		e, s = nextElem(s)
		pr, err := report.ParsePortRange(e, ":")
		if err != nil {
			return nil, c.errf("bad port %q", shorten(e))
		}
		out[i] = pr
	}
	return out, nil
}

func (c *compiler) addrMatcher(kind mkind, o Option, text string) error {
	addrs, ok, err := c.addrList(o.Arg())
	if err != nil {
		return err
	}
	if !ok {
		c.maybe(text, "a mask that is not a prefix")
		return nil
	}
	c.add(matcher{kind: kind, neg: o.Negated, addrs: addrs})
	return nil
}

func (c *compiler) portMatcher(kind mkind, o Option, text string) error {
	ports, err := c.portList(o.Arg())
	if err != nil {
		return err
	}
	c.add(matcher{kind: kind, neg: o.Negated, ports: ports, text: text})
	return nil
}

func (c *compiler) match(m *Match, proto string) error {
	switch m.Module {
	case "":
		return c.core(m, proto)
	case "comment":
		return nil
	case "tcp", "udp", "udplite", "sctp", "dccp":
		for _, o := range m.Options {
			if err := c.protoOption(m.Text, o); err != nil {
				return err
			}
		}
	case "multiport":
		for _, o := range m.Options {
			var err error
			switch o.Name {
			case "--dports", "--destination-ports":
				err = c.portMatcher(mDPort, o, m.Text)
			case "--sports", "--source-ports":
				err = c.portMatcher(mSPort, o, m.Text)
			case "--ports":
				err = c.portMatcher(mPorts, o, m.Text)
			default:
				c.maybe(m.Text, "an option of multiport that is not simulated")
			}
			if err != nil {
				return err
			}
		}
	case "iprange":
		for _, o := range m.Options {
			kind := mDst
			switch o.Name {
			case "--src-range":
				kind = mSrc
			case "--dst-range":
			default:
				continue
			}
			ar, ok := parseAddrRange(o.Arg())
			if !ok {
				return c.errf("bad address range %q", shorten(o.Arg()))
			}
			rs := c.addrs.take(1)
			rs[0] = ar
			c.add(matcher{kind: kind, neg: o.Negated, addrs: rs})
		}
	case "conntrack", "state":
		return c.conntrack(m)
	case "addrtype":
		for _, o := range m.Options {
			kind := mDstType
			switch o.Name {
			case "--src-type":
				kind = mSrcType
			case "--dst-type":
			default:
				continue // --limit-iface-in/out: the types are those of this host either way
			}
			bits, ok := parseBits(o.Arg(), addrTypeNames)
			if !ok {
				c.maybe(m.Text, "an unknown address type")
				continue
			}
			c.add(matcher{kind: kind, neg: o.Negated, u1: bits})
		}
	case "set":
		c.set(m)
	case "mark":
		for _, o := range m.Options {
			if o.Name != "--mark" {
				continue
			}
			v, mask, ok := parseMark(o.Arg())
			if !ok {
				return c.errf("bad mark %q", shorten(o.Arg()))
			}
			c.add(matcher{kind: mMark, neg: o.Negated, u1: v, u2: mask})
		}
	case "connmark":
		for _, o := range m.Options {
			if o.Name != "--mark" {
				continue
			}
			v, _, ok := parseMark(o.Arg())
			if !ok {
				return c.errf("bad mark %q", shorten(o.Arg()))
			}
			if c.connmarkSet {
				c.maybe(m.Text, "the connection mark is set by CONNMARK rules")
				continue
			}
			// a new connection's mark is 0, and 0&mask equals only 0
			t := netfilter.TriOf(v == 0)
			if o.Negated {
				t = t.Not()
			}
			c.constant(t)
		}
	case "icmp", "icmp6", "ah", "esp", "mh", "rt", "frag", "hbh", "dst":
		// protocol and IPv6 extension header matches: the first packet of a TCP or UDP
		// connection from an ordinary client is none of these and carries no such header
		c.constant(netfilter.No)
	case "pkttype":
		for _, o := range m.Options {
			if o.Name != "--pkt-type" {
				continue
			}
			bits, ok := parseBits(o.Arg(), pktTypeNames)
			if !ok {
				c.maybe(m.Text, "an unknown packet type")
				continue
			}
			c.add(matcher{kind: mPktType, neg: o.Negated, u1: bits})
		}
	case "limit":
		c.assume(m.Text, netfilter.Yes, "assumes the rate limit is not exceeded ("+m.Text+")")
	case "hashlimit":
		if _, above := m.Option("--hashlimit-above"); above {
			c.assume(m.Text, netfilter.No, "assumes this source stays under the rate limit ("+m.Text+")")
		} else {
			c.assume(m.Text, netfilter.Yes, "assumes the rate limit is not exceeded ("+m.Text+")")
		}
	case "recent":
		c.recent(m)
	case "connlimit":
		for _, o := range m.Options {
			var t netfilter.Tri
			switch o.Name {
			case "--connlimit-above":
				t = netfilter.No
			case "--connlimit-upto":
				t = netfilter.Yes
			default:
				continue
			}
			if o.Negated {
				t = t.Not()
			}
			c.assume(m.Text, t, "assumes this source has at most "+o.Arg()+" open connections ("+m.Text+")")
		}
	case "quota":
		c.assume(m.Text, netfilter.Yes, "assumes the quota is not used up ("+m.Text+")")
	case "statistic":
		c.maybe(m.Text, "chosen at random")
	case "time":
		c.maybe(m.Text, "depends on the time")
	case "socket":
		c.maybe(m.Text, "depends on local sockets")
	case "owner":
		c.maybe(m.Text, "the owner is known only for local senders")
	default:
		c.maybe(m.Text, "not simulated")
	}
	return nil
}

// core compiles -s -d -p -i -o -f and the options -p loads implicitly (-p tcp --dport 22).
func (c *compiler) core(m *Match, proto string) error {
	for _, o := range m.Options {
		var err error
		switch o.Name {
		case "-s":
			err = c.addrMatcher(mSrc, o, m.Text)
		case "-d":
			err = c.addrMatcher(mDst, o, m.Text)
		case "-p":
			n, ok := protoNumber(o.Arg())
			if !ok {
				n = -1 // a protocol this package cannot name is neither tcp nor udp
			}
			c.add(matcher{kind: mProto, neg: o.Negated, n: int16(n)})
		case "-i":
			c.add(matcher{kind: mIn, neg: o.Negated, s: o.Arg(), text: optionText(o)})
		case "-o":
			c.add(matcher{kind: mOut, neg: o.Negated, s: o.Arg(), text: optionText(o)})
		case "-f":
			// only second and later fragments match; a first packet is no such fragment
			c.constant(netfilter.TriOf(o.Negated))
		case "-4":
			c.constant(netfilter.TriOf(c.fam == netfilter.IPv4))
		case "-6":
			c.constant(netfilter.TriOf(c.fam == netfilter.IPv6))
		default:
			if proto == "tcp" || proto == "udp" || proto == "sctp" || proto == "dccp" || proto == "udplite" {
				err = c.protoOption(m.Text, o)
			} else {
				c.maybe(m.Text, "not simulated")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func optionText(o Option) string {
	s := o.Name
	if o.Negated {
		s = "! " + s
	}
	for _, a := range o.Args {
		s += " " + a
	}
	return s
}

// protoOption compiles an option of the tcp/udp matches.
func (c *compiler) protoOption(text string, o Option) error {
	switch o.Name {
	case "--dport", "--destination-port":
		return c.portMatcher(mDPort, o, text)
	case "--sport", "--source-port":
		return c.portMatcher(mSPort, o, text)
	case "--syn":
		c.add(matcher{kind: mTCPFlags, neg: o.Negated, u1: tcpSYN | tcpRST | tcpACK | tcpFIN, u2: tcpSYN})
	case "--tcp-flags":
		if len(o.Args) != 2 {
			return c.errf("--tcp-flags takes a mask and the flags to compare")
		}
		mask, ok1 := parseBits(o.Args[0], tcpFlagNames)
		comp, ok2 := parseBits(o.Args[1], tcpFlagNames)
		if !ok1 || !ok2 {
			return c.errf("bad TCP flags %q", shorten(strings.Join(o.Args, " ")))
		}
		c.add(matcher{kind: mTCPFlags, neg: o.Negated, u1: mask, u2: comp})
	default:
		c.maybe(text, "not simulated")
	}
	return nil
}

func (c *compiler) conntrack(m *Match) error {
	for _, o := range m.Options {
		var err error
		switch o.Name {
		case "--ctstate", "--state":
			bits, ok := parseBits(o.Arg(), ctStateNames)
			if !ok {
				c.maybe(m.Text, "an unknown conntrack state")
				continue
			}
			c.add(matcher{kind: mCtState, neg: o.Negated, u1: bits})
		case "--ctproto":
			n, ok := protoNumber(o.Arg())
			if !ok {
				n = -1
			}
			c.add(matcher{kind: mProto, neg: o.Negated, n: int16(n)})
		case "--ctorigsrc", "--ctrepldst":
			err = c.addrMatcher(mSrc, o, m.Text)
		case "--ctorigdst":
			err = c.addrMatcher(mOrigDst, o, m.Text)
		case "--ctreplsrc":
			err = c.addrMatcher(mReplSrc, o, m.Text)
		case "--ctorigsrcport", "--ctrepldstport":
			err = c.portMatcher(mSPort, o, m.Text)
		case "--ctorigdstport":
			err = c.portMatcher(mOrigDPort, o, m.Text)
		case "--ctreplsrcport":
			err = c.portMatcher(mReplSPort, o, m.Text)
		case "--ctdir":
			t := netfilter.TriOf(strings.EqualFold(o.Arg(), "ORIGINAL"))
			if o.Negated {
				t = t.Not()
			}
			c.constant(t)
		case "--ctstatus":
			// a connection's first packet has none of these yet
			if _, ok := parseBits(o.Arg(), ctStatusNames); ok {
				c.constant(netfilter.TriOf(o.Negated))
			} else {
				c.maybe(m.Text, "conntrack status not simulated")
			}
		default:
			c.maybe(m.Text, "not simulated")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) set(m *Match) {
	counters := false
	for _, o := range m.Options {
		if strings.HasPrefix(o.Name, "--packets-") || strings.HasPrefix(o.Name, "--bytes-") {
			counters = true
		}
	}
	for _, o := range m.Options {
		if o.Name != "--match-set" || len(o.Args) != 2 {
			continue
		}
		if counters {
			c.maybe(m.Text, "depends on set counters")
			continue
		}
		switch o.Args[1] {
		case "src":
			c.add(matcher{kind: mSetSrc, neg: o.Negated, s: o.Args[0], text: m.Text})
		case "dst":
			c.add(matcher{kind: mSetDst, neg: o.Negated, s: o.Args[0], text: m.Text})
		default:
			c.maybe(m.Text, "members of "+o.Args[1]+" sets are not simulated")
		}
	}
}

func (c *compiler) recent(m *Match) {
	hits, _ := m.Option("--hitcount")
	secs, _ := m.Option("--seconds")
	list := "DEFAULT"
	if n, ok := m.Option("--name"); ok {
		list = n.Arg()
	}
	for _, o := range m.Options {
		switch o.Name {
		case "--set":
			c.constant(netfilter.TriOf(!o.Negated)) // adds the source and matches
		case "--rcheck", "--update", "--remove":
			t := netfilter.No
			if o.Negated {
				t = netfilter.Yes
			}
			var why string
			switch {
			case hits.Arg() != "" && secs.Arg() != "":
				why = fmt.Sprintf("assumes fewer than %s recent connections from this source within %s s (%s)", hits.Arg(), secs.Arg(), m.Text)
			case hits.Arg() != "":
				why = fmt.Sprintf("assumes fewer than %s recent connections from this source (%s)", hits.Arg(), m.Text)
			default:
				why = fmt.Sprintf("assumes this source is not on the recent list %s (%s)", list, m.Text)
			}
			c.assume(m.Text, t, why)
		}
	}
}

// inRanges reports whether a lies in any of rs.
func inRanges(rs []report.AddrRange, a netip.Addr) bool {
	for _, r := range rs {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

func inPorts(ps []report.PortRange, p uint16) bool {
	for _, r := range ps {
		if r.Contains(p) {
			return true
		}
	}
	return false
}
