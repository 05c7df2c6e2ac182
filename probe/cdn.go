package probe

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// cdnFile is the embedded table of CDNs: CNAME domains, address ranges, proxied ports,
// each with its source; the file carries the date it was compiled.
//
//go:embed cdndata/cdn.json
var cdnFile []byte

// CDN is one CDN or reverse-proxy service clients may reach instead of the server.
type CDN struct {
	// Name is the service's name ("Cloudflare").
	Name string `json:"name"`
	// Source lists where the domains, ranges and ports come from.
	Source []string `json:"source"`
	// Domains are CNAME targets that mean this CDN; "*" matches within one label.
	Domains []string `json:"domains"`
	// Ranges are the published edge address ranges; empty when the CDN publishes none.
	Ranges []string `json:"ranges,omitempty"`
	// HTTPPorts and HTTPSPorts are the ports the edge proxies for HTTP and HTTPS; both
	// empty means the list is not known (it depends on the customer's configuration).
	HTTPPorts  []int `json:"http_ports,omitempty"`
	HTTPSPorts []int `json:"https_ports,omitempty"`
	// Fix says what to change when the port is not proxied.
	Fix string `json:"fix"`

	prefixes []netip.Prefix
}

// CDNData is the table of known CDNs.
type CDNData struct {
	// Date is when the table was compiled (YYYY-MM-DD).
	Date string `json:"date"`
	// Note says how complete the table is.
	Note string `json:"note"`
	// CDNs are the services, checked in order.
	CDNs []CDN `json:"cdns"`
}

// ParseCDNData reads a CDN table; name is the file's name for errors.
func ParseCDNData(b []byte, name string) (*CDNData, error) {
	var d CDNData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("cdn data %s: %w", name, err)
	}
	if d.Date == "" {
		return nil, fmt.Errorf("cdn data %s: no date", name)
	}
	for i := range d.CDNs {
		c := &d.CDNs[i]
		if c.Name == "" {
			return nil, fmt.Errorf("cdn data %s: entry %d has no name", name, i+1)
		}
		for _, r := range c.Ranges {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				return nil, fmt.Errorf("cdn data %s: %s: range %q: %w", name, c.Name, r, err)
			}
			c.prefixes = append(c.prefixes, p.Masked())
		}
		for _, dom := range c.Domains {
			if _, err := path.Match(dom, ""); err != nil || dom == "" {
				return nil, fmt.Errorf("cdn data %s: %s: bad domain pattern %q", name, c.Name, dom)
			}
		}
		for _, p := range append(slices.Clone(c.HTTPPorts), c.HTTPSPorts...) {
			if p < 1 || p > 65535 {
				return nil, fmt.Errorf("cdn data %s: %s: port %d out of range", name, c.Name, p)
			}
		}
	}
	return &d, nil
}

// KnownCDNs is the embedded table; a broken table is a build mistake the tests catch.
func KnownCDNs() *CDNData {
	d, err := ParseCDNData(cdnFile, "cdndata/cdn.json")
	if err != nil {
		return &CDNData{Date: "unknown", Note: err.Error()}
	}
	return d
}

// CDNMatch says which CDN is in the path and what showed it.
type CDNMatch struct {
	// CDN is the service found.
	CDN *CDN
	// By is the evidence: "CNAME www.example.com.cdn.cloudflare.net" or "104.16.1.1 in 104.16.0.0/13".
	By string
}

// Match finds the CDN a CNAME chain or an answer address belongs to; CNAMEs are checked first.
func (d *CDNData) Match(chain []string, addrs []netip.Addr) (CDNMatch, bool) {
	for _, name := range chain {
		labels := strings.Split(strings.ToLower(strings.TrimSuffix(name, ".")), ".")
		for i := range d.CDNs {
			c := &d.CDNs[i]
			for _, dom := range c.Domains {
				want := strings.Split(strings.ToLower(dom), ".")
				if len(labels) < len(want) {
					continue
				}
				if matchLabels(want, labels[len(labels)-len(want):]) {
					return CDNMatch{CDN: c, By: "CNAME " + name}, true
				}
			}
		}
	}
	for _, a := range addrs {
		for i := range d.CDNs {
			c := &d.CDNs[i]
			for _, p := range c.prefixes {
				if p.Contains(a.Unmap()) {
					return CDNMatch{CDN: c, By: fmt.Sprintf("%s in %s", a, p)}, true
				}
			}
		}
	}
	return CDNMatch{}, false
}

func matchLabels(pattern, labels []string) bool {
	for i := range pattern {
		if ok, _ := path.Match(pattern[i], labels[i]); !ok {
			return false
		}
	}
	return true
}

// proxiedPorts are the ports c proxies for the target's scheme, and what they are called;
// nil when c's list is not known.
func (c *CDN) proxiedPorts(t report.Target) ([]int, string) {
	if len(c.HTTPPorts) == 0 && len(c.HTTPSPorts) == 0 {
		return nil, ""
	}
	switch t.Scheme {
	case "http", "ws":
		return c.HTTPPorts, "HTTP"
	case "https", "wss":
		return c.HTTPSPorts, "HTTPS"
	}
	ports := append(slices.Clone(c.HTTPPorts), c.HTTPSPorts...)
	slices.Sort(ports)
	return ports, "HTTP or HTTPS"
}

// CDNStep is the "cdn" step: whether a known CDN answers for the target's name, and
// whether it proxies the target's port. origin is the server's own address behind the CDN
// (--origin); when it is known the other layers are evaluated for it.
func CDNStep(d *CDNData, t report.Target, chain []string, addrs, origin []netip.Addr) report.Step {
	st := report.Step{Layer: "cdn"}
	data := fmt.Sprintf("CDN table of %s", d.Date)
	m, ok := d.Match(chain, addrs)
	if !ok {
		st.Decision = report.Allow
		st.Detail = fmt.Sprintf("no known CDN answers for %s (%s: Cloudflare, CloudFront, Fastly, Akamai, Alibaba Cloud, Tencent Cloud)", t.Host, data)
		if len(origin) > 0 {
			st.Detail += fmt.Sprintf("; the cloud and host layers are evaluated for the origin %s given by --origin", joinAddrs(origin))
		}
		return st
	}
	c := m.CDN
	st.Detail = fmt.Sprintf("%s is served by %s (%s): clients connect to its edge, which connects to the server", t.Host, c.Name, m.By)
	ports, kind := c.proxiedPorts(t)
	if ports != nil && (t.Transport == "udp" || !slices.Contains(ports, t.Port)) {
		st.Decision, st.Symptom, st.Cause = report.Drop, report.Timeout, report.CauseCDNPortUnsupported
		what := fmt.Sprintf("port %d", t.Port)
		if t.Transport == "udp" {
			what = "UDP"
		}
		st.Detail += fmt.Sprintf("; %s proxies %s only on %s, not %s, so the edge does not answer there (source: %s; %s)",
			c.Name, kind, intList(ports), what, strings.Join(c.Source, ", "), data)
		st.Fix = []string{c.Fix}
		return st
	}
	st.Cause = report.CauseCDNInPath
	if ports == nil {
		st.Detail += fmt.Sprintf("; which ports %s proxies depends on the service's configuration", c.Name)
	}
	if len(origin) > 0 {
		st.Decision = report.Allow
		st.Detail += fmt.Sprintf("; the cloud and host layers are evaluated for the origin %s (--origin), not for the edge", joinAddrs(origin))
		return st
	}
	st.Decision = report.Unknown
	st.Detail += "; the probe reaches the edge, and the server behind it cannot be seen from here"
	st.Fix = []string{fmt.Sprintf("portpath check %s --origin SERVER_IP  # evaluate the server behind %s", t.Input, c.Name)}
	return st
}

func intList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
