package tencent

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portpath/portpath/report"
)

// service is a protocol and the ports of it a rule covers; nil ports means every port.
type service struct {
	proto string // "tcp", "udp", "icmp", "icmpv6", "gre", "all"
	ports []report.PortRange
}

// parsePorts reads a Tencent Cloud port field: "ALL" (or empty), "80", "80,443", "3306-20000",
// or a comma list mixing both. nil means every port.
func parsePorts(s string) ([]report.PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "all") {
		return nil, nil
	}
	var out []report.PortRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.EqualFold(part, "all") {
			return nil, nil
		}
		r, err := report.ParsePortRange(part, "-")
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", s, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("port %q names no port", s)
	}
	return out, nil
}

// normProto reads a protocol name ("TCP", "tcp", "ALL", "ICMPv6", …) into its lower-case form.
func normProto(s string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(s))
	switch p {
	case "", "all", "-1":
		return "all", nil
	case "tcp", "udp", "icmp", "icmpv6", "gre":
		return p, nil
	}
	return "", fmt.Errorf("unknown protocol %q", s)
}

// parseService reads one entry of a service template's ServiceSet: "tcp:8080", "udp:99",
// "tcp:80,443", "tcp:3306-20000", "tcp" (every TCP port), "ALL" or "icmp".
func parseService(s string) (service, error) {
	name, ports, hasPorts := strings.Cut(strings.TrimSpace(s), ":")
	proto, err := normProto(name)
	if err != nil || strings.TrimSpace(name) == "" {
		return service{}, fmt.Errorf("service %q: unknown protocol", s)
	}
	sv := service{proto: proto}
	if hasPorts && proto != "all" && proto != "icmp" && proto != "icmpv6" && proto != "gre" {
		if sv.ports, err = parsePorts(ports); err != nil {
			return service{}, fmt.Errorf("service %q: %w", s, err)
		}
	}
	return sv, nil
}

// parseAddress reads one entry of an address template's AddressSet: an IP ("10.0.0.1"), a
// CIDR ("10.0.0.0/24") or a range ("10.0.0.1-10.0.0.9").
func parseAddress(s string) (report.AddrRange, error) {
	s = strings.TrimSpace(s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, errA := netip.ParseAddr(strings.TrimSpace(from))
		b, errB := netip.ParseAddr(strings.TrimSpace(to))
		if errA != nil || errB != nil {
			return report.AddrRange{}, fmt.Errorf("bad address range %q", s)
		}
		r := report.AddrRange{From: a.Unmap().WithZone(""), To: b.Unmap().WithZone("")}
		if !r.Valid() {
			return report.AddrRange{}, fmt.Errorf("bad address range %q: runs backwards or mixes families", s)
		}
		return r, nil
	}
	p, err := report.ParsePrefixOrAddr(s)
	if err != nil {
		return report.AddrRange{}, err
	}
	return report.RangeOf(p), nil
}

// parseCIDR reads a rule's CidrBlock or Ipv6CidrBlock; Tencent Cloud maps every 0.0.0.0/n
// to 0.0.0.0/0 (and ::/n to ::/0), so those become the whole family.
func parseCIDR(s string) (report.AddrRange, error) {
	p, err := report.ParsePrefixOrAddr(s)
	if err != nil {
		return report.AddrRange{}, err
	}
	if p.Addr().IsUnspecified() {
		p = netip.PrefixFrom(p.Addr(), 0)
	}
	return report.RangeOf(p), nil
}

// covers reports whether the service covers proto/port.
func (s service) covers(proto string, port uint16) bool {
	if s.proto != "all" && s.proto != proto {
		return false
	}
	if s.ports == nil {
		return true
	}
	for _, r := range s.ports {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

func (s service) String() string {
	if s.proto == "all" {
		return "ALL"
	}
	if s.ports == nil {
		return strings.ToUpper(s.proto) + " ALL"
	}
	ps := make([]string, len(s.ports))
	for i, p := range s.ports {
		ps[i] = p.String()
	}
	return strings.ToUpper(s.proto) + " " + strings.Join(ps, ",")
}
