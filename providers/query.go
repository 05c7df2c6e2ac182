package providers

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/report"
)

// privateRanges are the address blocks that the internet does not route to.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("::1/128"),
}

// PrivateRanges are the address blocks that the internet does not route to: RFC 1918,
// shared (100.64.0.0/10), link-local, loopback and IPv6 unique-local, link-local and loopback.
func PrivateRanges() []netip.Prefix { return slices.Clone(privateRanges) }

// IsPrivateAddr reports whether a is an address the internet does not route to.
func IsPrivateAddr(a netip.Addr) bool {
	return slices.ContainsFunc(privateRanges, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// IsPrivateSet reports whether the whole source set lies in private address space.
func IsPrivateSet(s netip.Prefix) bool {
	return slices.ContainsFunc(privateRanges, func(p netip.Prefix) bool {
		return p.Addr().BitLen() == s.Addr().BitLen() && p.Bits() <= s.Bits() && p.Contains(s.Addr())
	})
}

// Check is one evaluation question of a provider's layers: may Source reach Dst on
// Proto/Port, for an instance in Region.
type Check struct {
	Region string
	Source netip.Prefix
	Dst    netip.Addr
	Proto  string
	Port   uint16
}

// What names the protocol and port asked: "tcp/8282".
func (c Check) What() string { return fmt.Sprintf("%s/%d", c.Proto, c.Port) }

// Sought names, for messages, the instance q looks for: "instance i-1", "an instance named
// web" or "an instance owning 203.0.113.5, 2001:db8::5".
func (q Query) Sought() string {
	switch {
	case q.Instance != "":
		return "instance " + q.Instance
	case q.Name != "":
		return "an instance named " + q.Name
	}
	var as []string
	for _, a := range q.Addrs {
		as = append(as, a.String())
	}
	return "an instance owning " + strings.Join(as, ", ")
}

// SourceFor is the part of q's source set that can reach dst (report.SourceFor), or, when
// the set is of the other address family, a skipped step of layer saying so.
func SourceFor(q Query, dst netip.Addr, layer string) (netip.Prefix, *report.Step) {
	s, ok := report.SourceFor(q.Source, dst)
	if !ok {
		return s, &report.Step{Layer: layer, Decision: report.Skipped, Address: dst.String(),
			Detail: fmt.Sprintf("the source set %s is of the other address family than %s", q.Source, dst)}
	}
	return s, nil
}

// NotFound is the step of a search that found no instance for q. It is unknown when some
// searches failed (errs), a drop when the instance was named (--instance, --name: the user
// expects it to exist, and a client of a missing machine times out), and otherwise skipped:
// the target is not in this account. kinds names what was searched ("EC2 or Lightsail
// instance"); where lists the regions searched.
func NotFound(layer, kinds string, q Query, where string, errs []string) report.Step {
	st := report.Step{Layer: layer, Cause: report.CauseInstanceNotFound}
	what := fmt.Sprintf("no %s found for %s in %s", kinds, q.Sought(), where)
	switch {
	case len(errs) > 0:
		st.Decision, st.Cause = report.Unknown, ""
		st.Detail = what + ", but some searches failed: " + strings.Join(errs, "; ")
	case q.Instance != "" || q.Name != "":
		st.Decision, st.Symptom = report.Drop, report.Timeout
		st.Detail = what + " (searched with these credentials)"
	default:
		st.Decision = report.Skipped
		st.Detail = what + " (searched with these credentials): the target is not an instance of this account, or it is in another region (--region)"
	}
	return st
}
