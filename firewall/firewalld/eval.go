package firewalld

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// Packet is the first packet of a connection as firewalld's zones see it.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is "tcp" or "udp".
	Proto string
	Port  uint16
	// InIface is the interface the packet arrives on; empty means unknown.
	InIface string
}

func (p Packet) family() string {
	if p.Dst.Unmap().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// Part is the part of a zone an entry is checked in, in firewalld's order: rich rules
// with a negative priority, priority-0 drop/reject rich rules, everything that accepts,
// rich rules with a positive priority, then the zone's target.
type Part string

// The parts of a zone, and the dispatch entries before any zone runs.
const (
	PartNAT    Part = "nat" // forward-ports: rewritten before the filter, then accepted as DNATed
	PartPre    Part = "pre"
	PartDeny   Part = "deny"
	PartAllow  Part = "allow"
	PartPost   Part = "post"
	PartTarget Part = "target"
)

// Entry is the configuration entry that decides.
type Entry struct {
	// Kind is "service", "port", "protocol", "forward-port", "rich rule" or "target".
	Kind string
	// Text names the entry for people: "service http (80/tcp)", "rich rule 'rule …'", "target default → reject with icmpx admin-prohibited".
	Text string
	Part Part
	// Rule is the rich rule; nil for other kinds.
	Rule *RichRule
	// Line is the entry's line in its file; 0 when unknown.
	Line int
}

// Decision is what one firewalld configuration does with a packet.
type Decision struct {
	// Verdict is Accept, Drop, Reject or Undecided.
	Verdict netfilter.Verdict
	// RejectWith is the canonical reject type for Reject ("icmpx admin-prohibited", "tcp reset").
	RejectWith string
	// Zone is the zone the packet lands in; empty when that is not known.
	Zone string
	// ZoneBy says why: "source 10.99.0.0/28", "interface eth0", "the default zone".
	ZoneBy string
	Entry  Entry
	// Conditions are the rate limits assumed for a first connection.
	Conditions []string
	// Reason says why the verdict is Undecided.
	Reason string
}

// Symptom is what the client is predicted to see for a blocking decision; empty otherwise.
func (d Decision) Symptom(p Packet) report.Symptom {
	return netfilter.SymptomOf(netfilter.FamilyOf(p.Dst), p.Proto, d.Verdict, d.RejectWith)
}

// ZoneFor is the zone a packet from src arriving on iface lands in: the first zone (by
// name, as firewalld orders its source dispatch) with a source binding that holds src,
// else the zone the interface is bound to, else the default zone. reason is non-empty
// when that cannot be told (a MAC or ipset binding, no default zone).
func (c *Config) ZoneFor(src netip.Addr, iface string) (zone, by, reason string) {
	names := make([]string, 0, len(c.Zones))
	for n := range c.Zones {
		names = append(names, n)
	}
	slices.Sort(names)
	src = src.Unmap()
	for _, n := range names {
		for _, s := range c.Zones[n].Sources {
			if strings.HasPrefix(s, "ipset:") || isMAC(s) {
				if reason == "" {
					reason = fmt.Sprintf("zone %s binds the source %s, whose members are not known here", n, s)
				}
				continue
			}
			p, err := report.ParsePrefixOrAddr(s)
			if err == nil && p.Contains(src) {
				if reason != "" {
					return "", "", reason
				}
				return n, "source " + s, ""
			}
		}
	}
	if reason != "" {
		return "", "", reason
	}
	if iface != "" {
		for _, n := range names {
			for _, i := range c.Zones[n].Interfaces {
				if i == iface || strings.HasSuffix(i, "+") && strings.HasPrefix(iface, strings.TrimSuffix(i, "+")) {
					return n, "interface " + i, ""
				}
			}
		}
	} else {
		for _, n := range names {
			if len(c.Zones[n].Interfaces) > 0 {
				reason = fmt.Sprintf("zone %s binds interfaces (%s) and the arrival interface is not known", n, strings.Join(c.Zones[n].Interfaces, " "))
				return "", "", reason
			}
		}
	}
	if c.DefaultZone == "" {
		return "", "", "the default zone is not known"
	}
	if c.Zones[c.DefaultZone] == nil {
		return "", "", fmt.Sprintf("the default zone %s is not defined", c.DefaultZone)
	}
	return c.DefaultZone, "the default zone", ""
}

// Evaluate is what the configuration does with the packet: zone dispatch, then the zone.
func (c *Config) Evaluate(p Packet) Decision {
	zone, by, reason := c.ZoneFor(p.Src, p.InIface)
	if zone == "" {
		return Decision{Verdict: netfilter.Undecided, Reason: reason}
	}
	d := c.EvaluateZone(zone, p)
	d.ZoneBy = by
	return d
}

// check is one entry of a zone in evaluation order.
type check struct {
	entry Entry
	// match says whether the entry applies to the packet; why explains a Maybe.
	match   func() (netfilter.Tri, string)
	verdict netfilter.Verdict
	reject  string
	cond    string
}

// maxMaybe bounds the entries that cannot be decided before the whole zone is undecided.
const maxMaybe = 8

// EvaluateZone is what zone does with the packet, whatever the dispatch says.
func (c *Config) EvaluateZone(zone string, p Packet) Decision {
	z := c.Zones[zone]
	if z == nil {
		return Decision{Verdict: netfilter.Undecided, Zone: zone, Reason: fmt.Sprintf("zone %s is not defined", zone)}
	}
	d := walkChecks(c.checks(z, p), 0, 0)
	d.Zone = zone
	return d
}

func walkChecks(cs []check, i, maybes int) Decision {
	for ; i < len(cs); i++ {
		t, why := cs[i].match()
		if t == netfilter.No {
			continue
		}
		d := Decision{Verdict: cs[i].verdict, RejectWith: cs[i].reject, Entry: cs[i].entry}
		if cs[i].cond != "" {
			d.Conditions = []string{cs[i].cond}
		}
		if t == netfilter.Yes {
			return d
		}
		if maybes >= maxMaybe {
			return Decision{Verdict: netfilter.Undecided, Entry: cs[i].entry, Reason: why}
		}
		rest := walkChecks(cs, i+1, maybes+1)
		if rest.Verdict == d.Verdict && rest.RejectWith == d.RejectWith {
			rest.Conditions = append(rest.Conditions, d.Conditions...)
			return rest
		}
		return Decision{Verdict: netfilter.Undecided, Entry: cs[i].entry, Reason: why}
	}
	return Decision{Verdict: netfilter.Undecided, Reason: "the zone has no target"}
}

// checks lists the zone's entries in the order firewalld's chains test them.
func (c *Config) checks(z *Zone, p Packet) []check {
	fam := p.family()
	yes := func() (netfilter.Tri, string) { return netfilter.Yes, "" }
	var out []check
	// forward-ports rewrite the destination before the filter, which then accepts DNATed packets
	for _, fp := range z.ForwardPorts {
		if fp.Proto == p.Proto && fp.Port.Contains(p.Port) && forwardFamily(fp.ToAddr) == fam {
			out = append(out, check{entry: Entry{Kind: "forward-port", Text: "forward-port " + fp.String(), Part: PartNAT, Line: fp.Line},
				match: yes, verdict: netfilter.Accept})
		}
	}
	for _, r := range z.RichRules {
		if r.Element == "forward-port" && (r.Family == "" || r.Family == fam) {
			r := r
			out = append(out, check{entry: richEntry(r, PartNAT), verdict: netfilter.Accept,
				match: func() (netfilter.Tri, string) {
					if r.Port.Proto != p.Proto || !r.Port.Ports.Contains(p.Port) {
						return netfilter.No, ""
					}
					return c.richAddrs(r, p)
				}})
		}
	}
	sorted := func(sel func(int) bool) []*RichRule {
		var rs []*RichRule
		for _, r := range z.RichRules {
			if sel(r.Priority) {
				rs = append(rs, r)
			}
		}
		slices.SortStableFunc(rs, func(a, b *RichRule) int { return a.Priority - b.Priority })
		return rs
	}
	addRich := func(rs []*RichRule, part Part, actions ...string) {
		for _, r := range rs {
			if !slices.Contains(actions, r.Action) || r.Element == "forward-port" {
				continue
			}
			out = append(out, c.richCheck(r, part, p))
		}
	}
	addRich(sorted(func(pr int) bool { return pr < 0 }), PartPre, "accept", "reject", "drop")
	addRich(sorted(func(pr int) bool { return pr == 0 }), PartDeny, "reject", "drop")
	for _, name := range z.Services {
		name := name
		out = append(out, check{entry: Entry{Kind: "service", Text: "service " + name + c.servicePorts(name), Part: PartAllow},
			verdict: netfilter.Accept, match: func() (netfilter.Tri, string) { return c.serviceMatch(name, p) }})
	}
	for _, pt := range z.Ports {
		if pt.Proto == p.Proto && pt.Ports.Contains(p.Port) {
			out = append(out, check{entry: Entry{Kind: "port", Text: "port " + pt.String(), Part: PartAllow, Line: pt.Line}, match: yes, verdict: netfilter.Accept})
		}
	}
	for _, pr := range z.Protocols {
		if protoIs(pr, p.Proto) {
			out = append(out, check{entry: Entry{Kind: "protocol", Text: "protocol " + pr, Part: PartAllow}, match: yes, verdict: netfilter.Accept})
		}
	}
	for _, sp := range z.SourcePorts {
		if sp.Proto == p.Proto {
			sp := sp
			out = append(out, check{entry: Entry{Kind: "source-port", Text: "source-port " + sp.String(), Part: PartAllow, Line: sp.Line}, verdict: netfilter.Accept,
				match: func() (netfilter.Tri, string) {
					return netfilter.Maybe, fmt.Sprintf("zone %s accepts source port %s and the client's source port is not known", z.Name, sp)
				}})
		}
	}
	addRich(sorted(func(pr int) bool { return pr == 0 }), PartAllow, "accept")
	addRich(sorted(func(pr int) bool { return pr > 0 }), PartPost, "accept", "reject", "drop")
	target := check{entry: Entry{Kind: "target", Part: PartTarget}, match: yes}
	switch z.Target {
	case TargetAccept:
		target.verdict = netfilter.Accept
		target.entry.Text = "target ACCEPT → accept"
	case TargetDrop:
		target.verdict = netfilter.Drop
		target.entry.Text = "target DROP → drop"
	default:
		t := z.Target
		if t == "" {
			t = TargetDefault
		}
		target.verdict, target.reject = netfilter.Reject, c.defaultReject(fam, t)
		target.entry.Text = fmt.Sprintf("target %s → reject with %s", t, c.defaultRejectText(fam, t))
	}
	return append(out, target)
}

// defaultReject is the canonical reject type of a zone target. The nftables backend
// rejects with icmpx admin-prohibited for both default and %%REJECT%%; the iptables backend
// ends a default zone with a plain REJECT (port-unreachable) and %%REJECT%% with
// icmp-host-prohibited / icmp6-adm-prohibited (firewalld 1.3 ipXtables.py).
func (c *Config) defaultReject(fam, target string) string {
	if c.Backend == "iptables" {
		switch {
		case target == TargetReject && fam == "ipv6":
			return "icmpv6 admin-prohibited"
		case target == TargetReject:
			return "icmp host-prohibited"
		case fam == "ipv6":
			return "icmpv6 port-unreachable"
		}
		return "icmp port-unreachable"
	}
	return "icmpx admin-prohibited"
}

func (c *Config) defaultRejectText(fam, target string) string {
	if c.Backend == "iptables" {
		switch {
		case target == TargetReject && fam == "ipv6":
			return "icmp6-adm-prohibited"
		case target == TargetReject:
			return "icmp-host-prohibited"
		}
		return "icmp-port-unreachable"
	}
	return "icmpx admin-prohibited"
}

func forwardFamily(to netip.Addr) string {
	if to.IsValid() && to.Is6() && !to.Is4In6() {
		return "ipv6"
	}
	return "ipv4"
}

func protoIs(name, proto string) bool {
	switch name {
	case proto:
		return true
	case "6":
		return proto == "tcp"
	case "17":
		return proto == "udp"
	}
	return false
}

func richEntry(r *RichRule, part Part) Entry {
	return Entry{Kind: "rich rule", Text: "rich rule '" + r.String() + "'", Part: part, Rule: r, Line: r.Line}
}

// richCheck is a rich rule with an accept, reject or drop action.
func (c *Config) richCheck(r *RichRule, part Part, p Packet) check {
	ck := check{entry: richEntry(r, part)}
	switch r.Action {
	case "accept":
		ck.verdict = netfilter.Accept
	case "drop":
		ck.verdict = netfilter.Drop
	case "reject":
		ck.verdict = netfilter.Reject
		ck.reject = richReject(r, p)
	}
	if r.Limit != "" {
		ck.cond = fmt.Sprintf("rich rule '%s' acts only while under limit %s", r, r.Limit)
	}
	ck.match = func() (netfilter.Tri, string) {
		if r.Family != "" && r.Family != p.family() {
			return netfilter.No, ""
		}
		t, why := c.richAddrs(r, p)
		if t == netfilter.No {
			return t, ""
		}
		e, ewhy := c.richElement(r, p)
		switch {
		case e == netfilter.No:
			return e, ""
		case e == netfilter.Maybe:
			return e, ewhy
		}
		return t, why
	}
	return ck
}

// richReject is the canonical reject type of a rich rule's reject.
func richReject(r *RichRule, p Packet) string {
	if r.RejectType == "" {
		switch r.Family {
		case "ipv4":
			return "icmp port-unreachable"
		case "ipv6":
			return "icmpv6 port-unreachable"
		}
		return "icmpx port-unreachable"
	}
	if canon, ok := netfilter.CanonicalIPTablesReject(netfilter.FamilyOf(p.Dst), r.RejectType); ok {
		return canon
	}
	return "icmpx admin-prohibited"
}

// richAddrs matches a rich rule's source and destination.
func (c *Config) richAddrs(r *RichRule, p Packet) (netfilter.Tri, string) {
	for _, side := range []struct {
		a    *Addr
		addr netip.Addr
		name string
	}{{r.Source, p.Src, "source"}, {r.Dest, p.Dst, "destination"}} {
		a := side.a
		if a == nil {
			continue
		}
		if !a.Address.IsValid() {
			what := "ipset " + a.IPSet
			if a.MAC != "" {
				what = "MAC " + a.MAC
			}
			return netfilter.Maybe, fmt.Sprintf("rich rule '%s' matches the %s by %s, which is not known here", r, side.name, what)
		}
		in := a.Address.Contains(side.addr.Unmap())
		if in == a.Invert {
			return netfilter.No, ""
		}
	}
	return netfilter.Yes, ""
}

// richElement matches a rich rule's element.
func (c *Config) richElement(r *RichRule, p Packet) (netfilter.Tri, string) {
	switch r.Element {
	case "":
		return netfilter.Yes, ""
	case "port":
		return netfilter.TriOf(r.Port.Proto == p.Proto && r.Port.Ports.Contains(p.Port)), ""
	case "protocol":
		return netfilter.TriOf(protoIs(r.Value, p.Proto)), ""
	case "service":
		return c.serviceMatch(r.Value, p)
	case "source-port":
		if r.Port.Proto != p.Proto {
			return netfilter.No, ""
		}
		return netfilter.Maybe, fmt.Sprintf("rich rule '%s' matches the client's source port, which is not known", r)
	}
	return netfilter.No, "" // icmp, masquerade, mss clamping: not the first packet of a TCP/UDP connection
}

// serviceMatch says whether a service covers the packet's protocol and port.
func (c *Config) serviceMatch(name string, p Packet) (netfilter.Tri, string) {
	ports, protos, dests, ok := c.expandService(name, 0)
	if !ok {
		return netfilter.Maybe, fmt.Sprintf("service %s is not defined in the configuration read", name)
	}
	if d, has := dests[p.family()]; has && !d.Contains(p.Dst.Unmap()) {
		return netfilter.No, ""
	}
	if len(dests) > 0 {
		if _, has := dests[p.family()]; !has {
			return netfilter.No, "" // a destination for the other family only
		}
	}
	for _, pr := range protos {
		if protoIs(pr, p.Proto) {
			return netfilter.Yes, ""
		}
	}
	for _, pt := range ports {
		if pt.Proto == p.Proto && pt.Ports.Contains(p.Port) {
			return netfilter.Yes, ""
		}
	}
	return netfilter.No, ""
}

// expandService is a service's ports and protocols with its includes; ok is false when it
// (or an include) is not defined.
func (c *Config) expandService(name string, depth int) (ports []Port, protos []string, dests map[string]netip.Prefix, ok bool) {
	s := c.Services[name]
	if s == nil || depth > 8 {
		return nil, nil, nil, false
	}
	ports, protos, dests = slices.Clone(s.Ports), slices.Clone(s.Protocols), s.Destinations
	for _, inc := range s.Includes {
		ip, ipr, _, iok := c.expandService(inc, depth+1)
		if !iok {
			return nil, nil, nil, false
		}
		ports, protos = append(ports, ip...), append(protos, ipr...)
	}
	return ports, protos, dests, true
}

// servicePorts is " (80/tcp)" for a defined service, empty otherwise.
func (c *Config) servicePorts(name string) string {
	ports, protos, _, ok := c.expandService(name, 0)
	if !ok {
		return ""
	}
	var s []string
	for _, p := range ports {
		s = append(s, p.String())
	}
	s = append(s, protos...)
	if len(s) == 0 {
		return ""
	}
	return " (" + strings.Join(s, ", ") + ")"
}

// Clone is a deep copy of the configuration's zones (services are shared), for trying a fix.
func (c *Config) Clone() *Config {
	out := *c
	out.Zones = make(map[string]*Zone, len(c.Zones))
	for n, z := range c.Zones {
		zc := *z
		zc.Sources = slices.Clone(z.Sources)
		zc.Ports = slices.Clone(z.Ports)
		zc.RichRules = slices.Clone(z.RichRules)
		out.Zones[n] = &zc
	}
	return &out
}

// sourcePrefixes are the prefixes the configuration tests source addresses against, of
// the family of bits (32 or 128): zone source bindings and rich rule sources.
func (c *Config) sourcePrefixes(bits int) []netip.Prefix {
	var out []netip.Prefix
	for _, z := range c.Zones {
		for _, s := range z.Sources {
			if p, err := report.ParsePrefixOrAddr(s); err == nil && p.Addr().BitLen() == bits {
				out = append(out, p)
			}
		}
		for _, r := range z.RichRules {
			if r.Source != nil && r.Source.Address.IsValid() && r.Source.Address.Addr().BitLen() == bits {
				out = append(out, r.Source.Address)
			}
		}
	}
	return out
}

func familyName(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ipv4"
	}
	return "ipv6"
}
