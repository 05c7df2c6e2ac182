package btpanel

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// Panel page paths, as the Chinese panel and aaPanel name them.
const (
	pageAddPort   = "安全 → 系统防火墙 → 添加端口规则 (Security → Firewall → Add port rule)"
	pagePortRules = "安全 → 系统防火墙 → 端口规则 (Security → Firewall → Port rules)"
	pageIPRules   = "安全 → 系统防火墙 → IP规则 (Security → Firewall → IP rules)"
)

// Step restates the kernel's decision k for q in the panel's terms. The decision is the
// kernel's: blocked when it blocks (PANEL_FIREWALL when the panel has no accepting rule),
// allow when it allows (the drift in the detail), unknown when it is unknown or not read.
func (p *Panel) Step(q frontend.Query, k frontend.Kernel) report.Step {
	c := p.cfg
	st := report.Step{Layer: Layer, Address: q.Dst.String()}
	if !q.Source.IsValid() || !q.Dst.IsValid() || q.Source.Addr().BitLen() != q.Dst.BitLen() {
		st.Decision = report.Skipped
		st.Detail = fmt.Sprintf("the source set %s is of another address family than %s", q.Source, q.Dst)
		return st
	}
	svc := fmt.Sprintf("%d/%s", q.Port, q.Proto)
	parts := c.Intent(q.Proto, q.Port, q.Source)
	notes := c.notes(q)

	switch {
	case k.Read && k.Step.Decision == report.Allow:
		c.allowStep(&st, q, k, parts, svc)
	case k.Read && k.Step.Decision.Blocks():
		c.blockStep(&st, q, k, parts, svc)
	default:
		st.Decision = report.Unknown
		why := "the kernel's decision is unknown: " + k.Step.Detail
		if !k.Read {
			why = "the kernel's rules were not read (" + k.Step.Detail + ")"
		}
		st.Detail = fmt.Sprintf("%s; %s, and the panel's database alone does not say what the client meets", c.describeIntent(parts, q, svc), why)
		if m := mainPart(parts); m != nil && m.Rule != nil {
			st.Rule = c.reportRule(m.Rule)
		}
	}
	if len(notes) > 0 {
		st.Detail += "; " + strings.Join(notes, "; ")
	}
	return st
}

// allowStep: the kernel lets at least part of the source set through; the step allows,
// and says where the panel does not list what the kernel allows, or lists what it blocks.
func (c *Config) allowStep(st *report.Step, q frontend.Query, k frontend.Kernel, parts []Part, svc string) {
	st.Decision = report.Allow
	st.AllowedFrom = k.Step.AllowedFrom
	st.Conditional = k.Step.Conditional
	var agree, unlisted, contra, extra []Part
	for _, cl := range k.Classes {
		for _, pt := range parts {
			in, ok := intersect(cl.Range, pt.Range)
			if !ok {
				continue
			}
			piece := Part{Range: in, Action: pt.Action, Rule: pt.Rule}
			switch {
			case cl.Trace.Final != netfilter.Accept:
				if pt.Action == Accept {
					extra = append(extra, piece)
				}
			case pt.Action == Accept:
				agree = append(agree, piece)
			case pt.Action == None:
				unlisted = append(unlisted, piece)
			default:
				contra = append(contra, piece)
			}
		}
	}
	var sentences []string
	if a := biggest(agree); a != nil {
		st.Rule = c.reportRule(a.Rule)
		sentences = append(sentences, fmt.Sprintf("the panel allows %s from %s: %s (%s)", svc, rangesText(agree, q), a.Rule.Text(), a.Rule.Ref()))
	}
	if len(unlisted) > 0 {
		sentences = append(sentences, fmt.Sprintf("the kernel allows %s%s but the panel has no rule for it; the next time the panel rewrites its rules it will close", svc, fromText(unlisted, q)))
		st.Fix = append(st.Fix, panelAddFix(q, rangesOf(unlisted)))
	}
	if b := biggest(contra); b != nil {
		if st.Rule == nil {
			st.Rule = c.reportRule(b.Rule)
		}
		sentences = append(sentences, fmt.Sprintf("the kernel allows %s%s but the panel's rule %s %ss it (%s): the panel's rules are not in force, and will close it the next time the panel rewrites them", svc, fromText(contra, q), b.Rule.Ref(), b.Rule.Action, b.Rule.Text()))
	}
	if len(extra) > 0 {
		both := slices.Concat(agree, extra)
		slices.SortFunc(both, func(a, b Part) int { return a.Range.From.Compare(b.Range.From) })
		if whole(rangesOf(both), q) {
			only := k.Step.AllowedFrom
			if len(only) > maxQuoted {
				only = append(slices.Clone(only[:maxQuoted]), fmt.Sprintf("%d more", len(only)-maxQuoted))
			}
			sentences = append(sentences, fmt.Sprintf("the panel lists %s as allowed from all, but the kernel lets only %s through", svc, strings.Join(only, ", ")))
		} else {
			sentences = append(sentences, fmt.Sprintf("the panel also lists %s as allowed from %s, but the kernel blocks that part", svc, rangesText(extra, q)))
		}
	}
	st.Detail = strings.Join(sentences, "; ")
}

// blockStep: the kernel blocks the whole source set; the step mirrors it, with the
// panel's cause when the panel does not intend to let it through.
func (c *Config) blockStep(st *report.Step, q frontend.Query, k frontend.Kernel, parts []Part, svc string) {
	st.Decision, st.Symptom = k.Step.Decision, k.Step.Symptom
	verb := "drops"
	if k.Step.Decision == report.Reject {
		verb = "rejects"
	}
	if acc := accepted(parts); len(acc) > 0 {
		a := biggest(acc)
		st.Cause = k.Step.Cause
		st.Rule = c.reportRule(a.Rule)
		st.Detail = fmt.Sprintf("the panel lists %s as allowed from %s (%s: %s), but the kernel %s it: %s; the panel's rules are not what the kernel enforces",
			svc, rangesText(acc, q), a.Rule.Ref(), a.Rule.Text(), verb, k.Step.Detail)
		st.Fix = append(slices.Clone(k.Step.Fix), "# or re-apply the panel's rules: "+pagePortRules+", remove the rule "+a.Rule.Ref()+" and add it again")
		return
	}
	st.Cause = report.CausePanelFirewall
	var m *Part
	if k.Main != nil {
		m = partAt(parts, k.Main.Range.From)
	}
	if m == nil || m.Rule == nil {
		m = firstRuled(parts)
	}
	if m != nil && m.Rule != nil {
		r := m.Rule
		st.Rule = c.reportRule(r)
		st.Detail = fmt.Sprintf("the panel's rule %s %ss %s from %s (%s), and the kernel %s it: %s", r.Ref(), r.Action, svc, srcText(m.Range, q), r.Text(), verb, k.Step.Detail)
		page := pagePortRules
		if r.Kind == IPRule {
			page = pageIPRules
		}
		st.Fix = append([]string{fmt.Sprintf("# in the BT panel: %s: delete the rule %s (%s) or set its strategy to accept", page, r.Ref(), r.Text())}, k.Step.Fix...)
		return
	}
	tool := toolOf(k, c.Tool)
	via := ""
	if tool != "" {
		via = " (" + tool + ")"
	}
	st.Detail = fmt.Sprintf("%s, so the firewall it drives%s denies it; the kernel %s it: %s", c.noRule(q, svc), via, verb, k.Step.Detail)
	src := report.RangeOf(q.Source)
	st.Fix = append([]string{panelAddFix(q, []report.AddrRange{src})}, toolFix(tool, q, k)...)
}

// noRule says that the panel has no rule letting svc in from the source set, naming the
// panel's rules for svc that allow other sources.
func (c *Config) noRule(q frontend.Query, svc string) string {
	var others []string
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Kind == PortRule && r.Action == Accept && len(r.Sources) > 0 && r.matchesService(q.Proto, q.Port) {
			others = append(others, r.Ref()+" allows "+r.AddressText)
		}
	}
	if len(others) == 0 {
		return fmt.Sprintf("the panel has no rule for %s", svc)
	}
	if len(others) > maxQuoted {
		others = append(others[:maxQuoted], fmt.Sprintf("%d more", len(others)-maxQuoted))
	}
	return fmt.Sprintf("the panel has no rule for %s from %s (only: %s)", svc, srcText(report.RangeOf(q.Source), q), strings.Join(others, ", "))
}

// describeIntent says in one clause what the panel intends for svc from the source set.
func (c *Config) describeIntent(parts []Part, q frontend.Query, svc string) string {
	if acc := accepted(parts); len(acc) > 0 {
		a := biggest(acc)
		return fmt.Sprintf("the panel lists %s as allowed from %s (%s: %s)", svc, rangesText(acc, q), a.Rule.Ref(), a.Rule.Text())
	}
	if m := firstRuled(parts); m != nil {
		return fmt.Sprintf("the panel's rule %s %ss %s from %s (%s)", m.Rule.Ref(), m.Rule.Action, svc, srcText(m.Range, q), m.Rule.Text())
	}
	return c.noRule(q, svc)
}

// mainPart is the part the step speaks for: the largest accepted one, else the largest.
func mainPart(parts []Part) *Part {
	if a := biggest(accepted(parts)); a != nil {
		return partAt(parts, a.Range.From)
	}
	return biggest(parts)
}

// firstRuled is the largest part some rule decides; nil when no rule matches anywhere.
func firstRuled(parts []Part) *Part {
	var best *Part
	for i := range parts {
		if parts[i].Rule != nil && (best == nil || parts[i].Range.Size() > best.Range.Size()) {
			best = &parts[i]
		}
	}
	return best
}

// notes are facts that qualify the intent: the panel's own port, country rules, rows not read.
func (c *Config) notes(q frontend.Query) []string {
	var out []string
	if c.PanelPort != 0 && c.PanelPort == q.Port && q.Proto == "tcp" {
		out = append(out, fmt.Sprintf("%d is the panel's own port (data/port.pl)", q.Port))
	}
	var cs []string
	for _, ct := range c.Countries {
		if len(ct.Ports) == 0 || slices.ContainsFunc(ct.Ports, func(p report.PortRange) bool { return p.Contains(q.Port) }) {
			cs = append(cs, fmt.Sprintf("%s %s (firewall_country#%d)", ct.Action, ct.Country, ct.ID))
		}
	}
	if len(cs) > 0 {
		out = append(out, "the panel's country rules "+strings.Join(cs, ", ")+" also cover this port and cannot be evaluated: the database does not say which addresses a country has")
	}
	if n := len(c.Unread); n > 0 {
		out = append(out, fmt.Sprintf("%d panel rows could not be read and take no part (first: %s)", n, c.Unread[0]))
	}
	return append(out, c.Warnings...)
}

// reportRule quotes a panel rule for the report.
func (c *Config) reportRule(r *Rule) *report.Rule {
	if r == nil {
		return nil
	}
	origin := ""
	if len(c.Files) > 0 {
		origin = c.Files[0]
	}
	return &report.Rule{ID: r.Ref(), Text: r.Text(), Origin: origin}
}

// toolOf names the firewall the panel drives, from the chains the kernel's rules passed
// (ufw-*, firewalld's tables and zones, the panel's own IN_BT chains), else from the host.
func toolOf(k frontend.Kernel, live string) string {
	for _, cl := range k.Classes {
		for _, h := range cl.Trace.Hops {
			if h.Chain.Table == "firewalld" {
				return "firewalld"
			}
			if r := h.Result.Rule; r != nil {
				if t := toolOfChain(r.Chain); t != "" {
					return t
				}
			}
		}
	}
	return live
}

func toolOfChain(chain string) string {
	switch {
	case strings.HasPrefix(chain, "ufw-"), strings.HasPrefix(chain, "ufw6-"):
		return "ufw"
	case strings.HasPrefix(chain, "IN_BT"):
		return "iptables"
	case chain == "INPUT_ZONES", strings.HasPrefix(chain, "IN_public"), strings.HasPrefix(chain, "filter_IN_"), chain == "INPUT_direct":
		return "firewalld"
	}
	return ""
}

// panelAddFix is the panel step that adds the missing port rule.
func panelAddFix(q frontend.Query, from []report.AddrRange) string {
	src := "all"
	if !(len(from) == 1 && q.Source.Bits() == 0 && from[0] == report.RangeOf(q.Source)) {
		var ps []string
		for _, r := range from {
			ps = append(ps, r.String())
		}
		src = strings.Join(ps, ", ")
	}
	return fmt.Sprintf("# in the BT panel: %s: protocol %s, port %d, source %s, strategy accept", pageAddPort, strings.ToUpper(q.Proto), q.Port, src)
}

// toolFix is the command of the tool the panel drives that opens the port; the kernel's own
// fix when the tool is not known.
func toolFix(tool string, q frontend.Query, k frontend.Kernel) []string {
	port := strconv.Itoa(int(q.Port))
	anySrc := q.Source.Bits() == 0
	src := q.Source.String()
	switch tool {
	case "ufw":
		if anySrc {
			return []string{"ufw allow " + port + "/" + q.Proto}
		}
		return []string{"ufw allow proto " + q.Proto + " from " + src + " to any port " + port}
	case "firewalld":
		if anySrc {
			return []string{"firewall-cmd --permanent --zone=public --add-port=" + port + "/" + q.Proto + " && firewall-cmd --reload"}
		}
		fam := "ipv4"
		if q.Dst.Is6() {
			fam = "ipv6"
		}
		return []string{fmt.Sprintf(`firewall-cmd --permanent --zone=public --add-rich-rule='rule family="%s" source address="%s" port protocol="%s" port="%s" accept' && firewall-cmd --reload`, fam, src, q.Proto, port)}
	}
	if len(k.Step.Fix) > 0 {
		return k.Step.Fix
	}
	cmd := "iptables"
	if q.Dst.Is6() {
		cmd = "ip6tables"
	}
	s := ""
	if !anySrc {
		s = " -s " + src
	}
	return []string{cmd + " -I INPUT -p " + q.Proto + s + " --dport " + port + " -j ACCEPT"}
}

// intersect is the common part of two ranges of one family.
func intersect(a, b report.AddrRange) (report.AddrRange, bool) {
	if !overlap(a, b) {
		return report.AddrRange{}, false
	}
	out := a
	if b.From.Compare(out.From) > 0 {
		out.From = b.From
	}
	if b.To.Compare(out.To) < 0 {
		out.To = b.To
	}
	return out, true
}

func rangesOf(parts []Part) []report.AddrRange {
	var out []report.AddrRange
	for _, p := range parts {
		if n := len(out); n > 0 && out[n-1].To.Next() == p.Range.From {
			out[n-1].To = p.Range.To
			continue
		}
		out = append(out, p.Range)
	}
	return out
}

// maxQuoted bounds the prefixes quoted in one sentence.
const maxQuoted = 8

// rangesText names the addresses of parts: "all" for the whole internet, else prefixes.
func rangesText(parts []Part, q frontend.Query) string {
	rs := rangesOf(parts)
	if whole(rs, q) {
		return srcText(report.RangeOf(q.Source), q)
	}
	if len(rs) == 1 {
		return srcText(rs[0], q)
	}
	var ps []string
	for _, r := range rs {
		for _, p := range r.Prefixes() {
			ps = append(ps, p.String())
		}
	}
	if len(ps) > maxQuoted {
		return strings.Join(ps[:maxQuoted], ", ") + fmt.Sprintf(" and %d more", len(ps)-maxQuoted)
	}
	return strings.Join(ps, ", ")
}

// fromText is " from X" when the parts are not the whole source set, else "".
func fromText(parts []Part, q frontend.Query) string {
	if whole(rangesOf(parts), q) {
		return ""
	}
	return " from " + rangesText(parts, q)
}

// whole reports whether rs cover the source set, leaving out at most the loopback
// addresses, which the kernel never lets in from outside.
func whole(rs []report.AddrRange, q frontend.Query) bool {
	lo := report.RangeOf(netip.MustParsePrefix("127.0.0.0/8"))
	if q.Source.Addr().Is6() {
		lo = report.SingleAddr(netip.IPv6Loopback())
	}
	for _, rest := range report.RangeOf(q.Source).Subtract(rs) {
		if !q.Dst.IsLoopback() && lo.Contains(rest.From) && lo.Contains(rest.To) {
			continue
		}
		return false
	}
	return true
}

// srcText names one range: "all" when it is the whole internet.
func srcText(r report.AddrRange, q frontend.Query) string {
	if whole([]report.AddrRange{r}, q) {
		if q.Source.Bits() == 0 {
			return "all"
		}
		return q.Source.String()
	}
	if ps := r.Prefixes(); len(ps) > maxQuoted {
		return r.From.String() + "-" + r.To.String()
	}
	return r.String()
}
