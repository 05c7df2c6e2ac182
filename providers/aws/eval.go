package aws

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	lstypes "github.com/aws/aws-sdk-go-v2/service/lightsail/types"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// ephemeral is the client port range AWS recommends a network ACL lets replies out to.
var ephemeral = report.PortRange{Lo: 1024, Hi: 65535}

// commonEphemeral are the ranges real clients pick source ports from: Linux (32768–60999)
// and Windows (49152–65535). An egress ACL that denies replies there breaks most clients;
// one that only denies part of 1024–32767 breaks some clients behind NAT.
var commonEphemeral = []report.PortRange{{Lo: 32768, Hi: 60999}, {Lo: 49152, Hi: 65535}}

// maxQuoted bounds the prefixes quoted in a step's AllowedFrom.
const maxQuoted = 16

// check is one evaluation question: may Source reach Dst on Proto/Port.
type check = providers.Check

// protoMatches reports whether an AWS protocol ("tcp", "6", "-1", "all", …) covers proto.
func protoMatches(rule, proto string) bool {
	switch strings.ToLower(strings.TrimSpace(rule)) {
	case "-1", "all":
		return true
	case "tcp", "6":
		return proto == "tcp"
	case "udp", "17":
		return proto == "udp"
	}
	return false
}

// allProtocols reports whether an AWS protocol value means every protocol and port.
func allProtocols(rule string) bool {
	r := strings.ToLower(strings.TrimSpace(rule))
	return r == "-1" || r == "all"
}

// portsOf reads an AWS from/to pair; nil or -1 means every port.
func portsOf(from, to *int32) report.PortRange {
	if from == nil || to == nil || *from < 0 || *to < 0 {
		return report.AllPorts
	}
	lo, hi := min(max(*from, 0), 65535), min(max(*to, 0), 65535)
	if hi < lo {
		return report.PortRange{}
	}
	return report.PortRange{Lo: uint16(lo), Hi: uint16(hi)}
}

func portText(p report.PortRange) string {
	if p == report.AllPorts {
		return "all ports"
	}
	return p.String()
}

// protoPorts reads "tcp 8282", "udp 1-65535" or "all traffic".
func protoPorts(proto string, p report.PortRange) string {
	if proto == "all" {
		return "all traffic"
	}
	return proto + " " + portText(p)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// covered reports whether the merged ranges hold every address of want.
func covered(have []report.AddrRange, want report.AddrRange) bool {
	return len(want.Subtract(have)) == 0
}

// ---- security groups ----

// sgRule is one ingress permission of one group, flattened for matching.
type sgRule struct {
	group, groupName string
	index            int
	text             string
	proto            string
	ports            report.PortRange
	ranges           []report.AddrRange
	refs             []string // referenced groups: match the private addresses of their members only
	unknownPL        []string // prefix lists whose entries could not be read
}

// flattenSG turns the groups' ingress permissions into rules; lists maps prefix-list IDs to
// their CIDRs (a missing list is unknown).
func flattenSG(groups []ec2types.SecurityGroup, lists map[string][]netip.Prefix) []sgRule {
	var out []sgRule
	for _, g := range groups {
		for i, p := range g.IpPermissions {
			r := sgRule{group: deref(g.GroupId), groupName: deref(g.GroupName), index: i + 1,
				proto: deref(p.IpProtocol), ports: portsOf(p.FromPort, p.ToPort)}
			if allProtocols(r.proto) || !(protoMatches(r.proto, "tcp") || protoMatches(r.proto, "udp")) {
				r.ports = report.AllPorts
			}
			var srcs []string
			for _, c := range p.IpRanges {
				if pf, err := report.ParsePrefixOrAddr(deref(c.CidrIp)); err == nil {
					r.ranges = append(r.ranges, report.RangeOf(pf))
					srcs = append(srcs, pf.String())
				}
			}
			for _, c := range p.Ipv6Ranges {
				if pf, err := report.ParsePrefixOrAddr(deref(c.CidrIpv6)); err == nil {
					r.ranges = append(r.ranges, report.RangeOf(pf))
					srcs = append(srcs, pf.String())
				}
			}
			for _, pl := range p.PrefixListIds {
				id := deref(pl.PrefixListId)
				cidrs, ok := lists[id]
				if !ok {
					r.unknownPL = append(r.unknownPL, id)
				}
				for _, c := range cidrs {
					r.ranges = append(r.ranges, report.RangeOf(c))
				}
				srcs = append(srcs, id)
			}
			for _, ref := range p.UserIdGroupPairs {
				r.refs = append(r.refs, deref(ref.GroupId))
				srcs = append(srcs, deref(ref.GroupId))
			}
			proto := r.proto
			if allProtocols(proto) {
				proto = "all"
			}
			r.text = fmt.Sprintf("allow %s from %s", protoPorts(proto, r.ports), strings.Join(srcs, ", "))
			out = append(out, r)
		}
	}
	return out
}

// evalSecurityGroups decides the security-group layer for one destination: the union of
// the allows of every group on the network interface (there are no deny rules).
func evalSecurityGroups(c check, eni string, groupIDs []string, groups []ec2types.SecurityGroup, lists map[string][]netip.Prefix) report.Step {
	st := report.Step{Layer: "aws.security-group", Address: c.Dst.String()}
	got := map[string]bool{}
	for _, g := range groups {
		got[deref(g.GroupId)] = true
	}
	var missing []string
	for _, id := range groupIDs {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	src := report.RangeOf(c.Source)
	var allowed []report.AddrRange
	var decider *sgRule
	var contributing []string
	var unknown []string
	rules := flattenSG(groups, lists)
	for i := range rules {
		r := &rules[i]
		if !protoMatches(r.proto, c.Proto) || !r.ports.Contains(c.Port) {
			continue
		}
		var part []report.AddrRange
		for _, x := range r.ranges {
			if in, ok := x.Intersect(src); ok {
				part = append(part, in)
			}
		}
		if len(part) > 0 {
			allowed = append(allowed, part...)
			contributing = append(contributing, fmt.Sprintf("%s ingress #%d", r.group, r.index))
			if decider == nil || covered(report.MergeRanges(part), src) && !covered(report.MergeRanges(decider.ranges), src) {
				decider = r
			}
		}
		for _, pl := range r.unknownPL {
			unknown = append(unknown, fmt.Sprintf("prefix list %s in %s could not be read", pl, r.group))
		}
		if len(r.refs) > 0 && providers.IsPrivateSet(c.Source) {
			unknown = append(unknown, fmt.Sprintf("%s allows members of %s (their private addresses were not listed)", r.group, strings.Join(r.refs, ", ")))
		}
	}
	allowed = report.MergeRanges(allowed)
	names := strings.Join(groupIDs, ", ")
	ruleOf := func(r *sgRule) *report.Rule {
		origin := r.group
		if r.groupName != "" {
			origin += " (" + r.groupName + ")"
		}
		return &report.Rule{ID: fmt.Sprintf("%s ingress #%d", r.group, r.index), Text: r.text, Origin: origin}
	}
	what := fmt.Sprintf("%s/%d", c.Proto, c.Port)
	if len(missing) > 0 {
		unknown = append(unknown, "groups not returned: "+strings.Join(missing, ", "))
	}
	switch {
	case len(allowed) > 0:
		st.Decision = report.Allow
		st.Rule = ruleOf(decider)
		st.Detail = fmt.Sprintf("%s from %s allowed by %s (%s) on %s", what, c.Source, st.Rule.ID, decider.text, eni)
		if !covered(report.MergeRanges(decider.ranges), src) && len(contributing) > 1 {
			st.Detail = fmt.Sprintf("%s from %s allowed by the union of %s on %s (security groups add up)", what, c.Source, strings.Join(contributing, ", "), eni)
		}
		if !covered(allowed, src) {
			st.AllowedFrom = report.PrefixStrings(allowed)
			st.Detail = fmt.Sprintf("%s allowed only from %s (%s); no rule of %s allows the rest of %s", what, report.Summarize(st.AllowedFrom, maxQuoted), st.Rule.ID, names, c.Source)
		}
		if len(unknown) > 0 {
			st.Detail += "; " + strings.Join(unknown, "; ")
		}
	case len(unknown) > 0:
		st.Decision = report.Unknown
		st.Detail = fmt.Sprintf("no rule of %s allows %s from %s for sure: %s", names, what, c.Source, strings.Join(unknown, "; "))
	default:
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudSGNoAllow, report.Timeout
		st.Detail = fmt.Sprintf("no rule allows %s from %s in the security groups of %s (%s); security groups drop silently", what, c.Source, eni, names)
		if refs := refsOf(rules, c); len(refs) > 0 && !providers.IsPrivateSet(c.Source) {
			st.Detail += fmt.Sprintf("; the rules naming %s match those groups' private addresses only, not internet clients", strings.Join(refs, ", "))
		}
		if len(groupIDs) > 0 {
			st.Fix = []string{sgFix(c, groupIDs[0])}
		}
	}
	return st
}

// refsOf lists the referenced groups of the rules that match the protocol and port.
func refsOf(rules []sgRule, c check) []string {
	var out []string
	for _, r := range rules {
		if protoMatches(r.proto, c.Proto) && r.ports.Contains(c.Port) {
			for _, g := range r.refs {
				if !slices.Contains(out, g) {
					out = append(out, g)
				}
			}
		}
	}
	return out
}

func sgFix(c check, group string) string {
	if c.Source.Addr().Is6() {
		return fmt.Sprintf("aws ec2 authorize-security-group-ingress --region %s --group-id %s --ip-permissions 'IpProtocol=%s,FromPort=%d,ToPort=%d,Ipv6Ranges=[{CidrIpv6=%s}]'",
			c.Region, group, c.Proto, c.Port, c.Port, c.Source)
	}
	return fmt.Sprintf("aws ec2 authorize-security-group-ingress --region %s --group-id %s --protocol %s --port %d --cidr %s",
		c.Region, group, c.Proto, c.Port, c.Source)
}

// ---- network ACLs ----

// aclEntry is one network ACL entry of one direction and family.
type aclEntry struct {
	num   int32
	allow bool
	proto string
	rng   report.AddrRange
	ports report.PortRange
	text  string
}

// aclEntries returns the entries of one direction for the family of fam, by rule number.
func aclEntries(acl ec2types.NetworkAcl, egress bool, fam netip.Addr) []aclEntry {
	var out []aclEntry
	for _, e := range acl.Entries {
		if deref(e.Egress) != egress {
			continue
		}
		cidr := deref(e.CidrBlock)
		if fam.Is6() {
			cidr = deref(e.Ipv6CidrBlock)
		}
		if cidr == "" {
			continue
		}
		pf, err := report.ParsePrefixOrAddr(cidr)
		if err != nil || pf.Addr().BitLen() != fam.BitLen() {
			continue
		}
		x := aclEntry{num: deref(e.RuleNumber), allow: e.RuleAction == ec2types.RuleActionAllow,
			proto: deref(e.Protocol), rng: report.RangeOf(pf), ports: report.AllPorts}
		if e.PortRange != nil && !allProtocols(x.proto) {
			x.ports = portsOf(e.PortRange.From, e.PortRange.To)
		}
		num := strconv.Itoa(int(x.num))
		if x.num >= 32767 {
			num = "*"
		}
		act, dir, proto := "deny", "from", x.proto
		if x.allow {
			act = "allow"
		}
		if egress {
			dir = "to"
		}
		switch {
		case allProtocols(proto):
			proto = "all"
		case proto == "6":
			proto = "tcp"
		case proto == "17":
			proto = "udp"
		}
		x.text = fmt.Sprintf("%s %s %s %s %s", num, act, protoPorts(proto, x.ports), dir, pf)
		out = append(out, x)
	}
	slices.SortStableFunc(out, func(a, b aclEntry) int { return int(a.num) - int(b.num) })
	return out
}

// box is a set of packets: source (or destination) addresses × ports.
type box struct {
	addrs report.AddrRange
	ports report.PortRange
}

// piece is a part of a box that one entry decided.
type piece struct {
	box
	entry *aclEntry
}

// walkACL applies the entries in order, first match wins, to every packet of b; what no
// entry matches is denied by the implicit rule (entry nil).
func walkACL(entries []aclEntry, proto string, b box) (allowed, denied []piece) {
	rest := []box{b}
	for i := range entries {
		e := &entries[i]
		if !protoMatches(e.proto, proto) || len(rest) == 0 {
			continue
		}
		var next []box
		for _, r := range rest {
			a, okA := r.addrs.Intersect(e.rng)
			p, okP := r.ports.Intersect(e.ports)
			if !okA || !okP {
				next = append(next, r)
				continue
			}
			hit := piece{box{a, p}, e}
			if e.allow {
				allowed = append(allowed, hit)
			} else {
				denied = append(denied, hit)
			}
			for _, out := range r.addrs.Subtract([]report.AddrRange{a}) {
				next = append(next, box{out, r.ports})
			}
			if p.Lo > r.ports.Lo {
				next = append(next, box{a, report.PortRange{Lo: r.ports.Lo, Hi: p.Lo - 1}})
			}
			if p.Hi < r.ports.Hi {
				next = append(next, box{a, report.PortRange{Lo: p.Hi + 1, Hi: r.ports.Hi}})
			}
		}
		rest = next
	}
	for _, r := range rest {
		denied = append(denied, piece{r, nil})
	}
	return allowed, denied
}

func aclRule(aclID string, e *aclEntry) *report.Rule {
	if e == nil {
		return &report.Rule{ID: aclID + "#implicit", Text: "no entry matches (denied)", Origin: aclID}
	}
	id := strconv.Itoa(int(e.num))
	if e.num >= 32767 {
		id = "*"
	}
	return &report.Rule{ID: aclID + "#" + id, Text: e.text, Origin: aclID}
}

// biggest is the piece covering the most addresses.
func biggest(ps []piece) piece {
	if len(ps) == 0 {
		return piece{}
	}
	best := ps[0]
	for _, p := range ps[1:] {
		if p.addrs.Size() > best.addrs.Size() {
			best = p
		}
	}
	return best
}

func addrsOf(ps []piece) []report.AddrRange {
	var out []report.AddrRange
	for _, p := range ps {
		out = append(out, p.addrs)
	}
	return report.MergeRanges(out)
}

// evalNetworkACL decides the subnet's network ACL: ingress for the first packet, then —
// the ACL is stateless — egress for the replies to the client's ephemeral ports.
func evalNetworkACL(c check, subnet string, acl ec2types.NetworkAcl) report.Step {
	aclID := deref(acl.NetworkAclId)
	st := report.Step{Layer: "aws.network-acl", Address: c.Dst.String()}
	what := fmt.Sprintf("%s/%d", c.Proto, c.Port)
	src := report.RangeOf(c.Source)
	in := aclEntries(acl, false, c.Dst)
	inAllowed, inDenied := walkACL(in, c.Proto, box{src, report.PortRange{Lo: c.Port, Hi: c.Port}})
	if len(inAllowed) == 0 {
		d := biggest(inDenied)
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		st.Rule = aclRule(aclID, d.entry)
		st.Detail = fmt.Sprintf("inbound %s from %s is denied by %s rule %s of subnet %s (rules apply lowest number first)", what, c.Source, aclID, st.Rule.Text, subnet)
		st.Fix = []string{aclFix(c, aclID, freeNumber(in, d.entry), false, report.PortRange{Lo: c.Port, Hi: c.Port})}
		if len(aclEntries(acl, true, c.Dst)) == 0 || !repliesAllowed(aclEntries(acl, true, c.Dst), c.Proto, src) {
			st.Fix = append(st.Fix, aclFix(c, aclID, freeNumber(aclEntries(acl, true, c.Dst), nil), true, ephemeral))
		}
		return st
	}
	inOK := addrsOf(inAllowed)
	inDecider := biggest(inAllowed)

	// Replies: egress to the allowed clients on their ephemeral ports.
	out := aclEntries(acl, true, c.Dst)
	var bad, partial []report.AddrRange
	var badEntry *aclEntry
	var badPorts, partPorts report.PortRange
	for _, r := range inOK {
		_, denied := walkACL(out, c.Proto, box{r, ephemeral})
		for _, d := range denied {
			common := slices.ContainsFunc(commonEphemeral, func(p report.PortRange) bool { _, ok := p.Intersect(d.ports); return ok })
			if common {
				bad = append(bad, d.addrs)
				if badEntry == nil {
					badEntry, badPorts = d.entry, d.ports
				}
			} else {
				partial = append(partial, d.addrs)
				partPorts = d.ports
			}
		}
	}
	bad = report.MergeRanges(bad)
	ok := inOK
	if len(bad) > 0 {
		var rest []report.AddrRange
		for _, r := range inOK {
			rest = append(rest, r.Subtract(bad)...)
		}
		ok = report.MergeRanges(rest)
	}
	if len(ok) == 0 {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		st.Rule = aclRule(aclID, badEntry)
		st.Detail = fmt.Sprintf("inbound %s is allowed by %s rule %s, but the ACL is stateless and replies to the client's ports %s are denied by egress rule %s", what, aclID, inDecider.entry.text, badPorts, st.Rule.Text)
		st.Fix = []string{aclFix(c, aclID, freeNumber(out, badEntry), true, ephemeral)}
		return st
	}
	st.Decision = report.Allow
	st.Rule = aclRule(aclID, inDecider.entry)
	st.Detail = fmt.Sprintf("inbound %s allowed by %s rule %s; replies to ports %s allowed", what, aclID, inDecider.entry.text, ephemeral)
	if !covered(ok, src) {
		st.AllowedFrom = report.PrefixStrings(ok)
		st.Detail = fmt.Sprintf("%s allowed (inbound and replies) only from %s by %s", what, report.Summarize(st.AllowedFrom, maxQuoted), aclID)
	}
	if len(partial) > 0 {
		st.Conditional = fmt.Sprintf("egress denies replies to client ports %s: clients behind NAT that use those ports cannot connect", partPorts)
	}
	return st
}

// repliesAllowed reports whether egress lets replies to all of src on the ephemeral ports out.
func repliesAllowed(out []aclEntry, proto string, src report.AddrRange) bool {
	_, denied := walkACL(out, proto, box{src, ephemeral})
	return len(denied) == 0
}

// freeNumber picks a rule number below the deciding entry that is not in use.
func freeNumber(entries []aclEntry, before *aclEntry) int32 {
	limit := int32(32767)
	if before != nil {
		limit = before.num
	}
	used := map[int32]bool{}
	for _, e := range entries {
		used[e.num] = true
	}
	for n := limit - 1; n >= 1; n-- {
		if !used[n] {
			return n
		}
	}
	return 1
}

func aclFix(c check, aclID string, num int32, egress bool, ports report.PortRange) string {
	dir := "--ingress"
	if egress {
		dir = "--egress"
	}
	cidr := "--cidr-block " + c.Source.String()
	if c.Source.Addr().Is6() {
		cidr = "--ipv6-cidr-block " + c.Source.String()
	}
	return fmt.Sprintf("aws ec2 create-network-acl-entry --region %s --network-acl-id %s %s --rule-number %d --protocol %s --port-range From=%d,To=%d %s --rule-action allow",
		c.Region, aclID, dir, num, c.Proto, ports.Lo, ports.Hi, cidr)
}

// ---- routes and public addresses ----

// routeView is what the route layer needs about one network interface.
type routeView struct {
	ENI, Subnet, VPC string
	// PublicIP is the public IPv4 / Elastic IP on the interface; empty means none.
	PublicIP string
	// DstPublic is true when the destination address is a public one (an association or an IPv6 address).
	DstPublic bool
	// Table is the subnet's route table; Main says it is the VPC's main table (no explicit association).
	Table *ec2types.RouteTable
	Main  bool
}

// pickRoute is the most specific route whose destination holds the whole source set.
func pickRoute(rt ec2types.RouteTable, src netip.Prefix) (ec2types.Route, netip.Prefix, bool) {
	var best ec2types.Route
	var bestP netip.Prefix
	found := false
	for _, r := range rt.Routes {
		d := deref(r.DestinationCidrBlock)
		if src.Addr().Is6() {
			d = deref(r.DestinationIpv6CidrBlock)
		}
		p, err := netip.ParsePrefix(d)
		if err != nil || p.Addr().BitLen() != src.Addr().BitLen() || p.Bits() > src.Bits() || !p.Contains(src.Addr()) {
			continue
		}
		if !found || p.Bits() > bestP.Bits() {
			best, bestP, found = r, p.Masked(), true
		}
	}
	return best, bestP, found
}

func routeTarget(r ec2types.Route) string {
	for _, s := range []*string{r.GatewayId, r.NatGatewayId, r.TransitGatewayId, r.VpcPeeringConnectionId,
		r.EgressOnlyInternetGatewayId, r.NetworkInterfaceId, r.InstanceId, r.LocalGatewayId, r.CarrierGatewayId} {
		if v := deref(s); v != "" {
			return v
		}
	}
	return "nothing"
}

// evalRoute decides whether replies can travel between the source set and the interface:
// a private destination from the internet never arrives; a public one needs a public
// address on the interface and a route for the source set to an internet gateway.
func evalRoute(c check, v routeView) report.Step {
	st := report.Step{Layer: "aws.route", Address: c.Dst.String()}
	internet := !providers.IsPrivateSet(c.Source)
	if !v.DstPublic && internet {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CausePrivateAddress, report.Timeout
		st.Detail = fmt.Sprintf("%s is the private address of %s in %s; the internet does not route to it", c.Dst, v.ENI, v.VPC)
		if v.PublicIP != "" {
			st.Detail += fmt.Sprintf(": connect to its public address %s instead", v.PublicIP)
		} else {
			st.Detail += ": the interface has no public IPv4 address either"
			st.Fix = eipFix(c, v)
		}
		return st
	}
	if v.Table == nil {
		st.Decision = report.Unknown
		st.Detail = fmt.Sprintf("no route table found for subnet %s (nor a main table for %s)", v.Subnet, v.VPC)
		return st
	}
	rtID := deref(v.Table.RouteTableId)
	origin := rtID + " (associated with " + v.Subnet + ")"
	if v.Main {
		origin = rtID + " (main table of " + v.VPC + ", " + v.Subnet + " has no explicit association)"
	}
	r, dst, ok := pickRoute(*v.Table, c.Source)
	if !ok {
		st.Decision = report.Drop
		st.Cause, st.Symptom = report.CauseNoPublicPath, report.Timeout
		if !internet {
			st.Decision, st.Cause, st.Symptom = report.Unknown, "", ""
			st.Detail = fmt.Sprintf("no route in %s covers all of %s; the path from there is not checked", origin, c.Source)
			return st
		}
		st.Detail = fmt.Sprintf("%s has no route for %s, so replies never reach the internet (no route to an internet gateway)", origin, c.Source)
		st.Fix = routeFix(c, v, rtID)
		return st
	}
	target := routeTarget(r)
	st.Rule = &report.Rule{ID: rtID, Text: fmt.Sprintf("%s → %s (%s)", dst, target, r.State), Origin: origin}
	switch {
	case !internet:
		st.Decision = report.Allow
		st.Detail = fmt.Sprintf("replies to %s go to %s via %s; the path beyond is not checked", c.Source, target, origin)
	case r.State == ec2types.RouteStateBlackhole:
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseNoPublicPath, report.Timeout
		st.Detail = fmt.Sprintf("the route %s → %s in %s is a blackhole (its gateway is gone)", dst, target, origin)
		st.Fix = routeFix(c, v, rtID)
	case !strings.HasPrefix(target, "igw-"):
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseNoPublicPath, report.Timeout
		st.Detail = fmt.Sprintf("replies to %s go to %s, not to an internet gateway (%s): the subnet is private", c.Source, target, origin)
		st.Fix = routeFix(c, v, rtID)
	case c.Dst.Is4() && v.PublicIP == "":
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseNoPublicPath, report.Timeout
		st.Detail = fmt.Sprintf("%s has no public IPv4 or Elastic IP address", v.ENI)
		st.Fix = eipFix(c, v)
	default:
		st.Decision = report.Allow
		pub := c.Dst.String()
		if v.PublicIP != "" && c.Dst.Is4() {
			pub = v.PublicIP
		}
		st.Detail = fmt.Sprintf("%s on %s is public, and %s routes %s to %s", pub, v.ENI, origin, dst, target)
	}
	return st
}

func eipFix(c check, v routeView) []string {
	return []string{
		fmt.Sprintf("aws ec2 allocate-address --region %s --domain vpc", c.Region),
		fmt.Sprintf("aws ec2 associate-address --region %s --network-interface-id %s --allocation-id ALLOCATION_ID", c.Region, v.ENI),
	}
}

func routeFix(c check, v routeView, rtID string) []string {
	dst := "--destination-cidr-block 0.0.0.0/0"
	if c.Source.Addr().Is6() {
		dst = "--destination-ipv6-cidr-block ::/0"
	}
	return []string{
		fmt.Sprintf("aws ec2 describe-internet-gateways --region %s --filters Name=attachment.vpc-id,Values=%s", c.Region, v.VPC),
		fmt.Sprintf("aws ec2 replace-route --region %s --route-table-id %s %s --gateway-id IGW_ID  # or create-route when the route does not exist", c.Region, rtID, dst),
	}
}

// ---- Lightsail ----

// evalLightsail decides a Lightsail instance's firewall: the union of its open port entries;
// IPv4 sources match cidrs, IPv6 sources match ipv6Cidrs only.
func evalLightsail(c check, name string, ports []lstypes.InstancePortState) report.Step {
	st := report.Step{Layer: "aws.lightsail-firewall", Address: c.Dst.String()}
	src := report.RangeOf(c.Source)
	what := fmt.Sprintf("%s/%d", c.Proto, c.Port)
	var allowed []report.AddrRange
	var decider *report.Rule
	var v4Only []string
	for i, p := range ports {
		if p.State != lstypes.PortStateOpen || !protoMatches(string(p.Protocol), c.Proto) {
			continue
		}
		pr := report.PortRange{Lo: uint16(min(max(p.FromPort, 0), 65535)), Hi: uint16(min(max(p.ToPort, 0), 65535))}
		if p.Protocol == lstypes.NetworkProtocolAll {
			pr = report.AllPorts
		}
		if !pr.Contains(c.Port) {
			continue
		}
		cidrs := p.Cidrs
		if c.Source.Addr().Is6() {
			cidrs = p.Ipv6Cidrs
		}
		text := fmt.Sprintf("%s %s open to %s", p.Protocol, portText(pr), strings.Join(append(slices.Clone(p.Cidrs), p.Ipv6Cidrs...), ", "))
		if len(p.CidrListAliases) > 0 {
			text += " + " + strings.Join(p.CidrListAliases, ", ")
		}
		if c.Source.Addr().Is6() && len(p.Ipv6Cidrs) == 0 && len(p.Cidrs) > 0 {
			v4Only = append(v4Only, text)
		}
		var part []report.AddrRange
		for _, s := range cidrs {
			pf, err := report.ParsePrefixOrAddr(s)
			if err != nil {
				continue
			}
			if in, ok := report.RangeOf(pf).Intersect(src); ok {
				part = append(part, in)
			}
		}
		if len(part) > 0 {
			allowed = append(allowed, part...)
			if decider == nil || covered(report.MergeRanges(part), src) {
				decider = &report.Rule{ID: fmt.Sprintf("%s port #%d", name, i+1), Text: text, Origin: "lightsail:" + name}
			}
		}
	}
	allowed = report.MergeRanges(allowed)
	switch {
	case len(allowed) > 0:
		st.Decision, st.Rule = report.Allow, decider
		st.Detail = fmt.Sprintf("%s from %s allowed by the Lightsail firewall of %s (%s)", what, c.Source, name, decider.Text)
		if !covered(allowed, src) {
			st.AllowedFrom = report.PrefixStrings(allowed)
			st.Detail = fmt.Sprintf("%s allowed only from %s by the Lightsail firewall of %s", what, report.Summarize(st.AllowedFrom, maxQuoted), name)
		}
	default:
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseLightweightFirewall, report.Timeout
		st.Detail = fmt.Sprintf("no rule of the Lightsail firewall of %s opens %s to %s", name, what, c.Source)
		if len(v4Only) > 0 {
			st.Detail += fmt.Sprintf(" (%s allows IPv4 sources only; IPv6 needs ipv6Cidrs)", strings.Join(v4Only, "; "))
		}
		cidr := "cidrs=" + c.Source.String()
		if c.Source.Addr().Is6() {
			cidr = "ipv6Cidrs=" + c.Source.String()
		}
		st.Fix = []string{fmt.Sprintf("aws lightsail open-instance-public-ports --region %s --instance-name %s --port-info fromPort=%d,toPort=%d,protocol=%s,%s",
			c.Region, name, c.Port, c.Port, c.Proto, cidr)}
	}
	return st
}
