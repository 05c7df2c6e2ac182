package ufw

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// Frontend is ufw's configuration, read once, restating the kernel's decisions.
type Frontend struct{ cfg *Config }

// New makes the ufw view of a configuration read by ReadConfig.
func New(c *Config) *Frontend { return &Frontend{cfg: c} }

// Layer is "host.ufw".
func (f *Frontend) Layer() string { return Layer }

// Config is the configuration read.
func (f *Frontend) Config() *Config { return f.cfg }

// rules are the user rules of the family; nil when that file was not read.
func (c *Config) rules(v6 bool) *UserRules {
	if v6 {
		return c.Rules6
	}
	return c.Rules4
}

// role is what a ufw chain does, without the family prefix ("user-input"); "" for other chains.
func role(chain string) string {
	if r, ok := strings.CutPrefix(chain, "ufw6-"); ok {
		return r
	}
	if r, ok := strings.CutPrefix(chain, "ufw-"); ok {
		return r
	}
	return ""
}

type kind int

const (
	kNone     kind = iota
	kUser          // a rule of user.rules
	kPolicy        // a default policy (the chain policy, ufw-reject-*, ufw-track-*, ufw-skip-to-policy-*)
	kBefore        // before.rules (incl. ufw-not-local)
	kAfter         // after.rules
	kUfwOther      // another ufw chain (logging)
	kOutside       // a rule ufw does not manage
	kKernel        // no rule: the kernel itself
)

// explanation is the kernel's deciding rule in ufw's terms.
type explanation struct {
	kind kind
	// says names what decided ("`ufw allow 8282/tcp` (rule 2 in `ufw status numbered`)").
	says string
	// tuple is the ufw rule from user.rules that decided; nil when none.
	tuple *Tuple
	// drifted is true when user.rules does not say what the loaded rule does.
	drifted bool
	// rule is the step's rule; nil when no ufw rule or policy decided.
	rule  *report.Rule
	notes []string
	// limit is the condition text of a `ufw limit` rule; empty otherwise.
	limit string
	// sentence is true when says is a sentence of its own ("ufw's default incoming policy is deny")
	// rather than the name of what decided.
	sentence bool
}

// by joins the outcome to what decided.
func (e explanation) by() string {
	if e.sentence {
		return ": "
	}
	return " by "
}

// Step restates k for q: the ufw rule or policy behind the kernel's deciding rule, drift
// between ufw's files and the loaded rules, and the fix as ufw commands. Decision, symptom,
// cause and allowed sources are the kernel step's.
func (f *Frontend) Step(q frontend.Query, k frontend.Kernel) report.Step {
	c := f.cfg
	v6 := netfilter.FamilyOf(q.Dst) == netfilter.IPv6
	st := report.Step{Layer: Layer, Address: q.Dst.String()}
	if !k.Read || k.Main == nil {
		st.Decision = report.Unknown
		if k.Step.Decision == report.Skipped {
			st.Decision = report.Skipped
		}
		why := k.Step.Detail
		if why == "" {
			why = "no part of the source set was simulated"
		}
		st.Detail = fmt.Sprintf("no verdict without the kernel's rules (%s); ufw's files say: %s", why, c.says(q, report.RangeOf(q.Source), v6))
		return st
	}
	loaded := loadedIn(k, v6)
	if !c.Enabled && loaded != netfilter.Yes {
		st.Decision = report.Skipped
		st.Detail = fmt.Sprintf("ufw is disabled (ENABLED=no in %s)", c.ConfFile)
		if loaded == netfilter.No {
			st.Detail += " and its chains are not loaded"
		} else {
			st.Detail += " and none of its chains decides here"
		}
		st.Detail += ": the kernel's rules decide without it"
		return st
	}
	ks := k.Step
	st.Decision, st.Symptom, st.Cause, st.AllowedFrom, st.Conditional = ks.Decision, ks.Symptom, ks.Cause, ks.AllowedFrom, ks.Conditional

	var notes []string
	switch {
	case c.Enabled && loaded == netfilter.No:
		notes = append(notes, fmt.Sprintf("ufw is enabled (ENABLED=yes in %s) but its rules are not loaded (run `ufw enable` or `ufw reload`)", c.ConfFile))
	case !c.Enabled && loaded == netfilter.Yes:
		notes = append(notes, fmt.Sprintf("ufw is disabled (ENABLED=no in %s) but its chains are loaded: they decide now, and are gone after `ufw disable` or a reboot", c.ConfFile))
	}
	if v6 && c.Defaults != nil && !c.Defaults.IPv6 {
		notes = append(notes, "IPV6=no in "+c.DefaultsFile+": ufw manages no IPv6 rules")
	}
	e := f.explain(q, k, v6, loaded)
	notes = append(notes, e.notes...)
	st.Rule = e.rule
	if e.limit != "" {
		st.Conditional = replaceLimitConditions(k.Main.Trace.Conditions, e.limit)
	}

	t := k.Main.Trace
	what := fmt.Sprintf("%s/%d", q.Proto, q.Port)
	switch {
	case st.Decision == report.Allow && len(st.AllowedFrom) > 0:
		st.Detail = fmt.Sprintf("%s is allowed only from %s%s%s", what, summarize(st.AllowedFrom), strings.Replace(e.by(), " by ", ", by ", 1), e.says)
	case st.Decision == report.Allow:
		st.Detail = fmt.Sprintf("%s from %s is allowed%s%s", what, q.Source, e.by(), e.says)
	case st.Decision.Blocks():
		verb := "dropped"
		if st.Decision == report.Reject {
			verb = "rejected"
		}
		if st.Symptom != "" {
			verb += fmt.Sprintf(" (the client sees %s)", st.Symptom)
		}
		st.Detail = fmt.Sprintf("%s from %s is %s%s%s", what, q.Source, verb, e.by(), e.says)
	default:
		st.Detail = fmt.Sprintf("the kernel's rules do not decide %s from %s (%s); the rule in question is %s", what, q.Source, strings.TrimPrefix(ks.Detail, "cannot be decided from the rules: "), e.says)
	}
	if k.Forwarded() {
		notes = append(notes, fmt.Sprintf("%s: the connection goes through FORWARD (as Docker's published ports do), where ufw's INPUT rules (`ufw allow`, `ufw deny`) do not apply; only `ufw route` rules can filter it, and only if FORWARD reaches ufw's chains before Docker's — otherwise filter it in DOCKER-USER", t.NAT.Text))
	}
	if len(notes) > 0 {
		st.Detail += "; " + strings.Join(notes, "; ")
	}
	if st.Decision.Blocks() {
		st.Fix = f.fix(q, k, v6, loaded, e)
	}
	return st
}

// explain maps the kernel's deciding rule back to ufw.
func (f *Frontend) explain(q frontend.Query, k frontend.Kernel, v6 bool, loaded netfilter.Tri) explanation {
	c := f.cfg
	t := k.Main.Trace
	r := k.Decider()
	if r == nil && t.Final == netfilter.Undecided {
		if m := userRef.FindStringSubmatch(t.Reason); m != nil {
			if pos, err := strconv.Atoi(m[2]); err == nil {
				return f.userRule(m[1], pos, nil, v6)
			}
		}
	}
	if r == nil {
		why := t.Reason
		if why == "" {
			why = "no base chain on the path"
		}
		return explanation{kind: kKernel, says: "the kernel itself, not a rule: " + why}
	}
	rl := role(r.Chain)
	forward := t.Path == netfilter.Forward
	switch {
	case rl == "user-input" || rl == "user-forward" || rl == "user-output":
		return f.userRule(r.Chain, r.Position, r, v6)
	case rl == "user-limit-accept" || rl == "user-limit":
		if chain, pos, ok := limitPosition(t.Conditions); ok {
			e := f.userRule(chain, pos, nil, v6)
			if rl == "user-limit" {
				e.says += " (this source went over the rate limit)"
			}
			return e
		}
		return explanation{kind: kUser, says: fmt.Sprintf("a `ufw limit` rule (%s)", r.Text), rule: r}
	case rl == "" && r.Position == 0 && (r.Chain == "INPUT" || r.Chain == "FORWARD"):
		if loaded == netfilter.No || loaded == netfilter.Maybe && !c.Enabled {
			return explanation{kind: kOutside, says: fmt.Sprintf("the policy of the %s chain (%s), not a ufw rule", r.Chain, r.Text)}
		}
		return f.policy(q, k, v6, forward)
	case rl == "reject-input" || rl == "reject-forward" || rl == "track-input" || rl == "track-forward":
		return f.policy(q, k, v6, forward)
	case rl == "skip-to-policy-input" || rl == "skip-to-policy-forward":
		e := f.policy(q, k, v6, forward)
		e.says += fmt.Sprintf(", which ufw's %s applies directly to this traffic (NetBIOS, DHCP, broadcast) without logging", c.file("after", v6))
		return e
	case rl == "not-local":
		return explanation{kind: kBefore, says: fmt.Sprintf("ufw's ufw-not-local chain (%s): the destination is not an address of this host", c.file("before", v6)),
			rule: &report.Rule{ID: r.ID, Text: r.Text, Origin: c.file("before", v6)}}
	case strings.HasPrefix(rl, "before"):
		return explanation{kind: kBefore, says: fmt.Sprintf("ufw's %s (%s)", c.file("before", v6), r.Text),
			rule: &report.Rule{ID: r.ID, Text: r.Text, Origin: c.file("before", v6)}}
	case strings.HasPrefix(rl, "after"):
		return explanation{kind: kAfter, says: fmt.Sprintf("ufw's %s (%s)", c.file("after", v6), r.Text),
			rule: &report.Rule{ID: r.ID, Text: r.Text, Origin: c.file("after", v6)}}
	case rl != "":
		return explanation{kind: kUfwOther, says: fmt.Sprintf("ufw's chain %s (%s)", r.Chain, r.Text), rule: r}
	}
	where := r.ID
	if r.Origin != "" {
		where += " of " + r.Origin
	}
	return explanation{kind: kOutside, says: fmt.Sprintf("a rule ufw does not manage: %s (%s); ufw's rules do not change this", where, r.Text)}
}

// file is the path of one of ufw's rule files ("before" → /etc/ufw/before.rules).
func (c *Config) file(name string, v6 bool) string {
	if v6 {
		name += "6"
	}
	return c.Dir + "/" + name + ".rules"
}

// userRule names rule pos of a ufw user chain through user.rules; kr is the loaded rule
// (nil when only its position is known) and is compared with the line ufw wrote.
func (f *Frontend) userRule(chain string, pos int, kr *report.Rule, v6 bool) explanation {
	rules := f.cfg.rules(v6)
	if rules == nil {
		e := explanation{kind: kUser, says: fmt.Sprintf("rule %d of %s (user6.rules was not read)", pos, chain), rule: kr}
		if kr != nil {
			e.says = fmt.Sprintf("%s (rule %d of %s; user6.rules was not read)", kr.Text, pos, chain)
		}
		return e
	}
	lines := rules.Chains[chain]
	if pos < 1 || pos > len(lines) {
		e := explanation{kind: kUser, drifted: true, rule: kr}
		e.says = fmt.Sprintf("rule %d of the loaded %s", pos, chain)
		if kr != nil {
			e.says = loadedName(kr, v6)
		}
		e.notes = append(e.notes, fmt.Sprintf("the loaded %s has a rule %d but %s has only %d rules for it: the loaded rules differ from ufw's files (run `ufw reload`)", chain, pos, rules.Name, len(lines)))
		return e
	}
	l := lines[pos-1]
	// only iptables-save text compares with the lines ufw wrote; nft prints the same rule otherwise
	if kr != nil && strings.HasPrefix(kr.Origin, "iptables") && ruleKey(l.Text, v6) != ruleKey(kr.Text, v6) {
		e := explanation{kind: kUser, drifted: true, rule: kr, says: loadedName(kr, v6)}
		file := "`" + l.Text + "`"
		if l.Tuple != nil {
			file = "`" + l.Tuple.Command() + "`"
		}
		e.notes = append(e.notes, fmt.Sprintf("the loaded rule %d of %s (%s) is not what %s line %d says (%s): ufw's files were changed without `ufw reload`", pos, chain, kr.Text, rules.Name, l.Num, file))
		return e
	}
	if l.Tuple == nil {
		return explanation{kind: kUser, says: fmt.Sprintf("%s line %d (%s), a rule without a ufw tuple", rules.Name, l.Num, l.Text),
			rule: &report.Rule{ID: fmt.Sprintf("%s:%d", rules.Name, l.Num), Text: l.Text, Origin: fmt.Sprintf("%s:%d", rules.Name, l.Num)}}
	}
	tp := l.Tuple
	e := explanation{kind: kUser, tuple: tp, rule: tp.report(rules.Name)}
	e.says = fmt.Sprintf("`%s` (rule %d in `ufw status numbered`)", tp.Command(), tp.Number)
	if tp.Action == "limit" {
		e.limit = fmt.Sprintf("`%s`: ufw refuses a source's new connections once it opens 6 within 30 s (the client then sees refused)", tp.Command())
	}
	return e
}

// loadedName names a loaded rule that user.rules does not explain, as the ufw rule it amounts to.
func loadedName(kr *report.Rule, v6 bool) string {
	if t := tupleOf(kr.Text, v6); t != nil {
		return fmt.Sprintf("the loaded rule %s (what `%s` makes)", kr.Text, t.Command())
	}
	return "the loaded rule " + kr.Text
}

// report is the step's rule for a tuple: the command as text, the file and line, its number.
func (t *Tuple) report(file string) *report.Rule {
	return &report.Rule{ID: fmt.Sprintf("ufw rule %d", t.Number), Text: t.Command(), Origin: fmt.Sprintf("%s:%d", file, t.Line), Position: t.Number}
}

// policyWord is a policy as ufw's commands name it.
func policyWord(p string) string {
	return map[string]string{"ACCEPT": "allow", "DROP": "deny", "REJECT": "reject"}[p]
}

// policy explains a decision by ufw's default incoming (or routed) policy.
func (f *Frontend) policy(q frontend.Query, k frontend.Kernel, v6, forward bool) explanation {
	c := f.cfg
	dir, key := "incoming", "DEFAULT_INPUT_POLICY"
	if forward {
		dir, key = "routed", "DEFAULT_FORWARD_POLICY"
	}
	kernel := map[report.Decision]string{report.Allow: "allow", report.Drop: "deny", report.Reject: "reject"}[k.Step.Decision]
	e := explanation{kind: kPolicy, sentence: true}
	text := fmt.Sprintf("ufw default %s %s", kernel, dir)
	switch {
	case kernel == "":
		e.says = fmt.Sprintf("ufw's default %s policy", dir)
	case c.Defaults == nil:
		e.says = fmt.Sprintf("ufw's default %s policy, which is %s as loaded (no defaults file found: looked for %s)", dir, kernel, strings.Join(c.DefaultsTried, ", "))
	default:
		conf := c.Defaults.Input
		if forward {
			conf = c.Defaults.Forward
		}
		e.says = fmt.Sprintf("ufw's default %s policy is %s (%s=%q in %s)", dir, kernel, key, conf, c.DefaultsFile)
		if w := policyWord(conf); w != kernel {
			e.drifted = true
			e.notes = append(e.notes, fmt.Sprintf("the loaded rules apply %s, but %s says %s=%q (%s): run `ufw reload`", kernel, c.DefaultsFile, key, conf, w))
		}
	}
	if kernel != "" {
		origin := c.DefaultsFile
		if origin == "" {
			origin = "the loaded rules"
		}
		e.rule = &report.Rule{ID: "ufw default " + dir, Text: text, Origin: origin}
	}
	// a user rule that would have decided first but is not loaded
	if rules := c.rules(v6); rules != nil {
		tp, tri := firstMatch(rules, q, k.Main.Range, arrival(q, k), forward, k.Main.Trace.Packet.Dst, k.Main.Trace.Packet.DPort)
		if tri == netfilter.Yes {
			e.drifted = true
			e.tuple = tp
			e.notes = append(e.notes, fmt.Sprintf("%s has `%s` (rule %d, line %d), which would decide first, but the kernel has not loaded it (run `ufw reload`)", rules.Name, tp.Command(), tp.Number, tp.Line))
		}
	}
	return e
}

// arrival is the interface the connection arrives on, when known.
func arrival(q frontend.Query, k frontend.Kernel) string {
	if q.InIface != "" {
		return q.InIface
	}
	return k.Main.Trace.Packet.InIface
}

// fix returns ufw commands that would let q through where the kernel blocks it; nil when
// ufw cannot change the outcome (a rule outside ufw decides).
func (f *Frontend) fix(q frontend.Query, k frontend.Kernel, v6 bool, loaded netfilter.Tri, e explanation) []string {
	c := f.cfg
	t := k.Main.Trace
	forward := t.Path == netfilter.Forward
	port := t.Packet.DPort // after DNAT the filter sees the translated port
	var dst netip.Addr
	if forward {
		dst = t.Packet.Dst
	}
	allow := allowSpec(forward, q.Proto, port, q.Source, dst)
	// what user.rules decides, for when the loaded rules are stale
	var fileRule *Tuple
	fileTri := netfilter.Maybe
	if rules := c.rules(v6); rules != nil {
		fileRule, fileTri = firstMatch(rules, q, k.Main.Range, arrival(q, k), forward, t.Packet.Dst, port)
	}
	fileAllows := fileTri == netfilter.Yes && (fileRule.Action == "allow" || fileRule.Action == "limit")
	a := allowTuple(forward, q.Proto, port, q.Source, dst, v6)
	afterReload := func() []string {
		switch {
		case fileAllows:
			return []string{"ufw reload"}
		case fileTri == netfilter.Yes:
			return append([]string{"ufw reload"}, precede(c.rules(v6), fileRule, a, allow)...)
		case fileTri == netfilter.No:
			return []string{"ufw reload", "ufw " + allow}
		}
		return nil
	}
	if c.Enabled && loaded == netfilter.No {
		if fileAllows {
			return []string{"ufw reload"}
		}
		return nil
	}
	switch e.kind {
	case kUser:
		if e.drifted {
			return afterReload()
		}
		if e.tuple == nil {
			return []string{"ufw insert 1 " + allow}
		}
		return precede(c.rules(v6), e.tuple, a, allow)
	case kPolicy:
		if e.drifted && fileTri == netfilter.Yes {
			return afterReload() // a user rule that is not loaded decides once reloaded
		}
		return []string{"ufw " + allow} // ufw adds it to the running rules at once

	case kBefore, kAfter, kUfwOther:
		return []string{fmt.Sprintf("# ufw's own rule decides: edit %s (%s), then run: ufw reload", fileOf(e.rule), ruleText(e.rule))}
	}
	return nil
}

// precede returns the ufw commands that let the allow rule a (allow is its command) decide
// before the blocking rule d. ufw refuses to insert a rule that exists already, whatever
// its action: a rule for the same connections as d is updated in place by adding it
// ("Rule updated"); when another rule is a's twin, that one is moved before d.
func precede(u *UserRules, d, a *Tuple, allow string) []string {
	if d.sameSpec(a) {
		return []string{"ufw " + allow}
	}
	if u != nil {
		for _, t := range u.Tuples {
			if t != d && t.sameSpec(a) {
				n := d.Number
				if t.Number < n {
					n--
				}
				return []string{"ufw delete " + t.spec(), fmt.Sprintf("ufw insert %d %s", n, allow)}
			}
		}
	}
	return []string{
		fmt.Sprintf("ufw insert %d %s", d.Number, allow),
		"# or remove the rule: ufw delete " + d.spec(),
	}
}

// allowTuple is the rule allowSpec writes, for comparing with the rules there are.
func allowTuple(route bool, proto string, port uint16, src netip.Prefix, dst netip.Addr, v6 bool) *Tuple {
	t := &Tuple{Action: "allow", Route: route, Proto: proto, DPort: strconv.Itoa(int(port)), SPort: "any", Direction: "in", V6: v6,
		dports: []report.PortRange{{Lo: port, Hi: port}}, src: src.Masked(), dst: netipAny(v6)}
	if !src.IsValid() || src.Bits() == 0 {
		t.src = netipAny(v6)
	}
	if dst.IsValid() {
		t.dst = netip.PrefixFrom(dst, dst.BitLen())
	}
	return t
}

// sameSpec reports whether two rules are for the same connections (ufw's match ignoring
// action, logging and comment).
func (t *Tuple) sameSpec(o *Tuple) bool {
	return t.Route == o.Route && t.Direction == o.Direction && t.Proto == o.Proto &&
		samePorts(t.dports, o.dports) && samePorts(t.sports, o.sports) &&
		t.src == o.src && t.dst == o.dst && t.InIface == o.InIface && t.OutIface == o.OutIface &&
		t.DApp == o.DApp && t.SApp == o.SApp
}

func samePorts(a, b []report.PortRange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fileOf(r *report.Rule) string {
	if r == nil || r.Origin == "" {
		return "/etc/ufw/before.rules"
	}
	return r.Origin
}

func ruleText(r *report.Rule) string {
	if r == nil {
		return ""
	}
	return r.Text
}

// firstMatch finds the first user rule for the connection: the tuple and Yes when one
// matches for sure before any that might; nil and Maybe when an earlier rule depends on
// something unknown (an interface, a source port, part of the source range); nil and No
// when none matches.
func firstMatch(u *UserRules, q frontend.Query, src report.AddrRange, iface string, forward bool, dst netip.Addr, port uint16) (*Tuple, netfilter.Tri) {
	if !forward {
		dst = q.Dst
	}
	for _, t := range u.Tuples {
		switch m := t.matches(q.Proto, src, iface, forward, dst, port); m {
		case netfilter.Yes:
			return t, m
		case netfilter.Maybe:
			return nil, m
		}
	}
	return nil, netfilter.No
}

// matches evaluates a tuple for the first packet of a connection.
func (t *Tuple) matches(proto string, src report.AddrRange, iface string, forward bool, dst netip.Addr, port uint16) netfilter.Tri {
	if t.Direction != "in" || t.Route != forward {
		return netfilter.No
	}
	if t.Proto != "any" && t.Proto != proto {
		return netfilter.No
	}
	if t.Proto == "any" && t.dports != nil && proto != "tcp" && proto != "udp" {
		return netfilter.No
	}
	if t.dports != nil && !inPorts(t.dports, port) {
		return netfilter.No
	}
	if !dst.IsValid() || !t.dst.Contains(dst.Unmap()) {
		return netfilter.No
	}
	res := netfilter.Yes
	sr := report.RangeOf(t.src)
	switch {
	case sr.Contains(src.From) && sr.Contains(src.To):
	case src.To.Less(sr.From) || sr.To.Less(src.From):
		return netfilter.No
	default:
		res = netfilter.Maybe
	}
	if t.sports != nil {
		res = netfilter.Maybe // the client's source port is not known in advance
	}
	if t.InIface != "" {
		switch {
		case iface == "":
			res = netfilter.Maybe
		case iface != t.InIface:
			return netfilter.No
		}
	}
	if t.OutIface != "" {
		res = netfilter.Maybe
	}
	return res
}

func inPorts(rs []report.PortRange, p uint16) bool {
	for _, r := range rs {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// says summarizes what ufw's files say about q, for when the kernel's rules are not known.
func (c *Config) says(q frontend.Query, src report.AddrRange, v6 bool) string {
	var parts []string
	if c.Enabled {
		parts = append(parts, "ufw is enabled")
	} else {
		parts = append(parts, "ufw is disabled (ENABLED=no)")
	}
	pol := "unknown (no defaults file found)"
	if c.Defaults != nil {
		pol = policyWord(c.Defaults.Input)
	}
	parts = append(parts, "the default incoming policy is "+pol)
	rules := c.rules(v6)
	switch {
	case rules == nil:
		parts = append(parts, "user6.rules was not read")
	default:
		what := fmt.Sprintf("%s/%d", q.Proto, q.Port)
		tp, tri := firstMatch(rules, q, src, q.InIface, false, q.Dst, q.Port)
		switch tri {
		case netfilter.Yes:
			parts = append(parts, fmt.Sprintf("the first rule for %s is `%s` (rule %d)", what, tp.Command(), tp.Number))
		case netfilter.Maybe:
			parts = append(parts, fmt.Sprintf("which rule applies to %s depends on the interface, the source port or the part of %s", what, q.Source))
		default:
			parts = append(parts, fmt.Sprintf("no rule of %s is for %s, so the default policy applies", rules.Name, what))
		}
	}
	return strings.Join(parts, "; ") + " (ufw's files alone decide nothing: before.rules, other tools and a stale ruleset also count)"
}

// userRef finds a rule of a ufw user chain in a walk's reason ("filter/ufw-user-input#8: -i vs …").
var userRef = regexp.MustCompile(`filter/(ufw6?-user-(?:input|forward|output))#(\d+)`)

// limitCond is the condition the iptables walk notes for ufw's limit rule.
var limitCond = regexp.MustCompile(`^filter/(ufw6?-user-input)#(\d+): assumes fewer than (\d+) recent connections from this source within (\d+) s`)

// limitPosition finds the chain and position of the limit rule from the walk's conditions.
func limitPosition(conds []string) (chain string, pos int, ok bool) {
	for _, c := range conds {
		if m := limitCond.FindStringSubmatch(c); m != nil {
			n, err := strconv.Atoi(m[2])
			return m[1], n, err == nil
		}
	}
	return "", 0, false
}

// replaceLimitConditions states the walk's conditions with ufw's limit in its own words.
func replaceLimitConditions(conds []string, limit string) string {
	out := []string{limit}
	for _, c := range conds {
		if !limitCond.MatchString(c) {
			out = append(out, c)
		}
	}
	return strings.Join(out, "; ")
}

func summarize(ps []string) string {
	const max = 8
	if len(ps) <= max {
		return strings.Join(ps, ", ")
	}
	return strings.Join(ps[:max], ", ") + fmt.Sprintf(" and %d more", len(ps)-max)
}

// loadedIn says whether ufw's chains are in the kernel's rules for the family: Yes when a
// ufw chain decided any part of the source set, or decides a loopback or mDNS packet
// (which ufw's before.rules accept) on an input chain; No when input chains were walked
// and none of them reaches ufw's; Maybe when the walk saw no input chain.
func loadedIn(k frontend.Kernel, v6 bool) netfilter.Tri {
	var input []netfilter.BaseChain
	seen := map[string]bool{}
	for _, c := range k.Classes {
		for _, h := range c.Trace.Hops {
			if h.Result.Rule != nil && role(h.Result.Rule.Chain) != "" {
				return netfilter.Yes
			}
			if h.Chain.Hook == netfilter.Input && h.Chain.Type == "filter" && !seen[h.Chain.Where()] && h.Chain.Run != nil {
				seen[h.Chain.Where()] = true
				input = append(input, h.Chain)
			}
		}
	}
	if len(input) == 0 {
		return netfilter.Maybe
	}
	fam := netfilter.IPv4
	lo, mdnsSrc, mdns := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("224.0.0.251")
	if v6 {
		fam = netfilter.IPv6
		lo, mdnsSrc, mdns = netip.IPv6Loopback(), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff02::fb")
	}
	probes := []netfilter.Packet{
		{Family: fam, Proto: "tcp", Src: lo, Dst: lo, DPort: 1, InIface: "lo"},
		{Family: fam, Proto: "udp", Src: mdnsSrc, Dst: mdns, DPort: 5353},
	}
	for _, c := range input {
		for _, p := range probes {
			pkt := p
			res := c.Run(&netfilter.Eval{Pkt: &pkt, Env: &netfilter.Env{}})
			if res.Rule != nil && role(res.Rule.Chain) != "" {
				return netfilter.Yes
			}
		}
	}
	return netfilter.No
}
