// Package difftest checks portpath's netfilter simulation against the kernel: it generates
// random rulesets (iptables-restore input and native nft scripts) for a fixed lab of network
// namespaces, and the lab test loads each into a real kernel, connects through it, and
// compares what the client saw with what the simulation predicts.
//
// The generator is pure: the same seed and case number always give the same case.
package difftest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
)

// The lab's fixed topology. The client namespace reaches the server over a veth pair whose
// server end is ClientIface; behind the server, over ContainerIface, sits a "container"
// namespace that DNAT rules publish.
var (
	// ServerV4 and ServerV6 are the server's addresses on the client link: the probes' destinations.
	ServerV4 = netip.MustParseAddr("10.99.0.2")
	ServerV6 = netip.MustParseAddr("fd99::2")
	// ServerCtrV4 and ServerCtrV6 are the server's addresses on the container link.
	ServerCtrV4 = netip.MustParseAddr("10.98.0.1")
	ServerCtrV6 = netip.MustParseAddr("fd98::1")
	// ContainerV4 and ContainerV6 are the container's addresses (DNAT targets).
	ContainerV4 = netip.MustParseAddr("10.98.0.2")
	ContainerV6 = netip.MustParseAddr("fd98::2")
	// ClientV4 and ClientV6 are the client's source addresses; the first of each is the
	// primary address of its link, the others are added to it (192.0.2.7 and 2001:db8:7::7
	// lie outside the link's prefix and are routed).
	ClientV4 = []netip.Addr{mustAddr("10.99.0.1"), mustAddr("10.99.0.11"), mustAddr("10.99.0.12"), mustAddr("10.99.0.13"), mustAddr("192.0.2.7")}
	ClientV6 = []netip.Addr{mustAddr("fd99::1"), mustAddr("fd99::11"), mustAddr("fd99::12"), mustAddr("2001:db8:7::7")}
)

// Interface names inside the server namespace.
const (
	ClientIface    = "eth0"
	ContainerIface = "ctr0"
)

// Listener is a socket the lab keeps open for every case.
type Listener struct {
	// Network is the Go network: "tcp" and "udp" are dual-stack on "[::]", "tcp6only" is
	// an IPv6-only socket, "tcp4"/"udp4" are IPv4 only.
	Network string
	Addr    string
	// Silent UDP listeners never answer; the others echo every datagram.
	Silent bool
}

// ServerListeners are the server namespace's sockets; some probe ports have none.
var ServerListeners = []Listener{
	{Network: "tcp", Addr: "[::]:8001"},
	{Network: "tcp4", Addr: "0.0.0.0:8002"},
	{Network: "tcp6only", Addr: "[::]:8003"},
	{Network: "tcp4", Addr: "127.0.0.1:8004"},
	{Network: "udp", Addr: "[::]:5001"},
	{Network: "udp4", Addr: "0.0.0.0:5002"},
	{Network: "udp", Addr: "[::]:5004", Silent: true},
}

// ContainerListeners are the container namespace's sockets.
var ContainerListeners = []Listener{
	{Network: "tcp", Addr: "[::]:80"},
	{Network: "udp", Addr: "[::]:53"},
}

// Ports the probes use. 8005, 8006 (TCP) and 5003 (UDP) have no listener; 8080/8081 and
// 5353/5354 are published by DNAT to the container's 80/81 and 53/54 (81 and 54 closed);
// 8082 is redirected to 8001 on the server itself.
var (
	TCPPorts = []uint16{8001, 8002, 8003, 8004, 8005, 8006, 8080, 8081, 8082}
	UDPPorts = []uint16{5001, 5002, 5003, 5004, 5353, 5354}
)

// SilentUDP reports whether a UDP port on the server has a listener that never answers.
func SilentUDP(port uint16) bool { return port == 5004 }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Probe is one connection attempt from the client namespace.
type Probe struct {
	// Proto is "tcp" or "udp".
	Proto string
	Src   netip.Addr
	Dst   netip.Addr
	Port  uint16
}

func (p Probe) String() string {
	return fmt.Sprintf("%s %s -> %s", p.Proto, p.Src, netip.AddrPortFrom(p.Dst, p.Port))
}

// Case is one generated ruleset with the probes to try through it. An empty ruleset text
// means that tool loads nothing.
type Case struct {
	Seed  uint64
	Index int
	// IPTables and IP6Tables are iptables-restore / ip6tables-restore input.
	IPTables  string
	IP6Tables string
	// Nft is an `nft -f` script.
	Nft    string
	Probes []Probe
}

// Ruleset is the case's rules for people: every non-empty part under a heading.
func (c Case) Ruleset() string {
	var b strings.Builder
	for _, p := range []struct{ name, text string }{{"iptables-restore", c.IPTables}, {"ip6tables-restore", c.IP6Tables}, {"nft -f", c.Nft}} {
		if p.text != "" {
			fmt.Fprintf(&b, "--- %s\n%s", p.name, p.text)
		}
	}
	return b.String()
}

// probesPerCase is how many connection attempts each case makes.
const probesPerCase = 8

// Generate returns case number index of the sequence seed stands for.
func Generate(seed uint64, index int) Case {
	g := &gen{r: rand.New(rand.NewPCG(seed, uint64(index)*0x9e3779b97f4a7c15+1))}
	c := Case{Seed: seed, Index: index}
	switch g.r.IntN(10) {
	case 0, 1, 2:
		c.IPTables, c.IP6Tables = g.iptables(v4), g.iptables(v6)
	case 3, 4, 5, 6:
		c.Nft = g.nft()
	default:
		c.IPTables, c.IP6Tables = g.iptables(v4), g.iptables(v6)
		c.Nft = g.nft()
	}
	for range probesPerCase {
		c.Probes = append(c.Probes, g.probe())
	}
	return c
}

type family int

const (
	v4 family = iota
	v6
)

type gen struct {
	r *rand.Rand
	// marked is true when a prerouting rule of the ruleset being written sets mark 0x1.
	marked bool
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *gen) chance(percent int) bool  { return g.r.IntN(100) < percent }

func (g *gen) probe() Probe {
	p := Probe{Proto: "tcp"}
	if g.chance(35) {
		p.Proto = "udp"
	}
	fam := v4
	if g.chance(40) {
		fam = v6
	}
	srcs, dst := ClientV4, ServerV4
	if fam == v6 {
		srcs, dst = ClientV6, ServerV6
	}
	p.Src, p.Dst = srcs[g.r.IntN(len(srcs))], dst
	if p.Proto == "udp" {
		p.Port = UDPPorts[g.r.IntN(len(UDPPorts))]
		return p
	}
	p.Port = TCPPorts[g.r.IntN(len(TCPPorts))]
	// Not straight to the container: portpath answers for the machine that owns the
	// target address. The server's address on its other link is its own, though.
	if g.chance(8) {
		p.Dst = ServerCtrV4
		if fam == v6 {
			p.Dst = ServerCtrV6
		}
	}
	return p
}

// --- addresses and ports in the two syntaxes

// srcSpec is a source match: a single address, a prefix, or a range, drawn so that it
// covers some of the client's addresses.
func (g *gen) srcSpec(f family) (text string, isRange bool) {
	if f == v4 {
		switch g.r.IntN(7) {
		case 0, 1:
			return ClientV4[g.r.IntN(len(ClientV4))].String(), false
		case 2:
			return g.pick("10.99.0.8/29", "10.99.0.0/28", "10.99.0.0/24", "192.0.2.0/24", "10.0.0.0/8", "10.99.0.12/31"), false
		case 3:
			return g.pick("10.99.0.10-10.99.0.12", "10.99.0.1-10.99.0.11", "10.99.0.13-192.0.2.7"), true
		case 4:
			return "203.0.113.5", false
		default:
			return g.pick("10.99.0.1", "10.99.0.12"), false
		}
	}
	switch g.r.IntN(6) {
	case 0, 1:
		return ClientV6[g.r.IntN(len(ClientV6))].String(), false
	case 2:
		return g.pick("fd99::/64", "fd99::10/124", "2001:db8::/32", "fd99::12/127"), false
	case 3:
		return g.pick("fd99::11-fd99::12", "fd99::1-fd99::11"), true
	case 4:
		return "2001:db8:9::9", false
	}
	return "fd99::1", false
}

// ports is a list of probe ports and ranges in nft syntax ("8001", "8003-8005").
func (g *gen) ports(proto string) []string {
	all := TCPPorts
	if proto == "udp" {
		all = UDPPorts
	}
	n := 1 + g.r.IntN(3)
	var out []string
	for range n {
		p := all[g.r.IntN(len(all))]
		if g.chance(25) {
			out = append(out, fmt.Sprintf("%d-%d", p, p+uint16(1+g.r.IntN(3))))
		} else {
			out = append(out, fmt.Sprint(p))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// proto is the protocol of a rule that names ports.
func (g *gen) proto() string { return g.pick("tcp", "tcp", "udp") }

// --- iptables

var rejects4 = []string{"", "icmp-net-unreachable", "icmp-host-unreachable", "icmp-port-unreachable", "icmp-proto-unreachable",
	"icmp-net-prohibited", "icmp-host-prohibited", "icmp-admin-prohibited", "tcp-reset"}
var rejects6 = []string{"", "icmp6-no-route", "no-route", "icmp6-adm-prohibited", "adm-prohibited", "icmp6-addr-unreachable",
	"addr-unreach", "icmp6-port-unreachable", "port-unreach", "tcp-reset", "icmp6-policy-fail", "icmp6-reject-route"}

// ipRule is one rule under construction: its matches and whether it fixes a protocol.
type ipRule struct {
	parts []string
	proto string // "tcp", "udp" or "" (any)
}

func (r *ipRule) add(s ...string) { r.parts = append(r.parts, s...) }

// ipMatches draws the matches of a rule. withPort forces a destination port match (rules of
// prerouting chains, which reply packets of forwarded connections also cross, always have one).
func (g *gen) ipMatches(f family, withPort, forward bool) ipRule {
	var r ipRule
	if withPort || g.chance(70) {
		r.proto = g.proto()
		r.add("-p", r.proto)
		ports := g.ports(r.proto)
		if forward && g.chance(50) {
			if r.proto == "tcp" {
				ports = []string{g.pick("80", "81", "80:81")}
			} else {
				ports = []string{g.pick("53", "54", "53:54")}
			}
		}
		neg := !withPort && g.chance(15)
		colon := func(p string) string { return strings.ReplaceAll(p, "-", ":") }
		if len(ports) == 1 && g.chance(60) {
			if neg {
				r.add("-m", r.proto, "!", "--dport", colon(ports[0]))
			} else {
				r.add("-m", r.proto, "--dport", colon(ports[0]))
			}
		} else {
			list := make([]string, len(ports))
			for i, p := range ports {
				list[i] = colon(p)
			}
			if neg {
				r.add("-m", "multiport", "!", "--dports", strings.Join(list, ","))
			} else {
				r.add("-m", "multiport", "--dports", strings.Join(list, ","))
			}
		}
	} else if g.chance(20) {
		other := "icmp"
		if f == v6 {
			other = "ipv6-icmp"
		}
		r.add("!", "-p", g.pick("udp", "tcp", other))
	}
	if g.chance(45) {
		s, isRange := g.srcSpec(f)
		neg := g.chance(25)
		switch {
		case isRange && neg:
			r.add("-m", "iprange", "!", "--src-range", s)
		case isRange:
			r.add("-m", "iprange", "--src-range", s)
		case neg:
			r.add("!", "-s", s)
		default:
			r.add("-s", s)
		}
	}
	if g.chance(12) {
		d := ServerV4.String()
		if f == v6 {
			d = ServerV6.String()
		}
		if g.chance(30) {
			r.add("!", "-d", d)
		} else {
			r.add("-d", d)
		}
	}
	if g.chance(12) {
		switch g.r.IntN(4) {
		case 0:
			r.add("-i", ClientIface)
		case 1:
			r.add("!", "-i", ClientIface)
		case 2:
			r.add("-i", "eth+")
		default:
			r.add("-i", ContainerIface)
		}
	}
	if g.chance(15) {
		switch g.r.IntN(4) {
		case 0:
			r.add("-m", "conntrack", "--ctstate", "NEW")
		case 1:
			r.add("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED")
		case 2:
			r.add("-m", "conntrack", "!", "--ctstate", "INVALID")
		default:
			r.add("-m", "state", "--state", "NEW")
		}
	}
	if g.marked && g.chance(25) {
		if g.chance(30) {
			r.add("-m", "mark", "!", "--mark", "0x1")
		} else {
			r.add("-m", "mark", "--mark", "0x1")
		}
	}
	if g.chance(6) {
		r.add("-m", "addrtype", "--dst-type", "LOCAL")
	}
	if g.chance(10) {
		r.add("-m", "comment", "--comment", fmt.Sprintf("\"rule %d\"", g.r.IntN(1000)))
	}
	return r
}

// ipReject is a REJECT target valid for the rule.
func (g *gen) ipReject(f family, r ipRule) string {
	list := rejects4
	if f == v6 {
		list = rejects6
	}
	for {
		w := list[g.r.IntN(len(list))]
		switch {
		case w == "":
			return "-j REJECT"
		case w == "tcp-reset" && r.proto != "tcp":
			continue
		}
		return "-j REJECT --reject-with " + w
	}
}

// iptables writes an iptables-restore (or ip6tables-restore) input.
func (g *gen) iptables(f family) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	g.marked = false
	if g.chance(20) {
		p("*raw")
		p(":PREROUTING ACCEPT [0:0]")
		p(":OUTPUT ACCEPT [0:0]")
		for range 1 + g.r.IntN(2) {
			r := g.ipMatches(f, true, false)
			p("-A PREROUTING %s -j %s", strings.Join(r.parts, " "), g.pick("DROP", "ACCEPT"))
		}
		p("COMMIT")
	}
	if g.chance(25) {
		p("*mangle")
		for _, c := range []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"} {
			p(":%s ACCEPT [0:0]", c)
		}
		for range 1 + g.r.IntN(2) {
			r := g.ipMatches(f, true, false)
			if g.chance(60) {
				p("-A PREROUTING %s -j MARK --set-mark 0x1", strings.Join(r.parts, " "))
				g.marked = true
			} else {
				p("-A PREROUTING %s -j DROP", strings.Join(r.parts, " "))
			}
		}
		p("COMMIT")
	}
	if g.chance(40) {
		p("*nat")
		for _, c := range []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"} {
			p(":%s ACCEPT [0:0]", c)
		}
		ctr := ContainerV4.String()
		if f == v6 {
			ctr = "[" + ContainerV6.String() + "]"
		}
		for range 1 + g.r.IntN(3) {
			src := ""
			if g.chance(30) {
				s, isRange := g.srcSpec(f)
				if isRange {
					src = "-m iprange --src-range " + s + " "
				} else {
					src = "-s " + s + " "
				}
			}
			switch g.r.IntN(5) {
			case 0:
				p("-A PREROUTING %s-p tcp -m tcp --dport 8080 -j DNAT --to-destination %s:80", src, ctr)
			case 1:
				p("-A PREROUTING %s-p tcp -m tcp --dport 8081 -j DNAT --to-destination %s:81", src, ctr)
			case 2:
				p("-A PREROUTING %s-p udp -m udp --dport %d -j DNAT --to-destination %s:%d", src, 5353+g.r.IntN(2), ctr, 53+g.r.IntN(2))
			case 3:
				p("-A PREROUTING %s-p tcp -m tcp --dport 8082 -j REDIRECT --to-ports 8001", src)
			default:
				p("-A PREROUTING %s-p tcp -m multiport --dports 8080,8081 -j DNAT --to-destination %s", src, ctr)
			}
		}
		p("COMMIT")
	}
	p("*filter")
	p(":INPUT %s [0:0]", g.pick("ACCEPT", "ACCEPT", "DROP"))
	p(":FORWARD %s [0:0]", g.pick("ACCEPT", "DROP"))
	p(":OUTPUT ACCEPT [0:0]")
	nuser := g.r.IntN(4)
	for i := range nuser {
		p(":U%d - [0:0]", i)
	}
	p("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
	rule := func(chain string, self int, forward bool) {
		r := g.ipMatches(f, false, forward)
		m := strings.Join(r.parts, " ")
		if m != "" {
			m += " "
		}
		var target string
		switch k := g.r.IntN(20); {
		case k < 5:
			target = "-j ACCEPT"
		case k < 9:
			target = "-j DROP"
		case k < 13:
			target = g.ipReject(f, r)
		case k < 15 && self+1 < nuser:
			target = fmt.Sprintf("-j U%d", self+1+g.r.IntN(nuser-self-1))
		case k < 16 && self+1 < nuser:
			target = fmt.Sprintf("-g U%d", self+1+g.r.IntN(nuser-self-1))
		case k < 18 && self >= 0:
			target = "-j RETURN"
		case k < 19:
			target = fmt.Sprintf("-j LOG --log-prefix \"d%d \"", g.r.IntN(100))
		default:
			target = "-j ACCEPT"
		}
		p("-A %s %s%s", chain, m, target)
	}
	for range 2 + g.r.IntN(7) {
		rule("INPUT", -1, false)
	}
	for range g.r.IntN(4) {
		rule("FORWARD", -1, true)
	}
	for i := range nuser {
		for range 1 + g.r.IntN(4) {
			rule(fmt.Sprintf("U%d", i), i, g.chance(20))
		}
	}
	p("COMMIT")
	return b.String()
}

// --- nftables

var (
	nftRejectICMP   = []string{"net-unreachable", "host-unreachable", "prot-unreachable", "port-unreachable", "net-prohibited", "host-prohibited", "admin-prohibited"}
	nftRejectICMPv6 = []string{"no-route", "admin-prohibited", "addr-unreachable", "port-unreachable", "policy-fail", "reject-route"}
	nftRejectICMPx  = []string{"port-unreachable", "admin-prohibited", "no-route", "host-unreachable"}
)

// nftTable is one table under construction.
type nftTable struct {
	family string // "inet", "ip", "ip6"
	name   string
	sets   []string
	chains []string
	// hasSet4/6 and hasPortSet say which named sets the table declares.
	hasSet4, hasSet6, hasPortSet bool
}

func (t *nftTable) fams() []family {
	switch t.family {
	case "ip":
		return []family{v4}
	case "ip6":
		return []family{v6}
	}
	return []family{v4, v6}
}

// nftMatches draws the matches of a rule; it reports the protocol the rule fixes ("" for
// any) and the address family, when a match fixes it.
func (g *gen) nftMatches(t *nftTable, withPort, forward bool) (string, string, family, bool) {
	var parts []string
	proto := ""
	famFixed, fam := false, v4
	fams := t.fams()
	if len(fams) == 1 {
		famFixed, fam = true, fams[0]
	}
	if withPort || g.chance(70) {
		proto = g.proto()
		ports := g.ports(proto)
		if forward && g.chance(50) {
			if proto == "tcp" {
				ports = []string{g.pick("80", "81", "80-81")}
			} else {
				ports = []string{g.pick("53", "54", "53-54")}
			}
		}
		field := proto + " dport"
		if g.chance(15) {
			parts = append(parts, "meta l4proto "+proto)
			field = "th dport"
		}
		neg := !withPort && g.chance(15)
		op := ""
		if neg {
			op = "!= "
		}
		switch {
		case t.hasPortSet && !neg && g.chance(20) && proto == "tcp":
			parts = append(parts, field+" @tports")
		case len(ports) == 1 && g.chance(60):
			parts = append(parts, field+" "+op+ports[0])
		default:
			parts = append(parts, field+" "+op+"{ "+strings.Join(ports, ", ")+" }")
		}
	} else if g.chance(20) {
		parts = append(parts, "meta l4proto "+g.pick("!= udp", "!= tcp", "{ tcp, udp }", "udp"))
		if strings.HasSuffix(parts[len(parts)-1], " udp") && !strings.Contains(parts[len(parts)-1], "!=") {
			proto = "udp"
		}
	}
	if g.chance(50) {
		if !famFixed {
			fam = family(g.r.IntN(2))
			famFixed = true
		}
		key := "ip saddr"
		hasSet := t.hasSet4
		if fam == v6 {
			key, hasSet = "ip6 saddr", t.hasSet6
		}
		neg := g.chance(25)
		op := ""
		if neg {
			op = "!= "
		}
		switch {
		case hasSet && g.chance(35):
			set := "@src4"
			if fam == v6 {
				set = "@src6"
			}
			parts = append(parts, key+" "+op+set)
		case g.chance(25):
			a, _ := g.srcSpec(fam)
			b2, _ := g.srcSpec(fam)
			parts = append(parts, key+" "+op+"{ "+strings.Join(dedupe(a, b2), ", ")+" }")
		default:
			s, _ := g.srcSpec(fam)
			parts = append(parts, key+" "+op+s)
		}
	}
	if g.chance(10) {
		switch g.r.IntN(4) {
		case 0:
			parts = append(parts, `iifname "`+ClientIface+`"`)
		case 1:
			parts = append(parts, `iifname != "`+ClientIface+`"`)
		case 2:
			parts = append(parts, `iifname "eth*"`)
		default:
			parts = append(parts, `iif "`+ClientIface+`"`)
		}
	}
	if g.chance(15) {
		parts = append(parts, "ct state "+g.pick("new", "established,related", "!= established", "{ new, untracked }", "invalid"))
	}
	if g.marked && g.chance(25) {
		parts = append(parts, "meta mark "+g.pick("0x1", "!= 0x1"))
	}
	if g.chance(6) {
		parts = append(parts, "fib daddr type local")
	}
	return strings.Join(parts, " "), proto, fam, famFixed
}

func dedupe(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// nftReject is a reject statement valid for a rule of table t.
func (g *gen) nftReject(t *nftTable, proto string, fam family, famFixed bool) string {
	for {
		switch g.r.IntN(5) {
		case 0:
			return "reject"
		case 1:
			if proto == "tcp" {
				return "reject with tcp reset"
			}
		case 2:
			if t.family == "inet" {
				return "reject with icmpx type " + g.pick(nftRejectICMPx...)
			}
		default:
			if !famFixed {
				if t.family == "inet" {
					continue
				}
			}
			f := fam
			if t.family == "ip" {
				f = v4
			} else if t.family == "ip6" {
				f = v6
			}
			if f == v4 {
				return "reject with icmp type " + g.pick(nftRejectICMP...)
			}
			return "reject with icmpv6 type " + g.pick(nftRejectICMPv6...)
		}
	}
}

func (g *gen) nft() string {
	var b strings.Builder
	g.marked = false
	ntables := 1 + g.r.IntN(3)
	fams := []string{"inet", "ip", "ip6"}
	var tables []*nftTable
	for i := range ntables {
		t := &nftTable{family: fams[g.r.IntN(len(fams))], name: fmt.Sprintf("t%d", i)}
		tables = append(tables, t)
	}
	// the prerouting part first, so filter chains know whether marks are set
	for _, t := range tables {
		g.nftPrerouting(t)
	}
	for _, t := range tables {
		g.nftFilter(t)
	}
	for _, t := range tables {
		fmt.Fprintf(&b, "table %s %s {\n", t.family, t.name)
		for _, s := range t.sets {
			b.WriteString(s)
		}
		for _, c := range t.chains {
			b.WriteString(c)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func (g *gen) nftPrerouting(t *nftTable) {
	if g.chance(30) {
		prio := g.pick("-300", "-150", "-10", "10")
		var c strings.Builder
		fmt.Fprintf(&c, "\tchain pre {\n\t\ttype filter hook prerouting priority %s; policy accept;\n", prio)
		for range 1 + g.r.IntN(2) {
			m, _, _, _ := g.nftMatches(t, true, false)
			if prio == "-300" && !strings.Contains(m, "ct state") && g.chance(50) {
				m += " ct state " + g.pick("new", "invalid", "established,related", "!= new") // before conntrack
			}
			switch g.r.IntN(3) {
			case 0:
				fmt.Fprintf(&c, "\t\t%s meta mark set 0x1\n", m)
				g.marked = true
			case 1:
				fmt.Fprintf(&c, "\t\t%s counter drop\n", m)
			default:
				fmt.Fprintf(&c, "\t\t%s accept\n", m)
			}
		}
		c.WriteString("\t}\n")
		t.chains = append(t.chains, c.String())
	}
	if g.chance(35) {
		var c strings.Builder
		fmt.Fprintf(&c, "\tchain nat {\n\t\ttype nat hook prerouting priority %s; policy accept;\n", g.pick("-100", "-100", "dstnat + 5"))
		for range 1 + g.r.IntN(3) {
			fam := t.fams()[g.r.IntN(len(t.fams()))]
			ctr, src := ContainerV4.String(), ""
			famWord := "ip"
			if fam == v6 {
				ctr, famWord = "["+ContainerV6.String()+"]", "ip6"
			}
			if g.chance(30) {
				s, _ := g.srcSpec(fam)
				src = famWord + " saddr " + s + " "
			}
			to := "dnat to "
			if t.family == "inet" {
				to = "dnat " + famWord + " to "
			}
			switch g.r.IntN(5) {
			case 0:
				fmt.Fprintf(&c, "\t\t%stcp dport 8080 %s%s:80\n", src, to, ctr)
			case 1:
				fmt.Fprintf(&c, "\t\t%stcp dport 8081 %s%s:81\n", src, to, ctr)
			case 2:
				fmt.Fprintf(&c, "\t\t%sudp dport %d %s%s:%d\n", src, 5353+g.r.IntN(2), to, ctr, 53+g.r.IntN(2))
			case 3:
				fmt.Fprintf(&c, "\t\t%stcp dport 8082 redirect to :8001\n", src)
			default:
				fmt.Fprintf(&c, "\t\t%stcp dport { 8080, 8081 } %s%s\n", src, to, ctr)
			}
		}
		c.WriteString("\t}\n")
		t.chains = append(t.chains, c.String())
	}
}

func (g *gen) nftFilter(t *nftTable) {
	for _, f := range t.fams() {
		if !g.chance(40) {
			continue
		}
		typ, name := "ipv4_addr", "src4"
		if f == v6 {
			typ, name = "ipv6_addr", "src6"
		}
		var elems []string
		for range 1 + g.r.IntN(3) {
			s, _ := g.srcSpec(f)
			elems = append(elems, s)
		}
		slices.Sort(elems)
		elems = slices.Compact(elems)
		t.sets = append(t.sets, fmt.Sprintf("\tset %s {\n\t\ttype %s; flags interval; auto-merge;\n\t\telements = { %s }\n\t}\n", name, typ, strings.Join(elems, ", ")))
		if f == v4 {
			t.hasSet4 = true
		} else {
			t.hasSet6 = true
		}
	}
	if g.chance(25) {
		t.sets = append(t.sets, fmt.Sprintf("\tset tports {\n\t\ttype inet_service; flags interval; auto-merge;\n\t\telements = { %s }\n\t}\n", strings.Join(g.ports("tcp"), ", ")))
		t.hasPortSet = true
	}
	nuser := g.r.IntN(4)
	rule := func(self int, forward, base bool) string {
		m, proto, fam, famFixed := g.nftMatches(t, false, forward)
		if m != "" {
			m += " "
		}
		var v string
		switch k := g.r.IntN(22); {
		case k < 5:
			v = "accept"
		case k < 9:
			v = g.pick("drop", "counter drop")
		case k < 13:
			v = g.nftReject(t, proto, fam, famFixed)
		case k < 15 && self+1 < nuser:
			v = fmt.Sprintf("jump u%d", self+1+g.r.IntN(nuser-self-1))
		case k < 16 && self+1 < nuser:
			v = fmt.Sprintf("goto u%d", self+1+g.r.IntN(nuser-self-1))
		case k < 18 && !base:
			v = "return"
		case k < 19:
			v = fmt.Sprintf("log prefix \"d%d \"", g.r.IntN(100))
		case k < 21 && (proto == "tcp" || proto == "udp"):
			// a verdict map on the destination port replaces the port match
			var elems []string
			used := map[uint16]bool{}
			all := TCPPorts
			if proto == "udp" {
				all = UDPPorts
			}
			for range 1 + g.r.IntN(3) {
				p := all[g.r.IntN(len(all))]
				if used[p] {
					continue
				}
				used[p] = true
				verdict := g.pick("accept", "drop", "continue")
				if self+1 < nuser && g.chance(30) {
					verdict = fmt.Sprintf("jump u%d", self+1+g.r.IntN(nuser-self-1))
				}
				elems = append(elems, fmt.Sprintf("%d : %s", p, verdict))
			}
			prefix := ""
			if proto == "udp" && g.chance(50) {
				prefix = "meta l4proto udp "
			}
			return fmt.Sprintf("\t\t%s%s dport vmap { %s }\n", prefix, proto, strings.Join(elems, ", "))
		default:
			v = "accept"
		}
		return fmt.Sprintf("\t\t%s%s\n", m, v)
	}
	for i := range nuser {
		var c strings.Builder
		fmt.Fprintf(&c, "\tchain u%d {\n", i)
		for range 1 + g.r.IntN(4) {
			c.WriteString(rule(i, g.chance(20), false))
		}
		c.WriteString("\t}\n")
		t.chains = append(t.chains, c.String())
	}
	for k := range 1 + g.r.IntN(2) {
		var c strings.Builder
		prio := g.pick("-10", "0", "5", "10", "filter + 20", "-200", "100", "-5", "15")
		fmt.Fprintf(&c, "\tchain in%d {\n\t\ttype filter hook input priority %s; policy %s;\n", k, prio, g.pick("accept", "accept", "drop"))
		for range 1 + g.r.IntN(6) {
			c.WriteString(rule(-1, false, true))
		}
		c.WriteString("\t}\n")
		t.chains = append(t.chains, c.String())
	}
	if g.chance(45) {
		var c strings.Builder
		fmt.Fprintf(&c, "\tchain forward_f {\n\t\ttype filter hook forward priority %s; policy %s;\n", g.pick("-10", "0", "10"), g.pick("accept", "drop"))
		c.WriteString("\t\tct state established,related accept\n")
		for range 1 + g.r.IntN(4) {
			c.WriteString(rule(-1, true, true))
		}
		c.WriteString("\t}\n")
		t.chains = append(t.chains, c.String())
	}
}
