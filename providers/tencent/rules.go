package tencent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/portpath/portpath/report"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func strs(ps []*string) []string {
	var out []string
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// templates are the address and service templates the rules name, as read from the API.
// A template missing from its map could not be read; errs says why.
type templates struct {
	addrs      map[string][]report.AddrRange // ipm-… → entries
	addrText   map[string][]string           // ipm-… → entries as the template writes them
	addrGroups map[string][]string           // ipmg-… → ipm-… members
	svcs       map[string][]service          // ppm-… → entries
	svcGroups  map[string][]string           // ppmg-… → ppm-… members
	errs       map[string]string             // template ID → why it could not be read
}

func newTemplates() *templates {
	return &templates{addrs: map[string][]report.AddrRange{}, addrText: map[string][]string{}, addrGroups: map[string][]string{},
		svcs: map[string][]service{}, svcGroups: map[string][]string{}, errs: map[string]string{}}
}

func (t *templates) missing(id string) string {
	if e, ok := t.errs[id]; ok {
		return e
	}
	return "it was not returned by the API"
}

// addressesOf expands an address template or template group; text is its entries as written.
func (t *templates) addressesOf(id string) (rs []report.AddrRange, text []string, why string) {
	if strings.HasPrefix(id, "ipmg-") {
		members, ok := t.addrGroups[id]
		if !ok {
			return nil, nil, fmt.Sprintf("address template group %s could not be read: %s", id, t.missing(id))
		}
		for _, m := range members {
			mr, mt, why := t.addressesOf(m)
			if why != "" {
				return nil, nil, why
			}
			rs, text = append(rs, mr...), append(text, mt...)
		}
		return rs, text, ""
	}
	rs, ok := t.addrs[id]
	if !ok {
		return nil, nil, fmt.Sprintf("address template %s could not be read: %s", id, t.missing(id))
	}
	return rs, t.addrText[id], ""
}

// servicesOf expands a service template or template group.
func (t *templates) servicesOf(id string) ([]service, string) {
	if strings.HasPrefix(id, "ppmg-") {
		members, ok := t.svcGroups[id]
		if !ok {
			return nil, fmt.Sprintf("service template group %s could not be read: %s", id, t.missing(id))
		}
		var out []service
		for _, m := range members {
			ss, why := t.servicesOf(m)
			if why != "" {
				return nil, why
			}
			out = append(out, ss...)
		}
		return out, ""
	}
	ss, ok := t.svcs[id]
	if !ok {
		return nil, fmt.Sprintf("service template %s could not be read: %s", id, t.missing(id))
	}
	return ss, ""
}

// templateRefs lists the template IDs the policies name, by kind.
func templateRefs(pols []*vpc.SecurityGroupPolicy) (addr, addrGroup, svc, svcGroup []string) {
	add := func(list []string, id string) []string {
		for _, x := range list {
			if x == id {
				return list
			}
		}
		return append(list, id)
	}
	for _, p := range pols {
		if p == nil {
			continue
		}
		if a := p.AddressTemplate; a != nil {
			if id := deref(a.AddressId); id != "" {
				addr = add(addr, id)
			}
			if id := deref(a.AddressGroupId); id != "" {
				addrGroup = add(addrGroup, id)
			}
		}
		if s := p.ServiceTemplate; s != nil {
			if id := deref(s.ServiceId); id != "" {
				svc = add(svc, id)
			}
			if id := deref(s.ServiceGroupId); id != "" {
				svcGroup = add(svcGroup, id)
			}
		}
	}
	return
}

// family returns the source addresses among rs of dst's family.
func family(rs []report.AddrRange, dst netip.Addr) []report.AddrRange {
	var out []report.AddrRange
	for _, r := range rs {
		if r.From.BitLen() == dst.BitLen() {
			out = append(out, r)
		}
	}
	return out
}

// flattenPolicies turns one group's ingress policies (in list order) into rules for
// destinations of dst's family.
func flattenPolicies(group string, pols []*vpc.SecurityGroupPolicy, t *templates, dst netip.Addr) []*rule {
	var out []*rule
	for pos, p := range pols {
		if p == nil {
			continue
		}
		r := &rule{group: group, index: pos, accept: strings.EqualFold(deref(p.Action), "ACCEPT")}
		if p.PolicyIndex != nil {
			r.index = int(*p.PolicyIndex)
		}
		spec := policySpec{Protocol: deref(p.Protocol), Port: deref(p.Port), CidrBlock: deref(p.CidrBlock),
			Ipv6CidrBlock: deref(p.Ipv6CidrBlock), SecurityGroupId: deref(p.SecurityGroupId),
			Action: deref(p.Action), PolicyDescription: deref(p.PolicyDescription)}
		var what, from string
		// services
		if st := p.ServiceTemplate; st != nil && (deref(st.ServiceId) != "" || deref(st.ServiceGroupId) != "") {
			id := deref(st.ServiceId)
			spec.ServiceTemplate = &serviceTplSpec{ServiceId: id}
			if id == "" {
				id = deref(st.ServiceGroupId)
				spec.ServiceTemplate = &serviceTplSpec{ServiceGroupId: id}
			}
			spec.Protocol, spec.Port = "", ""
			ss, why := t.servicesOf(id)
			r.svcs, what = ss, id
			if why != "" {
				r.unknown, r.svcs = why, []service{{proto: "all"}}
			} else {
				var parts []string
				for _, s := range ss {
					parts = append(parts, s.String())
				}
				what = fmt.Sprintf("%s [%s]", id, strings.Join(parts, "; "))
			}
		} else {
			r.setService(deref(p.Protocol), deref(p.Port), "gre")
			what = r.svcs[0].String()
		}
		// sources
		switch {
		case p.AddressTemplate != nil && (deref(p.AddressTemplate.AddressId) != "" || deref(p.AddressTemplate.AddressGroupId) != ""):
			id := deref(p.AddressTemplate.AddressId)
			spec.AddressTemplate = &addressTplSpec{AddressId: id}
			if id == "" {
				id = deref(p.AddressTemplate.AddressGroupId)
				spec.AddressTemplate = &addressTplSpec{AddressGroupId: id}
			}
			spec.CidrBlock, spec.Ipv6CidrBlock = "", ""
			rs, txt, why := t.addressesOf(id)
			from = id
			if why != "" && r.unknown == "" {
				r.unknown = why
			} else if why == "" {
				r.srcs = family(rs, dst)
				from = fmt.Sprintf("%s [%s]", id, report.Summarize(txt, maxQuoted))
			}
		case deref(p.SecurityGroupId) != "":
			r.ref = deref(p.SecurityGroupId)
			from = r.ref + " (its members' private addresses)"
		default:
			cidr := deref(p.CidrBlock)
			if dst.Is6() {
				cidr = deref(p.Ipv6CidrBlock)
			}
			from = strings.TrimSpace(deref(p.CidrBlock) + " " + deref(p.Ipv6CidrBlock))
			r.setSource(cidr, "source", dst)
		}
		r.text = fmt.Sprintf("%s %s from %s", strings.ToUpper(deref(p.Action)), what, from)
		if d := deref(p.PolicyDescription); d != "" {
			r.text += fmt.Sprintf(" (%q)", d)
		}
		r.spec, _ = json.Marshal(spec)
		out = append(out, r)
	}
	return out
}

// flattenACL turns a network ACL's entries of one direction (top to bottom) into rules for
// addresses of dst's family, and returns the entries as ModifyNetworkAclEntries takes them.
func flattenACL(aclID string, entries []*vpc.NetworkAclEntry, dst netip.Addr, egress bool) ([]*rule, []json.RawMessage) {
	var out []*rule
	var specs []json.RawMessage
	dir := "from"
	if egress {
		dir = "to"
	}
	for _, e := range entries {
		if e == nil {
			continue
		}
		r := &rule{group: aclID, index: len(out), accept: strings.EqualFold(deref(e.Action), "ACCEPT")}
		r.setService(deref(e.Protocol), deref(e.Port))
		cidr := deref(e.CidrBlock)
		if dst.Is6() {
			cidr = deref(e.Ipv6CidrBlock)
		}
		r.setSource(cidr, "address", dst)
		r.text = fmt.Sprintf("%s %s %s %s", strings.ToUpper(deref(e.Action)), r.svcs[0], dir, strings.TrimSpace(deref(e.CidrBlock)+" "+deref(e.Ipv6CidrBlock)))
		b, _ := json.Marshal(aclSpec{Protocol: deref(e.Protocol), Port: deref(e.Port), CidrBlock: deref(e.CidrBlock),
			Ipv6CidrBlock: deref(e.Ipv6CidrBlock), Action: deref(e.Action), Description: deref(e.Description)})
		specs = append(specs, b)
		out = append(out, r)
	}
	return out, specs
}

// firewallRule is one Lighthouse firewall rule as DescribeFirewallRules returns it.
type firewallRule struct {
	AppType                 *string `json:"AppType,omitempty"`
	Protocol                *string `json:"Protocol,omitempty"`
	Port                    *string `json:"Port,omitempty"`
	CidrBlock               *string `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock           *string `json:"Ipv6CidrBlock,omitempty"`
	Action                  *string `json:"Action,omitempty"`
	FirewallRuleDescription *string `json:"FirewallRuleDescription,omitempty"`
}

// flattenFirewall turns a Lighthouse firewall (top to bottom) into rules for sources of dst's
// family: IPv4 sources match CidrBlock (0.0.0.0/0 when both address fields are empty), IPv6
// sources match Ipv6CidrBlock only.
func flattenFirewall(instance string, fw []firewallRule, dst netip.Addr) ([]*rule, []json.RawMessage) {
	var out []*rule
	var specs []json.RawMessage
	for _, f := range fw {
		r := &rule{group: instance, index: len(out), accept: !strings.EqualFold(deref(f.Action), "DROP")}
		r.setService(deref(f.Protocol), deref(f.Port))
		v4, v6 := deref(f.CidrBlock), deref(f.Ipv6CidrBlock)
		if v4 == "" && v6 == "" {
			v4 = "0.0.0.0/0"
		}
		cidr := v4
		if dst.Is6() {
			cidr = v6
		}
		r.setSource(cidr, "source", dst)
		action := strings.ToUpper(deref(f.Action))
		if action == "" {
			action = "ACCEPT"
		}
		r.text = fmt.Sprintf("%s %s from %s", action, r.svcs[0], strings.TrimSpace(v4+" "+v6))
		if d := deref(f.FirewallRuleDescription); d != "" {
			r.text += fmt.Sprintf(" (%q)", d)
		}
		b, _ := json.Marshal(fwSpec{Protocol: deref(f.Protocol), Port: deref(f.Port), CidrBlock: deref(f.CidrBlock),
			Ipv6CidrBlock: deref(f.Ipv6CidrBlock), Action: deref(f.Action), FirewallRuleDescription: deref(f.FirewallRuleDescription)})
		specs = append(specs, b)
		out = append(out, r)
	}
	return out, specs
}

// setService sets the rule's one service from an entry's protocol and port fields. Ports
// are dropped for all, icmp, icmpv6 and the extra portless protocols; a field that cannot
// be read makes the rule unknown (an unreadable protocol matching every protocol).
func (r *rule) setService(protocol, port string, portless ...string) {
	proto, err := normProto(protocol)
	ports, perr := parsePorts(port)
	switch {
	case err != nil:
		r.unknown, proto = err.Error(), "all"
	case perr != nil:
		r.unknown = perr.Error()
	}
	if proto == "all" || proto == "icmp" || proto == "icmpv6" || slices.Contains(portless, proto) {
		ports = nil
	}
	r.svcs = []service{{proto: proto, ports: ports}}
}

// setSource sets the rule's sources from one CIDR of dst's family; an empty one leaves them
// unset, and one that cannot be read makes the rule unknown (unless it already is), naming
// what the CIDR is.
func (r *rule) setSource(cidr, what string, dst netip.Addr) {
	if cidr == "" {
		return
	}
	rg, err := parseCIDR(cidr)
	if err != nil {
		if r.unknown == "" {
			r.unknown = fmt.Sprintf("its %s cannot be read: %v", what, err)
		}
		return
	}
	r.srcs = family([]report.AddrRange{rg}, dst)
}
