package firewalld

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

func itoa(i int) string { return strconv.Itoa(i) }

// String is the rule as firewall-cmd prints it (firewalld's Rich_Rule.__str__), the form
// --add-rich-rule and --remove-rich-rule take.
func (r *RichRule) String() string {
	var b strings.Builder
	b.WriteString("rule")
	if r.Priority != 0 {
		fmt.Fprintf(&b, ` priority="%d"`, r.Priority)
	}
	if r.Family != "" {
		fmt.Fprintf(&b, ` family="%s"`, r.Family)
	}
	addr := func(kw string, a *Addr) {
		if a == nil {
			return
		}
		b.WriteString(" " + kw)
		if a.Invert {
			b.WriteString(" NOT")
		}
		switch {
		case a.Address.IsValid():
			fmt.Fprintf(&b, ` address="%s"`, addrText(a.Address))
		case a.MAC != "":
			fmt.Fprintf(&b, ` mac="%s"`, a.MAC)
		default:
			fmt.Fprintf(&b, ` ipset="%s"`, a.IPSet)
		}
	}
	addr("source", r.Source)
	addr("destination", r.Dest)
	switch r.Element {
	case "service", "icmp-block", "icmp-type":
		fmt.Fprintf(&b, ` %s name="%s"`, r.Element, r.Value)
	case "protocol":
		fmt.Fprintf(&b, ` protocol value="%s"`, r.Value)
	case "port", "source-port":
		fmt.Fprintf(&b, ` %s port="%s" protocol="%s"`, r.Element, portText(r.Port.Ports), r.Port.Proto)
	case "forward-port":
		fmt.Fprintf(&b, ` forward-port port="%s" protocol="%s"`, portText(r.Port.Ports), r.Port.Proto)
		if r.ToPort.Lo != 0 {
			fmt.Fprintf(&b, ` to-port="%s"`, portText(r.ToPort))
		}
		if r.ToAddr.IsValid() {
			fmt.Fprintf(&b, ` to-addr="%s"`, r.ToAddr)
		}
	case "masquerade", "tcp-mss-clamp":
		b.WriteString(" " + r.Element)
	}
	if r.Log != "" {
		b.WriteString(" " + r.Log)
	}
	if r.Audit != "" {
		b.WriteString(" " + r.Audit)
	}
	if r.Action != "" {
		b.WriteString(" " + r.Action)
		if r.RejectType != "" {
			fmt.Fprintf(&b, ` type="%s"`, r.RejectType)
		}
		if r.Limit != "" {
			fmt.Fprintf(&b, ` limit value="%s"`, r.Limit)
		}
	}
	return b.String()
}

// addrText prints a host prefix as a bare address, as firewalld keeps what the user wrote for those.
func addrText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// richToken is one word of a rich rule: a keyword, or key="value".
type richToken struct {
	key, value string
	hasValue   bool
}

func lexRich(s string) ([]richToken, error) {
	var out []richToken
	i := 0
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '=' && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		tok := richToken{key: s[i:j]}
		if j < len(s) && s[j] == '=' {
			j++
			tok.hasValue = true
			if j < len(s) && (s[j] == '"' || s[j] == '\'') {
				q := s[j]
				end := strings.IndexByte(s[j+1:], q)
				if end < 0 {
					return nil, fmt.Errorf("unterminated quote after %s=", tok.key)
				}
				tok.value = s[j+1 : j+1+end]
				j += end + 2
			} else {
				k := j
				for k < len(s) && s[k] != ' ' && s[k] != '\t' {
					k++
				}
				tok.value = s[j:k]
				j = k
			}
		}
		if strings.ContainsAny(tok.value, "\"'") || strings.ContainsAny(tok.key, "\"'") {
			return nil, fmt.Errorf("stray quote in %q", s[i:j])
		}
		if tok.key == "" {
			return nil, fmt.Errorf("stray %q", s[i:j])
		}
		out = append(out, tok)
		i = j
	}
	return out, nil
}

// ParseRichRule reads a rich rule in firewall-cmd's text form:
// `rule family="ipv4" source address="10.0.0.0/8" port port="80" protocol="tcp" accept`.
func ParseRichRule(s string) (*RichRule, error) {
	toks, err := lexRich(s)
	if err != nil {
		return nil, fmt.Errorf("rich rule %q: %w", s, err)
	}
	if len(toks) == 0 || toks[0].key != "rule" || toks[0].hasValue {
		return nil, fmt.Errorf("rich rule %q: does not start with \"rule\"", s)
	}
	r := &RichRule{}
	ctx := "rule" // the keyword attributes attach to
	var cur *Addr
	var attrs map[string]string
	flush := func() error {
		if err := r.setPart(ctx, attrs, cur); err != nil {
			return err
		}
		attrs, cur = map[string]string{}, nil
		return nil
	}
	attrs = map[string]string{}
	for _, t := range toks[1:] {
		if t.hasValue {
			if _, dup := attrs[t.key]; dup {
				return nil, fmt.Errorf("rich rule %q: %s given twice", s, t.key)
			}
			attrs[t.key] = t.value
			continue
		}
		switch t.key {
		case "NOT", "not":
			if cur == nil {
				return nil, fmt.Errorf("rich rule %q: NOT outside source or destination", s)
			}
			cur.Invert = true
			continue
		}
		if err := flush(); err != nil {
			return nil, fmt.Errorf("rich rule %q: %w", s, err)
		}
		ctx = t.key
		switch ctx {
		case "source", "destination":
			cur = &Addr{}
		case "service", "port", "protocol", "source-port", "forward-port", "icmp-block", "icmp-type",
			"masquerade", "tcp-mss-clamp", "log", "nflog", "audit", "accept", "reject", "drop", "mark", "limit":
		default:
			return nil, fmt.Errorf("rich rule %q: unknown word %q", s, t.key)
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("rich rule %q: %w", s, err)
	}
	return r, nil
}

// setPart fills in one part of the rule from its keyword and attributes (shared by the
// text and the XML readers).
func (r *RichRule) setPart(kw string, attrs map[string]string, a *Addr) error {
	get := func(k string) string { v := attrs[k]; delete(attrs, k); return v }
	var err error
	switch kw {
	case "rule":
		r.Family = get("family")
		if r.Family != "" && r.Family != "ipv4" && r.Family != "ipv6" {
			return fmt.Errorf("bad family %q", r.Family)
		}
		if p := get("priority"); p != "" {
			n, perr := strconv.Atoi(p)
			if perr != nil || n < -32768 || n > 32767 {
				return fmt.Errorf("bad priority %q", p)
			}
			r.Priority = n
		}
	case "source", "destination":
		if a == nil {
			a = &Addr{}
		}
		if inv := get("invert"); strings.EqualFold(inv, "true") || inv == "1" || strings.EqualFold(inv, "yes") {
			a.Invert = true
		}
		switch {
		case attrs["address"] != "":
			p, perr := report.ParsePrefixOrAddr(get("address"))
			if perr != nil {
				return fmt.Errorf("%s: %w", kw, perr)
			}
			a.Address = p
		case attrs["mac"] != "" && kw == "source":
			a.MAC = strings.ToUpper(get("mac"))
		case attrs["ipset"] != "":
			a.IPSet = get("ipset")
		default:
			return fmt.Errorf("%s without address, mac or ipset", kw)
		}
		if kw == "source" {
			if r.Source != nil {
				return errors.New("two sources")
			}
			r.Source = a
		} else {
			if r.Dest != nil {
				return errors.New("two destinations")
			}
			r.Dest = a
		}
	case "service", "icmp-block", "icmp-type", "protocol", "port", "source-port", "forward-port", "masquerade", "tcp-mss-clamp":
		if r.Element != "" {
			return fmt.Errorf("%s and %s in one rule", r.Element, kw)
		}
		r.Element = kw
		switch kw {
		case "service", "icmp-block", "icmp-type":
			if r.Value = get("name"); r.Value == "" {
				return fmt.Errorf("%s without name", kw)
			}
		case "protocol":
			if r.Value = get("value"); r.Value == "" {
				return errors.New("protocol without value")
			}
		case "port", "source-port", "forward-port":
			if r.Port, err = parsePortProto(get("port"), get("protocol")); err != nil {
				return fmt.Errorf("%s: %w", kw, err)
			}
			if kw == "forward-port" {
				if tp := get("to-port"); tp != "" {
					if r.ToPort, err = report.ParsePortRange(tp, "-"); err != nil {
						return fmt.Errorf("forward-port to-port: %w", err)
					}
				}
				if ta := get("to-addr"); ta != "" {
					if r.ToAddr, err = netip.ParseAddr(ta); err != nil {
						return fmt.Errorf("forward-port to-addr %q: not an address", ta)
					}
				}
			}
		case "tcp-mss-clamp":
			get("value")
		}
	case "log", "nflog", "audit":
		parts := []string{kw}
		for _, k := range []string{"group", "prefix", "level", "queue-size"} {
			if v := get(k); v != "" {
				parts = append(parts, fmt.Sprintf(`%s="%s"`, k, v))
			}
		}
		if kw == "audit" {
			r.Audit = strings.Join(parts, " ")
		} else {
			r.Log = strings.Join(parts, " ")
		}
	case "accept", "reject", "drop", "mark":
		if r.Action != "" {
			return fmt.Errorf("two actions (%s, %s)", r.Action, kw)
		}
		r.Action = kw
		if kw == "reject" {
			r.RejectType = get("type")
		}
		if kw == "mark" {
			get("set")
		}
	case "limit":
		v := get("value")
		if v == "" {
			return errors.New("limit without value")
		}
		r.Limit = v
	}
	for k := range attrs {
		return fmt.Errorf("unexpected %s= after %s", k, kw)
	}
	return nil
}

// parsePortProto reads a port ("80", "8000-8010") and its protocol.
func parsePortProto(port, proto string) (Port, error) {
	pr, err := report.ParsePortRange(port, "-")
	if err != nil {
		return Port{}, err
	}
	switch proto {
	case "tcp", "udp", "sctp", "dccp":
	default:
		return Port{}, fmt.Errorf("bad protocol %q", proto)
	}
	return Port{Ports: pr, Proto: proto}, nil
}

// ParsePort reads a port as firewall-cmd prints it: "8001/tcp", "8000-8010/udp".
func ParsePort(s string) (Port, error) {
	port, proto, ok := strings.Cut(s, "/")
	if !ok {
		return Port{}, fmt.Errorf("port %q: want PORT/PROTOCOL", s)
	}
	p, err := parsePortProto(port, proto)
	if err != nil {
		return Port{}, fmt.Errorf("port %q: %w", s, err)
	}
	return p, nil
}
