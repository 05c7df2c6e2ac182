package firewalld

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// Layer is the step layer of firewalld.
const Layer = "host.firewalld"

// Daemon states asked with `firewall-cmd --state`.
const (
	stateRunning    = "running"
	stateNotRunning = "not running"
)

// Firewalld is firewalld's configuration as read once: the runtime one (what the kernel
// enforces, as firewall-cmd lists it) and the permanent one (what the next reload loads).
type Firewalld struct {
	// runtime is nil when not read (offline directory, firewalld not running).
	runtime *Config
	// permanent is nil when not read (a zone listing file).
	permanent *Config
	// state is "running", "not running", or empty when not asked (offline) or unknown (stateErr).
	state    string
	stateErr string
}

// Layer is "host.firewalld".
func (f *Firewalld) Layer() string { return Layer }

// Runtime is the runtime configuration read; nil when none.
func (f *Firewalld) Runtime() *Config { return f.runtime }

// Permanent is the permanent configuration read; nil when none.
func (f *Firewalld) Permanent() *Config { return f.permanent }

// Step restates the kernel's verdict for q in firewalld's terms.
func (f *Firewalld) Step(q frontend.Query, k frontend.Kernel) report.Step {
	st := report.Step{Layer: Layer, Address: q.Dst.String()}
	pkt := Packet{Src: q.Source.Addr(), Dst: q.Dst, Proto: q.Proto, Port: q.Port, InIface: q.InIface}
	if k.Main != nil {
		pkt.Src = k.Main.Trace.Packet.Src
		if pkt.InIface == "" {
			pkt.InIface = k.Main.Trace.Packet.InIface
		}
	}
	inKernel := false // firewalld's chains are in the kernel rules read
	for _, c := range k.Classes {
		for i := range c.Trace.Hops {
			inKernel = inKernel || isFirewalld(&c.Trace.Hops[i])
		}
	}
	if f.state == stateNotRunning && !inKernel {
		st.Decision = report.Skipped
		st.Detail = "firewalld is installed but not running (firewall-cmd --state: not running), so its zones are not in the kernel"
		if f.permanent != nil {
			if d := f.permanent.Evaluate(pkt); d.Verdict != netfilter.Undecided {
				st.Detail += fmt.Sprintf("; once started, its permanent configuration puts %s in zone %s, where %s %s it", q.Source, d.Zone, d.Entry.Text, verbOf(d.Verdict))
			}
		}
		return st
	}
	if !k.Read || k.Main == nil {
		st.Decision = report.Unknown
		st.Detail = "the kernel's rules were not read, and firewalld's configuration alone does not say what is enforced: " + k.Step.Detail
		return st
	}
	cfg, cfgName := f.runtime, "runtime configuration"
	if cfg == nil {
		cfg, cfgName = f.permanent, "permanent configuration"
	}
	st.Decision, st.Symptom, st.Cause = k.Step.Decision, k.Step.Symptom, k.Step.Cause
	st.AllowedFrom, st.Conditional = k.Step.AllowedFrom, k.Step.Conditional

	t := k.Main.Trace
	fh, nh := firewalldHops(t)
	if fh == nil {
		present := inKernel || f.state == stateRunning
		if !present || !blocks(t.Final) {
			st.Decision, st.Symptom, st.Cause, st.AllowedFrom, st.Conditional = report.Skipped, "", "", nil, ""
			st.Detail = "the kernel rules read hold no firewalld chains on this connection's path (table inet firewalld, or INPUT_ZONES with the iptables backend): firewalld does not filter it there"
			return st
		}
		st.Detail = "the connection is blocked before firewalld's chains run: " + k.Step.Detail
		st.Rule, st.Fix = k.Step.Rule, k.Step.Fix // the other tool's rule decides, and its fix applies
		if cfg != nil {
			if d := cfg.Evaluate(pkt); d.Verdict != netfilter.Undecided {
				st.Detail += fmt.Sprintf("; firewalld's zone %s would %s it (%s)", d.Zone, strings.TrimSuffix(verbOf(d.Verdict), "s"), d.Entry.Text)
			}
		}
		return st
	}
	if f.state == stateNotRunning {
		cfgName = "permanent configuration"
	}
	isPerm := cfg != nil && cfg == f.permanent
	if cfg != nil && cfg.Backend == "" {
		// a zone listing does not say which backend built the kernel's rules; the rules do
		c := *cfg
		c.Backend = "nftables"
		if fh.Chain.Origin != "nftables" {
			c.Backend = "iptables"
		}
		cfg = &c
	}
	name := f.name(cfg, cfgName, isPerm, pkt, fh, nh)
	st.Rule = &report.Rule{ID: name.id, Text: name.text, Origin: name.origin, Table: fh.Result.Rule.Table, Chain: fh.Result.Rule.Chain}
	fwVerdict := fh.Result.Verdict
	decides := t.Decider != nil && sameHop(*t.Decider, *fh)
	var detail strings.Builder
	fmt.Fprintf(&detail, "%s: %s/%d from %s is %s", name.text, q.Proto, q.Port, q.Source, passive(fwVerdict, fh.Result.RejectWith))
	if n := len(k.Step.AllowedFrom); n > 0 && n <= maxRangesText {
		fmt.Fprintf(&detail, " (only from %s)", strings.Join(k.Step.AllowedFrom, ", "))
	} else if n > 0 {
		fmt.Fprintf(&detail, " (only from %d parts of it, listed in allowed_from)", n)
	}
	if f.state == stateNotRunning {
		detail.WriteString("; firewall-cmd finds no running firewalld, yet its rules are in the kernel (stopped without cleanup, or running in another mount namespace): named from the permanent configuration")
	}
	if name.note != "" {
		detail.WriteString("; " + name.note)
	}
	if !decides && st.Decision.Blocks() {
		detail.WriteString("; the kernel blocks it outside firewalld: " + k.Step.Detail)
	}
	drift := f.drift(q, k)
	if drift.text != "" {
		detail.WriteString("; " + drift.text)
	}
	st.Detail = detail.String()
	switch {
	case st.Decision.Blocks() && decides:
		st.Fix = f.fix(q, pkt, name.zone, drift.closedNow)
	case st.Decision.Blocks():
		st.Rule, st.Fix = k.Step.Rule, k.Step.Fix // firewalld lets it through: the other tool's rule decides
	}
	return st
}

// naming is the firewalld entry that stands for the kernel's rule.
type naming struct {
	zone, id, text, origin, note string
}

// name maps firewalld's deciding kernel rule to the zone and the configuration entry.
func (f *Firewalld) name(cfg *Config, cfgName string, isPerm bool, pkt Packet, fh, nh *netfilter.Hop) naming {
	r := fh.Result.Rule
	known := func(z string) bool { return cfg != nil && cfg.Zones[z] != nil }
	kind, zone, part := chainZone(r.Chain, known)
	if strings.Contains(r.Text, "ct status dnat") || strings.Contains(r.Text, "DNAT") && kind == "input" {
		if nh != nil && nh.Result.Rule != nil {
			if k2, z2, _ := chainZone(nh.Result.Rule.Chain, known); k2 == "zone" {
				kind, zone, part = "zone", z2, PartNAT
			}
		}
	}
	kernelText := fmt.Sprintf("kernel rule `%s` in %s", r.Text, r.Chain)
	n := naming{origin: "firewalld"}
	if cfg != nil {
		n.origin = cfg.Origin
	}
	switch kind {
	case "direct":
		n.id, n.text = "firewalld direct rule", "direct rule `"+r.Text+"` (firewall-cmd --direct)"
		return n
	case "policy":
		n.id, n.text = "firewalld policy "+zone, fmt.Sprintf("policy %s: %s", zone, kernelText)
		return n
	case "input":
		switch {
		case strings.Contains(r.Text, `iifname "lo"`) || strings.Contains(r.Text, "-i lo"):
			n.id, n.text = "firewalld loopback", "firewalld (traffic on lo is always accepted)"
			return n
		}
		n.id, n.text = "firewalld "+r.Chain, "firewalld: "+kernelText
		// a rule of the base chain itself (the catch-all after the zones): name the zone the
		// configuration dispatches to
		if cfg != nil {
			if z, by, _ := cfg.ZoneFor(pkt.Src, pkt.InIface); z != "" {
				n.zone = z
				n.text = fmt.Sprintf("zone %s (%s): %s", z, by, kernelText)
			}
		}
		return n
	case "zone":
	default:
		n.id, n.text = "firewalld "+r.Chain, "firewalld: "+kernelText
		return n
	}
	n.zone = zone
	n.id = "firewalld zone " + zone
	if cfg == nil || cfg.Zones[zone] == nil {
		n.text = fmt.Sprintf("zone %s: %s", zone, kernelText)
		n.note = "the zone is not in the firewalld configuration read"
		return n
	}
	if cfg.DefaultZone == "" {
		// a zone listing does not mark the default zone; the kernel's dispatch ends in it
		if z, _, why := cfg.ZoneFor(pkt.Src, pkt.InIface); z == "" && why == "the default zone is not known" {
			c := *cfg
			c.DefaultZone = zone
			cfg = &c
		}
	}
	d := cfg.EvaluateZone(zone, pkt)
	by := "the kernel's dispatch"
	if z, b, _ := cfg.ZoneFor(pkt.Src, pkt.InIface); z == zone {
		by = b
	} else if z != "" {
		n.note = fmt.Sprintf("the %s dispatches it to zone %s, the kernel to zone %s", cfgName, z, zone)
	}
	if d.Verdict == fh.Result.Verdict && (part == "" || d.Entry.Part == part) {
		n.text = fmt.Sprintf("zone %s: %s", zone, d.Entry.Text)
		if by != "the kernel's dispatch" {
			n.text = fmt.Sprintf("zone %s (%s): %s", zone, by, d.Entry.Text)
		}
		n.id += " " + d.Entry.Kind
		if z := cfg.Zones[zone]; z.File != "" && d.Entry.Line > 0 {
			n.id = fmt.Sprintf("%s:%d", z.File, d.Entry.Line)
			n.origin = z.File
		}
		return n
	}
	n.text = fmt.Sprintf("zone %s: %s", zone, kernelText)
	if part == PartTarget && fh.Result.Verdict != netfilter.Accept {
		// the zone chain's own last rule is the target, whatever the entries say
		t := cfg.checks(cfg.Zones[zone], pkt)
		n.text = fmt.Sprintf("zone %s: %s", zone, t[len(t)-1].entry.Text)
		n.id += " target"
	}
	if isPerm {
		return n // the drift between the kernel and the permanent configuration is reported on its own
	}
	if d.Verdict != netfilter.Undecided {
		n.note = fmt.Sprintf("the %s (%s) would have zone %s %s it by %s: the kernel's rules differ from it", cfgName, cfg.Origin, zone, strings.TrimSuffix(verbOf(d.Verdict), "s"), d.Entry.Text)
	}
	return n
}

// driftReport compares the kernel (runtime) with the permanent configuration.
type driftReport struct {
	text string
	// closedNow is true when the main part is blocked now and the permanent configuration lets it in.
	closedNow bool
}

// maxDriftParts bounds the parts of the source set compared.
const maxDriftParts = 4096

func (f *Firewalld) drift(q frontend.Query, k frontend.Kernel) driftReport {
	perm := f.permanent
	if perm == nil {
		return driftReport{}
	}
	var openNow, closedNow []report.AddrRange
	var openD, closedD Decision
	parts := 0
	for _, c := range k.Classes {
		fh, _ := firewalldHops(c.Trace)
		if fh == nil {
			continue
		}
		kv := fh.Result.Verdict
		for _, r := range splitRange(c.Range, perm.sourcePrefixes(c.Range.From.BitLen())) {
			if parts++; parts > maxDriftParts {
				break
			}
			src := r.From
			if src.IsUnspecified() {
				src = src.Next()
			}
			d := perm.Evaluate(Packet{Src: src, Dst: q.Dst, Proto: q.Proto, Port: q.Port, InIface: c.Trace.Packet.InIface})
			switch {
			case d.Verdict == netfilter.Undecided:
			case kv == netfilter.Accept && blocks(d.Verdict):
				openNow, openD = appendRange(openNow, r), d
			case blocks(kv) && d.Verdict == netfilter.Accept:
				closedNow, closedD = appendRange(closedNow, r), d
			}
		}
	}
	var out driftReport
	var texts []string
	if len(openNow) > 0 {
		s := fmt.Sprintf("open now, closed after the next reload (`firewall-cmd --reload`): the permanent configuration (%s) %s it from %s (zone %s: %s) — make it permanent: `firewall-cmd --runtime-to-permanent`",
			perm.Origin, verbOf(openD.Verdict), rangesText(openNow), openD.Zone, openD.Entry.Text)
		if cmds := permanentFix(perm, Packet{Src: openNow[0].From, Dst: q.Dst, Proto: q.Proto, Port: q.Port, InIface: q.InIface}, q); len(cmds) > 0 {
			s += ", or only this: `" + strings.Join(cmds, " && ") + "`"
		}
		texts = append(texts, s)
	}
	if len(closedNow) > 0 {
		texts = append(texts, fmt.Sprintf("closed now, open after the next reload (`firewall-cmd --reload`): the permanent configuration (%s) accepts it from %s (zone %s: %s)",
			perm.Origin, rangesText(closedNow), closedD.Zone, closedD.Entry.Text))
		if k.Main != nil {
			for _, r := range closedNow {
				if r.Contains(k.Main.Trace.Packet.Src) {
					out.closedNow = true
				}
			}
		}
	}
	out.text = strings.Join(texts, "; ")
	return out
}

// fix is the firewall-cmd command that lets the blocked main part in: the permanent change
// (or none, when the permanent configuration already accepts) followed by a reload.
func (f *Firewalld) fix(q frontend.Query, pkt Packet, kernelZone string, closedNow bool) []string {
	cfg := f.permanent
	if cfg == nil {
		cfg = f.runtime
	}
	if cfg == nil {
		return nil
	}
	if closedNow {
		return []string{"firewall-cmd --reload"}
	}
	if z, _, _ := cfg.ZoneFor(pkt.Src, pkt.InIface); z == "" && kernelZone != "" && cfg.Zones[kernelZone] != nil {
		cfg = cfg.Clone()
		cfg.Zones[kernelZone].Sources = append(cfg.Zones[kernelZone].Sources, netip.PrefixFrom(pkt.Src, pkt.Src.BitLen()).String())
	}
	cmds := permanentFix(cfg, pkt, q)
	if len(cmds) == 0 {
		return nil
	}
	return []string{strings.Join(append(cmds, "firewall-cmd --reload"), " && ")}
}

// maxFixSteps bounds the changes one fix makes (remove blocking rich rules, then open the port).
const maxFixSteps = 4

// permanentFix lists the `firewall-cmd --permanent` changes after which cfg accepts pkt,
// checked by evaluating the changed configuration; nil when none is found or none is needed.
func permanentFix(cfg *Config, pkt Packet, q frontend.Query) []string {
	c := cfg.Clone()
	var cmds []string
	for range maxFixSteps {
		d := c.Evaluate(pkt)
		switch d.Verdict {
		case netfilter.Accept:
			return cmds
		case netfilter.Undecided:
			return nil
		}
		z := c.Zones[d.Zone]
		switch d.Entry.Kind {
		case "rich rule":
			z.RichRules = slices.DeleteFunc(z.RichRules, func(r *RichRule) bool { return r == d.Entry.Rule })
			cmds = append(cmds, fmt.Sprintf("firewall-cmd --permanent --zone=%s --remove-rich-rule='%s'", z.Name, d.Entry.Rule))
		case "target":
			pr := report.PortRange{Lo: q.Port, Hi: q.Port}
			if q.Source.Bits() == 0 {
				z.Ports = append(z.Ports, Port{Ports: pr, Proto: q.Proto})
				cmds = append(cmds, fmt.Sprintf("firewall-cmd --permanent --zone=%s --add-port=%d/%s", z.Name, q.Port, q.Proto))
				continue
			}
			rr := &RichRule{Family: familyName(q.Dst), Source: &Addr{Address: q.Source.Masked()}, Element: "port",
				Port: Port{Ports: pr, Proto: q.Proto}, Action: "accept"}
			z.RichRules = append(z.RichRules, rr)
			cmds = append(cmds, fmt.Sprintf("firewall-cmd --permanent --zone=%s --add-rich-rule='%s'", z.Name, rr))
		default:
			return nil
		}
	}
	return nil
}

// firewalldHops finds firewalld's filter hop (input or forward) in a trace, and its nat
// hop when that rewrote the destination; nil when firewalld's chains did not run.
func firewalldHops(t netfilter.Trace) (filter, nat *netfilter.Hop) {
	for i := range t.Hops {
		h := &t.Hops[i]
		if !isFirewalld(h) {
			continue
		}
		switch {
		case h.Chain.Type == "nat":
			if h.Result.NAT != nil {
				nat = h
			}
		case h.Chain.Type == "filter" && (h.Chain.Hook == netfilter.Input || h.Chain.Hook == netfilter.Forward):
			if h.Result.Rule != nil {
				filter = h
			}
		}
	}
	return filter, nat
}

func isFirewalld(h *netfilter.Hop) bool {
	if h.Chain.Origin == "nftables" {
		return h.Chain.Table == "inet firewalld"
	}
	// the iptables backend shares the built-in chains: firewalld's if its rule lives in a firewalld chain
	if h.Result.Rule == nil {
		return false
	}
	kind, _, _ := chainZone(h.Result.Rule.Chain, func(string) bool { return false })
	return kind == "zone" || kind == "direct" || kind == "policy" || kind == "dispatch"
}

func sameHop(a, b netfilter.Hop) bool {
	return a.Chain.Origin == b.Chain.Origin && a.Chain.Table == b.Chain.Table && a.Chain.Chain == b.Chain.Chain && a.Result.Rule == b.Result.Rule
}

// chainZone reads a firewalld chain name: kind "zone" (with the zone and the part),
// "policy", "direct", "dispatch" (*_ZONES), "input" (the base chain itself) or "".
// known tells zone names apart from suffixes when a zone name holds an underscore.
func chainZone(chain string, known func(string) bool) (kind, zone string, part Part) {
	switch chain {
	case "filter_INPUT", "filter_FORWARD", "INPUT", "FORWARD":
		return "input", "", ""
	}
	if strings.HasSuffix(chain, "_direct") {
		return "direct", "", ""
	}
	if strings.HasSuffix(chain, "_ZONES") || strings.HasSuffix(chain, "_ZONES_SOURCE") || strings.Contains(chain, "_POLICIES_") {
		return "dispatch", "", ""
	}
	rest := ""
	for _, p := range []string{"filter_IN_", "filter_FWD_", "nat_PRE_", "nat_POST_", "mangle_PRE_", "raw_PRE_",
		"IN_", "FWD_", "FWDI_", "FWDO_", "PRE_", "POST_"} {
		if strings.HasPrefix(chain, p) {
			rest = chain[len(p):]
			break
		}
	}
	if rest == "" {
		return "", "", ""
	}
	if name, ok := strings.CutPrefix(rest, "policy_"); ok {
		for _, s := range []string{"_pre", "_log", "_deny", "_allow", "_post"} {
			name = strings.TrimSuffix(name, s)
		}
		return "policy", name, ""
	}
	if known(rest) {
		return "zone", rest, PartTarget
	}
	for _, s := range []Part{PartPre, "log", PartDeny, PartAllow, PartPost} {
		if z, ok := strings.CutSuffix(rest, "_"+string(s)); ok {
			return "zone", z, s
		}
	}
	return "zone", rest, PartTarget
}

// passive is "accepted", "dropped" or "rejected (tcp reset)".
func passive(v netfilter.Verdict, rejectWith string) string {
	switch v {
	case netfilter.Accept:
		return "accepted"
	case netfilter.Drop:
		return "dropped"
	case netfilter.Reject:
		if rejectWith != "" {
			return "rejected (" + rejectWith + ")"
		}
		return "rejected"
	}
	return "undecided"
}

func verbOf(v netfilter.Verdict) string {
	switch v {
	case netfilter.Accept:
		return "accepts"
	case netfilter.Drop:
		return "drops"
	case netfilter.Reject:
		return "rejects"
	}
	return "cannot tell about"
}

// splitRange cuts r at the edges of every prefix that covers only part of it.
func splitRange(r report.AddrRange, cuts []netip.Prefix) []report.AddrRange {
	out := []report.AddrRange{r}
	for _, p := range cuts {
		pr := report.RangeOf(p)
		var next []report.AddrRange
		for _, part := range out {
			if !overlaps(part, pr) {
				next = append(next, part)
				continue
			}
			rest := part.Subtract([]report.AddrRange{pr})
			in := report.AddrRange{From: maxAddr(part.From, pr.From), To: minAddr(part.To, pr.To)}
			next = append(next, rest...)
			next = append(next, in)
		}
		out = next
		if len(out) > maxDriftParts {
			break
		}
	}
	slices.SortFunc(out, func(a, b report.AddrRange) int { return a.From.Compare(b.From) })
	return out
}

func overlaps(a, b report.AddrRange) bool {
	return a.From.BitLen() == b.From.BitLen() && a.From.Compare(b.To) <= 0 && b.From.Compare(a.To) <= 0
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}

// appendRange adds r, joining it to the last range when adjacent.
func appendRange(rs []report.AddrRange, r report.AddrRange) []report.AddrRange {
	if n := len(rs); n > 0 && rs[n-1].To.Next() == r.From {
		rs[n-1].To = r.To
		return rs
	}
	return append(rs, r)
}

// maxRangesText bounds the prefixes quoted.
const maxRangesText = 8

func rangesText(rs []report.AddrRange) string {
	var ps []string
	for _, r := range rs {
		for _, p := range r.Prefixes() {
			ps = append(ps, p.String())
		}
	}
	if len(ps) > maxRangesText {
		return strings.Join(ps[:maxRangesText], ", ") + fmt.Sprintf(" and %d more", len(ps)-maxRangesText)
	}
	return strings.Join(ps, ", ")
}

func blocks(v netfilter.Verdict) bool { return v == netfilter.Drop || v == netfilter.Reject }
