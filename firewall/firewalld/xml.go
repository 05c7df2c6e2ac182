package firewalld

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/portpath/portpath/report"
)

// element is one XML element with its attributes, children and line.
type element struct {
	name     string
	attrs    map[string]string
	children []*element
	line     int
}

// readTree reads a small XML document into a tree, with the line of each element.
func readTree(r io.Reader, name string) (*element, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	var stack []*element
	var root *element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%s:%d: %s", name, se.Line, se.Msg)
			}
			line, _ := d.InputPos()
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			e := &element{name: t.Name.Local, attrs: map[string]string{}, line: line}
			for _, a := range t.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%s:%d: a second root element <%s>", name, line, e.name)
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			}
			if len(stack) > 64 {
				return nil, fmt.Errorf("%s:%d: elements nested too deep", name, line)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%s: no XML element", name)
	}
	return root, nil
}

// errAt is an error naming the file and line of an element.
func errAt(name string, e *element, format string, args ...any) error {
	return fmt.Errorf("%s:%d: <%s>: %s", name, e.line, e.name, fmt.Sprintf(format, args...))
}

// ParseZoneXML reads a zone file (/etc/firewalld/zones/NAME.xml); zone is its name, file
// the name used in errors and kept on the zone.
func ParseZoneXML(r io.Reader, zone, file string) (*Zone, error) {
	root, err := readTree(r, file)
	if err != nil {
		return nil, err
	}
	if root.name != "zone" {
		return nil, errAt(file, root, "not a zone file (the root element is not <zone>)")
	}
	z := &Zone{Name: zone, File: file, Target: TargetDefault}
	if t, ok := root.attrs["target"]; ok {
		switch t {
		case TargetDefault, TargetAccept, TargetDrop, TargetReject:
			z.Target = t
		case "REJECT":
			z.Target = TargetReject
		default:
			return nil, errAt(file, root, "unknown target %q", t)
		}
	}
	for _, c := range root.children {
		need := func(k string) (string, error) {
			v := c.attrs[k]
			if v == "" {
				return "", errAt(file, c, "no %s attribute", k)
			}
			return v, nil
		}
		switch c.name {
		case "interface":
			v, err := need("name")
			if err != nil {
				return nil, err
			}
			z.Interfaces = append(z.Interfaces, v)
		case "source":
			switch {
			case c.attrs["address"] != "":
				if _, err := report.ParsePrefixOrAddr(c.attrs["address"]); err != nil {
					return nil, errAt(file, c, "%v", err)
				}
				z.Sources = append(z.Sources, c.attrs["address"])
			case c.attrs["mac"] != "":
				z.Sources = append(z.Sources, strings.ToUpper(c.attrs["mac"]))
			case c.attrs["ipset"] != "":
				z.Sources = append(z.Sources, "ipset:"+c.attrs["ipset"])
			default:
				return nil, errAt(file, c, "no address, mac or ipset")
			}
		case "service":
			v, err := need("name")
			if err != nil {
				return nil, err
			}
			z.Services = append(z.Services, v)
		case "port", "source-port":
			p, err := parsePortProto(c.attrs["port"], c.attrs["protocol"])
			if err != nil {
				return nil, errAt(file, c, "%v", err)
			}
			p.Line = c.line
			if c.name == "port" {
				z.Ports = append(z.Ports, p)
			} else {
				z.SourcePorts = append(z.SourcePorts, p)
			}
		case "protocol":
			v, err := need("value")
			if err != nil {
				return nil, err
			}
			z.Protocols = append(z.Protocols, v)
		case "forward-port":
			fp, err := forwardPortOf(c.attrs["port"], c.attrs["protocol"], c.attrs["to-port"], c.attrs["to-addr"])
			if err != nil {
				return nil, errAt(file, c, "%v", err)
			}
			fp.Line = c.line
			z.ForwardPorts = append(z.ForwardPorts, fp)
		case "rule":
			rr, err := richRuleXML(c)
			if err != nil {
				return nil, errAt(file, c, "%v", err)
			}
			rr.Line = c.line
			z.RichRules = append(z.RichRules, rr)
		}
	}
	return z, nil
}

func forwardPortOf(port, proto, toport, toaddr string) (ForwardPort, error) {
	p, err := parsePortProto(port, proto)
	if err != nil {
		return ForwardPort{}, err
	}
	fp := ForwardPort{Port: p.Ports, Proto: p.Proto}
	if toport != "" {
		if fp.ToPort, err = report.ParsePortRange(toport, "-"); err != nil {
			return ForwardPort{}, fmt.Errorf("to-port: %w", err)
		}
	}
	if toaddr != "" {
		if fp.ToAddr, err = netip.ParseAddr(toaddr); err != nil {
			return ForwardPort{}, fmt.Errorf("to-addr %q: not an address", toaddr)
		}
	}
	if toport == "" && toaddr == "" {
		return ForwardPort{}, errors.New("forward-port without to-port or to-addr")
	}
	return fp, nil
}

// richRuleXML reads a <rule> element of a zone file.
func richRuleXML(e *element) (*RichRule, error) {
	r := &RichRule{}
	attrs := clone(e.attrs)
	if err := r.setPart("rule", attrs, nil); err != nil {
		return nil, err
	}
	for _, c := range e.children {
		switch c.name {
		case "log", "nflog", "audit", "accept", "reject", "drop", "mark":
			if err := r.setPart(c.name, clone(c.attrs), nil); err != nil {
				return nil, err
			}
			for _, l := range c.children {
				if l.name == "limit" {
					if c.name == "log" || c.name == "nflog" || c.name == "audit" {
						continue // a logging limit does not change the verdict
					}
					if err := r.setPart("limit", clone(l.attrs), nil); err != nil {
						return nil, err
					}
				}
			}
		case "source", "destination", "service", "port", "protocol", "source-port", "forward-port",
			"icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp":
			if err := r.setPart(c.name, clone(c.attrs), nil); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown element <%s> in a rule", c.name)
		}
	}
	return r, nil
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ParseServiceXML reads a service file (services/NAME.xml).
func ParseServiceXML(r io.Reader, service, file string) (*Service, error) {
	root, err := readTree(r, file)
	if err != nil {
		return nil, err
	}
	if root.name != "service" {
		return nil, errAt(file, root, "not a service file (the root element is not <service>)")
	}
	s := &Service{Name: service, File: file}
	for _, c := range root.children {
		switch c.name {
		case "port":
			if c.attrs["port"] == "" { // a protocol-only port entry (e.g. GRE) has no number
				s.Protocols = append(s.Protocols, c.attrs["protocol"])
				continue
			}
			p, err := parsePortProto(c.attrs["port"], c.attrs["protocol"])
			if err != nil {
				return nil, errAt(file, c, "%v", err)
			}
			p.Line = c.line
			s.Ports = append(s.Ports, p)
		case "protocol":
			s.Protocols = append(s.Protocols, c.attrs["value"])
		case "include":
			s.Includes = append(s.Includes, c.attrs["service"])
		case "destination":
			for _, fam := range []string{"ipv4", "ipv6"} {
				if v := c.attrs[fam]; v != "" {
					p, err := report.ParsePrefixOrAddr(v)
					if err != nil {
						return nil, errAt(file, c, "%v", err)
					}
					if s.Destinations == nil {
						s.Destinations = map[string]netip.Prefix{}
					}
					s.Destinations[fam] = p
				}
			}
		}
	}
	return s, nil
}

// ParseConf reads firewalld.conf (KEY=value lines) and returns DefaultZone and FirewallBackend.
func ParseConf(r io.Reader, file string) (defaultZone, backend string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return "", "", fmt.Errorf("%s:%d: not KEY=value: %q", file, line, s)
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.TrimSpace(k) {
		case "DefaultZone":
			defaultZone = v
		case "FirewallBackend":
			backend = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	return defaultZone, backend, nil
}

// looksLikeXML reports whether b starts like an XML document.
func looksLikeXML(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte("<"))
}
