package nftables

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mustParse(t testing.TB, file string) *Ruleset {
	t.Helper()
	rs, err := ParseFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type wantChain struct {
	table                   string // ID; empty means the first table holding the name
	name, typ, hook, policy string
	prio, rules             int
}

type wantSet struct {
	name      string
	typ       []string
	mapType   string
	interval  bool
	elemCount int
}

func TestParseDumps(t *testing.T) {
	tests := []struct {
		file    string
		tables  []string
		chains  int // in all tables
		rules   int
		base    []wantChain // checked by table+name in the first table that has it
		sets    []wantSet
		owned   []string
		hasXT   []string
		version string
	}{
		{
			file: "sample-native-nft.json", tables: []string{"inet filt"}, chains: 3, rules: 15, version: "1.0.6",
			base: []wantChain{
				{name: "input", typ: "filter", hook: "input", policy: "drop", prio: 0, rules: 11},
				{name: "udpchk", rules: 2},
				{name: "sshchk", rules: 2},
			},
			sets: []wantSet{
				{name: "allowed4", typ: []string{"ipv4_addr"}, interval: true, elemCount: 2},
				{name: "blocked6", typ: []string{"ipv6_addr"}, elemCount: 1},
				{name: "portverdict", typ: []string{"inet_service"}, mapType: "verdict", elemCount: 2},
				{name: "svc", typ: []string{"ipv4_addr", "inet_proto", "inet_service"}, elemCount: 1},
			},
		},
		{
			file: "fwd-lab-ruleset.json", tables: []string{"inet firewalld"}, chains: 105, rules: 144,
			base: []wantChain{
				{name: "mangle_PREROUTING", typ: "filter", hook: "prerouting", policy: "accept", prio: -140, rules: 1},
				{name: "nat_PREROUTING", typ: "nat", hook: "prerouting", policy: "accept", prio: -90, rules: 1},
				{name: "filter_PREROUTING", typ: "filter", hook: "prerouting", policy: "accept", prio: 10, rules: 2},
				{name: "filter_INPUT", typ: "filter", hook: "input", policy: "accept", prio: 10, rules: 6},
				{name: "filter_FORWARD", typ: "filter", hook: "forward", policy: "accept", prio: 10, rules: 7},
				{name: "nat_POSTROUTING", typ: "nat", hook: "postrouting", policy: "accept", prio: 110, rules: 1},
				{name: "filter_IN_lab_allow", rules: 5},
			},
		},
		{
			file: "sample-iptables-nft.json", tables: []string{"ip raw", "ip nat", "ip filter"}, chains: 12, rules: 21,
			base: []wantChain{
				{table: "ip filter", name: "INPUT", typ: "filter", hook: "input", policy: "drop", prio: 0, rules: 12},
				{table: "ip nat", name: "INPUT", typ: "nat", hook: "input", policy: "accept", prio: 100, rules: 0},
				{table: "ip raw", name: "PREROUTING", typ: "filter", hook: "prerouting", policy: "accept", prio: -300, rules: 1},
				{table: "ip nat", name: "DOCKER", rules: 1},
			},
			owned: []string{"ip raw", "ip nat", "ip filter"},
			hasXT: []string{"ip raw", "ip nat", "ip filter"},
		},
		{
			file: "xt-mixed.json", tables: []string{"ip filter", "ip nat", "inet mine"}, chains: 3, rules: 10,
			owned: []string{"ip filter", "ip nat"}, hasXT: []string{"ip filter", "ip nat"},
		},
		{
			file: "constructs.json", tables: []string{"inet t", "ip t4", "ip6 t6", "netdev nd", "bridge br"}, chains: 9, rules: 78,
			base: []wantChain{{name: "pre", typ: "nat", hook: "prerouting", policy: "accept", prio: -100, rules: 9}},
			sets: []wantSet{
				{name: "s4", typ: []string{"ipv4_addr"}, interval: true, elemCount: 2},
				{name: "cc", typ: []string{"ipv4_addr", "inet_service"}, interval: true, elemCount: 2},
				{name: "tmo", typ: []string{"ipv4_addr"}, elemCount: 1},
				{name: "pm", typ: []string{"inet_service"}, mapType: "ipv4_addr . inet_service", elemCount: 1},
				{name: "vm", typ: []string{"ipv4_addr", "inet_proto", "inet_service"}, mapType: "verdict", elemCount: 2},
			},
		},
		{file: "two-base-chains.json", tables: []string{"inet early", "inet late"}, chains: 2, rules: 2},
		{file: "nat-forward.json", tables: []string{"ip nat", "inet filt"}, chains: 3, rules: 7},
		{file: "saddr-split.json", tables: []string{"inet f"}, chains: 1, rules: 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rs := mustParse(t, tt.file)
			var tables, hasXT []string
			chains := 0
			for _, tb := range rs.Tables {
				tables = append(tables, tb.ID())
				chains += len(tb.Chains)
				if tb.HasXT {
					hasXT = append(hasXT, tb.ID())
				}
			}
			if !slices.Equal(tables, tt.tables) {
				t.Errorf("tables = %q; want %q", tables, tt.tables)
			}
			if chains != tt.chains {
				t.Errorf("chains = %d; want %d", chains, tt.chains)
			}
			if n := rs.Rules(); n != tt.rules {
				t.Errorf("rules = %d; want %d", n, tt.rules)
			}
			if tt.version != "" && rs.Version != tt.version {
				t.Errorf("version = %q; want %q", rs.Version, tt.version)
			}
			if !slices.Equal(hasXT, tt.hasXT) {
				t.Errorf("tables with xt = %q; want %q", hasXT, tt.hasXT)
			}
			if got := IPTablesOwned(rs); !slices.Equal(got, tt.owned) {
				t.Errorf("IPTablesOwned = %q; want %q", got, tt.owned)
			}
			for _, w := range tt.base {
				var c *Chain
				for _, tb := range rs.Tables {
					if w.table != "" && tb.ID() != w.table {
						continue
					}
					if c = tb.Chain(w.name); c != nil {
						break
					}
				}
				if c == nil {
					t.Errorf("chain %s missing", w.name)
					continue
				}
				if c.Type != w.typ || c.Hook != w.hook || c.Policy != w.policy || c.Prio != w.prio || len(c.Rules) != w.rules {
					t.Errorf("chain %s = type %q hook %q policy %q prio %d rules %d; want %+v",
						w.name, c.Type, c.Hook, c.Policy, c.Prio, len(c.Rules), w)
				}
				if c.IsBase() != (w.hook != "") {
					t.Errorf("chain %s: IsBase = %v", w.name, c.IsBase())
				}
				for i, r := range c.Rules {
					if r.Position != i+1 || r.Chain != c {
						t.Errorf("chain %s rule %d: position %d", w.name, i, r.Position)
					}
				}
			}
			for _, w := range tt.sets {
				s := rs.Tables[0].Set(w.name)
				if s == nil {
					t.Errorf("set %s missing", w.name)
					continue
				}
				if !slices.Equal(s.Type, w.typ) || s.Map != w.mapType || slices.Contains(s.Flags, "interval") != w.interval || len(s.Elems) != w.elemCount || s.IsMap() != (w.mapType != "") {
					t.Errorf("set %s = type %q map %q flags %q elems %d; want %+v", w.name, s.Type, s.Map, s.Flags, len(s.Elems), w)
				}
			}
		})
	}
}

// ruleset wraps objects into an nft -j document.
func ruleset(objs ...string) string {
	return `{"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}},` + strings.Join(objs, ",") + `]}`
}

const (
	tblFilt   = `{"table":{"family":"inet","name":"filt","handle":1}}`
	chainIn   = `{"chain":{"family":"inet","table":"filt","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}}`
	chainUser = `{"chain":{"family":"inet","table":"filt","name":"user","handle":2}}`
)

func rule(chain string, handle int, exprs ...string) string {
	return `{"rule":{"family":"inet","table":"filt","chain":"` + chain + `","handle":` + strconv.Itoa(handle) + `,"expr":[` + strings.Join(exprs, ",") + `]}}`
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"empty", ``, []string{"bad.json", "offset 0", "unexpected end"}},
		{"malformed", `{"nftables":[{"metainfo":{"version":"1.0.6"}},{"table":{"family":"inet",]}`, []string{"bad.json", "offset", "malformed JSON"}},
		{"truncated", ruleset(tblFilt)[:60], []string{"bad.json", "offset", "unexpected end"}},
		{"not nft", `{"other":[]}`, []string{"bad.json", `no "nftables" array`}},
		{"array at top", `[1,2]`, []string{"bad.json", "offset", "expected an object"}},
		{"schema 2", `{"nftables":[{"metainfo":{"version":"9.9","json_schema_version":2}}]}`, []string{"bad.json: object 0 (metainfo)", "json_schema_version 2 is not supported"}},
		{"handle not a number", ruleset(`{"table":{"family":"inet","name":"filt","handle":"x"}}`), []string{"bad.json: object 1 (table)", `"handle" is not an integer`}},
		{"entry not an object", ruleset(`42`), []string{"bad.json: object 1", "expected an object with one key"}},
		{"unknown table", ruleset(chainIn), []string{"bad.json: object 1 (chain inet filt input)", "table inet filt is not declared"}},
		{"rule in unknown table", ruleset(tblFilt, chainIn, `{"rule":{"family":"ip","table":"nope","chain":"input","handle":7,"expr":[]}}`),
			[]string{"bad.json: object 3 (rule in ip nope input handle 7)", "table ip nope is not declared"}},
		{"rule in unknown chain", ruleset(tblFilt, chainIn, rule("output", 12, `{"accept":null}`)),
			[]string{"bad.json: object 3 (rule in inet filt output handle 12)", `chain "output" is not declared in table inet filt`}},
		{"jump to missing chain", ruleset(tblFilt, chainIn, rule("input", 12, `{"jump":{"target":"nowhere"}}`)),
			[]string{"bad.json: object 3 (rule in inet filt input handle 12)", `jump to missing chain "nowhere"`}},
		{"goto to missing chain in a vmap", ruleset(tblFilt, chainIn, rule("input", 5, `{"vmap":{"key":{"payload":{"protocol":"tcp","field":"dport"}},"data":{"set":[[22,{"goto":{"target":"ssh"}}]]}}}`)),
			[]string{"object 3 (rule in inet filt input handle 5)", `missing chain "ssh"`}},
		{"missing set", ruleset(tblFilt, chainIn, rule("input", 5, `{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@nope"}}`, `{"drop":null}`)),
			[]string{"object 3 (rule in inet filt input handle 5)", "set @nope is not declared"}},
		{"match without right", ruleset(tblFilt, chainIn, rule("input", 5, `{"match":{"op":"==","left":{"meta":{"key":"mark"}}}}`)),
			[]string{"object 3 (rule in inet filt input handle 5)", "statement 1", `"left" and "right" are required`}},
		{"jump without target", ruleset(tblFilt, chainIn, rule("input", 5, `{"jump":{}}`)),
			[]string{"object 3 (rule in inet filt input handle 5)", "jump"}},
		{"trailing data", ruleset(tblFilt) + `{}`, []string{"bad.json", "data after the top-level object"}},
		{"chain twice", ruleset(tblFilt, chainIn, chainIn), []string{"object 3 (chain inet filt input)", "declared twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "bad.json")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseUnknownIsOpaque(t *testing.T) {
	in := ruleset(tblFilt, chainIn,
		rule("input", 12, `{"foo":{"bar":1}}`, `{"accept":null}`),
		rule("input", 13, `{"match":{"op":"==","left":{"socket":{"key":"transparent"}},"right":1}}`, `{"drop":null}`),
	)
	rs, err := Parse(strings.NewReader(in), "ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Table("inet", "filt").Chain("input")
	if op, ok := c.Rules[0].Stmts[0].(*Opaque); !ok || op.Key != "foo" {
		t.Errorf("statement = %#v; want Opaque foo", c.Rules[0].Stmts[0])
	}
	m, ok := c.Rules[1].Stmts[0].(*Match)
	if !ok {
		t.Fatalf("statement = %#v; want Match", c.Rules[1].Stmts[0])
	}
	if e, ok := m.Left.(*OpaqueExpr); !ok || e.Key != "socket" {
		t.Errorf("left = %#v; want OpaqueExpr socket", m.Left)
	}
	if got, want := c.Rules[0].Text(), `{"foo":{"bar":1}} accept`; got != want {
		t.Errorf("text = %q; want %q", got, want)
	}
	if got, want := c.Rules[1].Text(), `socket transparent 1 drop`; got != want {
		t.Errorf("text = %q; want %q", got, want)
	}
}

func TestRuleText(t *testing.T) {
	rs := mustParse(t, "sample-native-nft.json")
	want := map[int]string{
		9:  "ct state vmap { invalid : drop, established : accept, related : accept }",
		10: `iif "lo" accept`,
		11: "ip6 saddr @blocked6 drop",
		13: "meta l4proto { icmp, ipv6-icmp } accept",
		14: "ip saddr . meta l4proto . th dport @svc accept",
		15: "ip saddr != @allowed4 tcp dport 22 reject with tcp reset",
		16: "tcp dport vmap @portverdict",
		18: "tcp dport { 80, 443, 8000-8010 } ct state new limit rate 10/second accept",
		19: "udp dport 9001 jump udpchk",
		20: "fib daddr type local tcp dport 2222 counter goto sshchk",
		21: "reject with icmpx admin-prohibited",
		22: "ip saddr 10.99.0.1 return",
		24: "ip saddr @allowed4 accept",
		25: "drop",
	}
	for _, c := range rs.Tables[0].Chains {
		for _, r := range c.Rules {
			if w, ok := want[r.Handle]; ok && r.Text() != w {
				t.Errorf("handle %d: text %q; want %q", r.Handle, r.Text(), w)
			}
		}
	}
	rs = mustParse(t, "constructs.json")
	more := map[string]string{
		"inet t in handle 18":  "tcp flags & (fin|syn|rst|ack) == syn drop",
		"inet t in handle 20":  "meta mark 0x00000001 accept",
		"inet t in handle 21":  "meta mark & 0x000000ff == 0x00000002 accept",
		"inet t in handle 22":  "meta mark set 0x00000010",
		"inet t in handle 23":  "meta mark set meta mark | 0x00000020",
		"inet t in handle 46":  "fib saddr . iif oif missing drop",
		"inet t in handle 50":  "limit rate over 10/second drop",
		"inet t pre handle 79": "tcp dport 8080 dnat ip to 172.17.0.2:80",
		"inet t pre handle 81": "tcp dport 8082 redirect to :8001",
		"inet t pre handle 88": "ip6 daddr ::1 tcp dport 80 dnat ip6 to [fd00::1]:80",
		"ip t4 pre handle 3":   "tcp dport 80 dnat to 10.0.0.5:8080",
	}
	for _, tb := range rs.Tables {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				if w, ok := more[r.ID()]; ok && r.Text() != w {
					t.Errorf("%s: text %q; want %q", r.ID(), r.Text(), w)
				}
			}
		}
	}
}

func TestParseRuleID(t *testing.T) {
	tests := []struct {
		id                string
		fam, table, chain string
		handle            int
		ok                bool
	}{
		{"inet filt input handle 12", "inet", "filt", "input", 12, true},
		{"inet filt input policy", "inet", "filt", "input", 0, true},
		{"ip nat PREROUTING handle 3", "ip", "nat", "PREROUTING", 3, true},
		{"filter/INPUT#7", "", "", "", 0, false},
		{"inet filt input handle x", "", "", "", 0, false},
	}
	for _, tt := range tests {
		fam, table, chain, handle, ok := ParseRuleID(tt.id)
		if fam != tt.fam || table != tt.table || chain != tt.chain || handle != tt.handle || ok != tt.ok {
			t.Errorf("ParseRuleID(%q) = %q %q %q %d %v", tt.id, fam, table, chain, handle, ok)
		}
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v; want not exist", err)
	}
}
