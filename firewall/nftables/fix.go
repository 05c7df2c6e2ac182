package nftables

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portpath/portpath/report"
)

// Fix returns the commands that let proto/port from src through at the deciding rule r:
// an accept rule inserted before r (nft's "insert … position HANDLE" inserts before that
// handle), or added at the end of the chain when its policy decided; then how to keep it.
// family is the packet's family ("ip" or "ip6"); src "0.0.0.0/0", "::/0" or "" means any source.
// In firewalld's table the commands are firewall-cmd ones, since firewalld rewrites its
// table on every reload.
func Fix(r *report.Rule, family string, proto string, port uint16, src string) []string {
	if r == nil {
		return nil
	}
	fam, table, chain, handle, ok := ParseRuleID(r.ID)
	if !ok {
		var t string
		fam, t, _ = strings.Cut(r.Table, " ")
		table, chain = t, r.Chain
		if fam == "" || table == "" || chain == "" {
			return nil
		}
	}
	if r.Position == 0 {
		handle = 0
	}
	saddr := saddrMatch(src)
	persist := "nft list ruleset > /etc/nftables.conf  # keep it across reboots (RHEL: /etc/sysconfig/nftables.conf)"
	if fam == "inet" && table == "firewalld" {
		if cmds := firewalldFix(chain, family, proto, port, src); cmds != nil {
			return cmds
		}
		persist = "# firewalld rewrites its table on reload: make the same change with firewall-cmd to keep it"
	}
	match := fmt.Sprintf("%s dport %d", proto, port)
	if saddr != "" {
		match += " " + saddr
	}
	var cmd string
	switch {
	case handle > 0:
		cmd = fmt.Sprintf("nft insert rule %s %s %s position %d %s accept", fam, table, chain, handle, match)
	case r.Position > 0: // a rule without a known handle: the top of its chain is before it
		cmd = fmt.Sprintf("nft insert rule %s %s %s %s accept", fam, table, chain, match)
	default:
		cmd = fmt.Sprintf("nft add rule %s %s %s %s accept", fam, table, chain, match)
	}
	return []string{cmd, persist}
}

// saddrMatch is "ip saddr 203.0.113.0/24", or "" for any source.
func saddrMatch(src string) string {
	p, ok := sourcePrefix(src)
	if !ok {
		return ""
	}
	kw := "ip saddr"
	if p.Addr().Is6() {
		kw = "ip6 saddr"
	}
	return kw + " " + prefixText(p)
}

func sourcePrefix(src string) (netip.Prefix, bool) {
	src = strings.TrimSpace(src)
	if src == "" {
		return netip.Prefix{}, false
	}
	p, err := report.ParsePrefixOrAddr(src)
	if err != nil || p.Bits() == 0 {
		return netip.Prefix{}, false
	}
	return p, true
}

func prefixText(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// firewalldFix writes the fix for a decision inside a firewalld zone chain
// (filter_IN_<zone>, filter_IN_<zone>_deny…); nil when the chain is not one.
func firewalldFix(chain, family, proto string, port uint16, src string) []string {
	rest, ok := strings.CutPrefix(chain, "filter_IN_")
	if !ok || strings.HasPrefix(rest, "policy_") {
		return nil
	}
	zone, part := rest, ""
	for _, suf := range []string{"_pre", "_log", "_deny", "_allow", "_post"} {
		if z, ok := strings.CutSuffix(rest, suf); ok {
			zone, part = z, suf
			break
		}
	}
	if zone == "" {
		return nil
	}
	p, hasSrc := sourcePrefix(src)
	var cmd string
	switch {
	case part == "_pre" || part == "_deny" || hasSrc:
		// a rich rule; a negative priority puts it in the zone's _pre chain, before the
		// rich rules that deny
		fam := "ipv4"
		if family == "ip6" || (hasSrc && p.Addr().Is6()) {
			fam = "ipv6"
		}
		rule := fmt.Sprintf(`rule family="%s"`, fam)
		if part == "_pre" || part == "_deny" {
			rule = fmt.Sprintf(`rule priority="-32768" family="%s"`, fam)
		}
		if hasSrc {
			rule += fmt.Sprintf(` source address="%s"`, prefixText(p))
		}
		rule += fmt.Sprintf(` port port="%d" protocol="%s" accept`, port, proto)
		cmd = fmt.Sprintf("firewall-cmd --zone=%s --add-rich-rule='%s'", zone, rule)
	default:
		cmd = fmt.Sprintf("firewall-cmd --zone=%s --add-port=%d/%s", zone, port, proto)
	}
	return []string{cmd, "firewall-cmd --runtime-to-permanent"}
}
