package nftables

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// program is one table compiled for evaluation.
type program struct {
	table  *Table
	chains map[*Chain]*cchain
	// ctMarkSet is true when some rule of the ruleset sets the conntrack mark,
	// so its value at the start of a chain is not known to be 0.
	ctMarkSet bool
	sets      map[string]setCache
}

type setCache struct {
	elems []elem
	data  []json.RawMessage
	err   error
}

type cchain struct {
	c          *Chain
	rules      []*crule
	index      *portIndex
	policy     netfilter.Verdict
	policyRule *report.Rule
}

type crule struct {
	r     *Rule
	once  sync.Once
	rep   *report.Rule
	steps []step
	// inert rules have nothing that changes the walk (only matches, counters, logs).
	inert bool
}

// id is the rule's ID ("inet filt input handle 12").
func (cr *crule) id() string { return cr.r.ID() }

// report is the rule as the report shows it; rendered on first use.
func (cr *crule) report() *report.Rule {
	cr.once.Do(func() {
		r := cr.r
		cr.rep = &report.Rule{ID: r.ID(), Text: r.Text(), Origin: "nftables", Table: r.Chain.Table.ID(), Chain: r.Chain.Name, Position: r.Position}
	})
	return cr.rep
}

// fkind says where the value of a key part comes from.
type fkind uint8

const (
	fNum     fkind = iota // a number known from the packet (dport, l4proto, ct state, mark…)
	fAddr                 // an address known from the packet (daddr)
	fSrc                  // the source address: tested through Eval.SrcIn
	fIface                // the arrival interface: tested through Eval.InIface
	fSport                // the client's source port: any unprivileged port
	fUnknown              // a value the simulation does not know
)

// depKind says whether an expression exists for the packet at all: a tcp field of a UDP
// packet does not, and then the rule cannot match, whatever the operator.
type depKind uint8

const (
	depNone depKind = iota
	depNever
	depIPv4
	depIPv6
	depTCP
	depUDP
	// depOut: the outgoing interface exists only once the packet is routed out.
	depOut
)

// numSrc names a number of the packet or of the walk.
type numSrc uint8

const (
	nsConst numSrc = iota
	nsDPort
	nsOrigDPort
	nsProto
	nsNfproto
	nsEther
	nsMark
	nsCtMark
	nsCtStatus
	nsFibDaddrType
	nsFibDaddrIifType
	nsCtState
)

// field is one compiled part of a left-hand key.
type field struct {
	kind fkind
	dt   dtype
	dep  depKind
	src  numSrc
	k    uint64 // the value of nsConst
	// op and operand apply a bitwise operation (meta mark & 0xff): & | ^ < (shift left) > (shift right)
	op      byte
	operand uint64
	// origDst: the address is the destination before DNAT (ct original daddr)
	origDst bool
}

// mkind is the shape of a compiled match.
type mkind uint8

const (
	mConst   mkind = iota // the answer is known at compile time (tri)
	mNum                  // a number in intervals
	mBits                 // a flag test: value & bits != 0
	mSrc                  // the source in ranges
	mGeneral              // anything else: element by element
)

type matcher struct {
	kind mkind
	neg  bool
	// src: the match tests the source address; such matches run last in a group
	src  bool
	tri  netfilter.Tri
	dep  depKind
	f    field
	ivs  []interval
	bits uint64
	m    *Match
	x    *matchExt
}

// matchExt holds what only some matches need.
type matchExt struct {
	// deps are the dependencies of a concatenation's parts
	deps   []depKind
	ranges []report.AddrRange
	fields []field
	elems  []elem
	// note says why the match cannot be evaluated, when that is known at compile time
	note string
}

func (m *matcher) ext() *matchExt {
	if m.x == nil {
		m.x = &matchExt{}
	}
	return m.x
}

// why says, for a reason text, why the match could not be decided.
func (m *matcher) why() string {
	text := StmtText(m.m)
	note := ""
	if m.x != nil {
		note = m.x.note
	}
	if note == "" {
		note = unknownNote(m.m.Left)
	}
	if note != "" {
		return text + " cannot be evaluated (" + note + ")"
	}
	return text + " cannot be evaluated"
}

// unknownNote says what the simulation does not know about a key.
func unknownNote(e Expr) string {
	switch x := e.(type) {
	case *Meta:
		switch x.Key {
		case "iif", "iifname":
			return "the interface the client's traffic arrives on is not known"
		case "oif", "oifname":
			return "the outgoing interface is not known"
		case "mark":
			return "an earlier rule set the mark to a value the rules do not show"
		}
	case *Ct:
		if x.Key == "mark" {
			return "the conntrack mark is set by some rule"
		}
	case *Payload:
		if x.Field == "sport" {
			return "the client's source port is not known"
		}
	case *Concat:
		for _, p := range x.Parts {
			if n := unknownNote(p); n != "" {
				return n
			}
		}
	case *Binop:
		return unknownNote(x.Left)
	}
	return ""
}

type stepKind uint8

const (
	sMatch     stepKind = iota // a group of matches
	sMaybe                     // a statement that cannot be evaluated
	sCond                      // a stateful match assumed for a first connection
	sMark                      // meta mark set / ct mark set
	sVerdict                   // accept, drop, continue, return, jump, goto
	sReject                    // reject
	sUndecided                 // ends the walk undecided (queue, an xt target that hides its effect)
	sVMap                      // verdict map
	sNAT                       // dnat, redirect
	sAcceptNAT                 // snat, masquerade: end the nat chain
)

type step struct {
	kind    stepKind
	ms      []matcher
	text    string
	tri     netfilter.Tri
	verdict string
	target  *cchain
	reject  string
	vm      *lookupStep
	nat     *natStep
	setMark func(w *walker, s *wstate) (uint32, bool)
	ctMark  bool
	// stmt is the statement behind a condition, rendered when the walk passes it
	stmt Stmt
}

// lookupStep is a verdict map or a dnat map: the key, the elements and what each yields.
type lookupStep struct {
	fields   []field
	deps     []depKind
	elems    []elem
	verdicts []target
	addrs    []netip.Addr
	ports    []uint16
	text     string
}

type target struct {
	kind string
	c    *cchain
}

type natStep struct {
	kind string
	// family is the family a "dnat ip to …" of an inet table applies to; empty for both
	family netfilter.Family
	addr   netip.Addr
	port   uint16
	lookup *lookupStep
	text   string
}

// compileTable compiles every chain of t.
func compileTable(t *Table, ctMarkSet bool) *program {
	p := &program{table: t, chains: make(map[*Chain]*cchain, len(t.Chains)), ctMarkSet: ctMarkSet, sets: map[string]setCache{}}
	for _, c := range t.Chains {
		cc := &cchain{c: c, policy: netfilter.Accept}
		if c.IsBase() {
			if c.Policy == "drop" {
				cc.policy = netfilter.Drop
			}
			pol := c.Policy
			if pol == "" {
				pol = "accept"
			}
			cc.policyRule = &report.Rule{
				ID: fmt.Sprintf("%s %s policy", t.ID(), c.Name), Text: "policy " + pol,
				Origin: "nftables", Table: t.ID(), Chain: c.Name,
			}
		}
		p.chains[c] = cc
	}
	for _, c := range t.Chains {
		cc := p.chains[c]
		crs := make([]crule, len(c.Rules))
		cc.rules = make([]*crule, len(c.Rules))
		for i, r := range c.Rules {
			p.compileRule(&crs[i], r)
			cc.rules[i] = &crs[i]
		}
		cc.index = buildIndex(cc)
	}
	return p
}

func (p *program) compileRule(cr *crule, r *Rule) {
	cr.r = r
	nsteps, nmatch := 0, 0
	for i, st := range r.Stmts {
		if _, ok := st.(*Match); ok {
			nmatch++
			if i > 0 {
				if _, prev := r.Stmts[i-1].(*Match); prev {
					continue
				}
			}
		}
		nsteps++
	}
	cr.steps = make([]step, 0, nsteps)
	matchers := make([]matcher, 0, nmatch)
	var group []matcher
	flush := func() {
		if len(group) > 0 {
			// matches have no side effects: test the source last, and only when the rest
			// of the rule can still match, so the source set is split only where it matters
			slices.SortStableFunc(group, func(a, b matcher) int {
				switch {
				case a.src == b.src:
					return 0
				case a.src:
					return 1
				}
				return -1
			})
			cr.steps = append(cr.steps, step{kind: sMatch, ms: group[:len(group):len(group)]})
			group = nil
		}
	}
	for _, st := range r.Stmts {
		if m, ok := st.(*Match); ok {
			matchers = append(matchers, p.compileMatch(m))
			group = matchers[len(matchers)-len(group)-1:]
			continue
		}
		flush()
		if s, ok := p.compileStmt(st); ok {
			cr.steps = append(cr.steps, s)
		}
	}
	flush()
	cr.inert = true
	for _, s := range cr.steps {
		switch s.kind {
		case sMatch, sMaybe, sCond:
		default:
			cr.inert = false
		}
	}
}

// xtPassive are iptables targets that do not end the chain or change what later rules see.
var xtPassive = map[string]bool{
	"LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "AUDIT": true, "CT": true, "NOTRACK": true,
	"TCPMSS": true, "CHECKSUM": true, "CLASSIFY": true, "DSCP": true, "TOS": true, "TTL": true, "HL": true,
	"IDLETIMER": true, "LED": true, "SECMARK": true, "CONNSECMARK": true, "TEE": true, "RATEEST": true,
	"SET": true, "TCPOPTSTRIP": true,
}

func (p *program) compileStmt(st Stmt) (step, bool) {
	switch s := st.(type) {
	case *Verdict:
		sp := step{kind: sVerdict, verdict: s.Kind}
		if s.Kind == "jump" || s.Kind == "goto" {
			sp.target = p.chains[p.table.chains[s.Target]]
			if sp.target == nil {
				return step{kind: sUndecided, text: fmt.Sprintf("%s to missing chain %q", s.Kind, s.Target)}, true
			}
		}
		return sp, true
	case *Reject:
		return step{kind: sReject, reject: canonicalReject(s, p.table.Family)}, true
	case *Queue:
		return step{kind: sUndecided, text: StmtText(s) + ": a userspace program decides"}, true
	case *VMap:
		return p.compileVMap(s), true
	case *NATStmt:
		return p.compileNAT(s), true
	case *Mangle:
		return p.compileMangle(s)
	case *Limit:
		tri := netfilter.Yes
		if s.Inv {
			tri = netfilter.No
		}
		return step{kind: sCond, tri: tri, stmt: s}, true
	case *Passive:
		return step{}, false
	case *XT:
		return compileXT(s)
	case *Opaque:
		if s.Key == "synproxy" {
			return step{kind: sUndecided, text: "synproxy answers the handshake itself"}, true
		}
		return step{kind: sMaybe, text: fmt.Sprintf("unknown statement %q", s.Key)}, true
	}
	return step{kind: sMaybe, text: "unknown statement"}, true
}

// condText is the assumption a stateful statement makes for a first connection.
func condText(id string, st Stmt) string {
	switch s := st.(type) {
	case *Limit:
		what := "assumed not exceeded for a first connection"
		if s.Kind == "quota" {
			what = "assumed not used up"
		}
		return fmt.Sprintf("%s: %s %s", id, limitText(s), what)
	case *XT:
		return fmt.Sprintf("%s: xt match %s assumed not exceeded for a first connection", id, s.Name)
	}
	return id + ": " + StmtText(st)
}

func compileXT(x *XT) (step, bool) {
	if x.Type == "match" {
		switch x.Name {
		case "comment":
			return step{}, false
		case "limit", "hashlimit":
			return step{kind: sCond, tri: netfilter.Yes, stmt: x}, true
		}
		return step{kind: sMaybe, text: fmt.Sprintf("xt match %s cannot be evaluated (nft -j does not show its parameters)", x.Name)}, true
	}
	switch {
	case xtPassive[x.Name]:
		return step{}, false
	case x.Name == "MARK":
		return step{kind: sMark, setMark: unknownMark}, true
	case x.Name == "CONNMARK":
		return step{kind: sMark, setMark: unknownMark, ctMark: true}, true
	case x.Name == "REJECT":
		return step{kind: sReject, reject: ""}, true
	case x.Name == "MASQUERADE" || x.Name == "SNAT":
		return step{kind: sAcceptNAT}, true
	}
	return step{kind: sUndecided, text: fmt.Sprintf("xt target %s: nft -j does not show what it does", x.Name)}, true
}

func unknownMark(*walker, *wstate) (uint32, bool) { return 0, false }

// canonicalReject is the reject type in the form netfilter.SymptomOf reads.
func canonicalReject(r *Reject, family string) string {
	code := r.Code
	if n, err := strconv.Atoi(code); err == nil {
		code = icmpCodeName(r.Type, n)
	}
	switch r.Type {
	case "tcp reset", "tcp rst":
		return "tcp reset"
	case "icmp", "icmpv6", "icmpx":
		if code == "" {
			code = "port-unreachable"
		}
		return r.Type + " " + code
	}
	switch family {
	case "ip":
		return "icmp port-unreachable"
	case "ip6":
		return "icmpv6 port-unreachable"
	}
	return "icmpx port-unreachable"
}

func icmpCodeName(typ string, n int) string {
	var names map[int]string
	switch typ {
	case "icmp":
		names = map[int]string{0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable", 3: "port-unreachable", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}
	case "icmpv6":
		names = map[int]string{0: "no-route", 1: "admin-prohibited", 3: "addr-unreachable", 4: "port-unreachable", 5: "policy-fail", 6: "reject-route"}
	case "icmpx":
		names = map[int]string{0: "no-route", 1: "port-unreachable", 2: "host-unreachable", 3: "admin-prohibited"}
	}
	if s, ok := names[n]; ok {
		return s
	}
	return strconv.Itoa(n)
}

// --- left-hand expressions

func unknownField(dep depKind) field { return field{kind: fUnknown, dep: dep} }

func numField(dt dtype, dep depKind, src numSrc) field {
	return field{kind: fNum, dt: dt, dep: dep, src: src}
}

func constField(dt dtype, dep depKind, k uint64) field {
	return field{kind: fNum, dt: dt, dep: dep, src: nsConst, k: k}
}

func (p *program) compileField(e Expr) field {
	switch x := e.(type) {
	case *Payload:
		return payloadField(x)
	case *Meta:
		return metaField(x)
	case *Ct:
		return ctField(x)
	case *Fib:
		return fibField(x)
	case *Binop:
		in := p.compileField(x.Left)
		if in.kind != fNum || in.op != 0 {
			return unknownField(in.dep)
		}
		v, err := untyped(x.Right)
		if err != nil {
			return unknownField(in.dep)
		}
		n, err := numOf(v, in.dt)
		if err != nil {
			return unknownField(in.dep)
		}
		in.op, in.operand = x.Op[0], n
		return in
	}
	return unknownField(depNone)
}

func payloadField(x *Payload) field {
	switch x.Protocol {
	case "ip", "ip6":
		dep, dt := depIPv4, dtAddr4
		if x.Protocol == "ip6" {
			dep, dt = depIPv6, dtAddr6
		}
		switch x.Field {
		case "saddr":
			return field{kind: fSrc, dt: dt, dep: dep}
		case "daddr":
			return field{kind: fAddr, dt: dt, dep: dep}
		case "protocol", "nexthdr":
			return numField(dtProto, dep, nsProto)
		case "version":
			v := uint64(4)
			if x.Protocol == "ip6" {
				v = 6
			}
			return constField(dtInt, dep, v)
		}
		return unknownField(dep)
	case "tcp", "udp", "th":
		dep := depNone
		switch x.Protocol {
		case "tcp":
			dep = depTCP
		case "udp":
			dep = depUDP
		}
		switch x.Field {
		case "dport":
			return numField(dtPort, dep, nsDPort)
		case "sport":
			return field{kind: fSport, dt: dtPort, dep: dep}
		case "flags":
			if x.Protocol == "tcp" {
				return constField(dtTCPFlags, dep, tcpFlagNames["syn"])
			}
		}
		return unknownField(dep)
	case "ether", "vlan", "":
		return unknownField(depNone)
	}
	// any other header (icmp, icmpv6, sctp, esp, ipv6 extension headers…) is absent
	// from a TCP SYN or the first UDP datagram
	return unknownField(depNever)
}

func metaField(x *Meta) field {
	switch x.Key {
	case "l4proto":
		return numField(dtProto, depNone, nsProto)
	case "nfproto":
		return numField(dtNfproto, depNone, nsNfproto)
	case "protocol":
		return numField(dtEther, depNone, nsEther)
	case "iif":
		return field{kind: fIface, dt: dtIfindex}
	case "iifname":
		return field{kind: fIface, dt: dtIfname}
	case "oif", "oifname", "oiftype", "oifgroup", "oifkind":
		return unknownField(depOut)
	case "mark":
		return numField(dtMark, depNone, nsMark)
	case "pkttype":
		return constField(dtPktType, depNone, pktTypeNames["host"])
	case "skuid", "skgid", "cgroup":
		// no local socket owns an arriving first packet
		return unknownField(depNever)
	}
	return unknownField(depNone)
}

func ctField(x *Ct) field {
	fam, key := "", x.Key
	if i := indexByte(x.Key, ' '); i >= 0 {
		fam, key = x.Key[:i], x.Key[i+1:]
	}
	dep := depNone
	switch fam {
	case "ip":
		dep = depIPv4
	case "ip6":
		dep = depIPv6
	}
	switch key {
	case "state":
		return numField(dtCtState, depNone, nsCtState)
	case "status":
		return numField(dtCtStatus, depNone, nsCtStatus)
	case "direction":
		return constField(dtCtDir, depNone, ctDirNames["original"])
	case "mark":
		return numField(dtMark, depNone, nsCtMark)
	case "l3proto":
		return numField(dtNfproto, depNone, nsNfproto)
	case "protocol":
		return numField(dtProto, depNone, nsProto)
	case "saddr", "daddr":
		dt := dtAddr4
		if fam == "ip6" {
			dt = dtAddr6
		}
		switch {
		case fam == "":
			return unknownField(depNone)
		case x.Dir == "original" && key == "saddr", x.Dir == "reply" && key == "daddr":
			return field{kind: fSrc, dt: dt, dep: dep}
		case x.Dir == "original":
			return field{kind: fAddr, dt: dt, dep: dep, origDst: true}
		case x.Dir == "reply":
			return field{kind: fAddr, dt: dt, dep: dep}
		}
	case "proto-dst", "proto-src":
		switch {
		case x.Dir == "original" && key == "proto-dst":
			return numField(dtPort, depNone, nsOrigDPort)
		case x.Dir == "reply" && key == "proto-src":
			return numField(dtPort, depNone, nsDPort)
		case x.Dir != "":
			return field{kind: fSport, dt: dtPort}
		}
	}
	return unknownField(dep)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func fibField(x *Fib) field {
	has := func(f string) bool { return slices.Contains(x.Flags, f) }
	switch x.Result {
	case "type":
		if !has("daddr") {
			return unknownField(depNone)
		}
		if has("iif") || has("oif") {
			return numField(dtFibType, depNone, nsFibDaddrIifType)
		}
		return numField(dtFibType, depNone, nsFibDaddrType)
	case "oif", "oifname":
		if has("saddr") {
			// reverse path filter: a client that can reach us has a route back
			return constField(dtBool, depNone, 1)
		}
	}
	return unknownField(depNone)
}

// value is the number a field reads from the packet; ok is false when it is unknown.
func (w *walker) value(f *field, s *wstate) (uint64, bool) {
	var v uint64
	ok := true
	p := w.e.Pkt
	switch f.src {
	case nsConst:
		v = f.k
	case nsDPort:
		v = uint64(p.DPort)
	case nsOrigDPort:
		v = uint64(p.DPort)
		if p.DNATed {
			v = uint64(p.OrigDPort)
		}
	case nsProto:
		v = 6
		if p.Proto == "udp" {
			v = 17
		}
	case nsNfproto:
		v = 2
		if p.Family == netfilter.IPv6 {
			v = 10
		}
	case nsEther:
		v = 0x0800
		if p.Family == netfilter.IPv6 {
			v = 0x86dd
		}
	case nsMark:
		v, ok = uint64(s.mark), s.markOK
	case nsCtMark:
		v, ok = uint64(s.ctmark), s.ctOK
	case nsCtState:
		switch {
		case w.beforeConntrack():
			v = ctStateNames["invalid"] // no connection is attached to the packet yet
		case p.Established:
			v = ctStateNames["established"]
		default:
			v = ctStateNames["new"]
		}
	case nsCtStatus:
		if p.DNATed {
			v = ctStatusNames["dnat"]
		}
	case nsFibDaddrType, nsFibDaddrIifType:
		d := p.Dst
		switch {
		case w.e.Env.IsLocal(d):
			// local on some interface; with "iif" it must be local on the arrival one
			v, ok = fibTypeNames["local"], f.src == nsFibDaddrType
		case d.IsMulticast():
			v = fibTypeNames["multicast"]
		case d == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			v = fibTypeNames["broadcast"]
		default:
			v = fibTypeNames["unicast"]
		}
	}
	switch f.op {
	case '&':
		v &= f.operand
	case '|':
		v |= f.operand
	case '^':
		v ^= f.operand
	case '<':
		v <<= f.operand
	case '>':
		v >>= f.operand
	}
	return v, ok
}

func (w *walker) addr(f *field) netip.Addr {
	if f.origDst && w.e.Pkt.DNATed {
		return w.e.Pkt.OrigDst
	}
	return w.e.Pkt.Dst
}

// dep says whether an expression exists for the packet.
func (w *walker) dep(d depKind) netfilter.Tri {
	switch d {
	case depNone:
		return netfilter.Yes
	case depIPv4:
		return netfilter.TriOf(w.e.Pkt.Family == netfilter.IPv4)
	case depIPv6:
		return netfilter.TriOf(w.e.Pkt.Family == netfilter.IPv6)
	case depTCP:
		return netfilter.TriOf(w.e.Pkt.Proto == "tcp")
	case depUDP:
		return netfilter.TriOf(w.e.Pkt.Proto == "udp")
	case depOut:
		return netfilter.TriOf(w.hook == netfilter.Forward || w.hook == netfilter.Output || w.hook == netfilter.Postrouting)
	}
	return netfilter.No
}

func (w *walker) deps(ds []depKind) netfilter.Tri {
	t := netfilter.Yes
	for _, d := range ds {
		if t = and(t, w.dep(d)); t == netfilter.No {
			return t
		}
	}
	return t
}

func depsOf(fields []field) []depKind {
	var ds []depKind
	for _, f := range fields {
		if f.dep != depNone && !slices.Contains(ds, f.dep) {
			ds = append(ds, f.dep)
		}
	}
	return ds
}

func (p *program) keyFields(e Expr) []field {
	if c, ok := e.(*Concat); ok {
		fs := make([]field, len(c.Parts))
		for i, part := range c.Parts {
			fs[i] = p.compileField(part)
		}
		return fs
	}
	return []field{p.compileField(e)}
}

func dtypes(fs []field) []dtype {
	dts := make([]dtype, len(fs))
	for i, f := range fs {
		dts[i] = f.dt
	}
	return dts
}

func hasKind(fs []field, k fkind) bool {
	return slices.ContainsFunc(fs, func(f field) bool { return f.kind == k })
}

// --- matches

func (p *program) compileMatch(m *Match) matcher {
	var one [1]field
	var fields []field
	if c, ok := m.Left.(*Concat); ok {
		fields = p.keyFields(c)
	} else {
		one[0] = p.compileField(m.Left)
		fields = one[:]
	}
	out := matcher{m: m, src: hasKind(fields, fSrc), neg: m.Op == "!="}
	switch deps := depsOf(fields); len(deps) {
	case 0:
	case 1:
		out.dep = deps[0]
	default:
		out.ext().deps = deps
	}
	maybe := func(note string) matcher {
		out.kind, out.tri, out.neg, out.src = mConst, netfilter.Maybe, false, false
		if note != "" {
			out.ext().note = note
		}
		return out
	}
	switch m.Op {
	case "==", "!=", "in", "<", ">", "<=", ">=":
	default:
		return maybe(fmt.Sprintf("unknown operator %q", m.Op))
	}
	if hasKind(fields, fUnknown) {
		return maybe("")
	}
	var elems []elem
	if name, ok := setRef(m.Right); ok {
		sc := p.setElems(name, dtypes(fields), false)
		if sc.err != nil {
			return maybe(sc.err.Error())
		}
		elems = sc.elems
	} else {
		v, err := untyped(m.Right)
		if err != nil {
			return maybe("")
		}
		switch {
		case m.Op == "<" || m.Op == ">" || m.Op == "<=" || m.Op == ">=":
			e, err := compareElem(fields, v, m.Op)
			if err != nil {
				return maybe(err.Error())
			}
			elems = []elem{e}
		case m.Op == "in" && len(fields) == 1 && fields[0].dt.bitmask() && !isSetValue(v):
			bits, err := numOf(v, fields[0].dt)
			if err != nil {
				return maybe(err.Error())
			}
			out.kind, out.f, out.bits = mBits, fields[0], bits
			return out
		default:
			if elems, err = elemsOf(v, dtypes(fields)); err != nil {
				return maybe(err.Error())
			}
		}
	}
	if len(fields) == 1 {
		f := fields[0]
		switch f.kind {
		case fNum:
			out.kind, out.f, out.ivs = mNum, f, mergeIntervals(elems)
			return out
		case fSport:
			out.kind, out.tri = mConst, sportTri(mergeIntervals(elems))
			return out
		case fSrc:
			out.kind = mSrc
			out.ext().ranges = mergeAddrRanges(elems)
			return out
		}
	}
	out.kind = mGeneral
	out.ext().fields, out.x.elems = slices.Clone(fields), elems
	return out
}

// eval tests the match.
func (m *matcher) eval(w *walker, s *wstate) netfilter.Tri {
	d := w.dep(m.dep)
	if d == netfilter.No {
		return d
	}
	if m.x != nil && len(m.x.deps) > 0 {
		if d = w.deps(m.x.deps); d == netfilter.No {
			return d
		}
	}
	var t netfilter.Tri
	switch m.kind {
	case mConst:
		t = m.tri
	case mNum:
		v, ok := w.value(&m.f, s)
		switch {
		case !ok:
			t = netfilter.Maybe
		case len(m.ivs) == 1:
			t = netfilter.TriOf(m.ivs[0].lo <= v && v <= m.ivs[0].hi)
		default:
			t = netfilter.TriOf(inIntervals(m.ivs, v))
		}
	case mBits:
		v, ok := w.value(&m.f, s)
		if !ok {
			t = netfilter.Maybe
		} else {
			t = netfilter.TriOf(v&m.bits != 0)
		}
	case mSrc:
		if r := m.x.ranges; len(r) <= srcWindow {
			t = netfilter.TriOf(w.e.SrcIn(r...))
		} else {
			t = netfilter.TriOf(w.e.SrcIn(srcNeighbours(r, w.e.Pkt.Src)...))
		}
	default:
		t = member(w, s, m.x.fields, m.x.elems)
	}
	if m.neg {
		t = t.Not()
	}
	return and(d, t)
}

func isSetValue(v any) bool {
	k, _, ok := single(v)
	return ok && k == "set"
}

// compareElem turns "< n" and friends into an interval element.
func compareElem(fields []field, v any, op string) (elem, error) {
	if len(fields) != 1 {
		return nil, fmt.Errorf("%w: comparison of a concatenation", errValue)
	}
	f := fields[0]
	switch f.kind {
	case fNum, fSport:
	default:
		return nil, fmt.Errorf("%w: comparison of a non-number", errValue)
	}
	n, err := numOf(v, f.dt)
	if err != nil {
		return nil, err
	}
	hi := f.dt.max()
	c := comp{lo: 0, hi: hi}
	switch op {
	case "<":
		if n == 0 {
			return elem{{lo: 1, hi: 0}}, nil // empty
		}
		c.hi = n - 1
	case "<=":
		c.hi = n
	case ">":
		if n >= hi {
			return elem{{lo: 1, hi: 0}}, nil
		}
		c.lo = n + 1
	case ">=":
		c.lo = n
	}
	return elem{c}, nil
}

type interval struct{ lo, hi uint64 }

// mergeIntervals sorts and joins the intervals of one-part elements.
func mergeIntervals(elems []elem) []interval {
	ivs := make([]interval, 0, len(elems))
	for _, e := range elems {
		if e[0].lo <= e[0].hi {
			ivs = append(ivs, interval{e[0].lo, e[0].hi})
		}
	}
	slices.SortFunc(ivs, func(a, b interval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := ivs[:0]
	for _, iv := range ivs {
		if n := len(out); n > 0 && (iv.lo <= out[n-1].hi || (out[n-1].hi != ^uint64(0) && iv.lo == out[n-1].hi+1)) {
			out[n-1].hi = max(out[n-1].hi, iv.hi)
			continue
		}
		out = append(out, iv)
	}
	return slices.Clip(out)
}

func inIntervals(ivs []interval, v uint64) bool {
	lo, hi := 0, len(ivs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ivs[mid].hi < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(ivs) && ivs[lo].lo <= v
}

// srcWindow is how many ranges of a large address set one test hands to SrcIn.
const srcWindow = 32

// mergeAddrRanges sorts and joins the ranges of one-part address elements.
func mergeAddrRanges(elems []elem) []report.AddrRange {
	rs := make([]report.AddrRange, 0, len(elems))
	for _, e := range elems {
		rs = append(rs, e[0].r)
	}
	slices.SortFunc(rs, func(a, b report.AddrRange) int { return a.From.Compare(b.From) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].To.BitLen() == r.From.BitLen() &&
			(r.From.Compare(out[n-1].To) <= 0 || out[n-1].To.Next() == r.From) {
			if r.To.Compare(out[n-1].To) > 0 {
				out[n-1].To = r.To
			}
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// srcNeighbours returns the ranges of a sorted, disjoint list that decide membership of
// src and of the addresses just above it: the range holding src (or the next one) and a
// few after it. Classes simulates from the lowest address of a part, so the cuts these
// ranges make are the ones it needs; the parts above are simulated again and cut further.
func srcNeighbours(ranges []report.AddrRange, src netip.Addr) []report.AddrRange {
	lo, hi := 0, len(ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r := ranges[mid]; r.To.BitLen() < src.BitLen() || (r.To.BitLen() == src.BitLen() && r.To.Less(src)) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return ranges[lo:min(len(ranges), lo+srcWindow)]
}

// ephemeral is the range a client's source port comes from on any common system.
var ephemeral = interval{1024, 65535}

// sportTri says whether intervals of source ports hold a client's port: yes when they
// cover every unprivileged port, no when they hold none, maybe otherwise.
func sportTri(ivs []interval) netfilter.Tri {
	covered := uint64(0)
	for _, iv := range ivs {
		lo, hi := max(iv.lo, ephemeral.lo), min(iv.hi, ephemeral.hi)
		if lo <= hi {
			covered += hi - lo + 1
		}
	}
	switch covered {
	case 0:
		return netfilter.No
	case ephemeral.hi - ephemeral.lo + 1:
		return netfilter.Yes
	}
	return netfilter.Maybe
}

// member tests a key against elements one by one.
func member(w *walker, s *wstate, fields []field, elems []elem) netfilter.Tri {
	vals := fieldValues(w, s, fields)
	res := netfilter.No
	for _, e := range elems {
		if res = or(res, elemTri(w, fields, vals, e)); res == netfilter.Yes {
			break
		}
	}
	return res
}

type fval struct {
	n  uint64
	ok bool
	a  netip.Addr
}

func fieldValues(w *walker, s *wstate, fields []field) []fval {
	vals := make([]fval, len(fields))
	for i := range fields {
		f := &fields[i]
		switch f.kind {
		case fNum:
			vals[i].n, vals[i].ok = w.value(f, s)
		case fAddr:
			vals[i].a = w.addr(f)
		}
	}
	return vals
}

// elemTri matches one element: the parts that do not depend on the source first, then
// the source (so only the ranges of elements whose other parts match reach SrcIn).
func elemTri(w *walker, fields []field, vals []fval, e elem) netfilter.Tri {
	t := netfilter.Yes
	for i := range fields {
		c := &e[i]
		switch fields[i].kind {
		case fNum:
			if !vals[i].ok {
				t = and(t, netfilter.Maybe)
			} else {
				t = and(t, netfilter.TriOf(c.lo <= vals[i].n && vals[i].n <= c.hi))
			}
		case fAddr:
			t = and(t, netfilter.TriOf(c.r.Contains(vals[i].a)))
		case fIface:
			if c.index {
				t = and(t, netfilter.Maybe)
			} else {
				t = and(t, w.e.InIface(c.pat))
			}
		case fSport:
			t = and(t, sportTri([]interval{{c.lo, c.hi}}))
		case fSrc:
			continue
		default:
			t = and(t, netfilter.Maybe)
		}
		if t == netfilter.No {
			return t
		}
	}
	for i := range fields {
		if fields[i].kind == fSrc {
			if t = and(t, netfilter.TriOf(w.e.SrcIn(e[i].r))); t == netfilter.No {
				return t
			}
		}
	}
	return t
}

// lookup finds the element a key selects: yes is the index of the element that surely
// matches (-1 if none); maybes are the elements that may.
func (l *lookupStep) lookup(w *walker, s *wstate) (yes int, maybes []int) {
	dep := w.deps(l.deps)
	if dep == netfilter.No {
		return -1, nil // the key does not exist for this packet: nothing matches
	}
	vals := fieldValues(w, s, l.fields)
	for i, e := range l.elems {
		switch and(dep, elemTri(w, l.fields, vals, e)) {
		case netfilter.Yes:
			return i, nil
		case netfilter.Maybe:
			maybes = append(maybes, i)
		}
	}
	return -1, maybes
}

func and(a, b netfilter.Tri) netfilter.Tri {
	switch {
	case a == netfilter.No || b == netfilter.No:
		return netfilter.No
	case a == netfilter.Yes && b == netfilter.Yes:
		return netfilter.Yes
	}
	return netfilter.Maybe
}

func or(a, b netfilter.Tri) netfilter.Tri {
	switch {
	case a == netfilter.Yes || b == netfilter.Yes:
		return netfilter.Yes
	case a == netfilter.No && b == netfilter.No:
		return netfilter.No
	}
	return netfilter.Maybe
}

func (p *program) setElems(name string, dts []dtype, isMap bool) setCache {
	ck := name + "\x00" + string(dtsBytes(dts))
	if c, ok := p.sets[ck]; ok {
		return c
	}
	var c setCache
	s := p.table.sets[name]
	if s == nil {
		c.err = fmt.Errorf("set @%s is not declared", name)
	} else {
		c.elems, c.data, c.err = readElems(s.Elems, dts, isMap)
	}
	p.sets[ck] = c
	return c
}

func dtsBytes(dts []dtype) []byte {
	b := make([]byte, len(dts))
	for i, d := range dts {
		b[i] = byte(d)
	}
	return b
}

func readElems(raws []json.RawMessage, dts []dtype, isMap bool) ([]elem, []json.RawMessage, error) {
	elems := make([]elem, 0, len(raws))
	var data []json.RawMessage
	for _, raw := range raws {
		key := raw
		if isMap {
			pair, ok := arrayElems(raw)
			if !ok || len(pair) != 2 {
				return nil, nil, fmt.Errorf("%w: map element %s", errValue, clip(raw, 40))
			}
			key = pair[0]
			data = append(data, pair[1])
		}
		if slices.Contains(dts, dtUnknown) {
			// a key the simulation cannot read: the element is a placeholder that may match
			elems = append(elems, make(elem, len(dts)))
			continue
		}
		v, err := untyped(key)
		if err != nil {
			return nil, nil, err
		}
		e, err := elemOf(v, dts)
		if err != nil {
			return nil, nil, err
		}
		elems = append(elems, e)
	}
	return elems, data, nil
}

// mapElems reads the [key, data] elements of a map given inline ({"set":[…]}) or by "@name".
func (p *program) mapElems(raw json.RawMessage, dts []dtype) ([]elem, []json.RawMessage, error) {
	if name, ok := setRef(raw); ok {
		c := p.setElems(name, dts, true)
		return c.elems, c.data, c.err
	}
	items := anonElems(raw)
	if items == nil {
		return nil, nil, fmt.Errorf("%w: map %s", errValue, clip(raw, 40))
	}
	return readElems(items, dts, true)
}

// --- statements

func (p *program) compileVMap(v *VMap) step {
	text := StmtText(v)
	fields := p.keyFields(v.Key)
	l := &lookupStep{fields: fields, deps: depsOf(fields), text: text}
	elems, data, err := p.mapElems(v.Data, dtypes(fields))
	if err != nil {
		// elements the key type does not read: any of them may be the one
		unknown := make([]field, len(fields))
		for i, f := range fields {
			unknown[i] = unknownField(f.dep)
		}
		l.fields = unknown
		elems, data, err = p.mapElems(v.Data, dtypes(unknown))
	}
	if err != nil {
		return step{kind: sMaybe, text: fmt.Sprintf("%s cannot be evaluated (%v)", text, err)}
	}
	l.elems = elems
	for _, d := range data {
		vd, ok := parseVerdict(d)
		if !ok {
			return step{kind: sMaybe, text: fmt.Sprintf("%s: verdict %s not understood", text, clip(d, 30))}
		}
		t := target{kind: vd.Kind}
		if vd.Target != "" {
			t.c = p.chains[p.table.chains[vd.Target]]
			if t.c == nil {
				return step{kind: sUndecided, text: fmt.Sprintf("%s: %s to missing chain %q", text, vd.Kind, vd.Target)}
			}
		}
		l.verdicts = append(l.verdicts, t)
	}
	return step{kind: sVMap, vm: l, text: text}
}

func (p *program) compileNAT(n *NATStmt) step {
	text := StmtText(n)
	switch n.Kind {
	case "snat", "masquerade":
		return step{kind: sAcceptNAT, text: text}
	}
	ns := &natStep{kind: n.Kind, text: text}
	switch n.Family {
	case "ip":
		ns.family = netfilter.IPv4
	case "ip6":
		ns.family = netfilter.IPv6
	}
	if n.Kind == "dnat" && len(n.Addr) > 0 {
		if ml, ok := rawExpr(n.Addr).(*MapLookup); ok {
			l, err := p.natLookup(ml, text)
			if err != nil {
				return step{kind: sUndecided, text: err.Error()}
			}
			ns.lookup = l
		} else {
			v, err := untyped(n.Addr)
			s, isStr := v.(string)
			a, perr := netip.ParseAddr(s)
			if err != nil || !isStr || perr != nil {
				return step{kind: sUndecided, text: text + ": address not understood"}
			}
			ns.addr = a.WithZone("")
		}
	}
	if len(n.Port) > 0 {
		v, err := untyped(n.Port)
		if err != nil {
			return step{kind: sUndecided, text: text + ": port not understood"}
		}
		c, err := compOf(v, dtPort)
		if err != nil {
			return step{kind: sUndecided, text: text + ": port not understood"}
		}
		ns.port = uint16(c.lo) // a port range maps the first connection to its low end
	}
	return step{kind: sNAT, nat: ns, text: text}
}

// natLookup compiles "dnat to KEY map { k : addr [. port] }".
func (p *program) natLookup(ml *MapLookup, text string) (*lookupStep, error) {
	fields := p.keyFields(ml.Key)
	if hasKind(fields, fUnknown) {
		return nil, fmt.Errorf("%s: the map key cannot be evaluated", text)
	}
	elems, data, err := p.mapElems(ml.Data, dtypes(fields))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", text, err)
	}
	l := &lookupStep{fields: fields, deps: depsOf(fields), elems: elems, text: text}
	for _, d := range data {
		v, err := untyped(d)
		if err != nil {
			return nil, fmt.Errorf("%s: map data not understood", text)
		}
		var addr, port any = v, nil
		if k, x, ok := single(v); ok && k == "concat" {
			parts, _ := x.([]any)
			if len(parts) != 2 {
				return nil, fmt.Errorf("%s: map data not understood", text)
			}
			addr, port = parts[0], parts[1]
		}
		s, _ := addr.(string)
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: map data not understood", text)
		}
		pn := uint64(0)
		if port != nil {
			c, err := compOf(port, dtPort)
			if err != nil {
				return nil, fmt.Errorf("%s: map data not understood", text)
			}
			pn = c.lo
		}
		l.addrs = append(l.addrs, a.WithZone(""))
		l.ports = append(l.ports, uint16(pn))
	}
	return l, nil
}

func (p *program) compileMangle(m *Mangle) (step, bool) {
	var ct bool
	switch k := m.Key.(type) {
	case *Meta:
		if k.Key != "mark" {
			return step{}, false
		}
	case *Ct:
		if k.Key != "mark" {
			return step{}, false
		}
		ct = true
	default:
		return step{}, false
	}
	return step{kind: sMark, setMark: p.markValue(m.Value), ctMark: ct, text: StmtText(m)}, true
}

// markValue compiles the value of "meta mark set …": a constant, meta mark, ct mark,
// or one of those combined with a constant.
func (p *program) markValue(raw json.RawMessage) func(w *walker, s *wstate) (uint32, bool) {
	if v, err := untyped(raw); err == nil {
		if n, err := numOf(v, dtMark); err == nil {
			return func(*walker, *wstate) (uint32, bool) { return uint32(n), true }
		}
	}
	f := p.compileField(parseExpr(raw))
	if f.kind != fNum || f.dt != dtMark {
		return unknownMark
	}
	return func(w *walker, s *wstate) (uint32, bool) {
		n, ok := w.value(&f, s)
		return uint32(n), ok
	}
}

// --- port index

// indexMin is the chain length from which a chain gets a port index.
const indexMin = 64

// maxExpand bounds the ports of one rule entered one by one into the index.
const maxExpand = 64

// portIndex lets a walk skip the rules of a long chain that cannot match the packet's
// destination port: rules whose first match requires a tcp, udp or th dport. A skipped
// rule would have failed at that first match, before any other test, so the walk and the
// source ranges it hands to SrcIn are the same.
type portIndex struct {
	any   []int32 // rules without a port condition
	ports [2]map[uint16][]int32
	wide  []wideRule // rules with more ports than maxExpand
	mu    sync.Mutex
	cache map[uint32][]int32
}

type wideRule struct {
	i     int32
	proto [2]bool
	ivs   []interval
}

// portCond returns the protocols and ports a rule requires, if its first match says so.
func portCond(cr *crule) (proto [2]bool, ivs []interval, ok bool) {
	if len(cr.steps) == 0 || cr.steps[0].kind != sMatch {
		return proto, nil, false
	}
	for i := range cr.steps[0].ms {
		m := &cr.steps[0].ms[i]
		if m.kind != mNum || m.neg || m.f.src != nsDPort || m.f.op != 0 || m.x != nil {
			continue
		}
		switch m.f.dep {
		case depTCP:
			proto[0] = true
		case depUDP:
			proto[1] = true
		case depNone:
			proto = [2]bool{true, true}
		default:
			continue
		}
		return proto, m.ivs, true
	}
	return proto, nil, false
}

func buildIndex(cc *cchain) *portIndex {
	if len(cc.rules) < indexMin {
		return nil
	}
	ix := &portIndex{ports: [2]map[uint16][]int32{{}, {}}, cache: map[uint32][]int32{}}
	for i, cr := range cc.rules {
		proto, ivs, ok := portCond(cr)
		if !ok {
			ix.any = append(ix.any, int32(i))
			continue
		}
		n := uint64(0)
		for _, iv := range ivs {
			n += iv.hi - iv.lo + 1
		}
		if n > maxExpand {
			ix.wide = append(ix.wide, wideRule{int32(i), proto, ivs})
			continue
		}
		for p := range 2 {
			if !proto[p] {
				continue
			}
			for _, iv := range ivs {
				for port := iv.lo; port <= iv.hi && port <= 65535; port++ {
					ix.ports[p][uint16(port)] = append(ix.ports[p][uint16(port)], int32(i))
				}
			}
		}
	}
	return ix
}

// candidates are the indexes, in order, of the rules that may match a packet of the
// protocol and destination port.
func (ix *portIndex) candidates(proto string, port uint16) []int32 {
	p := 0
	if proto == "udp" {
		p = 1
	}
	key := uint32(p)<<16 | uint32(port)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if c, ok := ix.cache[key]; ok {
		return c
	}
	c := slices.Concat(ix.any, ix.ports[p][port])
	for _, wr := range ix.wide {
		if wr.proto[p] && inIntervals(wr.ivs, uint64(port)) {
			c = append(c, wr.i)
		}
	}
	slices.Sort(c)
	c = slices.Compact(c)
	ix.cache[key] = c
	return c
}
