// Package frontend is the seam between the kernel's rules and the tools people configure
// them with — ufw, firewalld, the BT panel. The verdict always comes from the live kernel
// rules (firewall/netfilter); a front end restates it in its own terms: the rule as the
// user wrote it, drift between what the tool is configured to do and what the kernel
// enforces, and the fix in the tool's own commands.
package frontend

import (
	"context"
	"errors"
	"net/netip"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// ErrAbsent means the tool is not installed or not in use on the host read: no step is reported.
var ErrAbsent = errors.New("not in use on this host")

// Query is the connection asked about, for one destination address.
type Query struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Dst is the destination address as the client uses it (before any DNAT).
	Dst  netip.Addr
	Port uint16
	// Source is the source set, of Dst's family.
	Source netip.Prefix
	// InIface is the interface client traffic arrives on; empty means unknown.
	InIface string
}

// Kernel is what the live kernel rules decided for a Query.
type Kernel struct {
	// Read is false when no kernel rules could be read; Step then says why (unknown or skipped).
	Read bool
	// Step is the host.iptables or host.nftables step as the report shows it.
	Step report.Step
	// Classes are the parts of the source set with their simulated packet; empty when Read is false.
	Classes []netfilter.Class
	// Main is the class Step speaks for (the largest allowed part, else undecided, else blocked); nil when none.
	Main *netfilter.Class
}

// Decider is the rule that decided the main class: the dropping or rejecting rule, or the
// rule that accepted in the last base chain; a chain policy has Position 0. nil when no rule decided.
func (k Kernel) Decider() *report.Rule {
	if k.Main == nil || k.Main.Trace.Decider == nil {
		return nil
	}
	return k.Main.Trace.Decider.Result.Rule
}

// Forwarded reports whether DNAT sends the connection through FORWARD (a published container port).
func (k Kernel) Forwarded() bool {
	return k.Main != nil && k.Main.Trace.NAT != nil && k.Main.Trace.Path == netfilter.Forward
}

// Frontend is one firewall tool's view of the host, read once.
type Frontend interface {
	// Layer is the step's layer: "host.ufw", "host.firewalld", "host.btpanel".
	Layer() string
	// Step restates the kernel's decision for q in the tool's terms. It never decides on its own
	// that a connection is open: where the tool's configuration and the kernel disagree, the
	// kernel's decision stands and the detail names the drift.
	Step(q Query, k Kernel) report.Step
}

// Source says where a tool's configuration is read from.
type Source struct {
	// Path is a copy of the tool's configuration the user named (a directory or a file);
	// empty means this host's own configuration at its usual place.
	Path string
	// Live is true when reading this host: the opener may also ask the running tool
	// (firewall-cmd, ufw status). Offline, only Path is read.
	Live bool
}

// Opener reads one tool's configuration once. ErrAbsent (wrapped or not) means the tool is
// not in use and no step is reported; any other error makes the tool's step unknown, with
// the error as the reason. A Path that does not exist is rejected before the opener runs.
type Opener func(ctx context.Context, src Source) (Frontend, error)
