package btpanel

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// maxListItems bounds the items of one port or address list.
const maxListItems = 1024

// ParsePorts reads a ports column: "80", "8000-8100", "8000:8100", or a comma-separated
// list of those ("80,443,8000-8100"). Port 0 is not a port.
func ParsePorts(s string) ([]report.PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("no port")
	}
	var out []report.PortRange
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if len(out) == maxListItems {
			return nil, fmt.Errorf("more than %d ports in %q", maxListItems, s)
		}
		sep := "-"
		if strings.Contains(item, ":") {
			sep = ":"
		}
		r, err := report.ParsePortRange(item, sep)
		if err != nil {
			return nil, err
		}
		if r.Lo == 0 {
			return nil, fmt.Errorf("bad port %q", item)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no port in %q", s)
	}
	return out, nil
}

// ParseAddresses reads an address column: "" (every source), an address, a CIDR, a range
// "192.0.2.1-192.0.2.9", or a comma-separated list of those. nil means every source.
func ParseAddresses(s string) ([]report.AddrRange, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "all", "any", "0.0.0.0/0", "::/0":
		return nil, nil
	}
	var out []report.AddrRange
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if len(out) == maxListItems {
			return nil, fmt.Errorf("more than %d addresses in %q", maxListItems, s)
		}
		r, err := parseAddrItem(item)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address in %q", s)
	}
	return out, nil
}

func parseAddrItem(s string) (report.AddrRange, error) {
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" {
			return report.AddrRange{}, fmt.Errorf("bad address range %q", s)
		}
		r := report.AddrRange{From: a.Unmap(), To: b.Unmap()}
		if !r.Valid() {
			return report.AddrRange{}, fmt.Errorf("bad address range %q (mixed families or backwards)", s)
		}
		return r, nil
	}
	p, err := report.ParsePrefixOrAddr(s)
	if err != nil {
		return report.AddrRange{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked()
	}
	return report.RangeOf(p), nil
}

// ParseProtocol reads a protocol column: "tcp", "udp", or both ("tcp/udp", "tcp,udp",
// "tcp+udp", "all"). Empty means both, as the oldest panels opened ports for both.
func ParseProtocol(s string) ([]string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "tcp", "udp":
		return []string{s}, nil
	case "", "all", "tcp/udp", "udp/tcp", "tcp,udp", "udp,tcp", "tcp+udp", "udp+tcp", "tcp udp":
		return []string{"tcp", "udp"}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", s)
}

// ParseAction reads a types column: "accept", "drop" or "reject".
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case Accept, Drop, Reject:
		return a, nil
	}
	return None, fmt.Errorf("unknown strategy %q (want accept, drop or reject)", s)
}

// inbound reports whether a chain column names the inbound direction (empty in older rows).
func inbound(chain string) bool {
	c := strings.ToUpper(strings.TrimSpace(chain))
	return c == "" || c == "INPUT"
}

// notUDP are the ports legacy panels opened for TCP only (firewalls.py, AddAcceptPort).
var notUDP = []string{"80", "443", "8888", "888", "39000:40000", "21", "22"}

// add turns one row into a rule, or records why it cannot.
func (c *Config) add(tab string, r row) {
	id, _ := strconv.ParseInt(strings.TrimSpace(r["id"]), 10, 64)
	ref := fmt.Sprintf("%s#%d", tab, id)
	var err error
	switch tab {
	case tableNew.name:
		err = c.addPortRule(tab, id, r)
	case tableIP.name:
		err = c.addIPRule(tab, id, r)
	case tableLegacy.name:
		err = c.addLegacy(tab, id, r)
	case tableCountry.name:
		err = c.addCountry(id, r)
	}
	if err != nil {
		c.Unread = append(c.Unread, ref+": "+err.Error())
	}
}

func (c *Config) addPortRule(tab string, id int64, r row) error {
	if !inbound(r["chain"]) {
		return nil
	}
	ports, err := ParsePorts(r["ports"])
	if err != nil {
		return err
	}
	protos, err := ParseProtocol(r["protocol"])
	if err != nil {
		return err
	}
	act, err := ParseAction(r["types"])
	if err != nil {
		return err
	}
	srcs, err := ParseAddresses(r["address"])
	if err != nil {
		return err
	}
	c.Rules = append(c.Rules, Rule{Table: tab, ID: id, Kind: PortRule, Protocols: protos, Ports: ports, Sources: srcs, Action: act,
		PortsText: strings.TrimSpace(r["ports"]), ProtocolText: r["protocol"], AddressText: strings.TrimSpace(r["address"]),
		Note: strings.TrimSpace(r["brief"]), AddTime: strings.TrimSpace(r["addtime"]), Domain: strings.TrimSpace(r["domain"])})
	return nil
}

func (c *Config) addIPRule(tab string, id int64, r row) error {
	if !inbound(r["chain"]) {
		return nil
	}
	act, err := ParseAction(r["types"])
	if err != nil {
		return err
	}
	srcs, err := ParseAddresses(r["address"])
	if err != nil {
		return err
	}
	if srcs == nil {
		return fmt.Errorf("an IP rule without an address")
	}
	c.Rules = append(c.Rules, Rule{Table: tab, ID: id, Kind: IPRule, Sources: srcs, Action: act,
		AddressText: strings.TrimSpace(r["address"]), Note: strings.TrimSpace(r["brief"]),
		AddTime: strings.TrimSpace(r["addtime"]), Domain: strings.TrimSpace(r["domain"])})
	return nil
}

// addLegacy reads a row of the old firewall table: a port or range opened to everyone,
// or an IPv4 address or CIDR blocked on every port.
func (c *Config) addLegacy(tab string, id int64, r row) error {
	v := strings.TrimSpace(r["port"])
	note, at := strings.TrimSpace(r["ps"]), strings.TrimSpace(r["addtime"])
	if ports, err := ParsePorts(v); err == nil {
		protos := []string{"tcp", "udp"}
		if slices.Contains(notUDP, strings.ReplaceAll(v, "-", ":")) {
			protos = []string{"tcp"}
		}
		c.Rules = append(c.Rules, Rule{Table: tab, ID: id, Kind: PortRule, Protocols: protos, Ports: ports, Action: Accept,
			PortsText: v, Note: note, AddTime: at})
		return nil
	}
	srcs, err := ParseAddresses(v)
	if err != nil || srcs == nil {
		return fmt.Errorf("port %q is neither a port nor an address", v)
	}
	c.Rules = append(c.Rules, Rule{Table: tab, ID: id, Kind: IPRule, Sources: srcs, Action: Drop, AddressText: v, Note: note, AddTime: at})
	return nil
}

func (c *Config) addCountry(id int64, r row) error {
	act, err := ParseAction(r["types"])
	if err != nil {
		return err
	}
	var ports []report.PortRange
	if p := strings.TrimSpace(r["ports"]); p != "" {
		if ports, err = ParsePorts(p); err != nil {
			return err
		}
	}
	c.Countries = append(c.Countries, Country{ID: id, Country: strings.TrimSpace(r["country"]), Action: act, Ports: ports})
	return nil
}
