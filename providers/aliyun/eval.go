package aliyun

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	swas "github.com/aliyun/alibaba-cloud-sdk-go/services/swas-open"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// maxQuoted bounds the prefixes quoted in a step's AllowedFrom.
const maxQuoted = 16

// ephemeral is the client port range replies must be let out to through a stateless ACL.
var ephemeral = report.PortRange{Lo: 1024, Hi: 65535}

// commonEphemeral are the ranges real clients pick source ports from: Linux (32768–60999)
// and Windows (49152–65535); denying replies there breaks most clients.
var commonEphemeral = []report.PortRange{{Lo: 32768, Hi: 60999}, {Lo: 49152, Hi: 65535}}

// check is one evaluation question: may Source reach Dst on Proto/Port.
type check = providers.Check

// parsePorts reads an Alibaba Cloud port range: "22/22", "1/65535", "-1/-1" (every port)
// or, in SWAS firewall rules, a single port "3306".
func parsePorts(s string) (report.PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "-1/-1" || s == "-1" {
		return report.AllPorts, nil
	}
	if s == "" {
		return report.PortRange{}, fmt.Errorf("empty port range")
	}
	return report.ParsePortRange(s, "/")
}

// protoCovers reports whether a rule's protocol ("TCP", "udp", "ALL", "TCP+UDP", …) covers proto.
// ok is false for a protocol name it does not know.
func protoCovers(rule, proto string) (covers, ok bool) {
	switch strings.ToLower(strings.TrimSpace(rule)) {
	case "all", "-1":
		return true, true
	case "tcp", "6":
		return proto == "tcp", true
	case "udp", "17":
		return proto == "udp", true
	case "tcp+udp":
		return proto == "tcp" || proto == "udp", true
	case "icmp", "icmpv6", "gre", "1", "58", "47":
		return false, true
	}
	return false, false
}

// covered reports whether the ranges hold every address of want.
func covered(have []report.AddrRange, want report.AddrRange) bool {
	return len(want.Subtract(report.MergeRanges(have))) == 0
}

// ---- ordered rules with uncertain matches ----

// ordRule is one rule of an ordered list, already known to be about the protocol and port asked.
type ordRule struct {
	id, origin, text string
	accept           bool
	priority         int
	group            string
	srcs             []report.AddrRange
	// uncertain, when set, says why the rule may or may not match (a port list, a 5-tuple field).
	uncertain string
}

// verdict is what an ordered list says about one part of the source set.
type verdict int

const (
	vAllow verdict = iota
	vDrop
	vNoMatch
	vUnknown
)

// outcome is the verdict for one part of the source set and the rule that gave it (-1: none).
type outcome struct {
	rng  report.AddrRange
	v    verdict
	rule int
}

func (v verdict) blocks() bool { return v == vDrop || v == vNoMatch }

// maxUncertain bounds how many uncertain rules are looked through for one part.
const maxUncertain = 8

// decide walks the rules in order (first match wins) for every part of set. A part whose
// first match is uncertain takes the verdict the rest of the list gives when both agree
// (allow/allow, or blocked/blocked); otherwise it is unknown, naming the uncertain rule.
func decide(set report.AddrRange, rules []ordRule) []outcome {
	return decideFrom(set, rules, 0, 0)
}

func decideFrom(set report.AddrRange, rules []ordRule, from, depth int) []outcome {
	srcs := make([][]report.AddrRange, 0, len(rules)-from)
	for _, r := range rules[from:] {
		srcs = append(srcs, r.srcs)
	}
	var out []outcome
	for _, part := range report.FirstMatch(set, srcs) {
		if part.Rule < 0 {
			out = append(out, outcome{part.Range, vNoMatch, -1})
			continue
		}
		i := from + part.Rule
		r := rules[i]
		v := vDrop
		if r.accept {
			v = vAllow
		}
		if r.uncertain == "" {
			out = append(out, outcome{part.Range, v, i})
			continue
		}
		if depth >= maxUncertain {
			out = append(out, outcome{part.Range, vUnknown, i})
			continue
		}
		for _, o := range decideFrom(part.Range, rules, i+1, depth+1) {
			switch {
			case o.v == vAllow && v == vAllow, o.v.blocks() && v == vDrop:
				out = append(out, o)
			default:
				if o.v != vUnknown {
					o.rule = i
				}
				o.v = vUnknown
				out = append(out, o)
			}
		}
	}
	return out
}

// biggest is the outcome covering the most addresses among those keep selects; ok is false when none.
func biggest(os []outcome, keep func(outcome) bool) (outcome, bool) {
	var best outcome
	found := false
	for _, o := range os {
		if keep(o) && (!found || o.rng.Size() > best.rng.Size()) {
			best, found = o, true
		}
	}
	return best, found
}

func rangesOf(os []outcome, keep func(outcome) bool) []report.AddrRange {
	var out []report.AddrRange
	for _, o := range os {
		if keep(o) {
			out = append(out, o.rng)
		}
	}
	return report.MergeRanges(out)
}

// ---- security groups ----

// sgData is what was read about one security group: its ingress rules of the NicType asked.
type sgData struct {
	ID, Name string
	// Type is "normal" (basic) or "enterprise"; empty means not read.
	Type string
	// InnerAccessPolicy is "Accept" or "Drop" (basic groups); empty means not reported.
	InnerAccessPolicy string
	Rules             []ecs.Permission
}

// sgContext is what the rules need beyond themselves.
type sgContext struct {
	// ENI is the network interface the groups belong to.
	ENI string
	// Classic is true for a classic-network instance; NicType then picks the rules.
	Classic bool
	// NicType is "internet" (public address of a classic instance) or "intranet".
	NicType string
	// DstPrivate is true when the destination is a private address: only then can the source
	// be a member of a security group (group sources and InnerAccessPolicy apply).
	DstPrivate bool
	// Members holds the private addresses of each group's members that were read; a group
	// that is not a key was not read.
	Members map[string][]report.AddrRange
	// MemberErrs explains, per group, why its members could not be read.
	MemberErrs map[string]string
	// PrefixLists holds the CIDRs of each prefix list that was read.
	PrefixLists map[string][]netip.Prefix
	// PrefixErrs explains, per prefix list, why it could not be read.
	PrefixErrs map[string]string
}

func isDrop(policy string) bool { return strings.EqualFold(strings.TrimSpace(policy), "drop") }

// portSet is "-1/-1" or empty (no source-port condition), or a range covering every port.
func portSetIsAll(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || s == "-1/-1" {
		return true
	}
	p, err := parsePorts(s)
	return err == nil && p.Lo <= 1 && p.Hi == 65535
}

func permText(p ecs.Permission, prio int) string {
	pol := "accept"
	if isDrop(p.Policy) {
		pol = "drop"
	}
	src := strings.Join(slices.DeleteFunc([]string{p.SourceCidrIp, p.Ipv6SourceCidrIp, p.SourcePrefixListId, p.SourceGroupId}, func(s string) bool { return s == "" }), ", ")
	if src == "" {
		src = "(no source)"
	}
	t := fmt.Sprintf("priority %d %s %s %s from %s", prio, pol, strings.ToLower(p.IpProtocol), p.PortRange, src)
	if p.SourcePortRange != "" && !portSetIsAll(p.SourcePortRange) {
		t += " source ports " + p.SourcePortRange
	}
	if d := strings.Join(slices.DeleteFunc([]string{p.DestCidrIp, p.Ipv6DestCidrIp, p.DestPrefixListId, p.DestGroupId}, func(s string) bool { return s == "" }), ", "); d != "" {
		t += " to " + d
	}
	return t
}

// sgRules turns the groups' ingress permissions into an ordered list for c: rules of other
// protocols, ports, NicTypes or destinations are left out, the rest is sorted by priority
// (1 first), drop before accept on equal priority, group order then list order after that.
// Before them stand the InnerAccessPolicy Accept exceptions, which override every rule.
func sgRules(c check, groups []sgData, sc sgContext) []ordRule {
	src := report.RangeOf(c.Source)
	var out []ordRule
	for _, g := range groups {
		origin := g.ID
		if g.Name != "" {
			origin += " (" + g.Name + ")"
		}
		for i, p := range g.Rules {
			if d := strings.ToLower(p.Direction); d != "" && d != "ingress" {
				continue
			}
			if sc.Classic && !strings.EqualFold(p.NicType, sc.NicType) && p.NicType != "" {
				continue
			}
			covers, known := protoCovers(p.IpProtocol, c.Proto)
			prio, err := strconv.Atoi(strings.TrimSpace(p.Priority))
			r := ordRule{id: p.SecurityGroupRuleId, origin: origin, group: g.ID, accept: !isDrop(p.Policy), priority: prio}
			if r.id == "" {
				r.id = fmt.Sprintf("%s ingress #%d", g.ID, i+1)
			}
			if strings.TrimSpace(p.Priority) == "" {
				r.priority, err = 1, nil
			}
			r.text = permText(p, r.priority)
			var why []string
			if err != nil || r.priority < 1 {
				r.priority = 1
				why = append(why, fmt.Sprintf("priority %q cannot be read", p.Priority))
			}
			if pol := strings.ToLower(strings.TrimSpace(p.Policy)); pol != "" && pol != "accept" && pol != "drop" {
				why = append(why, fmt.Sprintf("policy %q is not accept or drop", p.Policy))
			}
			switch {
			case !known:
				why = append(why, fmt.Sprintf("protocol %q is not known", p.IpProtocol))
			case !covers:
				continue
			case strings.EqualFold(strings.TrimSpace(p.IpProtocol), "all"):
			default:
				pr, err := parsePorts(p.PortRange)
				if err != nil {
					why = append(why, fmt.Sprintf("port range %q cannot be read (a port list?)", p.PortRange))
				} else if !pr.Contains(c.Port) {
					continue
				}
			}
			if !portSetIsAll(p.SourcePortRange) {
				why = append(why, fmt.Sprintf("it matches client source ports %s only", p.SourcePortRange))
			}
			dstRef := false
			for _, d := range []string{p.DestCidrIp, p.Ipv6DestCidrIp} {
				if d == "" {
					continue
				}
				dstRef = true
				pf, err := report.ParsePrefixOrAddr(d)
				if err != nil {
					why = append(why, fmt.Sprintf("destination %q cannot be read", d))
				} else if pf.Contains(c.Dst) {
					dstRef = false
					break
				}
			}
			if dstRef && len(why) == 0 {
				continue // its destination is another address of the interface
			}
			if p.DestPrefixListId != "" || p.DestGroupId != "" {
				why = append(why, "it names a destination prefix list or group")
			}
			// sources
			for _, s := range []string{p.SourceCidrIp, p.Ipv6SourceCidrIp} {
				if s == "" {
					continue
				}
				pf, err := report.ParsePrefixOrAddr(s)
				if err != nil {
					why = append(why, fmt.Sprintf("source %q cannot be read", s))
					continue
				}
				r.srcs = append(r.srcs, report.RangeOf(pf))
			}
			if id := p.SourcePrefixListId; id != "" {
				if cidrs, ok := sc.PrefixLists[id]; ok {
					for _, pf := range cidrs {
						r.srcs = append(r.srcs, report.RangeOf(pf))
					}
				} else {
					why = append(why, fmt.Sprintf("prefix list %s could not be read (%s)", id, sc.PrefixErrs[id]))
					r.srcs = append(r.srcs, src)
				}
			}
			if id := p.SourceGroupId; id != "" && sc.DstPrivate {
				if m, ok := sc.Members[id]; ok {
					r.srcs = append(r.srcs, m...)
				} else {
					why = append(why, fmt.Sprintf("the members of %s could not be read (%s)", id, sc.MemberErrs[id]))
					for _, pp := range providers.PrivateRanges() {
						r.srcs = append(r.srcs, report.RangeOf(pp))
					}
				}
			}
			if len(r.srcs) == 0 && p.SourceGroupId == "" {
				why = append(why, "it names no source")
				r.srcs = append(r.srcs, src)
			}
			r.uncertain = strings.Join(why, "; ")
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b ordRule) int {
		if a.priority != b.priority {
			return a.priority - b.priority
		}
		if a.accept != b.accept {
			if a.accept {
				return 1
			}
			return -1
		}
		return 0
	})
	if !sc.DstPrivate {
		return out
	}
	var inner []ordRule
	for _, g := range groups {
		if g.Type == "enterprise" || !strings.EqualFold(g.InnerAccessPolicy, "accept") {
			continue
		}
		r := ordRule{id: g.ID + " InnerAccessPolicy", origin: g.ID, group: g.ID, accept: true,
			text: "InnerAccessPolicy Accept: members of " + g.ID + " reach each other over the private network"}
		if m, ok := sc.Members[g.ID]; ok {
			r.srcs = m
		} else {
			r.uncertain = fmt.Sprintf("the members of %s could not be read (%s)", g.ID, sc.MemberErrs[g.ID])
			for _, pp := range providers.PrivateRanges() {
				r.srcs = append(r.srcs, report.RangeOf(pp))
			}
		}
		inner = append(inner, r)
	}
	return append(inner, out...)
}

// evalSecurityGroups decides the security-group layer for one destination: the merged,
// priority-ordered ingress rules of every group on the interface, first match wins, no
// match drops.
func evalSecurityGroups(c check, groupIDs []string, groups []sgData, sc sgContext) report.Step {
	st := report.Step{Layer: "aliyun.security-group", Address: c.Dst.String()}
	src := report.RangeOf(c.Source)
	rules := sgRules(c, groups, sc)
	outs := decide(src, rules)
	names := strings.Join(groupIDs, ", ")
	kind := "basic"
	for _, g := range groups {
		if g.Type == "enterprise" {
			kind = "enterprise"
		}
	}
	ruleOf := func(i int) *report.Rule {
		if i < 0 {
			return nil
		}
		return &report.Rule{ID: rules[i].id, Text: rules[i].text, Origin: rules[i].origin}
	}
	isAllow := func(o outcome) bool { return o.v == vAllow }
	isUnknown := func(o outcome) bool { return o.v == vUnknown }
	var unknownWhy []string
	for _, o := range outs {
		if o.v == vUnknown && o.rule >= 0 {
			w := fmt.Sprintf("%s (%s) may or may not apply: %s", rules[o.rule].id, rules[o.rule].text, rules[o.rule].uncertain)
			if !slices.Contains(unknownWhy, w) {
				unknownWhy = append(unknownWhy, w)
			}
		}
	}
	allowed := rangesOf(outs, isAllow)
	switch {
	case len(allowed) > 0:
		best, _ := biggest(outs, isAllow)
		st.Decision, st.Rule = report.Allow, ruleOf(best.rule)
		st.Detail = fmt.Sprintf("%s from %s allowed by %s (%s) in the merged rules of %s on %s", c.What(), c.Source, st.Rule.ID, st.Rule.Text, names, sc.ENI)
		if !covered(allowed, src) {
			st.AllowedFrom = report.PrefixStrings(allowed)
			st.Detail = fmt.Sprintf("%s allowed only from %s (%s); the rest of %s is not allowed by the rules of %s", c.What(), report.Summarize(st.AllowedFrom, maxQuoted), st.Rule.ID, c.Source, names)
		}
		if len(unknownWhy) > 0 {
			st.Detail += "; undecided for part of the source set: " + strings.Join(unknownWhy, "; ")
		}
		return st
	case len(rangesOf(outs, isUnknown)) > 0:
		st.Decision = report.Unknown
		st.Detail = fmt.Sprintf("%s from %s cannot be decided in the security groups of %s (%s): %s", c.What(), c.Source, sc.ENI, names, strings.Join(unknownWhy, "; "))
		return st
	}
	st.Symptom = report.Timeout
	st.Decision = report.Drop
	best, _ := biggest(outs, func(o outcome) bool { return o.v == vDrop })
	denied := best.rule >= 0 && best.v == vDrop
	if !denied {
		best, _ = biggest(outs, func(outcome) bool { return true })
	}
	if denied {
		st.Cause, st.Rule = report.CauseCloudSGDeny, ruleOf(best.rule)
		st.Detail = fmt.Sprintf("%s from %s is dropped by %s (%s) of %s: it comes first in the merged rules of %s on %s (priority 1 first, drop before accept on equal priority)",
			c.What(), c.Source, st.Rule.ID, st.Rule.Text, rules[best.rule].origin, names, sc.ENI)
	} else {
		st.Cause = report.CauseCloudSGNoAllow
		st.Detail = fmt.Sprintf("no rule allows %s from %s in the %s security groups of %s (%s); unmatched traffic is dropped", c.What(), c.Source, kind, sc.ENI, names)
		if !sc.DstPrivate && slices.ContainsFunc(groups, func(g sgData) bool {
			return slices.ContainsFunc(g.Rules, func(p ecs.Permission) bool { return p.SourceGroupId != "" })
		}) {
			st.Detail += "; rules that name a security group as source match its members' private addresses only"
		}
	}
	group := ""
	if len(groupIDs) > 0 {
		group = groupIDs[0]
	}
	var fix []string
	for _, o := range outs {
		if o.v == vDrop && o.rule >= 0 && rules[o.rule].priority == 1 && rules[o.rule].uncertain == "" {
			r := rules[o.rule]
			line := fmt.Sprintf("aliyun ecs RevokeSecurityGroup --RegionId %s --SecurityGroupId %s --SecurityGroupRuleId.1 %s", c.Region, r.group, r.id)
			if !slices.Contains(fix, line) {
				fix = append(fix, line)
			}
		}
	}
	if denied {
		group = rules[best.rule].group
	}
	if group != "" {
		fix = append(fix, sgFix(c, group, sc), sgConsole(c, group))
	}
	st.Fix = fix
	return st
}

// sgFix is the aliyun CLI command that adds an accept rule of the highest priority.
func sgFix(c check, group string, sc sgContext) string {
	src := "--SourceCidrIp " + c.Source.String()
	if c.Source.Addr().Is6() {
		src = "--Ipv6SourceCidrIp " + c.Source.String()
	}
	nic := ""
	if sc.Classic {
		nic = " --NicType " + sc.NicType
	}
	return fmt.Sprintf("aliyun ecs AuthorizeSecurityGroup --RegionId %s --SecurityGroupId %s --IpProtocol %s --PortRange %d/%d %s --Priority 1%s",
		c.Region, group, c.Proto, c.Port, c.Port, src, nic)
}

func sgConsole(c check, group string) string {
	return fmt.Sprintf("# 控制台 → 云服务器 ECS → 网络与安全 → 安全组 → %s → 管理规则 → 入方向 → 手动添加: 授权策略 允许, 优先级 1, 协议 %s, 端口范围 %d/%d, 授权对象 %s",
		group, strings.ToUpper(c.Proto), c.Port, c.Port, c.Source)
}

// ---- vSwitch network ACL ----

// aclRule is one ACL entry of one direction, in evaluation order.
type aclRule struct {
	id, text   string
	accept     bool
	proto      string
	ports      report.PortRange
	rng        report.AddrRange
	custom     bool
	raw        map[string]string
	unreadable string
}

func ingressRules(acl vpc.NetworkAcl) []aclRule {
	var out []aclRule
	for i, e := range acl.IngressAclEntries.IngressAclEntry {
		out = append(out, newACLRule(i, e.NetworkAclEntryId, e.Policy, e.Protocol, e.Port, e.SourceCidrIp, e.EntryType, "from",
			map[string]string{"Policy": e.Policy, "Protocol": e.Protocol, "Port": e.Port, "SourceCidrIp": e.SourceCidrIp, "NetworkAclEntryName": e.NetworkAclEntryName}))
	}
	return out
}

func egressRules(acl vpc.NetworkAcl) []aclRule {
	var out []aclRule
	for i, e := range acl.EgressAclEntries.EgressAclEntry {
		out = append(out, newACLRule(i, e.NetworkAclEntryId, e.Policy, e.Protocol, e.Port, e.DestinationCidrIp, e.EntryType, "to",
			map[string]string{"Policy": e.Policy, "Protocol": e.Protocol, "Port": e.Port, "DestinationCidrIp": e.DestinationCidrIp, "NetworkAclEntryName": e.NetworkAclEntryName}))
	}
	return out
}

func newACLRule(i int, id, policy, proto, port, cidr, typ, dir string, raw map[string]string) aclRule {
	r := aclRule{id: id, accept: !isDrop(policy), proto: proto, raw: raw,
		custom: typ == "" || strings.EqualFold(typ, "custom")}
	if r.id == "" {
		r.id = fmt.Sprintf("entry #%d", i+1)
	}
	pol := "accept"
	if !r.accept {
		pol = "drop"
	}
	r.text = fmt.Sprintf("#%d %s %s %s %s %s", i+1, pol, strings.ToLower(proto), port, dir, cidr)
	if strings.EqualFold(proto, "all") {
		r.ports = report.AllPorts
	} else if pr, err := parsePorts(port); err == nil {
		r.ports = pr
	} else {
		r.unreadable = fmt.Sprintf("port %q cannot be read", port)
	}
	if pf, err := report.ParsePrefixOrAddr(cidr); err == nil {
		r.rng = report.RangeOf(pf)
	} else {
		r.unreadable = fmt.Sprintf("address %q cannot be read", cidr)
	}
	return r
}

// aclOrdered keeps the entries about proto and every port of ports, in list order, as ordered rules.
func aclOrdered(rules []aclRule, proto string, ports report.PortRange) []ordRule {
	var out []ordRule
	for _, r := range rules {
		covers, known := protoCovers(r.proto, proto)
		if known && !covers {
			continue
		}
		o := ordRule{id: r.id, text: r.text, accept: r.accept, srcs: []report.AddrRange{r.rng}}
		switch {
		case !known:
			o.uncertain = fmt.Sprintf("protocol %q is not known", r.proto)
		case r.unreadable != "":
			o.uncertain = r.unreadable
		default:
			in, ok := ports.Intersect(r.ports)
			if !ok {
				continue
			}
			if in != ports {
				o.uncertain = "it covers only part of the ports"
			}
		}
		if !r.rng.Valid() {
			continue
		}
		out = append(out, o)
	}
	return out
}

// portCuts splits ports where any entry's port range begins or ends, so every entry covers
// each piece wholly or not at all.
func portCuts(rules []aclRule, ports report.PortRange) []report.PortRange {
	cuts := []int{int(ports.Lo)}
	for _, r := range rules {
		for _, b := range []int{int(r.ports.Lo), int(r.ports.Hi) + 1} {
			if b > int(ports.Lo) && b <= int(ports.Hi) {
				cuts = append(cuts, b)
			}
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []report.PortRange
	for i, lo := range cuts {
		hi := int(ports.Hi)
		if i+1 < len(cuts) {
			hi = cuts[i+1] - 1
		}
		out = append(out, report.PortRange{Lo: uint16(lo), Hi: uint16(hi)})
	}
	return out
}

// evalNetworkACL decides the vSwitch's network ACL: ingress in list order for the first
// packet, then — the ACL is stateless — egress for replies to the client's ephemeral ports.
func evalNetworkACL(c check, vsw string, acl vpc.NetworkAcl) report.Step {
	st := report.Step{Layer: "aliyun.network-acl", Address: c.Dst.String()}
	aclID := acl.NetworkAclId
	src := report.RangeOf(c.Source)
	inRules := ingressRules(acl)
	in := aclOrdered(inRules, c.Proto, report.PortRange{Lo: c.Port, Hi: c.Port})
	outs := decide(src, in)
	ruleOf := func(rs []ordRule, i int) *report.Rule {
		if i < 0 {
			return &report.Rule{ID: aclID + "#implicit", Text: "no entry matches (denied)", Origin: aclID}
		}
		return &report.Rule{ID: rs[i].id, Text: rs[i].text, Origin: aclID}
	}
	isAllow := func(o outcome) bool { return o.v == vAllow }
	inOK := rangesOf(outs, isAllow)
	if len(inOK) == 0 {
		if u, ok := biggest(outs, func(o outcome) bool { return o.v == vUnknown }); ok {
			st.Decision = report.Unknown
			st.Detail = fmt.Sprintf("inbound %s in %s of %s cannot be decided: %s (%s)", c.What(), aclID, vsw, in[u.rule].text, in[u.rule].uncertain)
			return st
		}
		d, _ := biggest(outs, func(outcome) bool { return true })
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		st.Rule = ruleOf(in, d.rule)
		st.Detail = fmt.Sprintf("inbound %s from %s is denied by %s rule %s of vSwitch %s (entries apply in list order, first match)", c.What(), c.Source, aclID, st.Rule.Text, vsw)
		st.Fix = aclFix(c, acl, false, report.PortRange{Lo: c.Port, Hi: c.Port})
		return st
	}
	inBest, _ := biggest(outs, isAllow)
	// replies: egress to the allowed clients on their ephemeral ports
	egRules := egressRules(acl)
	var bad, partial, undecided []report.AddrRange
	var badRule *report.Rule
	var badPorts, partPorts report.PortRange
	for _, seg := range portCuts(egRules, ephemeral) {
		eg := aclOrdered(egRules, c.Proto, seg)
		common := slices.ContainsFunc(commonEphemeral, func(p report.PortRange) bool { _, ok := p.Intersect(seg); return ok })
		for _, r := range inOK {
			for _, o := range decide(r, eg) {
				switch {
				case o.v == vUnknown:
					undecided = append(undecided, o.rng)
				case o.v.blocks() && common:
					bad = append(bad, o.rng)
					if badRule == nil {
						badRule, badPorts = ruleOf(eg, o.rule), seg
					}
				case o.v.blocks():
					partial = append(partial, o.rng)
					partPorts = seg
				}
			}
		}
	}
	ok := inOK
	if len(bad) > 0 {
		var rest []report.AddrRange
		for _, r := range inOK {
			rest = append(rest, r.Subtract(report.MergeRanges(bad))...)
		}
		ok = report.MergeRanges(rest)
	}
	inRule := ruleOf(in, inBest.rule)
	if len(ok) == 0 {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		st.Rule = badRule
		st.Detail = fmt.Sprintf("inbound %s is allowed by %s rule %s, but the ACL is stateless and replies to the client's ports %s are denied by egress rule %s", c.What(), aclID, inRule.Text, badPorts, badRule.Text)
		st.Fix = aclFix(c, acl, true, ephemeral)
		return st
	}
	st.Decision, st.Rule = report.Allow, inRule
	st.Detail = fmt.Sprintf("inbound %s allowed by %s rule %s of vSwitch %s; replies to ports %s allowed", c.What(), aclID, inRule.Text, vsw, ephemeral)
	if !covered(ok, src) {
		st.AllowedFrom = report.PrefixStrings(ok)
		st.Detail = fmt.Sprintf("%s allowed (inbound and replies) only from %s by %s of vSwitch %s", c.What(), report.Summarize(st.AllowedFrom, maxQuoted), aclID, vsw)
	}
	if len(undecided) > 0 {
		st.Detail += "; some egress entries cannot be read, replies to " + report.Summarize(report.PrefixStrings(report.MergeRanges(undecided)), maxQuoted) + " are undecided"
	}
	if len(partial) > 0 {
		st.Conditional = fmt.Sprintf("egress denies replies to client ports %s: clients behind NAT that use those ports cannot connect", partPorts)
	}
	return st
}

// aclFix is the aliyun CLI command that puts an accept entry first. UpdateNetworkAclEntries
// replaces the whole list of a direction, so the custom entries there are repeated after it.
func aclFix(c check, acl vpc.NetworkAcl, egress bool, ports report.PortRange) []string {
	dir, addrKey, rules := "Ingress", "SourceCidrIp", ingressRules(acl)
	if egress {
		dir, addrKey, rules = "Egress", "DestinationCidrIp", egressRules(acl)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "aliyun vpc UpdateNetworkAclEntries --RegionId %s --NetworkAclId %s --Update%sAclEntries true", c.Region, acl.NetworkAclId, dir)
	fmt.Fprintf(&b, " --%sAclEntries.1.Policy accept --%sAclEntries.1.Protocol %s --%sAclEntries.1.Port %d/%d --%sAclEntries.1.%s %s --%sAclEntries.1.NetworkAclEntryName portpath",
		dir, dir, c.Proto, dir, ports.Lo, ports.Hi, dir, addrKey, c.Source, dir)
	n := 2
	for _, r := range rules {
		if !r.custom {
			continue
		}
		for _, k := range []string{"Policy", "Protocol", "Port", addrKey, "NetworkAclEntryName"} {
			if v := r.raw[k]; v != "" {
				fmt.Fprintf(&b, " --%sAclEntries.%d.%s %s", dir, n, k, v)
			}
		}
		n++
	}
	console := fmt.Sprintf("# 控制台 → 专有网络 VPC → 网络ACL → %s → %s规则 → 管理%s规则: 在最前面添加 允许 %s %d/%d %s",
		acl.NetworkAclId, map[bool]string{false: "入方向", true: "出方向"}[egress], map[bool]string{false: "入方向", true: "出方向"}[egress],
		strings.ToUpper(c.Proto), ports.Lo, ports.Hi, c.Source)
	return []string{b.String(), console}
}

// ---- SWAS firewall ----

// evalSWAS decides a lightweight server's firewall: an allow-list (what no accept rule opens
// is closed). A drop entry that overlaps an accept entry leaves that part undecided, since
// no order between them is documented.
func evalSWAS(c check, inst swas.Instance, rules []swas.FirewallRule) report.Step {
	st := report.Step{Layer: "aliyun.swas-firewall", Address: c.Dst.String()}
	src := report.RangeOf(c.Source)
	var accepts, drops []ordRule
	var unreadable []string
	for i, r := range rules {
		covers, known := protoCovers(r.RuleProtocol, c.Proto)
		if !known || !covers {
			continue
		}
		pr, err := parsePorts(r.Port)
		if err != nil {
			unreadable = append(unreadable, fmt.Sprintf("rule %s port %q cannot be read", r.RuleId, r.Port))
			continue
		}
		if !pr.Contains(c.Port) {
			continue
		}
		cidr := strings.TrimSpace(r.SourceCidrIp)
		if cidr == "" {
			cidr = "0.0.0.0/0"
		}
		pf, err := report.ParsePrefixOrAddr(cidr)
		if err != nil {
			unreadable = append(unreadable, fmt.Sprintf("rule %s source %q cannot be read", r.RuleId, r.SourceCidrIp))
			continue
		}
		id := r.RuleId
		if id == "" {
			id = fmt.Sprintf("rule #%d", i+1)
		}
		o := ordRule{id: id, accept: !isDrop(r.Policy), srcs: []report.AddrRange{report.RangeOf(pf)},
			text: fmt.Sprintf("%s %s %s from %s", strings.ToLower(orDefault(r.Policy, "accept")), r.RuleProtocol, r.Port, cidr)}
		if r.Remark != "" {
			o.text += " (" + r.Remark + ")"
		}
		if o.accept {
			accepts = append(accepts, o)
		} else {
			drops = append(drops, o)
		}
	}
	var allowed, contested []report.AddrRange
	var best outcome
	found := false
	for _, o := range decide(src, accepts) {
		if o.v != vAllow {
			continue
		}
		for _, d := range decide(o.rng, drops) {
			if d.v == vNoMatch {
				allowed = append(allowed, d.rng)
				if !found || d.rng.Size() > best.rng.Size() {
					best, found = outcome{d.rng, vAllow, o.rule}, true
				}
			} else {
				contested = append(contested, d.rng)
			}
		}
	}
	allowed = report.MergeRanges(allowed)
	name := inst.InstanceId
	if inst.InstanceName != "" {
		name += " (" + inst.InstanceName + ")"
	}
	origin := "swas:" + inst.InstanceId
	switch {
	case len(allowed) > 0:
		r := accepts[best.rule]
		st.Decision, st.Rule = report.Allow, &report.Rule{ID: r.id, Text: r.text, Origin: origin}
		st.Detail = fmt.Sprintf("%s from %s allowed by the firewall of lightweight server %s (%s)", c.What(), c.Source, name, r.text)
		if !covered(allowed, src) {
			st.AllowedFrom = report.PrefixStrings(allowed)
			st.Detail = fmt.Sprintf("%s allowed only from %s by the firewall of lightweight server %s", c.What(), report.Summarize(st.AllowedFrom, maxQuoted), name)
		}
		if len(contested) > 0 {
			st.Detail += "; a drop rule overlaps an accept rule for " + report.Summarize(report.PrefixStrings(report.MergeRanges(contested)), maxQuoted) + " (undecided)"
		}
		return st
	case len(contested) > 0 || len(unreadable) > 0:
		st.Decision = report.Unknown
		why := unreadable
		if len(contested) > 0 {
			why = append(why, "a drop rule overlaps the accept rule for "+report.Summarize(report.PrefixStrings(report.MergeRanges(contested)), maxQuoted)+" and their order is not documented")
		}
		st.Detail = fmt.Sprintf("%s from %s cannot be decided in the firewall of lightweight server %s: %s", c.What(), c.Source, name, strings.Join(why, "; "))
		return st
	}
	st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseLightweightFirewall, report.Timeout
	st.Detail = fmt.Sprintf("no rule of the firewall of lightweight server %s opens %s to %s (only the listed ports are open)", name, c.What(), c.Source)
	if len(drops) > 0 {
		st.Rule = &report.Rule{ID: drops[0].id, Text: drops[0].text, Origin: origin}
	}
	cidr := ""
	if c.Source.Bits() != 0 {
		cidr = " --SourceCidrIp " + c.Source.String()
	}
	st.Fix = []string{
		fmt.Sprintf("aliyun swas-open CreateFirewallRule --RegionId %s --InstanceId %s --RuleProtocol %s --Port %d%s --Remark portpath",
			c.Region, inst.InstanceId, strings.ToUpper(c.Proto), c.Port, cidr),
		fmt.Sprintf("# 控制台 → 轻量应用服务器 → %s → 安全 → 防火墙 → 添加规则: 协议 %s, 端口 %d", inst.InstanceId, strings.ToUpper(c.Proto), c.Port),
	}
	return st
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}
