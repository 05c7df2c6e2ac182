package tencent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// maxQuoted bounds the prefixes quoted in a step's AllowedFrom.
const maxQuoted = 16

// privateRanges are the address blocks the internet does not route to; a rule that names
// a security group matches its members' private addresses, which lie there.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// check is one evaluation question: may Source reach Dst on Proto/Port.
type check = providers.Check

// rule is one entry of an ordered rule list (a security-group policy, a network ACL entry,
// a Lighthouse firewall rule), flattened for matching.
type rule struct {
	// group is the security group, ACL or instance holding the rule.
	group string
	// index is the rule's PolicyIndex (security groups) or 0-based position (ACL, Lighthouse).
	index  int
	accept bool
	// svcs are the protocols and ports the rule covers; a service template expands to several.
	svcs []service
	// srcs are the source addresses of the family asked (templates expanded).
	srcs []report.AddrRange
	// ref is a referenced security group: the rule matches its members' private addresses.
	ref string
	// unknown says why the rule's sources or services could not be read; empty means known.
	unknown string
	text    string
	// spec is the rule as the API writes it (JSON object without the index), for move fixes.
	spec json.RawMessage
}

func (r *rule) reportRule() *report.Rule {
	return &report.Rule{ID: fmt.Sprintf("%s#%d", r.group, r.index), Text: r.text, Origin: r.group}
}

func (r *rule) covers(c check) bool {
	return slices.ContainsFunc(r.svcs, func(s service) bool { return s.covers(c.Proto, c.Port) })
}

// outcome is an ordered list evaluated for one check.
type outcome struct {
	// rules are the rules about the protocol and port asked, in evaluation order.
	rules []*rule
	// parts cut the source set; Rule indexes rules (-1: no rule matches).
	parts []report.SourcePart
	// allowed is the part of the source set some ACCEPT rule decides.
	allowed []report.AddrRange
	// allowBy is the ACCEPT rule deciding the biggest allowed part; nil when nothing is allowed.
	allowBy *rule
	// deny is the biggest part not allowed, and denyBy the DROP rule deciding it (nil: no rule matched).
	deny   report.AddrRange
	denyBy *rule
	// uncertain is the first rule that could decide part of the set but could not be read.
	uncertain *rule
	// refs are rules naming security groups that may decide part of a private source set.
	refs []*rule
}

// evaluate runs the ordered first match of rules for the check's source set.
func evaluate(c check, rules []*rule) outcome {
	var o outcome
	for _, r := range rules {
		if r.covers(c) {
			o.rules = append(o.rules, r)
		}
	}
	src := report.RangeOf(c.Source)
	srcs := make([][]report.AddrRange, len(o.rules))
	for i, r := range o.rules {
		srcs[i] = r.srcs
	}
	o.parts = report.FirstMatch(src, srcs)
	last := -1 // the last rule that decides a part; rules after it are never reached
	noMatch := false
	var allowSize, denySize float64 = -1, -1
	for _, p := range o.parts {
		if p.Rule < 0 {
			noMatch = true
		} else {
			last = max(last, p.Rule)
		}
		if p.Rule >= 0 && o.rules[p.Rule].accept {
			o.allowed = append(o.allowed, p.Range)
			if s := p.Range.Size(); s > allowSize {
				allowSize, o.allowBy = s, o.rules[p.Rule]
			}
			continue
		}
		if s := p.Range.Size(); s > denySize {
			denySize, o.deny = s, p.Range
			o.denyBy = nil
			if p.Rule >= 0 {
				o.denyBy = o.rules[p.Rule]
			}
		}
	}
	o.allowed = report.MergeRanges(o.allowed)
	reach := last
	if noMatch {
		reach = len(o.rules) - 1
	}
	// a rule naming a security group matches its members' private addresses: it matters
	// only for a source set inside private address space, not for the internet
	private := slices.ContainsFunc(privateRanges, func(p netip.Prefix) bool {
		return p.Addr().BitLen() == c.Source.Addr().BitLen() && p.Bits() <= c.Source.Bits() && p.Contains(c.Source.Addr())
	})
	for i, r := range o.rules {
		if i > reach {
			break
		}
		if r.unknown != "" && o.uncertain == nil {
			o.uncertain = r
		}
		if r.ref != "" && private {
			o.refs = append(o.refs, r)
		}
	}
	return o
}

// shadowed is the first ACCEPT rule after the deciding DROP that would have allowed all (else
// part) of the denied sources: moving it above the DROP fixes the check without a new rule.
func (o outcome) shadowed() *rule {
	if o.denyBy == nil {
		return nil
	}
	i := slices.Index(o.rules, o.denyBy)
	var part *rule
	for _, r := range o.rules[i+1:] {
		if !r.accept || r.unknown != "" {
			continue
		}
		// prefer the first rule allowing all the denied sources, else the first allowing some
		if len(o.deny.Subtract(r.srcs)) == 0 {
			return r
		}
		if part == nil && slices.ContainsFunc(r.srcs, func(s report.AddrRange) bool { _, ok := s.Intersect(o.deny); return ok }) {
			part = r
		}
	}
	return part
}

func (o outcome) allowsAll(c check) bool {
	return len(report.RangeOf(c.Source).Subtract(o.allowed)) == 0
}

// decide fills the common part of a step from an outcome: the decision, the deciding rule,
// the allowed part. It reports false when the step is blocked (the caller adds cause and fix).
func decide(st *report.Step, c check, o outcome, list string) bool {
	if o.uncertain != nil {
		st.Decision = report.Unknown
		st.Rule = o.uncertain.reportRule()
		st.Detail = fmt.Sprintf("rule %s of %s (%s) may decide %s from %s, but %s", st.Rule.ID, list, o.uncertain.text, c.What(), c.Source, o.uncertain.unknown)
		return true
	}
	if len(o.refs) > 0 {
		var ids []string
		for _, r := range o.refs {
			ids = append(ids, r.ref)
		}
		st.Conditional = fmt.Sprintf("rules allowing or denying members of %s match their private addresses, which were not listed", strings.Join(slices.Compact(ids), ", "))
	}
	if len(o.allowed) == 0 {
		return false
	}
	st.Decision = report.Allow
	st.Rule = o.allowBy.reportRule()
	st.Detail = fmt.Sprintf("%s from %s allowed by rule %s of %s (%s)", c.What(), c.Source, st.Rule.ID, list, o.allowBy.text)
	if !o.allowsAll(c) {
		st.AllowedFrom = report.PrefixStrings(o.allowed)
		rest := "no rule matches the rest (denied)"
		if o.denyBy != nil {
			rest = fmt.Sprintf("%s (%s) denies %s", o.denyBy.reportRule().ID, o.denyBy.text, o.deny)
		}
		st.Detail = fmt.Sprintf("%s allowed only from %s by %s; %s", c.What(), report.Summarize(st.AllowedFrom, maxQuoted), list, rest)
	}
	return true
}

// ---- security groups ----

// policySpec is a security-group policy as CreateSecurityGroupPolicies takes it.
type policySpec struct {
	PolicyIndex       *int64          `json:"PolicyIndex,omitempty"`
	Protocol          string          `json:"Protocol,omitempty"`
	Port              string          `json:"Port,omitempty"`
	CidrBlock         string          `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock     string          `json:"Ipv6CidrBlock,omitempty"`
	SecurityGroupId   string          `json:"SecurityGroupId,omitempty"`
	AddressTemplate   *addressTplSpec `json:"AddressTemplate,omitempty"`
	ServiceTemplate   *serviceTplSpec `json:"ServiceTemplate,omitempty"`
	Action            string          `json:"Action"`
	PolicyDescription string          `json:"PolicyDescription,omitempty"`
}

type addressTplSpec struct {
	AddressId      string `json:"AddressId,omitempty"`
	AddressGroupId string `json:"AddressGroupId,omitempty"`
}

type serviceTplSpec struct {
	ServiceId      string `json:"ServiceId,omitempty"`
	ServiceGroupId string `json:"ServiceGroupId,omitempty"`
}

// withIndex returns a rule's spec with PolicyIndex set to idx.
func withIndex(spec json.RawMessage, idx int) string {
	var p policySpec
	if json.Unmarshal(spec, &p) != nil {
		return string(spec)
	}
	i := int64(idx)
	p.PolicyIndex = &i
	b, _ := json.Marshal(p)
	return string(b)
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func ingressSet(specs ...string) string {
	return shq(`{"Ingress":[` + strings.Join(specs, ",") + `]}`)
}

// newAccept is the ACCEPT policy that would let the check's source set in.
func newAccept(c check) policySpec {
	p := policySpec{Protocol: strings.ToUpper(c.Proto), Port: fmt.Sprint(c.Port), Action: "ACCEPT", PolicyDescription: "portpath"}
	if c.Source.Addr().Is6() {
		p.Ipv6CidrBlock = c.Source.String()
	} else {
		p.CidrBlock = c.Source.String()
	}
	return p
}

func createPolicy(c check, group string, spec string) string {
	return fmt.Sprintf("tccli vpc CreateSecurityGroupPolicies --region %s --SecurityGroupId %s --SecurityGroupPolicySet %s", c.Region, group, ingressSet(spec))
}

// sgConsole is where the rules are edited in the console.
const sgConsole = "console: VPC → Security Group → %s → Inbound rules (控制台 私有网络 → 安全组 → 修改规则 → 入站规则)"

// evalSecurityGroups decides the security-group layer for one destination: the groups of the
// interface owning it, in binding order, their ingress policies in list order, first match
// wins over the concatenated list, and what nothing matches is denied.
func evalSecurityGroups(c check, groups []string, rules []*rule) report.Step {
	st := report.Step{Layer: "tencent.security-group", Address: c.Dst.String()}
	list := "security groups " + strings.Join(groups, ", ") + " (binding order)"
	if len(groups) == 1 {
		list = "security group " + groups[0]
	}
	if len(groups) == 0 {
		st.Decision = report.Unknown
		st.Detail = "no security group is bound to the interface owning " + c.Dst.String()
		return st
	}
	o := evaluate(c, rules)
	if decide(&st, c, o, list) {
		return st
	}
	st.Decision, st.Symptom = report.Drop, report.Timeout
	if o.denyBy == nil {
		st.Cause = report.CauseCloudSGNoAllow
		st.Detail = fmt.Sprintf("no rule of %s allows %s from %s; unmatched traffic is denied", list, c.What(), c.Source)
		idx := int64(0)
		p := newAccept(c)
		p.PolicyIndex = &idx
		b, _ := json.Marshal(p)
		st.Fix = []string{createPolicy(c, groups[0], string(b))}
		st.Detail += "; " + fmt.Sprintf(sgConsole, groups[0])
		return st
	}
	d := o.denyBy
	st.Cause = report.CauseCloudSGDeny
	st.Rule = d.reportRule()
	st.Detail = fmt.Sprintf("%s from %s is denied by rule %s (%s) of %s: the first matching rule decides", c.What(), o.deny, st.Rule.ID, d.text, list)
	if a := o.shadowed(); a != nil {
		// Move the shadowed ACCEPT above the DROP: insert it at the DROP's index, then
		// delete the original (one further down when it sits in the same group below).
		st.Detail += fmt.Sprintf("; the DROP shadows ACCEPT rule %s#%d (%s) below it: move that rule above %s instead of adding another", a.group, a.index, a.text, st.Rule.ID)
		old := a.index
		if a.group == d.group && a.index >= d.index {
			old++
		}
		st.Fix = []string{
			createPolicy(c, d.group, withIndex(a.spec, d.index)),
			fmt.Sprintf("tccli vpc DeleteSecurityGroupPolicies --region %s --SecurityGroupId %s --SecurityGroupPolicySet %s", c.Region, a.group, ingressSet(fmt.Sprintf(`{"PolicyIndex":%d}`, old))),
		}
	} else {
		idx := int64(d.index)
		p := newAccept(c)
		p.PolicyIndex = &idx
		b, _ := json.Marshal(p)
		st.Fix = []string{createPolicy(c, d.group, string(b))}
		st.Detail += fmt.Sprintf("; an ACCEPT must come above it (PolicyIndex %d of %s)", d.index, d.group)
	}
	st.Detail += "; " + fmt.Sprintf(sgConsole, d.group)
	return st
}

// ---- network ACL ----

// ephemeral is the client port range (Linux 32768–60999) replies must be let out to.
var ephemeral = report.PortRange{Lo: 32768, Hi: 60999}

// aclSpec is a network ACL entry as CreateNetworkAclEntries / ModifyNetworkAclEntries take it.
type aclSpec struct {
	Protocol      string `json:"Protocol"`
	Port          string `json:"Port,omitempty"`
	CidrBlock     string `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock string `json:"Ipv6CidrBlock,omitempty"`
	Action        string `json:"Action"`
	Description   string `json:"Description,omitempty"`
}

func aclAccept(c check, ports string) aclSpec {
	s := aclSpec{Protocol: strings.ToUpper(c.Proto), Port: ports, Action: "ACCEPT", Description: "portpath"}
	if c.Source.Addr().Is6() {
		s.Ipv6CidrBlock = c.Source.String()
	} else {
		s.CidrBlock = c.Source.String()
	}
	return s
}

// insertBefore returns the specs of a list with extra inserted at position at, as a JSON array.
func insertBefore(specs []json.RawMessage, at int, extra any) string {
	b, _ := json.Marshal(extra)
	out := slices.Clone(specs)
	out = slices.Insert(out, min(at, len(out)), json.RawMessage(b))
	j, _ := json.Marshal(out)
	return string(j)
}

// moveBefore returns the specs with the one at from moved to position to, as a JSON array.
func moveBefore(specs []json.RawMessage, from, to int) string {
	out := slices.Clone(specs)
	x := out[from]
	out = slices.Delete(out, from, from+1)
	out = slices.Insert(out, to, x)
	j, _ := json.Marshal(out)
	return string(j)
}

// evalNetworkACL decides the subnet's network ACL: inbound entries top to bottom, first match,
// default deny at the bottom; the ACL is stateless, so replies need an outbound ACCEPT to the
// client's ephemeral ports too.
func evalNetworkACL(c check, aclID, subnet string, in, out []*rule, inSpecs []json.RawMessage) report.Step {
	st := report.Step{Layer: "tencent.network-acl", Address: c.Dst.String()}
	list := "network ACL " + aclID + " of subnet " + subnet
	o := evaluate(c, in)
	if !decide(&st, c, o, list) {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		console := "; console: VPC → Network ACL → " + aclID + " → Inbound rules"
		if o.denyBy == nil {
			st.Rule = &report.Rule{ID: aclID + "#default", Text: "ALL ALL from 0.0.0.0/0 DROP (default rule)", Origin: aclID}
			st.Detail = fmt.Sprintf("no inbound entry of %s allows %s from %s; the default rule at the bottom denies it%s", list, c.What(), c.Source, console)
			b, _ := json.Marshal(aclAccept(c, fmt.Sprint(c.Port)))
			st.Fix = []string{fmt.Sprintf("tccli vpc CreateNetworkAclEntries --region %s --NetworkAclId %s --NetworkAclEntrySet %s", c.Region, aclID, ingressSet(string(b)))}
			return st
		}
		st.Rule = o.denyBy.reportRule()
		st.Detail = fmt.Sprintf("inbound %s from %s is denied by entry %s (%s) of %s: entries apply top to bottom, first match", c.What(), o.deny, st.Rule.ID, o.denyBy.text, list)
		var entries string
		if a := o.shadowed(); a != nil {
			st.Detail += fmt.Sprintf("; it shadows ACCEPT entry %s#%d (%s) below it: move that entry above it", a.group, a.index, a.text)
			entries = moveBefore(inSpecs, a.index, o.denyBy.index)
		} else {
			entries = insertBefore(inSpecs, o.denyBy.index, aclAccept(c, fmt.Sprint(c.Port)))
		}
		st.Detail += console
		st.Fix = []string{fmt.Sprintf("tccli vpc ModifyNetworkAclEntries --region %s --NetworkAclId %s --NetworkAclEntrySet %s", c.Region, aclID, shq(`{"Ingress":`+entries+`}`))}
		return st
	}
	if st.Decision != report.Allow {
		return st
	}
	// Replies leave through the outbound entries to the client's ports.
	rc := c
	rc.Port = ephemeral.Lo
	var outRules []*rule
	for _, r := range out {
		// an entry decides the replies when it covers the whole ephemeral range (ACCEPT) or any of it (DROP)
		x := *r
		x.svcs = nil
		for _, s := range r.svcs {
			if s.proto != "all" && s.proto != c.Proto {
				continue
			}
			ok := s.ports == nil || slices.ContainsFunc(s.ports, func(p report.PortRange) bool {
				if r.accept {
					return p.Lo <= ephemeral.Lo && ephemeral.Hi <= p.Hi
				}
				_, hit := p.Intersect(ephemeral)
				return hit
			})
			if ok {
				x.svcs = append(x.svcs, service{proto: "all"})
			}
		}
		outRules = append(outRules, &x)
	}
	ro := evaluate(rc, outRules)
	var bad []report.AddrRange
	for _, p := range ro.parts {
		if p.Rule < 0 || !ro.rules[p.Rule].accept {
			bad = append(bad, p.Range)
		}
	}
	var ok []report.AddrRange
	for _, a := range o.allowed {
		ok = append(ok, a.Subtract(bad)...)
	}
	ok = report.MergeRanges(ok)
	if len(ok) == 0 {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseCloudACLDeny, report.Timeout
		why := "no outbound entry allows them (default deny)"
		if ro.denyBy != nil {
			st.Rule = ro.denyBy.reportRule()
			why = fmt.Sprintf("outbound entry %s (%s) denies them", st.Rule.ID, ro.denyBy.text)
		} else {
			st.Rule = &report.Rule{ID: aclID + "#default-egress", Text: "ALL ALL to 0.0.0.0/0 DROP (default rule)", Origin: aclID}
		}
		st.Detail = fmt.Sprintf("inbound %s is allowed by %s, but the ACL is stateless and the replies to the client's ports %s are not: %s", c.What(), list, ephemeral, why)
		b, _ := json.Marshal(aclAccept(c, "1024-65535"))
		st.Fix = []string{fmt.Sprintf("tccli vpc CreateNetworkAclEntries --region %s --NetworkAclId %s --NetworkAclEntrySet %s", c.Region, aclID, shq(`{"Egress":[`+string(b)+`]}`))}
		return st
	}
	st.Detail += fmt.Sprintf("; replies to ports %s allowed outbound", ephemeral)
	if len(report.RangeOf(c.Source).Subtract(ok)) > 0 {
		st.AllowedFrom = report.PrefixStrings(ok)
		st.Detail = fmt.Sprintf("%s allowed (inbound and replies) only from %s by %s", c.What(), report.Summarize(st.AllowedFrom, maxQuoted), list)
	}
	return st
}

// ---- Lighthouse firewall ----

// fwSpec is a Lighthouse firewall rule as CreateFirewallRules / ModifyFirewallRules take it.
type fwSpec struct {
	Protocol                string `json:"Protocol"`
	Port                    string `json:"Port,omitempty"`
	CidrBlock               string `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock           string `json:"Ipv6CidrBlock,omitempty"`
	Action                  string `json:"Action"`
	FirewallRuleDescription string `json:"FirewallRuleDescription,omitempty"`
}

func fwAccept(c check) fwSpec {
	s := fwSpec{Protocol: strings.ToUpper(c.Proto), Port: fmt.Sprint(c.Port), Action: "ACCEPT", FirewallRuleDescription: "portpath"}
	if c.Source.Addr().Is6() {
		s.Ipv6CidrBlock = c.Source.String()
	} else {
		s.CidrBlock = c.Source.String()
	}
	return s
}

// evalLighthouse decides a Lighthouse instance's firewall: rules top to bottom, first match,
// unmatched inbound traffic denied; IPv6 sources match the Ipv6CidrBlock field only.
func evalLighthouse(c check, instance string, rules []*rule, specs []json.RawMessage) report.Step {
	st := report.Step{Layer: "tencent.lighthouse-firewall", Address: c.Dst.String()}
	list := "the Lighthouse firewall of " + instance
	o := evaluate(c, rules)
	if decide(&st, c, o, list) {
		return st
	}
	st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseLightweightFirewall, report.Timeout
	console := "; console: Lighthouse → " + instance + " → Firewall (轻量应用服务器 → 防火墙 → 添加规则)"
	if o.denyBy == nil {
		st.Detail = fmt.Sprintf("no rule of %s allows %s from %s; unmatched inbound traffic is denied", list, c.What(), c.Source)
		if c.Source.Addr().Is6() && slices.ContainsFunc(rules, func(r *rule) bool { return r.accept && r.covers(c) && len(r.srcs) == 0 }) {
			st.Detail += " (rules with only an IPv4 CidrBlock do not match IPv6 clients: they need Ipv6CidrBlock)"
		}
		b, _ := json.Marshal([]fwSpec{fwAccept(c)})
		st.Fix = []string{fmt.Sprintf("tccli lighthouse CreateFirewallRules --region %s --InstanceId %s --FirewallRules %s", c.Region, instance, shq(string(b)))}
		st.Detail += console
		return st
	}
	st.Rule = o.denyBy.reportRule()
	st.Detail = fmt.Sprintf("%s from %s is denied by rule %s (%s) of %s: rules apply top to bottom, first match", c.What(), o.deny, st.Rule.ID, o.denyBy.text, list)
	var all string
	if a := o.shadowed(); a != nil {
		st.Detail += fmt.Sprintf("; the DROP shadows ACCEPT rule %s#%d (%s) below it: move that rule above it instead of adding another", a.group, a.index, a.text)
		all = moveBefore(specs, a.index, o.denyBy.index)
	} else {
		all = insertBefore(specs, o.denyBy.index, fwAccept(c))
	}
	st.Detail += console
	st.Fix = []string{fmt.Sprintf("tccli lighthouse ModifyFirewallRules --region %s --InstanceId %s --FirewallRules %s", c.Region, instance, shq(all))}
	return st
}
