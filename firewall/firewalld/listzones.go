package firewalld

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/portpath/portpath/report"
)

// ParseListAllZones reads the output of `firewall-cmd --list-all-zones` (or of
// --list-all / --info-zone for one zone): per zone a name line ("public (default, active)"),
// then two-space indented "key: values" lines, multi-line values (forward-ports, rich
// rules) on tab-indented lines. The default zone is the one marked "default", if any.
func ParseListAllZones(r io.Reader, name string) (*Config, error) {
	cfg := &Config{Zones: map[string]*Zone{}, Origin: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var z *Zone
	key := "" // the key whose continuation lines follow
	line := 0
	for sc.Scan() {
		line++
		raw := strings.TrimRight(sc.Text(), " \r")
		if strings.TrimSpace(raw) == "" {
			key = ""
			continue
		}
		switch {
		case raw[0] == '\t':
			if z == nil || (key != "forward-ports" && key != "rich rules") {
				return nil, fmt.Errorf("%s:%d: a continuation line outside forward-ports or rich rules", name, line)
			}
			if err := z.addValue(key, strings.TrimSpace(raw), line); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		case raw[0] == ' ':
			if z == nil {
				return nil, fmt.Errorf("%s:%d: a setting before any zone name", name, line)
			}
			k, v, ok := strings.Cut(strings.TrimSpace(raw), ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: not \"key: values\": %q", name, line, strings.TrimSpace(raw))
			}
			key = k
			v = strings.TrimSpace(v)
			if err := z.setKey(k, v, line); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		default:
			zname, attrs, _ := strings.Cut(raw, " ")
			if strings.ContainsAny(zname, ":/=\"") {
				return nil, fmt.Errorf("%s:%d: %q is not a zone name", name, line, zname)
			}
			if _, dup := cfg.Zones[zname]; dup {
				return nil, fmt.Errorf("%s:%d: zone %s listed twice", name, line, zname)
			}
			z = &Zone{Name: zname, Target: TargetDefault}
			cfg.Zones[zname] = z
			attrs = strings.Trim(strings.TrimSpace(attrs), "()")
			for _, a := range strings.Split(attrs, ",") {
				if strings.TrimSpace(a) == "default" {
					cfg.DefaultZone = zname
				}
			}
			key = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(cfg.Zones) == 0 {
		return nil, fmt.Errorf("%s: no zone found: not `firewall-cmd --list-all-zones` output", name)
	}
	return cfg, nil
}

// setKey applies one "key: values" line of a zone listing.
func (z *Zone) setKey(k, v string, line int) error {
	fields := strings.Fields(v)
	switch k {
	case "target":
		switch v {
		case TargetDefault, TargetAccept, TargetDrop, TargetReject:
			z.Target = v
		case "REJECT":
			z.Target = TargetReject
		default:
			return fmt.Errorf("unknown target %q", v)
		}
	case "interfaces":
		z.Interfaces = fields
	case "sources":
		for _, f := range fields {
			if strings.HasPrefix(f, "ipset:") || isMAC(f) {
				continue
			}
			if _, err := report.ParsePrefixOrAddr(f); err != nil {
				return fmt.Errorf("sources: %w", err)
			}
		}
		z.Sources = fields
	case "services":
		z.Services = fields
	case "ports", "source-ports":
		for _, f := range fields {
			p, err := ParsePort(f)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			p.Line = line
			if k == "ports" {
				z.Ports = append(z.Ports, p)
			} else {
				z.SourcePorts = append(z.SourcePorts, p)
			}
		}
	case "protocols":
		z.Protocols = fields
	case "forward-ports", "rich rules":
		if v != "" {
			return z.addValue(k, v, line)
		}
	}
	return nil
}

func isMAC(s string) bool {
	return len(s) == 17 && strings.Count(s, ":") == 5
}

// addValue adds one forward-port or rich rule of a zone listing.
func (z *Zone) addValue(k, v string, line int) error {
	if k == "rich rules" {
		rr, err := ParseRichRule(v)
		if err != nil {
			return err
		}
		rr.Line = line
		z.RichRules = append(z.RichRules, rr)
		return nil
	}
	rest, toaddr, _ := strings.Cut(v, ":toaddr=") // an IPv6 toaddr holds colons
	kv := map[string]string{"toaddr": toaddr}
	for _, part := range strings.Split(rest, ":") {
		a, b, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("forward-port %q: want port=P:proto=P:toport=P:toaddr=A", v)
		}
		kv[a] = b
	}
	fp, err := forwardPortOf(kv["port"], kv["proto"], kv["toport"], kv["toaddr"])
	if err != nil {
		return fmt.Errorf("forward-port %q: %w", v, err)
	}
	fp.Line = line
	z.ForwardPorts = append(z.ForwardPorts, fp)
	return nil
}
