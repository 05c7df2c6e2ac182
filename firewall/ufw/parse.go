package ufw

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"

	"github.com/portpath/portpath/report"
)

// maxLine bounds one line of a ufw file; ufw writes lines of a few hundred bytes.
const maxLine = 1 << 20

// maxShown bounds how much of a bad line an error quotes.
const maxShown = 60

func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return s[:maxShown] + "…"
}

var confKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseConf reads a shell-style KEY=value file as ufw writes ufw.conf and /etc/default/ufw:
// comments, blank lines and KEY=value with the value bare or in quotes. Anything else is
// an error naming name and the line.
func ParseConf(r io.Reader, name string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || !confKey.MatchString(key) {
			return nil, fmt.Errorf("%s:%d: not a KEY=value line: %q", name, n, shorten(line))
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') {
			end := strings.IndexByte(val[1:], val[0])
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated quote in %q", name, n, shorten(line))
			}
			rest := strings.TrimSpace(val[end+2:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, fmt.Errorf("%s:%d: text after the quoted value: %q", name, n, shorten(line))
			}
			val = val[1 : end+1]
		} else if len(val) == 1 && (val[0] == '"' || val[0] == '\'') {
			return nil, fmt.Errorf("%s:%d: unterminated quote in %q", name, n, shorten(line))
		} else if i := strings.Index(val, " #"); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
		out[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// ParseEnabled reads ufw.conf: whether ufw is to be started (ENABLED=yes|no).
func ParseEnabled(r io.Reader, name string) (bool, error) {
	kv, err := ParseConf(r, name)
	if err != nil {
		return false, err
	}
	v, ok := kv["ENABLED"]
	if !ok {
		return false, fmt.Errorf("%s: no ENABLED= line (not ufw's ufw.conf?)", name)
	}
	switch strings.ToLower(v) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("%s: ENABLED=%q; ufw writes yes or no", name, shorten(v))
}

// Defaults are the settings of /etc/default/ufw that shape the ruleset.
type Defaults struct {
	// IPv6 is IPV6=yes: ufw also manages ip6tables (user6.rules).
	IPv6 bool
	// Input, Output and Forward are the default policies: ACCEPT, DROP or REJECT.
	Input, Output, Forward string
}

// ParseDefaults reads /etc/default/ufw.
func ParseDefaults(r io.Reader, name string) (*Defaults, error) {
	kv, err := ParseConf(r, name)
	if err != nil {
		return nil, err
	}
	d := &Defaults{IPv6: true}
	if v, ok := kv["IPV6"]; ok {
		switch strings.ToLower(v) {
		case "yes":
		case "no":
			d.IPv6 = false
		default:
			return nil, fmt.Errorf("%s: IPV6=%q; ufw reads yes or no", name, shorten(v))
		}
	}
	for _, p := range []struct {
		key string
		dst *string
	}{{"DEFAULT_INPUT_POLICY", &d.Input}, {"DEFAULT_OUTPUT_POLICY", &d.Output}, {"DEFAULT_FORWARD_POLICY", &d.Forward}} {
		v, ok := kv[p.key]
		if !ok {
			return nil, fmt.Errorf("%s: no %s= line (not ufw's defaults file?)", name, p.key)
		}
		switch v = strings.ToUpper(v); v {
		case "ACCEPT", "DROP", "REJECT":
			*p.dst = v
		default:
			return nil, fmt.Errorf("%s: %s=%q; ufw reads ACCEPT, DROP or REJECT", name, p.key, shorten(v))
		}
	}
	return d, nil
}

// UserRules is one user.rules or user6.rules file: the rules added with the ufw command.
type UserRules struct {
	// Name is the file the rules came from.
	Name string
	// V6 is true for user6.rules (chains ufw6-*).
	V6 bool
	// Tuples are the rules in file order, as ufw keeps them.
	Tuples []*Tuple
	// Chains holds, per chain, the iptables rules of the RULES section in order: the rules
	// iptables-restore puts into that chain, so the n-th is rule n of the loaded chain.
	Chains map[string][]Line
}

// Line is one iptables rule of user.rules.
type Line struct {
	// Num is the line number in the file.
	Num int
	// Text is the line as written ("-A ufw-user-input -p tcp --dport 22 -j ACCEPT").
	Text string
	// Tuple is the ufw rule the line belongs to; nil for a rule written without a tuple.
	Tuple *Tuple
}

// Tuple is a ufw rule as its "### tuple ###" line records it.
type Tuple struct {
	// Line is the line number of the tuple in its file.
	Line int
	// Action is allow, deny, reject or limit.
	Action string
	// LogType is "", "log" or "log-all".
	LogType string
	// Route is true for a `ufw route` rule (routed traffic, chain ufw-user-forward).
	Route bool
	// Proto is tcp, udp, any or another protocol ufw supports.
	Proto string
	// DPort and SPort are "any" or ufw's port list ("22", "5000:5010", "80,443").
	DPort, SPort string
	// Dst and Src are addresses or CIDRs as written ("0.0.0.0/0", "10.99.0.1").
	Dst, Src string
	// DApp and SApp name application profiles; empty when none.
	DApp, SApp string
	// Direction is "in" or "out".
	Direction string
	// InIface and OutIface are the interfaces the rule is bound to; empty means any.
	InIface, OutIface string
	// Comment is the decoded comment; empty when none.
	Comment string
	// V6 is true for a rule of user6.rules.
	V6 bool
	// Number is the rule's number in `ufw status numbered` (IPv4 rules first, then IPv6).
	Number int
	// Lines are the iptables rules ufw generated for the tuple.
	Lines []Line

	dports, sports []report.PortRange // nil means any
	dst, src       netip.Prefix
}

var protos = map[string]bool{"any": true, "tcp": true, "udp": true, "ipv6": true, "esp": true, "ah": true, "gre": true, "igmp": true}

var ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_\-.+,=%@]{1,15}$`)

// ParseTuple reads the fields after "### tuple ###": action proto dport dst sport src
// [dapp sapp] direction[_iface] [comment=HEX], as ufw 0.30 and later write them (ufw 0.29's
// forms without a direction are read as incoming, as ufw does).
func ParseTuple(s string, v6 bool) (*Tuple, error) {
	var comment string
	if i := strings.Index(s, " comment="); i >= 0 {
		h := strings.TrimSpace(s[i+len(" comment="):])
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("comment=%q is not hex", shorten(h))
		}
		comment, s = string(b), s[:i]
	}
	f := strings.Fields(s)
	if len(f) < 6 || len(f) > 9 {
		return nil, fmt.Errorf("%d fields; ufw writes 7 or 9", len(f))
	}
	t := &Tuple{Proto: f[1], DPort: f[2], Dst: f[3], SPort: f[4], Src: f[5], Direction: "in", Comment: comment, V6: v6}
	action := f[0]
	if a, ok := strings.CutPrefix(action, "route:"); ok {
		t.Route, action = true, a
	}
	act, log, _ := strings.Cut(action, "_")
	switch act {
	case "allow", "deny", "reject", "limit":
		t.Action = act
	default:
		return nil, fmt.Errorf("action %q; ufw writes allow, deny, reject or limit", shorten(action))
	}
	switch log {
	case "", "log", "log-all":
		t.LogType = log
	default:
		return nil, fmt.Errorf("log type %q; ufw writes log or log-all", shorten(log))
	}
	if !protos[t.Proto] {
		return nil, fmt.Errorf("protocol %q is not one ufw supports", shorten(t.Proto))
	}
	var err error
	if t.dports, err = parsePorts(t.DPort); err != nil {
		return nil, fmt.Errorf("destination port: %w", err)
	}
	if t.sports, err = parsePorts(t.SPort); err != nil {
		return nil, fmt.Errorf("source port: %w", err)
	}
	if t.dst, err = parseAddr(t.Dst, v6); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if t.src, err = parseAddr(t.Src, v6); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if len(f) >= 8 {
		t.DApp, t.SApp = appName(f[6]), appName(f[7])
	}
	if len(f) == 7 || len(f) == 9 {
		if err := t.setDirection(f[len(f)-1]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func appName(s string) string {
	if s == "-" {
		return ""
	}
	return strings.ReplaceAll(s, "%20", " ")
}

// setDirection reads "in", "out", "in_eth0", "out_eth0" or "in_eth0!out_eth1".
func (t *Tuple) setDirection(s string) error {
	bad := fmt.Errorf("direction %q; ufw writes in, out, in_IFACE, out_IFACE or in_IFACE!out_IFACE", shorten(s))
	if in, out, ok := strings.Cut(s, "!"); ok {
		i, ok1 := strings.CutPrefix(in, "in_")
		o, ok2 := strings.CutPrefix(out, "out_")
		if !ok1 || !ok2 || !ifaceName.MatchString(i) || !ifaceName.MatchString(o) {
			return bad
		}
		t.Direction, t.InIface, t.OutIface = "in", i, o
		return nil
	}
	dir, iface, hasIface := strings.Cut(s, "_")
	if dir != "in" && dir != "out" {
		return bad
	}
	t.Direction = dir
	if hasIface {
		if !ifaceName.MatchString(iface) {
			return bad
		}
		if dir == "in" {
			t.InIface = iface
		} else {
			t.OutIface = iface
		}
	}
	return nil
}

// parsePorts reads "any" (nil) or ufw's list of ports and a:b ranges.
func parsePorts(s string) ([]report.PortRange, error) {
	if s == "any" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 15 {
		return nil, fmt.Errorf("%q lists more ports than ufw allows", shorten(s))
	}
	out := make([]report.PortRange, 0, len(parts))
	for _, p := range parts {
		r, err := report.ParsePortRange(p, ":")
		if err != nil {
			return nil, fmt.Errorf("%q: %w", shorten(s), err)
		}
		if r.Lo == 0 {
			return nil, fmt.Errorf("%q: port 0", shorten(s))
		}
		out = append(out, r)
	}
	return out, nil
}

// parseAddr reads "any" or an address or CIDR of the file's family.
func parseAddr(s string, v6 bool) (netip.Prefix, error) {
	if s == "any" {
		if v6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	p, err := report.ParsePrefixOrAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is6() != v6 {
		if v6 {
			return netip.Prefix{}, fmt.Errorf("%q is an IPv4 address in user6.rules", shorten(s))
		}
		return netip.Prefix{}, fmt.Errorf("%q is an IPv6 address in user.rules", shorten(s))
	}
	return p, nil
}

// ParseUserRules reads user.rules (v6 false) or user6.rules (v6 true): an iptables-restore
// fragment with ufw's section markers and a "### tuple ###" line before each rule's
// iptables lines. Errors read "name:line: …".
func ParseUserRules(r io.Reader, name string, v6 bool) (*UserRules, error) {
	prefix := "ufw-"
	if v6 {
		prefix = "ufw6-"
	}
	u := &UserRules{Name: name, V6: v6, Chains: map[string][]Line{}}
	declared := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	const (
		head = iota
		table
		rules
		other
		done
	)
	state := head
	sawRules := false
	var cur *Tuple
	n := 0
	errf := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		marker, isMarker := strings.CutPrefix(line, "### ")
		if !isMarker && strings.HasPrefix(line, "#") {
			continue // a plain comment
		}
		if state == done {
			return nil, errf("text after COMMIT: %q", shorten(line))
		}
		switch {
		case line == "*filter":
			if state != head {
				return nil, errf("a second *filter table")
			}
			state = table
		case state == head:
			return nil, errf("expected *filter first, found %q (not ufw's user rules?)", shorten(line))
		case isMarker && strings.HasPrefix(marker, "tuple ###"):
			if state != rules {
				return nil, errf("a tuple outside the ### RULES ### section")
			}
			t, err := ParseTuple(strings.TrimSpace(strings.TrimPrefix(marker, "tuple ###")), v6)
			if err != nil {
				return nil, errf("bad tuple: %v", err)
			}
			t.Line = n
			u.Tuples = append(u.Tuples, t)
			cur = t
		case isMarker:
			switch strings.TrimSpace(strings.TrimSuffix(marker, "###")) {
			case "RULES":
				if state != table {
					return nil, errf("### RULES ### out of place")
				}
				state, sawRules = rules, true
			case "END RULES", "LOGGING", "END LOGGING", "RATE LIMITING", "END RATE LIMITING":
				state, cur = other, nil
			default:
				return nil, errf("unknown section marker %q", shorten(line))
			}
		case line == "COMMIT":
			state = done
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
				return nil, errf("chain declaration %q; ufw declares only %s* chains here", shorten(line), prefix)
			}
			declared[f[0]] = true
		case strings.HasPrefix(line, "-A ") || strings.HasPrefix(line, "-I "):
			f := strings.Fields(line)
			if len(f) < 2 || !declared[f[1]] {
				return nil, errf("rule for a chain not declared in the file: %q", shorten(line))
			}
			if state == rules {
				if f[0] != "-A" {
					return nil, errf("ufw appends its rules (-A), found %q", shorten(line))
				}
				l := Line{Num: n, Text: line, Tuple: cur}
				u.Chains[f[1]] = append(u.Chains[f[1]], l)
				if cur != nil {
					cur.Lines = append(cur.Lines, l)
				}
			}
		default:
			return nil, errf("not a line ufw writes: %q", shorten(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch state {
	case head:
		return nil, fmt.Errorf("%s: empty (no *filter table)", name)
	case table:
		return nil, fmt.Errorf("%s: no ### RULES ### section (not ufw's user rules, or from an older ufw?)", name)
	case rules, other:
		return nil, fmt.Errorf("%s: no COMMIT at the end (truncated?)", name)
	}
	if !sawRules {
		return nil, fmt.Errorf("%s: no ### RULES ### section (not ufw's user rules, or from an older ufw?)", name)
	}
	return u, nil
}

// number assigns each tuple its number in `ufw status numbered`: IPv4 rules, then IPv6 rules.
func number(v4, v6 *UserRules) {
	n := 0
	for _, u := range []*UserRules{v4, v6} {
		if u == nil {
			continue
		}
		for _, t := range u.Tuples {
			n++
			t.Number = n
		}
	}
}
