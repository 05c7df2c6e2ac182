// Package firewalld restates the kernel's verdict in firewalld's terms: the zone a
// connection lands in (by source, then interface, then the default zone), the service,
// port or rich rule that lets it in or keeps it out, the drift between the runtime
// configuration (what the kernel enforces) and the permanent one (what the next
// `firewall-cmd --reload` loads), and the fix as firewall-cmd commands.
//
// The verdict always comes from the live `inet firewalld` nftables table (or, with
// FirewallBackend=iptables, the iptables chains INPUT_ZONES, IN_<zone>_allow, …) as
// firewall/nftables and firewall/iptables evaluate it; this package only names it.
//
// Evidence read:
//   - live (--local): the permanent configuration from /etc/firewalld (firewalld.conf,
//     zones/*.xml, services/*.xml) over the packaged defaults in /usr/lib/firewalld, and,
//     when `firewall-cmd --state` says running, the runtime configuration from
//     `firewall-cmd --get-default-zone` and `firewall-cmd --list-all-zones`.
//   - --firewalld-dir DIR, a directory: a copy of /etc/firewalld (zones not overridden
//     there come from this machine's /usr/lib/firewalld when it has one), or a copied
//     file-system root holding etc/firewalld and usr/lib/firewalld. This is the permanent
//     configuration; the kernel rules given with it stand for the runtime.
//   - --firewalld-dir FILE: the output of `firewall-cmd --list-all-zones` (the runtime
//     configuration); service names are resolved with this machine's /usr/lib/firewalld
//     when it has one. Drift cannot be checked from it alone.
//
// With the iptables backend, a default zone ends in a plain REJECT (port unreachable: the
// client sees "connection refused") and %%REJECT%% in icmp-host-prohibited /
// icmp6-adm-prohibited; with nftables both reject with icmpx admin-prohibited.
//
// Supported: zones with targets default, ACCEPT, DROP and %%REJECT%%; sources (addresses
// and prefixes; MAC and ipset sources make the zone undecided), interfaces, services
// (ports, protocols, includes, destinations), ports, protocols, forward-ports and rich
// rules (family, priority, source/destination address with NOT, service, port, protocol,
// forward-port, accept/reject [type]/drop, limit). Policies (other than naming their
// chains) and --direct rules are not evaluated: a direct rule that decides is named as
// such from the kernel's chain INPUT_direct, and firewalld's own entries are left out.
package firewalld

import (
	"net/netip"

	"github.com/portpath/portpath/report"
)

// Target values of a zone.
const (
	TargetDefault = "default"
	TargetAccept  = "ACCEPT"
	TargetDrop    = "DROP"
	TargetReject  = "%%REJECT%%"
)

// Config is one firewalld configuration: the permanent one (XML files) or the runtime one
// (firewall-cmd --list-all-zones).
type Config struct {
	// DefaultZone is the zone for traffic no source or interface binding claims; empty means unknown.
	DefaultZone string
	// Backend is firewalld.conf's FirewallBackend ("nftables", "iptables"); empty means unknown.
	Backend string
	// Zones by name.
	Zones map[string]*Zone
	// Services by name; nil when no service definitions were read.
	Services map[string]*Service
	// Origin says where the configuration was read ("/etc/firewalld", "firewall-cmd --list-all-zones").
	Origin string
}

// Zone is one firewalld zone.
type Zone struct {
	Name string
	// Target is default, ACCEPT, DROP or %%REJECT%%; empty means default.
	Target     string
	Interfaces []string
	// Sources are addresses, prefixes, "ipset:NAME" or MAC addresses bound to the zone.
	Sources      []string
	Services     []string
	Ports        []Port
	Protocols    []string
	SourcePorts  []Port
	ForwardPorts []ForwardPort
	RichRules    []*RichRule
	// File is the XML file the zone came from (with the line of each entry kept on the
	// entries' Line fields); empty for a runtime zone.
	File string
}

// Port is a port or port range with its protocol, as in "8000-8010/tcp".
type Port struct {
	Ports report.PortRange
	// Proto is tcp, udp, sctp or dccp.
	Proto string
	// Line is the line of the entry in its file; 0 when unknown.
	Line int
}

// String is the port as firewall-cmd prints it: "8001/tcp", "8000-8010/tcp".
func (p Port) String() string { return portText(p.Ports) + "/" + p.Proto }

func portText(r report.PortRange) string {
	if r.Lo == r.Hi {
		return itoa(int(r.Lo))
	}
	return itoa(int(r.Lo)) + "-" + itoa(int(r.Hi))
}

// ForwardPort is a zone's forward-port: port/proto to toaddr:toport.
type ForwardPort struct {
	Port  report.PortRange
	Proto string
	// ToPort is the new port; zero means unchanged.
	ToPort report.PortRange
	// ToAddr is the new address; invalid means this host (a redirect).
	ToAddr netip.Addr
	Line   int
}

// String is the forward-port as firewall-cmd prints it.
func (f ForwardPort) String() string {
	s := "port=" + portText(f.Port) + ":proto=" + f.Proto + ":toport="
	if f.ToPort.Lo != 0 {
		s += portText(f.ToPort)
	}
	s += ":toaddr="
	if f.ToAddr.IsValid() {
		s += f.ToAddr.String()
	}
	return s
}

// Service is a firewalld service definition.
type Service struct {
	Name      string
	Ports     []Port
	Protocols []string
	// Includes names other services whose ports this one adds.
	Includes []string
	// Destinations restricts the service to a destination prefix per family ("ipv4", "ipv6").
	Destinations map[string]netip.Prefix
	File         string
}

// Addr is a rich rule's source or destination.
type Addr struct {
	// Address is an address or prefix; invalid when the rule names a MAC or an ipset.
	Address netip.Prefix
	MAC     string
	IPSet   string
	Invert  bool
}

// RichRule is one rich rule of a zone.
type RichRule struct {
	// Family is "ipv4", "ipv6" or empty (both).
	Family   string
	Priority int
	Source   *Addr
	Dest     *Addr
	// Element is the rule's match: "service", "port", "protocol", "source-port",
	// "forward-port", "icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp"; empty matches all.
	Element string
	// Value is the element's name (service, protocol value, icmp type).
	Value string
	// Port is the element's port (port, source-port, forward-port).
	Port Port
	// ToPort and ToAddr are a forward-port's rewrite.
	ToPort report.PortRange
	ToAddr netip.Addr
	// Log and Audit are set when the rule logs; they do not decide.
	Log, Audit string
	// Action is "accept", "reject", "drop", "mark" or empty (log only).
	Action string
	// RejectType is the reject's type ("tcp-reset", "icmp-host-prohibited"); empty means the default.
	RejectType string
	// Limit is the action's rate limit ("1/m"); empty means none.
	Limit string
	// Line is the line of the rule in its file; 0 when unknown.
	Line int
}
