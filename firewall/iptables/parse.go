package iptables

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/portpath/portpath/report"
)

// Parse reads iptables-save or ip6tables-save output, with or without -c counters.
// name is used in errors, which always read "name:line: …".
func Parse(r io.Reader, name string) (*Dump, error) {
	return parseReader(r, name, 0)
}

func parseReader(r io.Reader, name string, sizeHint int64) (*Dump, error) {
	var sb strings.Builder
	if sizeHint > 0 && sizeHint < 1<<30 {
		sb.Grow(int(sizeHint) + 1)
	}
	if _, err := io.Copy(&sb, r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseString(sb.String(), name)
}

// maxShown bounds how much of a bad line an error quotes.
const maxShown = 60

func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return s[:maxShown] + "…"
}

// builtinChains are the built-in chains of each table, the only chains that may have a policy.
var builtinChains = map[string][]string{
	"raw":      {"PREROUTING", "OUTPUT"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

func isBuiltinName(table, chain string) (builtin, known bool) {
	names, known := builtinChains[table]
	for _, n := range names {
		if n == chain {
			return true, true
		}
	}
	return false, known
}

type token struct {
	s      string
	quoted bool
	// start and end are byte offsets in the rule text.
	start, end int
}

// item is one option of the rule being read: its argument tokens and its group (-1: target).
type item struct {
	name   string
	neg    bool
	a0, a1 int
	group  int
}

type group struct {
	module     string
	start, end int
	n, fill    int
}

// chunk hands out slices of a shared backing array, so that a dump of many small rules
// allocates a few large arrays instead of many small ones.
type chunk[T any] struct{ buf []T }

func (c *chunk[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	if cap(c.buf)-len(c.buf) < n {
		size := min(max(2*cap(c.buf), 64), 4096)
		c.buf = make([]T, 0, max(size, n))
	}
	l := len(c.buf)
	c.buf = c.buf[:l+n]
	return c.buf[l : l+n : l+n]
}

type parser struct {
	name string
	line int
	d    *Dump
	cur  *Table

	toks   []token
	items  []item
	groups []group
	opts   chunk[Option]
	args   chunk[string]
	ms     chunk[Match]
	chains chunk[Chain]
	sb     strings.Builder
}

func (p *parser) errf(format string, a ...any) error {
	return p.errAt(p.line, format, a...)
}

func (p *parser) errAt(line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, line, fmt.Sprintf(format, a...))
}

// parallelMin is the dump size from which rule lines are parsed on several cores.
const parallelMin = 1 << 20

func parseString(src, name string) (*Dump, error) {
	return parseSplit(src, name, runtime.GOMAXPROCS(0))
}

// parseSplit parses src in at most n segments at once. Rule lines do not depend on the
// table around them until they are filed into their chain, so each segment's rules are
// parsed on a core of their own and then filed in order, by one pass over the lines.
func parseSplit(src, name string, n int) (*Dump, error) {
	p := &parser{name: name, d: &Dump{Name: name}}
	segs := splitLines(src, n)
	lines := make([][]parsedLine, len(segs))
	var wg sync.WaitGroup
	for i, sg := range segs[1:] {
		wg.Go(func() { lines[i+1] = parseSegment(sg, name) })
	}
	lines[0] = parseSegment(segs[0], name)
	wg.Wait()
	for _, seg := range lines {
		for i := range seg {
			if err := p.file(&seg[i]); err != nil {
				return nil, err
			}
		}
	}
	if p.cur != nil {
		return nil, p.errAt(p.cur.Line, "table %s has no COMMIT", p.cur.Name)
	}
	return p.d, nil
}

// segment is a part of a dump that begins at the start of a line.
type segment struct {
	src string
	// line is the number of lines before the segment.
	line int
}

// splitLines cuts src at line ends into at most n segments of about the same size; a
// small dump stays whole.
func splitLines(src string, n int) []segment {
	if n < 2 || len(src) < parallelMin {
		return []segment{{src: src}}
	}
	var out []segment
	line := 0
	for len(src) > 0 && len(out) < n-1 {
		cut := len(src) / (n - len(out))
		nl := strings.IndexByte(src[cut:], '\n')
		if nl < 0 {
			break
		}
		cut += nl + 1
		out = append(out, segment{src: src[:cut], line: line})
		line += strings.Count(src[:cut], "\n")
		src = src[cut:]
	}
	return append(out, segment{src: src, line: line})
}

// parseSegment parses the lines of one segment; it stops after the first bad line. The
// rules go into one array, in order: iptables-save writes a chain's rules on consecutive
// lines, so each run of them is a piece of that array, filed into its chain without a copy.
func parseSegment(sg segment, name string) []parsedLine {
	w := &parser{name: name, d: &Dump{}}
	rules := make([]Rule, 0, strings.Count(sg.src, "\n-A ")+1)
	var out []parsedLine
	n := sg.line
	for pos := 0; pos < len(sg.src); {
		var line string
		if nl := strings.IndexByte(sg.src[pos:], '\n'); nl >= 0 {
			line, pos = sg.src[pos:pos+nl], pos+nl+1
		} else {
			line, pos = sg.src[pos:], len(sg.src)
		}
		n++
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if line[0] != '[' && line[0] != '-' {
			out = append(out, parsedLine{n: n, text: line})
			continue
		}
		w.line = n
		r, chain, err := w.parseRule(line)
		if err != nil {
			out = append(out, parsedLine{n: n, text: line, err: err})
			break
		}
		if k := len(out) - 1; k >= 0 && out[k].rules != nil && out[k].chain == chain && len(rules) < cap(rules) {
			rules = append(rules, r)
			out[k].rules = rules[len(rules)-len(out[k].rules)-1 : len(rules) : len(rules)]
			continue
		}
		if len(rules) == cap(rules) {
			rules = make([]Rule, 0, 64) // more rules than "-A" lines at a line start: quoted or odd spacing
		}
		rules = append(rules, r)
		out = append(out, parsedLine{n: n, text: line, chain: chain, rules: rules[len(rules)-1 : len(rules) : len(rules)]})
	}
	return out
}

// parsedLine is a line of a dump after the part of parsing that needs no context: a
// table, chain or COMMIT line, a run of rules of one chain, or the first bad line.
type parsedLine struct {
	// n is the number of the line, the first of a run.
	n    int
	text string
	// rules is a run of consecutive rules appending to chain; nil for other lines.
	rules []Rule
	chain string
	err   error
}

// file applies one line or run to the dump in order: tables, chains, COMMIT, and rules into their chains.
func (p *parser) file(pl *parsedLine) error {
	p.line = pl.n
	if pl.err != nil {
		return pl.err
	}
	if pl.rules != nil {
		if p.cur == nil {
			return p.errf("rule outside a table (no *table line before it)")
		}
		c := p.cur.byName[pl.chain]
		if c == nil {
			return p.errf("rule appends to undeclared chain %s", shorten(pl.chain))
		}
		if len(c.Rules) == 0 {
			c.Rules = pl.rules
		} else {
			c.Rules = append(c.Rules[:len(c.Rules):len(c.Rules)], pl.rules...)
		}
		return nil
	}
	line := pl.text
	switch line[0] {
	case '#':
		if p.d.Header == "" && strings.HasPrefix(line, "# Generated by") {
			p.d.Header = line
		}
	case '*':
		return p.table(line[1:])
	case ':':
		return p.chain(line[1:])
	default:
		if line == "COMMIT" {
			return p.commit()
		}
		return p.errf("unknown line %q", shorten(line))
	}
	return nil
}

func (p *parser) table(name string) error {
	if p.cur != nil {
		return p.errf("table %q begins before table %s (line %d) has its COMMIT", shorten(name), p.cur.Name, p.cur.Line)
	}
	if name == "" || strings.ContainsAny(name, " \t") {
		return p.errf("bad table name %q", shorten(name))
	}
	if t := p.d.Table(name); t != nil {
		return p.errf("table %s appears twice (first at line %d)", name, t.Line)
	}
	p.cur = &Table{Name: name, Line: p.line, byName: map[string]*Chain{}}
	p.d.Tables = append(p.d.Tables, p.cur)
	return nil
}

// field cuts the first space-separated field off s.
func field(s string) (f, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

func parseCounters(s string) (Counters, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return Counters{}, false
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return Counters{}, false
	}
	pk, err1 := strconv.ParseUint(a, 10, 64)
	by, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return Counters{}, false
	}
	return Counters{pk, by}, true
}

func (p *parser) chain(decl string) error {
	if p.cur == nil {
		return p.errf("chain declaration outside a table (no *table line before it)")
	}
	name, rest := field(decl)
	policy, rest := field(rest)
	counters, rest := field(rest)
	switch {
	case name == "":
		return p.errf("chain declaration without a name")
	case policy == "":
		return p.errf("chain %s has no policy (\"-\" for a user chain)", name)
	case rest != "":
		return p.errf("unexpected %q after the declaration of chain %s", shorten(rest), name)
	}
	if c := p.cur.byName[name]; c != nil {
		return p.errf("chain %s declared twice (first at line %d)", name, c.Line)
	}
	c := &p.chains.take(1)[0]
	c.Name, c.Line = name, p.line
	builtin, known := isBuiltinName(p.cur.Name, name)
	switch policy {
	case "-":
		if builtin {
			return p.errf("built-in chain %s needs a policy (ACCEPT or DROP)", name)
		}
	case "ACCEPT", "DROP":
		if known && !builtin {
			return p.errf("chain %s is not a built-in chain of table %s and cannot have policy %s", name, p.cur.Name, policy)
		}
		c.Policy = policy
	default:
		return p.errf("bad policy %q for chain %s (want ACCEPT, DROP or -)", shorten(policy), name)
	}
	if counters != "" {
		var ok bool
		if c.Counters, ok = parseCounters(counters); !ok {
			return p.errf("bad counters %q for chain %s", shorten(counters), name)
		}
	}
	c.index = len(p.cur.Chains)
	p.cur.Chains = append(p.cur.Chains, c)
	p.cur.byName[name] = c
	return nil
}

func (p *parser) commit() error {
	t := p.cur
	if t == nil {
		return p.errf("COMMIT without a table")
	}
	for _, c := range t.Chains {
		for i := range c.Rules {
			r := &c.Rules[i]
			if r.Target == "" {
				continue
			}
			if dst := t.byName[r.Target]; dst != nil {
				if dst.Builtin() {
					return p.errAt(r.Line, "jump to built-in chain %s", r.Target)
				}
				r.jump = dst
				continue
			}
			switch {
			case r.Goto:
				return p.errAt(r.Line, "goto to undeclared chain %s", r.Target)
			case standardTargets[r.Target] || extensionTargets[r.Target]:
			case looksLikeExtension(r.Target) && len(r.TargetOptions) > 0:
				// an extension this package does not know; the walk passes over it
			default:
				return p.errAt(r.Line, "jump to undeclared chain %s", r.Target)
			}
		}
	}
	p.cur = nil
	return nil
}

// standardTargets are the verdicts of the core; extensionTargets the target extensions
// iptables ships. A name in neither must be a declared chain (or an unknown extension with options).
var (
	standardTargets  = map[string]bool{"ACCEPT": true, "DROP": true, "RETURN": true, "QUEUE": true}
	extensionTargets = map[string]bool{
		"REJECT": true, "DNAT": true, "SNAT": true, "MASQUERADE": true, "REDIRECT": true, "NETMAP": true,
		"MARK": true, "CONNMARK": true, "LOG": true, "NFLOG": true, "ULOG": true, "NFQUEUE": true,
		"CT": true, "NOTRACK": true, "TCPMSS": true, "SET": true, "TRACE": true, "AUDIT": true,
		"CHECKSUM": true, "CLASSIFY": true, "CLUSTERIP": true, "CONNSECMARK": true, "SECMARK": true,
		"DSCP": true, "TOS": true, "TTL": true, "HL": true, "ECN": true, "HMARK": true, "IDLETIMER": true,
		"LED": true, "RATEEST": true, "SYNPROXY": true, "TCPOPTSTRIP": true, "TEE": true, "TPROXY": true,
		"DNPT": true, "SNPT": true, "MIRROR": true, "SAME": true, "IPMARK": true, "TARPIT": true,
	}
)

// looksLikeExtension: target extensions are named in capitals, digits and underscores.
func looksLikeExtension(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// parseRule reads one rule line: the rule, and the name of the chain it appends to.
func (p *parser) parseRule(line string) (Rule, string, error) {
	var r Rule
	if line[0] == '[' {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return Rule{}, "", p.errf("bad counters in %q", shorten(line))
		}
		c, ok := parseCounters(line[:end+1])
		if !ok {
			return Rule{}, "", p.errf("bad counters %q", shorten(line[:end+1]))
		}
		r.Counters, r.HasCounters = c, true
		line = strings.TrimSpace(line[end+1:])
	}
	r.Line, r.Text = p.line, line
	if err := p.tokenize(line); err != nil {
		return Rule{}, "", err
	}
	toks := p.toks
	if len(toks) == 0 || toks[0].quoted || (toks[0].s != "-A" && toks[0].s != "--append") {
		return Rule{}, "", p.errf("unknown line %q (only -A rules belong in a dump)", shorten(line))
	}
	if len(toks) < 2 || isOption(toks[1]) {
		return Rule{}, "", p.errf("-A without a chain name")
	}
	chain := toks[1].s
	if err := p.options(&r); err != nil {
		return Rule{}, "", err
	}
	if err := p.check(&r); err != nil {
		return Rule{}, "", err
	}
	return r, chain, nil
}

// tokenize splits a rule shell-like: blanks separate, double quotes group, backslash escapes.
func (p *parser) tokenize(s string) error {
	p.toks = p.toks[:0]
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return nil
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '"' && s[j] != '\\' {
			j++
		}
		if j == len(s) || s[j] == ' ' || s[j] == '\t' {
			p.toks = append(p.toks, token{s: s[i:j], start: i, end: j})
			i = j
			continue
		}
		// a quoted string without escapes needs no copy
		if s[i] == '"' {
			k := i + 1
			for k < len(s) && s[k] != '"' && s[k] != '\\' {
				k++
			}
			if k < len(s) && s[k] == '"' && (k+1 == len(s) || s[k+1] == ' ' || s[k+1] == '\t') {
				p.toks = append(p.toks, token{s: s[i+1 : k], quoted: true, start: i, end: k + 1})
				i = k + 1
				continue
			}
		}
		tok, end, err := p.unquote(s, i)
		if err != nil {
			return err
		}
		p.toks = append(p.toks, tok)
		i = end
	}
}

func (p *parser) unquote(s string, i int) (token, int, error) {
	p.sb.Reset()
	tok := token{start: i}
	inQuote := false
	j := i
	for ; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			inQuote = !inQuote
			tok.quoted = true
			continue
		case c == '\\' && j+1 < len(s):
			j++
			c = s[j]
			tok.quoted = true
		case !inQuote && (c == ' ' || c == '\t'):
			tok.s, tok.end = p.sb.String(), j
			return tok, j, nil
		}
		p.sb.WriteByte(c)
	}
	if inQuote {
		return token{}, 0, p.errf("unterminated quote in %q", shorten(s[i:]))
	}
	tok.s, tok.end = p.sb.String(), j
	return tok, j, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isOption(t token) bool {
	s := t.s
	if t.quoted || len(s) < 2 || s[0] != '-' {
		return false
	}
	if isLetter(s[1]) || s == "-4" || s == "-6" {
		return true
	}
	return s[1] == '-' && len(s) > 2 && isLetter(s[2])
}

func isNot(t token) bool { return !t.quoted && t.s == "!" }

// canonical shortens the long forms of the core options.
func canonical(s string) string {
	switch s {
	case "--source", "--src":
		return "-s"
	case "--destination", "--dst":
		return "-d"
	case "--protocol":
		return "-p"
	case "--in-interface":
		return "-i"
	case "--out-interface":
		return "-o"
	case "--fragment":
		return "-f"
	case "--match":
		return "-m"
	case "--jump":
		return "-j"
	case "--goto":
		return "-g"
	case "--set-counters":
		return "-c"
	case "--append":
		return "-A"
	case "--ipv4":
		return "-4"
	case "--ipv6":
		return "-6"
	}
	return s
}

func isCore(name string) bool {
	switch name {
	case "-s", "-d", "-p", "-i", "-o", "-f", "-4", "-6":
		return true
	}
	return false
}

// options reads the tokens after "-A CHAIN" into r's matches and target.
func (p *parser) options(r *Rule) error {
	toks := p.toks
	p.items, p.groups = p.items[:0], p.groups[:0]
	core, cur := -1, -1
	inTarget := false
	neg, negStart := false, 0
	for i := 2; i < len(toks); {
		t := toks[i]
		if isNot(t) {
			if neg {
				return p.errf("\"!\" twice")
			}
			neg, negStart = true, t.start
			i++
			continue
		}
		if !isOption(t) {
			return p.errf("unexpected %q where an option belongs", shorten(t.s))
		}
		name := canonical(t.s)
		switch name {
		case "-m", "-j", "-g":
			if neg {
				return p.errf("\"!\" cannot negate %s", t.s)
			}
			if i+1 >= len(toks) || isOption(toks[i+1]) || isNot(toks[i+1]) || toks[i+1].s == "" {
				return p.errf("%s without a name", t.s)
			}
			arg := toks[i+1]
			if name == "-m" {
				p.groups = append(p.groups, group{module: arg.s, start: t.start, end: arg.end})
				cur, inTarget = len(p.groups)-1, false
			} else {
				if r.Target != "" {
					return p.errf("more than one target (%s and %s)", r.Target, shorten(arg.s))
				}
				r.Target, r.Goto, inTarget = arg.s, name == "-g", true
			}
			i += 2
			continue
		case "-c":
			if i+2 >= len(toks) {
				return p.errf("-c needs packets and bytes")
			}
			i += 3
			continue
		case "-A":
			return p.errf("-A twice in one rule")
		}
		j := i + 1
		// the old form "--dport ! 22" negates after the option name
		if j+1 < len(toks) && isNot(toks[j]) && !isOption(toks[j+1]) && !isNot(toks[j+1]) {
			if neg {
				return p.errf("\"!\" twice")
			}
			neg = true
			j++
		}
		a0 := j
		for j < len(toks) && !isOption(toks[j]) && !isNot(toks[j]) {
			j++
		}
		start, end := t.start, t.end
		if neg && negStart < start {
			start = negStart
		}
		if j > a0 {
			end = toks[j-1].end
		}
		g := -1
		switch {
		case isCore(name) || (!inTarget && cur < 0):
			if core < 0 {
				p.groups = append(p.groups, group{start: start, end: end})
				core = len(p.groups) - 1
			}
			g = core
		case !inTarget:
			g = cur
		}
		if g >= 0 {
			gr := &p.groups[g]
			gr.start, gr.end = min(gr.start, start), max(gr.end, end)
			gr.n++
		}
		p.items = append(p.items, item{name: name, neg: neg, a0: a0, a1: j, group: g})
		neg = false
		i = j
	}
	if neg {
		return p.errf("\"!\" at the end of the rule")
	}

	// lay the options out group by group, then the target's
	nArgs := 0
	for _, it := range p.items {
		nArgs += it.a1 - it.a0
	}
	opts := p.opts.take(len(p.items))
	args := p.args.take(nArgs)
	off := 0
	for g := range p.groups {
		p.groups[g].fill = off
		off += p.groups[g].n
	}
	tOff, tFill := off, off
	a := 0
	for _, it := range p.items {
		o := Option{Name: it.name, Negated: it.neg}
		if n := it.a1 - it.a0; n > 0 {
			for k := it.a0; k < it.a1; k++ {
				args[a+k-it.a0] = toks[k].s
			}
			o.Args = args[a : a+n : a+n]
			a += n
		}
		if it.group < 0 {
			opts[tFill] = o
			tFill++
		} else {
			gr := &p.groups[it.group]
			opts[gr.fill] = o
			gr.fill++
		}
	}
	if len(p.groups) > 0 {
		r.Matches = p.ms.take(len(p.groups))
		for g, gr := range p.groups {
			m := Match{Module: gr.module, Text: r.Text[gr.start:gr.end]}
			if gr.n > 0 {
				first := gr.fill - gr.n
				m.Options = opts[first:gr.fill:gr.fill]
			}
			r.Matches[g] = m
		}
	}
	if tFill > tOff {
		r.TargetOptions = opts[tOff:tFill:tFill]
	}
	return nil
}

// check validates the values this package evaluates, so that a bad address or port
// is reported with its line instead of silently never matching.
func (p *parser) check(r *Rule) error {
	for _, m := range r.Matches {
		for _, o := range m.Options {
			if err := p.checkOption(m.Module, o); err != nil {
				return err
			}
		}
	}
	for _, o := range r.TargetOptions {
		if err := p.checkTargetOption(r.Target, o); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) checkOption(module string, o Option) error {
	arity := -1
	bad := false
	switch {
	case module == "" && (o.Name == "-s" || o.Name == "-d"):
		arity, bad = 1, len(o.Args) == 1 && !checkAddrs(o.Args[0])
	case module == "" && (o.Name == "-p" || o.Name == "-i" || o.Name == "-o"):
		arity = 1
	case module == "" && (o.Name == "-f" || o.Name == "-4" || o.Name == "-6"):
		arity = 0
	case o.Name == "--dport" || o.Name == "--sport" || o.Name == "--destination-port" || o.Name == "--source-port":
		arity, bad = 1, len(o.Args) == 1 && (strings.Contains(o.Args[0], ",") || !checkPorts(o.Args[0]))
	case module == "multiport":
		switch o.Name {
		case "--dports", "--sports", "--ports", "--destination-ports", "--source-ports":
			arity, bad = 1, len(o.Args) == 1 && !checkPorts(o.Args[0])
		}
	case module == "iprange" && (o.Name == "--src-range" || o.Name == "--dst-range"):
		arity = 1
		if len(o.Args) == 1 {
			_, ok := parseAddrRange(o.Args[0])
			bad = !ok
		}
	case module == "set" && o.Name == "--match-set":
		arity = 2
	case (module == "mark" || module == "connmark") && o.Name == "--mark":
		arity = 1
		if len(o.Args) == 1 {
			_, _, ok := parseMark(o.Args[0])
			bad = !ok
		}
	}
	if arity >= 0 && len(o.Args) != arity {
		return p.errf("%s takes %d value(s), got %d", o.Name, arity, len(o.Args))
	}
	if bad {
		return p.errf("bad value %q for %s", shorten(o.Arg()), o.Name)
	}
	return nil
}

func (p *parser) checkTargetOption(target string, o Option) error {
	bad := false
	switch target + " " + o.Name {
	case "DNAT --to-destination":
		_, _, ok := parseNATDest(o.Arg())
		bad = !ok
	case "REDIRECT --to-ports":
		_, err := report.ParsePortRange(o.Arg(), "-")
		bad = err != nil
	case "MARK --set-mark", "MARK --set-xmark", "MARK --or-mark", "MARK --and-mark", "MARK --xor-mark":
		_, _, ok := parseMark(o.Arg())
		bad = !ok
	default:
		return nil
	}
	if bad || len(o.Args) != 1 {
		return p.errf("bad value %q for %s %s", shorten(strings.Join(o.Args, " ")), target, o.Name)
	}
	return nil
}
