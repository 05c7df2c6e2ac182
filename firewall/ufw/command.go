package ufw

import (
	"net/netip"
	"strconv"
	"strings"
)

// Command is the rule as a user types it, in the form `ufw show added` prints:
// "ufw allow 8282/tcp", "ufw deny from 10.99.0.1 to any port 8005 proto tcp comment 'block client'",
// "ufw route allow in on vs out on vh from any to 10.98.0.2 port 80 proto tcp".
func (t *Tuple) Command() string {
	return "ufw " + t.spec()
}

// spec is the command without "ufw": ufw's own get_command, with "route " for routed rules.
func (t *Tuple) spec() string {
	var b strings.Builder
	if t.Route {
		b.WriteString("route ")
	}
	b.WriteString(t.Action)
	anyDst, anySrc := isAny(t.Dst), isAny(t.Src)
	if anyDst && anySrc && t.SPort == "any" && t.SApp == "" && t.InIface == "" && t.OutIface == "" && t.DPort != "any" {
		// short syntax
		if t.Direction == "out" {
			b.WriteString(" out")
		}
		if t.LogType != "" {
			b.WriteString(" " + t.LogType)
		}
		if t.DApp != "" {
			b.WriteString(" " + shellWord(t.DApp))
		} else {
			b.WriteString(" " + t.DPort)
			if t.Proto != "any" {
				b.WriteString("/" + t.Proto)
			}
		}
	} else {
		if t.InIface != "" {
			b.WriteString(" in on " + t.InIface)
		}
		if t.OutIface != "" {
			b.WriteString(" out on " + t.OutIface)
		} else if t.Direction == "out" {
			b.WriteString(" out")
		}
		if t.LogType != "" {
			b.WriteString(" " + t.LogType)
		}
		for _, side := range []struct{ dir, loc, port, app string }{
			{"from", t.Src, t.SPort, t.SApp},
			{"to", t.Dst, t.DPort, t.DApp},
		} {
			loc := side.loc
			if isAny(loc) {
				loc = "any"
			}
			if loc != "any" || side.port != "any" || side.app != "" {
				b.WriteString(" " + side.dir + " " + loc)
				switch {
				case side.app != "":
					b.WriteString(" app " + shellWord(side.app))
				case side.port != "any":
					b.WriteString(" port " + side.port)
				}
			}
		}
		s := b.String()
		if !strings.Contains(s, " to ") && !strings.Contains(s, " from ") && t.InIface == "" && t.OutIface == "" {
			b.WriteString(" to any")
		}
		if t.Proto != "any" && t.DApp == "" && t.SApp == "" {
			b.WriteString(" proto " + t.Proto)
		}
	}
	if t.Comment != "" {
		b.WriteString(" comment " + shellQuote(t.Comment))
	}
	return b.String()
}

func isAny(addr string) bool {
	return addr == "any" || addr == "0.0.0.0/0" || addr == "::/0"
}

// shellQuote puts s in single quotes as ufw prints comments, escaping quotes for the shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWord quotes s only when it has characters the shell would split or expand.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/@%+=", r))
	}) < 0 {
		return s
	}
	return shellQuote(s)
}

// addrWord writes a source or destination for a ufw command: "any" for the whole
// family, a bare address for a single host, else the CIDR.
func addrWord(p netip.Prefix) string {
	switch {
	case !p.IsValid() || p.Bits() == 0:
		return "any"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

// allowSpec is the ufw command (without "ufw") that allows proto/port from src to dst;
// dst invalid means any. Short syntax when the rule is for everyone, as people write it.
func allowSpec(route bool, proto string, port uint16, src netip.Prefix, dst netip.Addr) string {
	p := strconv.Itoa(int(port))
	from, to := addrWord(src), "any"
	if dst.IsValid() {
		to = dst.String()
	}
	if !route && from == "any" && to == "any" {
		return "allow " + p + "/" + proto
	}
	s := "allow from " + from + " to " + to + " port " + p + " proto " + proto
	if route {
		s = "route " + s
	}
	return s
}
