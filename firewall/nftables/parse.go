package nftables

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SchemaVersion is the libnftables-json schema version the parser reads.
const SchemaVersion = 1

// Parse reads `nft -j list ruleset` output. name is the file name used in errors, which
// say where the problem is: "ruleset.json: object 17 (rule in inet filt input handle 12): …"
// (the index in the nftables array) or "ruleset.json: offset 812: …" for broken JSON.
// Statements and expressions it does not know become opaque and evaluate to "maybe";
// malformed JSON, another schema version, a rule or chain in an undeclared table or chain,
// and a jump, goto or set reference to something missing are errors.
func Parse(r io.Reader, name string) (*Ruleset, error) {
	p := &parser{name: name, rs: &Ruleset{Name: name, SchemaVersion: SchemaVersion}}
	if err := p.decode(r); err != nil {
		return nil, err
	}
	if err := p.build(); err != nil {
		return nil, err
	}
	return p.rs, nil
}

// ParseBytes is Parse on a byte slice.
func ParseBytes(b []byte, name string) (*Ruleset, error) { return Parse(bytes.NewReader(b), name) }

type parser struct {
	// names interns the family, table and chain names every rule repeats
	names  map[string]string
	name   string
	rs     *Ruleset
	tables []indexed[tableJSON]
	chains []indexed[chainJSON]
	sets   []indexed[setJSON]
	elems  []indexed[setJSON]
	rules  []indexed[ruleJSON]
}

type indexed[T any] struct {
	i int
	v *T
}

type tableJSON struct {
	Family, Name string
	Handle       int
}

type chainJSON struct {
	Family, Table, Name, Type, Hook, Policy string
	Handle                                  int
	Prio, Dev                               json.RawMessage
}

type setJSON struct {
	Family, Table, Name string
	Handle              int
	Type, Map, Flags    json.RawMessage
	Elem                []json.RawMessage
}

type ruleJSON struct {
	Family, Table, Chain, Comment string
	Handle                        int
	Expr                          []json.RawMessage
}

// intern reads a JSON string, sharing the copies of names seen before.
func (p *parser) intern(b []byte) (string, bool) {
	if s, ok := p.names[string(b)]; ok {
		return s, true
	}
	s, ok := jsonString(b)
	if ok && len(p.names) < 4096 {
		if p.names == nil {
			p.names = map[string]string{}
		}
		p.names[string(b)] = s
	}
	return s, ok
}

// errorf prefixes the file name.
func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", p.name, fmt.Sprintf(format, args...))
}

// objErr names an object of the array.
func (p *parser) objErr(i int, what any, err error) error {
	return p.errorf("object %d (%s): %v", i, what, err)
}

// jsonErr turns a decoder error into one with the byte offset.
func (p *parser) jsonErr(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return p.errorf("offset %d: malformed JSON: %v", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return p.errorf("offset %d: malformed JSON: unexpected end of input", dec.InputOffset())
	}
	return p.errorf("offset %d: %v", dec.InputOffset(), err)
}

// decode streams the top-level object: encoding/json's Decoder reads and checks one
// entry of the nftables array at a time; collect picks the entry apart.
func (p *parser) decode(r io.Reader) error {
	dec := json.NewDecoder(r)
	expectDelim := func(want json.Delim, what string) error {
		tok, err := dec.Token()
		if err != nil {
			return p.jsonErr(dec, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return p.errorf("offset %d: malformed input: expected %s, found %v", dec.InputOffset(), what, tokString(tok))
		}
		return nil
	}
	if err := expectDelim('{', `an object {"nftables":[…]}`); err != nil {
		return err
	}
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p.jsonErr(dec, err)
		}
		if key, _ := tok.(string); key != "nftables" || seen {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return p.jsonErr(dec, err)
			}
			continue
		}
		seen = true
		if err := expectDelim('[', `the "nftables" array`); err != nil {
			return err
		}
		for i := 0; dec.More(); i++ {
			off := dec.InputOffset()
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return p.jsonErr(dec, err)
			}
			if err := p.collect(i, off, raw); err != nil {
				return err
			}
		}
		if err := expectDelim(']', "the end of the nftables array"); err != nil {
			return err
		}
	}
	if err := expectDelim('}', "the end of the top-level object"); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return p.errorf("offset %d: malformed input: data after the top-level object", dec.InputOffset())
	}
	if !seen {
		return p.errorf(`no "nftables" array: not nft -j output`)
	}
	return nil
}

func tokString(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		return string(v)
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(t)
}

// fields reads the members of an object body into typed destinations; a member of the
// wrong JSON type is an error naming it.
type fields struct {
	strs  map[string]*string
	ints  map[string]*int
	raws  map[string]*json.RawMessage
	lists map[string]*[]json.RawMessage
}

func (f fields) read(b []byte) error {
	var err error
	ok := eachMember(b, func(k string, v []byte) {
		if err != nil {
			return
		}
		switch {
		case f.strs[k] != nil:
			s, good := jsonString(v)
			if !good {
				err = fmt.Errorf("%q is not a string", k)
			}
			*f.strs[k] = s
		case f.ints[k] != nil:
			n, good := jsonInt(v)
			if !good {
				err = fmt.Errorf("%q is not an integer", k)
			}
			*f.ints[k] = n
		case f.raws[k] != nil:
			*f.raws[k] = v
		case f.lists[k] != nil:
			l, good := arrayElems(v)
			if !good {
				err = fmt.Errorf("%q is not an array", k)
			}
			*f.lists[k] = l
		}
	})
	if !ok && err == nil {
		err = errors.New("not an object")
	}
	return err
}

func (p *parser) collect(i int, off int64, raw json.RawMessage) error {
	kind, body, ok := splitObject(raw)
	if !ok {
		return p.objErr(i, fmt.Sprintf("at offset %d", off), errors.New("expected an object with one key"))
	}
	bad := func(err error) error { return p.objErr(i, kind, err) }
	switch kind {
	case "metainfo":
		var version string
		schema := -1
		if err := (fields{strs: map[string]*string{"version": &version}, ints: map[string]*int{"json_schema_version": &schema}}).read(body); err != nil {
			return bad(err)
		}
		if schema != -1 && schema != SchemaVersion {
			return bad(fmt.Errorf("json_schema_version %d is not supported (only %d)", schema, SchemaVersion))
		}
		p.rs.Version = version
	case "table":
		t := &tableJSON{}
		if err := (fields{strs: map[string]*string{"family": &t.Family, "name": &t.Name}, ints: map[string]*int{"handle": &t.Handle}}).read(body); err != nil {
			return bad(err)
		}
		p.tables = append(p.tables, indexed[tableJSON]{i, t})
	case "chain":
		c := &chainJSON{}
		f := fields{
			strs: map[string]*string{"family": &c.Family, "table": &c.Table, "name": &c.Name, "type": &c.Type, "hook": &c.Hook, "policy": &c.Policy},
			ints: map[string]*int{"handle": &c.Handle},
			raws: map[string]*json.RawMessage{"prio": &c.Prio, "dev": &c.Dev},
		}
		if err := f.read(body); err != nil {
			return bad(err)
		}
		p.chains = append(p.chains, indexed[chainJSON]{i, c})
	case "rule":
		r := &ruleJSON{}
		if err := r.read(body, p.intern); err != nil {
			return bad(err)
		}
		p.rules = append(p.rules, indexed[ruleJSON]{i, r})
	case "set", "map", "element":
		s := &setJSON{}
		f := fields{
			strs:  map[string]*string{"family": &s.Family, "table": &s.Table, "name": &s.Name},
			ints:  map[string]*int{"handle": &s.Handle},
			raws:  map[string]*json.RawMessage{"type": &s.Type, "map": &s.Map, "flags": &s.Flags},
			lists: map[string]*[]json.RawMessage{"elem": &s.Elem},
		}
		if err := f.read(body); err != nil {
			return bad(err)
		}
		switch kind {
		case "element":
			p.elems = append(p.elems, indexed[setJSON]{i, s})
		case "map":
			if len(s.Map) == 0 {
				s.Map = json.RawMessage(`"unknown"`)
			}
			fallthrough
		default:
			p.sets = append(p.sets, indexed[setJSON]{i, s})
		}
	}
	return nil
}

// read decodes a rule body; it runs for every rule, so it avoids the maps of fields.
func (r *ruleJSON) read(b []byte, intern func([]byte) (string, bool)) error {
	var err error
	str := func(k string, v []byte, dst *string) {
		s, ok := intern(v)
		if !ok && err == nil {
			err = fmt.Errorf("%q is not a string", k)
		}
		*dst = s
	}
	ok := eachMember(b, func(k string, v []byte) {
		switch k {
		case "family":
			str(k, v, &r.Family)
		case "table":
			str(k, v, &r.Table)
		case "chain":
			str(k, v, &r.Chain)
		case "comment":
			str(k, v, &r.Comment)
		case "handle":
			n, good := jsonInt(v)
			if !good && err == nil {
				err = errors.New(`"handle" is not an integer`)
			}
			r.Handle = n
		case "expr":
			l, good := arrayElems(v)
			if !good && err == nil {
				err = errors.New(`"expr" is not an array`)
			}
			r.Expr = l
		}
	})
	if !ok && err == nil {
		err = errors.New("not an object")
	}
	return err
}

// build links the collected objects: tables, then chains and sets, then rules.
func (p *parser) build() error {
	rs := p.rs
	tables := map[string]*Table{}
	for _, o := range p.tables {
		t := &Table{Family: o.v.Family, Name: o.v.Name, Handle: o.v.Handle, chains: map[string]*Chain{}, sets: map[string]*Set{}}
		if t.Family == "" || t.Name == "" {
			return p.objErr(o.i, "table", errors.New("table without family or name"))
		}
		if tables[t.ID()] != nil {
			return p.objErr(o.i, "table "+t.ID(), errors.New("table declared twice"))
		}
		tables[t.ID()] = t
		rs.Tables = append(rs.Tables, t)
	}
	tableOf := func(i int, what any, family, name string) (*Table, error) {
		t := tables[family+" "+name]
		if t == nil {
			return nil, p.objErr(i, what, fmt.Errorf("table %s %s is not declared", family, name))
		}
		return t, nil
	}
	for _, o := range p.chains {
		v := o.v
		what := fmt.Sprintf("chain %s %s %s", v.Family, v.Table, v.Name)
		t, err := tableOf(o.i, what, v.Family, v.Table)
		if err != nil {
			return err
		}
		if v.Name == "" {
			return p.objErr(o.i, what, errors.New("chain without name"))
		}
		if t.chains[v.Name] != nil {
			return p.objErr(o.i, what, errors.New("chain declared twice"))
		}
		c := &Chain{Table: t, Name: v.Name, Handle: v.Handle, Type: v.Type, Hook: v.Hook, Policy: v.Policy}
		if len(v.Prio) > 0 {
			prio, err := parsePrio(v.Prio, t.Family)
			if err != nil {
				return p.objErr(o.i, what, err)
			}
			c.Prio = prio
		}
		c.Dev = devString(v.Dev)
		t.chains[c.Name] = c
		t.Chains = append(t.Chains, c)
	}
	for _, o := range p.sets {
		v := o.v
		what := fmt.Sprintf("set %s %s %s", v.Family, v.Table, v.Name)
		t, err := tableOf(o.i, what, v.Family, v.Table)
		if err != nil {
			return err
		}
		s := &Set{Table: t, Name: v.Name, Handle: v.Handle, Elems: v.Elem, index: o.i}
		s.Type = stringList(v.Type)
		if len(v.Map) > 0 {
			s.Map = strings.Join(stringList(v.Map), " . ")
			if s.Map == "" {
				s.Map = "unknown"
			}
		}
		s.Flags = stringList(v.Flags)
		if t.sets[s.Name] != nil {
			return p.objErr(o.i, what, errors.New("set declared twice"))
		}
		t.sets[s.Name] = s
		t.Sets = append(t.Sets, s)
	}
	for _, o := range p.elems {
		v := o.v
		what := fmt.Sprintf("element of %s %s %s", v.Family, v.Table, v.Name)
		t, err := tableOf(o.i, what, v.Family, v.Table)
		if err != nil {
			return err
		}
		s := t.sets[v.Name]
		if s == nil {
			return p.objErr(o.i, what, fmt.Errorf("set %q is not declared", v.Name))
		}
		s.Elems = append(s.Elems, v.Elem...)
	}
	for _, o := range p.rules {
		v := o.v
		t := tables[v.Family+" "+v.Table]
		if t == nil {
			return p.objErr(o.i, ruleWhat(v.Family, v.Table, v.Chain, v.Handle), fmt.Errorf("table %s %s is not declared", v.Family, v.Table))
		}
		c := t.chains[v.Chain]
		if c == nil {
			return p.objErr(o.i, ruleWhat(v.Family, v.Table, v.Chain, v.Handle), fmt.Errorf("chain %q is not declared in table %s", v.Chain, t.ID()))
		}
		r := &Rule{Chain: c, Handle: v.Handle, Position: len(c.Rules) + 1, Comment: v.Comment, Index: o.i}
		r.Stmts = make([]Stmt, 0, len(v.Expr))
		for k, raw := range v.Expr {
			st, err := parseStmt(raw)
			if err != nil {
				return p.objErr(o.i, ruleWhat(v.Family, v.Table, v.Chain, v.Handle), fmt.Errorf("statement %d: %v", k+1, err))
			}
			if x, ok := st.(*XT); ok && x != nil {
				t.HasXT = true
			}
			r.Stmts = append(r.Stmts, st)
		}
		c.Rules = append(c.Rules, r)
	}
	return p.checkRefs()
}

// ruleWhat names a rule object in errors: "rule in inet filt input handle 12".
func ruleWhat(family, table, chain string, handle int) string {
	return fmt.Sprintf("rule in %s %s %s handle %d", family, table, chain, handle)
}

// checkRefs verifies that every jump, goto and @set reference names something declared.
func (p *parser) checkRefs() error {
	for _, t := range p.rs.Tables {
		for _, s := range t.Sets {
			if s.Map != "verdict" {
				continue
			}
			for _, el := range s.Elems {
				if target := missingTarget(t, mapData(el)); target != "" {
					return p.objErr(s.index, fmt.Sprintf("map %s %s", t.ID(), s.Name), fmt.Errorf("element jumps to missing chain %q", target))
				}
			}
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, st := range r.Stmts {
					if err := checkStmtRefs(t, st); err != nil {
						return p.objErr(r.Index, ruleWhat(t.Family, t.Name, c.Name, r.Handle), err)
					}
				}
			}
		}
	}
	return nil
}

func checkStmtRefs(t *Table, st Stmt) error {
	switch s := st.(type) {
	case *Verdict:
		if (s.Kind == "jump" || s.Kind == "goto") && t.chains[s.Target] == nil {
			return fmt.Errorf("%s to missing chain %q", s.Kind, s.Target)
		}
	case *Match:
		if err := checkExprRefs(t, s.Left); err != nil {
			return err
		}
		return checkSetRef(t, s.Right)
	case *VMap:
		if err := checkExprRefs(t, s.Key); err != nil {
			return err
		}
		if err := checkSetRef(t, s.Data); err != nil {
			return err
		}
		for _, el := range anonElems(s.Data) {
			if target := missingTarget(t, mapData(el)); target != "" {
				return fmt.Errorf("verdict map jumps to missing chain %q", target)
			}
		}
	case *NATStmt:
		for _, raw := range []json.RawMessage{s.Addr, s.Port} {
			if e, ok := rawExpr(raw).(*MapLookup); ok {
				if err := checkExprRefs(t, e); err != nil {
					return err
				}
			}
		}
	case *Mangle:
		if e, ok := rawExpr(s.Value).(*MapLookup); ok {
			return checkExprRefs(t, e)
		}
	}
	return nil
}

func checkExprRefs(t *Table, e Expr) error {
	switch x := e.(type) {
	case *MapLookup:
		if err := checkExprRefs(t, x.Key); err != nil {
			return err
		}
		return checkSetRef(t, x.Data)
	case *Binop:
		return checkExprRefs(t, x.Left)
	case *Concat:
		for _, p := range x.Parts {
			if err := checkExprRefs(t, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkSetRef(t *Table, raw json.RawMessage) error {
	if name, ok := setRef(raw); ok && t.sets[name] == nil {
		return fmt.Errorf("set @%s is not declared in table %s", name, t.ID())
	}
	return nil
}

// setRef returns the name of a "@name" reference.
func setRef(raw json.RawMessage) (string, bool) {
	if len(raw) < 3 || raw[0] != '"' || raw[1] != '@' {
		return "", false
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", false
	}
	return s[1:], true
}

// anonElems returns the elements of an anonymous set {"set":[…]}; nil for anything else.
func anonElems(raw json.RawMessage) []json.RawMessage {
	key, val, ok := splitObject(raw)
	if !ok || key != "set" {
		return nil
	}
	items, ok := arrayElems(val)
	if !ok {
		// a single element written without the array
		return []json.RawMessage{val}
	}
	return items
}

// mapData returns the data half of a map element [key, data].
func mapData(el json.RawMessage) json.RawMessage {
	pair, ok := arrayElems(el)
	if !ok || len(pair) != 2 {
		return nil
	}
	return pair[1]
}

// missingTarget returns the chain a verdict jumps or goes to when the table lacks it.
func missingTarget(t *Table, verdict json.RawMessage) string {
	v, ok := parseVerdict(verdict)
	if !ok || (v.Kind != "jump" && v.Kind != "goto") {
		return ""
	}
	if t.chains[v.Target] == nil {
		return v.Target
	}
	return ""
}

// standard priority names (nft's "priority filter" and friends)
var prioNames = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

func parsePrio(raw json.RawMessage, family string) (int, error) {
	if n, ok := jsonInt(raw); ok {
		return n, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return 0, fmt.Errorf("bad prio %s", clip(raw, 20))
	}
	s = strings.ReplaceAll(s, " ", "")
	base, off := s, 0
	if i := strings.IndexAny(s[min(1, len(s)):], "+-"); i >= 0 {
		i++
		base = s[:i]
		o, err := strconv.Atoi(s[i:])
		if err != nil {
			return 0, fmt.Errorf("bad prio %q", s)
		}
		off = o
	}
	if v, err := strconv.Atoi(base); err == nil {
		return v + off, nil
	}
	v, ok := prioNames[base]
	if family == "bridge" && base == "srcnat" {
		v, ok = 300, true
	}
	if !ok {
		return 0, fmt.Errorf("bad prio %q", s)
	}
	return v + off, nil
}

// stringList reads a string or an array of strings.
func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	if s, ok := jsonString(raw); ok {
		return []string{s}
	}
	var l []string
	ok := eachElem(raw, func(v []byte) {
		if s, good := jsonString(v); good {
			l = append(l, s)
		}
	})
	if !ok {
		return nil
	}
	return l
}

func devString(raw json.RawMessage) string { return strings.Join(stringList(raw), ",") }

// splitObject splits a one-key JSON object {"key": value} without decoding the value.
// ok is false for anything else (several keys, not an object).
func splitObject(raw json.RawMessage) (key string, val json.RawMessage, ok bool) {
	b := bytes.TrimSpace(raw)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return "", nil, false
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	end, esc := -1, false
	for i := 1; i < len(b); i++ {
		if b[i] == '\\' {
			esc = true
			i++
			continue
		}
		if b[i] == '"' {
			end = i
			break
		}
	}
	if end < 0 {
		return "", nil, false
	}
	switch k, known := knownKeys[string(b[1:end])]; {
	case known:
		key = k
	case esc:
		if json.Unmarshal(b[:end+1], &key) != nil {
			return "", nil, false
		}
	default:
		key = string(b[1:end])
	}
	rest := bytes.TrimSpace(b[end+1:])
	if len(rest) == 0 || rest[0] != ':' {
		return "", nil, false
	}
	val = bytes.TrimSpace(rest[1:])
	if len(val) == 0 || !oneValue(val) {
		return "", nil, false
	}
	return key, val, true
}

// knownKeys interns the keys of statements and expressions, so that splitting an object
// allocates nothing for them.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"match", "accept", "drop", "continue", "return", "jump", "goto", "reject", "queue",
		"vmap", "dnat", "snat", "redirect", "masquerade", "mangle", "limit", "quota", "ct count", "meter",
		"counter", "log", "notrack", "set", "map", "flow", "dup", "xt", "payload", "meta", "ct", "fib",
		"concat", "&", "|", "^", "<<", ">>", "prefix", "range", "elem", "rule", "chain", "table", "metainfo",
		"element"} {
		m[k] = k
	}
	return m
}()

// oneValue reports whether b (valid JSON inside an object) is a single value rather
// than a value followed by more members: the top level of b holds no comma.
func oneValue(b []byte) bool {
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				return false
			}
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) == 0 || string(b) == "null"
}

// members collects the members of an object body by key (nil when not an object).
func members(b []byte) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	if !eachMember(b, func(k string, v []byte) { m[k] = v }) {
		return nil
	}
	return m
}

// str reads a string member; absent is "", another type is an error.
func str(m map[string]json.RawMessage, k string) (string, error) {
	v, ok := m[k]
	if !ok {
		return "", nil
	}
	s, good := jsonString(v)
	if !good {
		return "", fmt.Errorf("%q is not a string", k)
	}
	return s, nil
}

// parseStmt decodes one statement. Unknown statements become *Opaque; a known statement
// whose body cannot be decoded is an error.
func parseStmt(raw json.RawMessage) (Stmt, error) {
	key, val, ok := splitObject(raw)
	if !ok {
		return nil, fmt.Errorf("not a statement object: %s", clip(raw, 60))
	}
	bad := func(err error) (Stmt, error) { return nil, fmt.Errorf("%s: %v", key, err) }
	if key == "match" { // the common case, without a map
		var op string
		var left, right json.RawMessage
		var err error
		if !eachMember(val, func(k string, v []byte) {
			switch k {
			case "op":
				var ok bool
				if op, ok = jsonString(v); !ok {
					err = errors.New(`"op" is not a string`)
				}
			case "left":
				left = v
			case "right":
				right = v
			}
		}) {
			return bad(errors.New("not an object"))
		}
		if err != nil {
			return bad(err)
		}
		if len(left) == 0 || len(right) == 0 {
			return bad(errors.New(`"left" and "right" are required`))
		}
		if op == "" {
			op = "=="
		}
		return &Match{Op: op, Left: parseExpr(left), Right: right}, nil
	}
	var m map[string]json.RawMessage
	switch key {
	case "accept", "drop", "continue", "return", "jump", "goto", "queue", "counter", "log", "notrack",
		"set", "map", "flow", "dup", "ct helper", "ct timeout", "ct expectation", "secmark", "last",
		"tproxy", "synproxy", "xt log":
	default:
		if m = members(val); m == nil && !isNull(val) {
			return bad(errors.New("not an object"))
		}
	}
	switch key {
	case "accept", "drop", "continue", "return", "jump", "goto":
		v, ok := parseVerdict(raw)
		if !ok {
			return bad(errors.New(`a jump or goto needs {"target": CHAIN}`))
		}
		return v, nil
	case "reject":
		typ, err := str(m, "type")
		if err != nil {
			return bad(err)
		}
		code := ""
		if e := m["expr"]; len(e) > 0 {
			if s, ok := jsonString(e); ok {
				code = s
			} else {
				code = string(bytes.TrimSpace(e))
			}
		}
		return &Reject{Type: typ, Code: code}, nil
	case "queue":
		return &Queue{Raw: val}, nil
	case "vmap":
		if len(m["key"]) == 0 || len(m["data"]) == 0 {
			return bad(errors.New(`"key" and "data" are required`))
		}
		return &VMap{Key: parseExpr(m["key"]), Data: m["data"]}, nil
	case "dnat", "snat", "redirect", "masquerade":
		fam, err := str(m, "family")
		if err != nil {
			return bad(err)
		}
		return &NATStmt{Kind: key, Family: fam, Addr: m["addr"], Port: m["port"], Flags: m["flags"]}, nil
	case "mangle":
		if len(m["key"]) == 0 {
			return bad(errors.New(`"key" is required`))
		}
		return &Mangle{Key: parseExpr(m["key"]), Value: m["value"]}, nil
	case "limit", "quota", "ct count":
		return &Limit{Kind: key, Raw: val, Inv: string(m["inv"]) == "true"}, nil
	case "meter":
		l := &Limit{Kind: key, Raw: val}
		if inner, err := parseStmt(m["stmt"]); err == nil {
			if il, ok := inner.(*Limit); ok {
				l.Inv = il.Inv
			}
		}
		return l, nil
	case "synproxy":
		return &Opaque{Key: key, Raw: val}, nil
	case "counter", "log", "notrack", "set", "map", "flow", "dup", "ct helper", "ct timeout",
		"ct expectation", "secmark", "last", "tproxy", "xt log":
		return &Passive{Kind: key, Raw: val}, nil
	case "xt":
		typ, err := str(m, "type")
		if err != nil {
			return bad(err)
		}
		name, err := str(m, "name")
		if err != nil {
			return bad(err)
		}
		return &XT{Type: typ, Name: name}, nil
	}
	return &Opaque{Key: key, Raw: val}, nil
}

// parseVerdict reads {"accept":null}, {"jump":{"target":"x"}} and friends.
func parseVerdict(raw json.RawMessage) (*Verdict, bool) {
	key, val, ok := splitObject(raw)
	if !ok {
		return nil, false
	}
	switch key {
	case "accept", "drop", "continue", "return":
		return &Verdict{Kind: key}, true
	case "jump", "goto":
		t, err := str(members(val), "target")
		if err != nil || t == "" {
			return nil, false
		}
		return &Verdict{Kind: key, Target: t}, true
	}
	return nil, false
}

// parseExpr decodes a left-hand expression; unknown or malformed ones become *OpaqueExpr.
func parseExpr(raw json.RawMessage) Expr {
	key, val, ok := splitObject(raw)
	if !ok {
		return &Immediate{Raw: raw}
	}
	switch key {
	case "payload", "meta", "ct", "fib":
		var a, b, c string
		var flags json.RawMessage
		var off, ln int
		if !eachMember(val, func(k string, v []byte) {
			switch k {
			case "protocol", "key", "result":
				a, _ = jsonString(v)
			case "field", "dir":
				b, _ = jsonString(v)
			case "base", "family":
				c, _ = jsonString(v)
			case "offset":
				off, _ = jsonInt(v)
			case "len":
				ln, _ = jsonInt(v)
			case "flags":
				flags = v
			}
		}) {
			break
		}
		switch key {
		case "payload":
			return &Payload{Protocol: a, Field: b, Base: c, Offset: off, Len: ln}
		case "meta":
			if a != "" {
				return &Meta{Key: a}
			}
		case "ct":
			if a != "" {
				if c != "" && !strings.Contains(a, " ") {
					a = c + " " + a
				}
				return &Ct{Key: a, Dir: b}
			}
		case "fib":
			return &Fib{Result: a, Flags: stringList(flags)}
		}
	}
	switch key {
	case "concat":
		if parts, ok := arrayElems(val); ok {
			c := &Concat{}
			for _, p := range parts {
				c.Parts = append(c.Parts, parseExpr(p))
			}
			return c
		}
	case "&", "|", "^", "<<", ">>":
		if ops, ok := arrayElems(val); ok && len(ops) == 2 {
			return &Binop{Op: key, Left: parseExpr(ops[0]), Right: ops[1]}
		}
	case "map":
		if m := members(val); m != nil && len(m["key"]) > 0 && len(m["data"]) > 0 {
			return &MapLookup{Key: parseExpr(m["key"]), Data: m["data"]}
		}
	}
	return &OpaqueExpr{Key: key, Raw: val}
}

// rawExpr parses a value that may be an expression (a map lookup in a dnat address).
func rawExpr(raw json.RawMessage) Expr {
	if len(raw) == 0 {
		return nil
	}
	return parseExpr(raw)
}

// clip shortens JSON for messages.
func clip(b []byte, n int) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
