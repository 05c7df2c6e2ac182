package nftables

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	policy     netfilter.Verdict
	policyRule *report.Rule
}

type crule struct {
	r     *Rule
	id    string
	rep   *report.Rule
	once  sync.Once
	steps []step
	// inert rules have nothing that changes the walk (only matches, counters, logs).
	inert bool
}

type fkind uint8

const (
	fNum     fkind = iota // a number known from the packet (dport, l4proto, ct state, mark…)
	fAddr                 // an address known from the packet (daddr)
	fSrc                  // the source address: tested through Eval.SrcIn
	fIface                // the arrival interface: tested through Eval.InIface
	fSport                // the client's source port: any ephemeral port
	fUnknown              // a value the simulation does not know
)

type depFn func(w *walker) netfilter.Tri

// field is one compiled part of a left-hand key.
type field struct {
	kind fkind
	dt   dtype
	// dep says whether the expression exists for the packet at all (a tcp field of a
	// UDP packet does not, and then the rule cannot match, whatever the operator).
	dep  depFn
	num  func(w *walker, s *wstate) (uint64, bool)
	addr func(w *walker) netip.Addr
}

type matcher struct {
	src bool
	m   *Match
	// note says why the match cannot be evaluated when that is known at compile time
	note string
	eval func(w *walker, s *wstate) netfilter.Tri
}

// why says, for a reason text, why the match could not be decided.
func (m *matcher) why() string {
	text := StmtText(m.m)
	if m.note != "" {
		return text + " cannot be evaluated (" + m.note + ")"
	}
	return text + " cannot be evaluated"
}

// report is the rule as the report shows it; rendered on first use.
func (cr *crule) report() *report.Rule {
	cr.once.Do(func() {
		r := cr.r
		cr.rep = &report.Rule{ID: cr.id, Text: r.Text(), Origin: "nftables", Table: r.Chain.Table.ID(), Chain: r.Chain.Name, Position: r.Position}
	})
	return cr.rep
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
}

// lookupStep is a verdict map or a dnat map: the key, the elements and what each yields.
type lookupStep struct {
	fields   []field
	dep      depFn
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
	kind   string
	addr   netip.Addr
	port   uint16
	lookup *lookupStep
	// portFrom says the port comes from the map data (dnat to tcp dport map { … : addr . port }).
	text string
}

// compileTable compiles every chain of t.
func compileTable(t *Table, ctMarkSet bool) *program {
	p := &program{table: t, chains: map[*Chain]*cchain{}, ctMarkSet: ctMarkSet, sets: map[string]setCache{}}
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
		cc.rules = make([]*crule, 0, len(c.Rules))
		for _, r := range c.Rules {
			cc.rules = append(cc.rules, p.compileRule(r))
		}
	}
	return p
}

func (p *program) compileRule(r *Rule) *crule {
	cr := &crule{r: r, id: r.ID()}
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
			cr.steps = append(cr.steps, step{kind: sMatch, ms: group})
			group = nil
		}
	}
	for _, st := range r.Stmts {
		if m, ok := st.(*Match); ok {
			group = append(group, p.compileMatch(m))
			continue
		}
		flush()
		if s, ok := p.compileStmt(cr, st); ok {
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
	return cr
}

// xtPassive are iptables targets that do not end the chain or change what later rules see.
var xtPassive = map[string]bool{
	"LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "AUDIT": true, "CT": true, "NOTRACK": true,
	"TCPMSS": true, "CHECKSUM": true, "CLASSIFY": true, "DSCP": true, "TOS": true, "TTL": true, "HL": true,
	"IDLETIMER": true, "LED": true, "SECMARK": true, "CONNSECMARK": true, "TEE": true, "RATEEST": true,
	"SET": true, "TCPOPTSTRIP": true,
}

func (p *program) compileStmt(cr *crule, st Stmt) (step, bool) {
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
		what := "assumed not exceeded for a first connection"
		if s.Kind == "quota" {
			what = "assumed not used up"
		}
		if s.Inv {
			tri = netfilter.No
		}
		return step{kind: sCond, tri: tri, text: fmt.Sprintf("%s: %s %s", cr.id, limitText(s), what)}, true
	case *Passive:
		return step{}, false
	case *XT:
		return p.compileXT(cr, s)
	case *Opaque:
		return step{kind: sMaybe, text: fmt.Sprintf("unknown statement %q", s.Key)}, true
	}
	return step{kind: sMaybe, text: "unknown statement"}, true
}

func (p *program) compileXT(cr *crule, x *XT) (step, bool) {
	if x.Type == "match" {
		switch x.Name {
		case "comment":
			return step{}, false
		case "limit", "hashlimit":
			return step{kind: sCond, tri: netfilter.Yes, text: fmt.Sprintf("%s: xt match %s assumed not exceeded for a first connection", cr.id, x.Name)}, true
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

var (
	depNever depFn = func(*walker) netfilter.Tri { return netfilter.No }
	depIPv4  depFn = func(w *walker) netfilter.Tri { return netfilter.TriOf(w.e.Pkt.Family == netfilter.IPv4) }
	depIPv6  depFn = func(w *walker) netfilter.Tri { return netfilter.TriOf(w.e.Pkt.Family == netfilter.IPv6) }
	depTCP   depFn = func(w *walker) netfilter.Tri { return netfilter.TriOf(w.e.Pkt.Proto == "tcp") }
	depUDP   depFn = func(w *walker) netfilter.Tri { return netfilter.TriOf(w.e.Pkt.Proto == "udp") }
	// depOut: the outgoing interface exists only once the packet is routed out (forward).
	depOut depFn = func(w *walker) netfilter.Tri {
		return netfilter.TriOf(w.hook == netfilter.Forward || w.hook == netfilter.Output || w.hook == netfilter.Postrouting)
	}
)

func protoNum(proto string) uint64 {
	if proto == "udp" {
		return 17
	}
	return 6
}

func constNum(n uint64) func(*walker, *wstate) (uint64, bool) {
	return func(*walker, *wstate) (uint64, bool) { return n, true }
}

func unknownField(dep depFn) field { return field{kind: fUnknown, dep: dep} }

func dstAddr(w *walker) netip.Addr { return w.e.Pkt.Dst }

func origDst(w *walker) netip.Addr {
	if w.e.Pkt.DNATed {
		return w.e.Pkt.OrigDst
	}
	return w.e.Pkt.Dst
}

var (
	numDPort = func(w *walker, _ *wstate) (uint64, bool) { return uint64(w.e.Pkt.DPort), true }
	numProto = func(w *walker, _ *wstate) (uint64, bool) { return protoNum(w.e.Pkt.Proto), true }
	numNfpro = func(w *walker, _ *wstate) (uint64, bool) {
		if w.e.Pkt.Family == netfilter.IPv6 {
			return 10, true
		}
		return 2, true
	}
	numEther = func(w *walker, _ *wstate) (uint64, bool) {
		if w.e.Pkt.Family == netfilter.IPv6 {
			return 0x86dd, true
		}
		return 0x0800, true
	}
	numMark   = func(_ *walker, s *wstate) (uint64, bool) { return uint64(s.mark), s.markOK }
	numCtMark = func(_ *walker, s *wstate) (uint64, bool) { return uint64(s.ctmark), s.ctOK }
	numStatus = func(w *walker, _ *wstate) (uint64, bool) {
		if w.e.Pkt.DNATed {
			return ctStatusNames["dnat"], true
		}
		return 0, true
	}
	numOrigDPort = func(w *walker, _ *wstate) (uint64, bool) {
		if w.e.Pkt.DNATed {
			return uint64(w.e.Pkt.OrigDPort), true
		}
		return uint64(w.e.Pkt.DPort), true
	}
)

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
		if in.kind != fNum {
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
		get := in.num
		apply := map[string]func(a uint64) uint64{
			"&": func(a uint64) uint64 { return a & n }, "|": func(a uint64) uint64 { return a | n },
			"^": func(a uint64) uint64 { return a ^ n }, "<<": func(a uint64) uint64 { return a << n },
			">>": func(a uint64) uint64 { return a >> n },
		}[x.Op]
		return field{kind: fNum, dt: in.dt, dep: in.dep, num: func(w *walker, s *wstate) (uint64, bool) {
			a, ok := get(w, s)
			return apply(a), ok
		}}
	}
	return unknownField(nil)
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
			return field{kind: fAddr, dt: dt, dep: dep, addr: dstAddr}
		case "protocol", "nexthdr":
			return field{kind: fNum, dt: dtProto, dep: dep, num: numProto}
		case "version":
			v := uint64(4)
			if x.Protocol == "ip6" {
				v = 6
			}
			return field{kind: fNum, dt: dtInt, dep: dep, num: constNum(v)}
		}
		return unknownField(dep)
	case "tcp", "udp", "th":
		var dep depFn
		switch x.Protocol {
		case "tcp":
			dep = depTCP
		case "udp":
			dep = depUDP
		}
		switch x.Field {
		case "dport":
			return field{kind: fNum, dt: dtPort, dep: dep, num: numDPort}
		case "sport":
			return field{kind: fSport, dt: dtPort, dep: dep}
		case "flags":
			if x.Protocol == "tcp" {
				return field{kind: fNum, dt: dtTCPFlags, dep: dep, num: constNum(tcpFlagNames["syn"])}
			}
		}
		return unknownField(dep)
	case "ether", "vlan", "":
		return unknownField(nil)
	}
	// any other header (icmp, icmpv6, sctp, esp, ipv6 extension headers…) is absent
	// from a TCP SYN or the first UDP datagram
	return unknownField(depNever)
}

func metaField(x *Meta) field {
	switch x.Key {
	case "l4proto":
		return field{kind: fNum, dt: dtProto, num: numProto}
	case "nfproto":
		return field{kind: fNum, dt: dtNfproto, num: numNfpro}
	case "protocol":
		return field{kind: fNum, dt: dtEther, num: numEther}
	case "iif":
		return field{kind: fIface, dt: dtIfindex}
	case "iifname":
		return field{kind: fIface, dt: dtIfname}
	case "oif", "oifname", "oiftype", "oifgroup", "oifkind":
		return unknownField(depOut)
	case "mark":
		return field{kind: fNum, dt: dtMark, num: numMark}
	case "pkttype":
		return field{kind: fNum, dt: dtPktType, num: constNum(0)}
	case "skuid", "skgid", "cgroup":
		// no local socket owns an arriving first packet
		return unknownField(depNever)
	}
	return unknownField(nil)
}

func ctField(x *Ct) field {
	fam, key, _ := strings.Cut(x.Key, " ")
	if key == "" {
		fam, key = "", x.Key
	}
	var dep depFn
	switch fam {
	case "ip":
		dep = depIPv4
	case "ip6":
		dep = depIPv6
	}
	switch key {
	case "state":
		return field{kind: fNum, dt: dtCtState, num: constNum(ctStateNames["new"])}
	case "status":
		return field{kind: fNum, dt: dtCtStatus, num: numStatus}
	case "direction":
		return field{kind: fNum, dt: dtCtDir, num: constNum(0)}
	case "mark":
		return field{kind: fNum, dt: dtMark, num: numCtMark}
	case "l3proto":
		return field{kind: fNum, dt: dtNfproto, num: numNfpro}
	case "protocol":
		return field{kind: fNum, dt: dtProto, num: numProto}
	case "saddr", "daddr":
		dt := dtAddr4
		if fam == "ip6" {
			dt = dtAddr6
		}
		switch {
		case fam == "":
			return unknownField(nil)
		case x.Dir == "original" && key == "saddr", x.Dir == "reply" && key == "daddr":
			return field{kind: fSrc, dt: dt, dep: dep}
		case x.Dir == "original":
			return field{kind: fAddr, dt: dt, dep: dep, addr: origDst}
		case x.Dir == "reply":
			return field{kind: fAddr, dt: dt, dep: dep, addr: dstAddr}
		}
	case "proto-dst", "proto-src":
		switch {
		case x.Dir == "original" && key == "proto-dst":
			return field{kind: fNum, dt: dtPort, num: numOrigDPort}
		case x.Dir == "reply" && key == "proto-src":
			return field{kind: fNum, dt: dtPort, num: numDPort}
		case x.Dir != "":
			return field{kind: fSport, dt: dtPort}
		}
	}
	return unknownField(dep)
}

func fibField(x *Fib) field {
	has := func(f string) bool { return slices.Contains(x.Flags, f) }
	switch x.Result {
	case "type":
		if !has("daddr") {
			return unknownField(nil)
		}
		viaIif := has("iif") || has("oif")
		return field{kind: fNum, dt: dtFibType, num: func(w *walker, _ *wstate) (uint64, bool) {
			d := w.e.Pkt.Dst
			switch {
			case w.e.Env.IsLocal(d):
				// local on some interface; with "iif" it must be local on the arrival one
				return fibTypeNames["local"], !viaIif
			case d.IsMulticast():
				return fibTypeNames["multicast"], true
			case d == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
				return fibTypeNames["broadcast"], true
			}
			return fibTypeNames["unicast"], true
		}}
	case "oif", "oifname":
		if has("saddr") {
			// reverse path filter: a client that can reach us has a route back
			return field{kind: fNum, dt: dtBool, num: constNum(1)}
		}
	}
	return unknownField(nil)
}

func andDeps(fields []field) depFn {
	var deps []depFn
	for _, f := range fields {
		if f.dep != nil {
			deps = append(deps, f.dep)
		}
	}
	switch len(deps) {
	case 0:
		return nil
	case 1:
		return deps[0]
	}
	return func(w *walker) netfilter.Tri {
		t := netfilter.Yes
		for _, d := range deps {
			t = and(t, d(w))
			if t == netfilter.No {
				return t
			}
		}
		return t
	}
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
	fields := p.keyFields(m.Left)
	dep := andDeps(fields)
	maybe := func(note string) matcher {
		return matcher{m: m, note: note, eval: func(w *walker, _ *wstate) netfilter.Tri {
			if dep != nil && dep(w) == netfilter.No {
				return netfilter.No
			}
			return netfilter.Maybe
		}}
	}
	if hasKind(fields, fUnknown) {
		return maybe("")
	}
	dts := dtypes(fields)
	var test func(w *walker, s *wstate) netfilter.Tri
	if name, ok := setRef(m.Right); ok {
		sc := p.setElems(name, dts, false)
		if sc.err != nil {
			return maybe(sc.err.Error())
		}
		test = member(fields, sc.elems)
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
			test = member(fields, []elem{e})
		case m.Op == "in" && len(fields) == 1 && fields[0].dt.bitmask() && !isSetValue(v):
			bits, err := numOf(v, fields[0].dt)
			if err != nil {
				return maybe(err.Error())
			}
			get := fields[0].num
			test = func(w *walker, s *wstate) netfilter.Tri {
				n, ok := get(w, s)
				if !ok {
					return netfilter.Maybe
				}
				return netfilter.TriOf(n&bits != 0)
			}
		default:
			elems, err := elemsOf(v, dts)
			if err != nil {
				return maybe(err.Error())
			}
			test = member(fields, elems)
		}
	}
	switch m.Op {
	case "==", "in", "<", ">", "<=", ">=":
	case "!=":
		inner := test
		test = func(w *walker, s *wstate) netfilter.Tri { return inner(w, s).Not() }
	default:
		return maybe(fmt.Sprintf("unknown operator %q", m.Op))
	}
	eval := test
	if dep != nil {
		eval = func(w *walker, s *wstate) netfilter.Tri {
			d := dep(w)
			if d == netfilter.No {
				return d
			}
			return and(d, test(w, s))
		}
	}
	return matcher{src: hasKind(fields, fSrc), m: m, eval: eval}
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
	max := f.dt.max()
	c := comp{lo: 0, hi: max}
	switch op {
	case "<":
		if n == 0 {
			return elem{{lo: 1, hi: 0}}, nil // empty
		}
		c.hi = n - 1
	case "<=":
		c.hi = n
	case ">":
		if n >= max {
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
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	out := ivs[:0]
	for _, iv := range ivs {
		if n := len(out); n > 0 && (iv.lo <= out[n-1].hi || (out[n-1].hi != ^uint64(0) && iv.lo == out[n-1].hi+1)) {
			out[n-1].hi = max(out[n-1].hi, iv.hi)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func inIntervals(ivs []interval, v uint64) bool {
	i := sort.Search(len(ivs), func(i int) bool { return ivs[i].hi >= v })
	return i < len(ivs) && ivs[i].lo <= v
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
	return out
}

// srcNeighbours returns the ranges of a sorted, disjoint list that decide membership of
// src and of the addresses just above it: the range holding src (or the next one) and a
// few after it. Classes simulates from the lowest address of a part, so the cuts these
// ranges make are the ones it needs; the parts above are simulated again and cut further.
func srcNeighbours(ranges []report.AddrRange, src netip.Addr) []report.AddrRange {
	i := sort.Search(len(ranges), func(i int) bool {
		r := ranges[i]
		return r.To.BitLen() > src.BitLen() || (r.To.BitLen() == src.BitLen() && r.To.Compare(src) >= 0)
	})
	return ranges[i:min(len(ranges), i+srcWindow)]
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

// member builds the set-membership test of a key against elements.
func member(fields []field, elems []elem) func(w *walker, s *wstate) netfilter.Tri {
	if len(fields) == 1 {
		f := fields[0]
		switch f.kind {
		case fNum:
			ivs := mergeIntervals(elems)
			get := f.num
			return func(w *walker, s *wstate) netfilter.Tri {
				v, ok := get(w, s)
				if !ok {
					return netfilter.Maybe
				}
				return netfilter.TriOf(inIntervals(ivs, v))
			}
		case fSport:
			t := sportTri(mergeIntervals(elems))
			return func(*walker, *wstate) netfilter.Tri { return t }
		case fSrc:
			ranges := mergeAddrRanges(elems)
			if len(ranges) <= srcWindow {
				return func(w *walker, _ *wstate) netfilter.Tri { return netfilter.TriOf(w.e.SrcIn(ranges...)) }
			}
			return func(w *walker, _ *wstate) netfilter.Tri {
				return netfilter.TriOf(w.e.SrcIn(srcNeighbours(ranges, w.e.Pkt.Src)...))
			}
		}
	}
	return func(w *walker, s *wstate) netfilter.Tri {
		vals := fieldValues(w, s, fields)
		res := netfilter.No
		for _, e := range elems {
			res = or(res, elemTri(w, fields, vals, e))
			if res == netfilter.Yes {
				break
			}
		}
		return res
	}
}

type fval struct {
	n    uint64
	ok   bool
	addr netip.Addr
}

func fieldValues(w *walker, s *wstate, fields []field) []fval {
	vals := make([]fval, len(fields))
	for i, f := range fields {
		switch f.kind {
		case fNum:
			vals[i].n, vals[i].ok = f.num(w, s)
		case fAddr:
			vals[i].addr = f.addr(w)
		}
	}
	return vals
}

// elemTri matches one element: the parts that do not depend on the source first, then
// the source (so only the ranges of elements whose other parts match reach SrcIn).
func elemTri(w *walker, fields []field, vals []fval, e elem) netfilter.Tri {
	t := netfilter.Yes
	for i, f := range fields {
		c := &e[i]
		switch f.kind {
		case fNum:
			if !vals[i].ok {
				t = and(t, netfilter.Maybe)
			} else {
				t = and(t, netfilter.TriOf(c.lo <= vals[i].n && vals[i].n <= c.hi))
			}
		case fAddr:
			t = and(t, netfilter.TriOf(c.r.Contains(vals[i].addr)))
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
	for i, f := range fields {
		if f.kind == fSrc {
			t = and(t, netfilter.TriOf(w.e.SrcIn(e[i].r)))
			if t == netfilter.No {
				return t
			}
		}
	}
	return t
}

// lookup finds the element a key selects: yes is the index of the element that surely
// matches (-1 if none); maybes are the elements that may.
func (l *lookupStep) lookup(w *walker, s *wstate) (yes int, maybes []int) {
	dep := netfilter.Yes
	if l.dep != nil {
		if dep = l.dep(w); dep == netfilter.No {
			return -1, nil // the key does not exist for this packet: nothing matches
		}
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

// setElems reads the elements of a named set (or the keys of a map) for a key of the
// given part types; for maps, data holds the data half of each element.
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
	l := &lookupStep{fields: fields, dep: andDeps(fields), text: text}
	elems, data, err := p.mapElems(v.Data, dtypes(fields))
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
	l := &lookupStep{fields: fields, dep: andDeps(fields), elems: elems, text: text}
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
	get := f.num
	return func(w *walker, s *wstate) (uint32, bool) {
		n, ok := get(w, s)
		return uint32(n), ok
	}
}
