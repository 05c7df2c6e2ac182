package iptables

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

func mustParseFile(t testing.TB, path string) *Dump {
	t.Helper()
	d, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseDumps(t *testing.T) {
	tests := []struct {
		file                  string
		tables, chains, rules int
		origin                string
		fam                   netfilter.Family
	}{
		{"testdata/sample-iptables-save-c.txt", 3, 12, 21, "iptables-nft", netfilter.IPv4},
		{"testdata/ufw/ufw-iptables-save.txt", 1, 35, 75, "iptables-nft", netfilter.IPv4},
		{"testdata/ufw/ufw-ip6tables-save.txt", 1, 34, 111, "iptables-nft", netfilter.IPv6},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			d := mustParseFile(t, tt.file)
			chains := 0
			for _, tb := range d.Tables {
				chains += len(tb.Chains)
			}
			if len(d.Tables) != tt.tables || chains != tt.chains || d.Rules() != tt.rules {
				t.Errorf("tables/chains/rules = %d/%d/%d; want %d/%d/%d", len(d.Tables), chains, d.Rules(), tt.tables, tt.chains, tt.rules)
			}
			if d.Name != tt.file || d.Origin() != tt.origin {
				t.Errorf("name %q origin %q", d.Name, d.Origin())
			}
			if fam, ok := d.HeaderFamily(); !ok || fam != tt.fam {
				t.Errorf("header family = %v %v; want %v", fam, ok, tt.fam)
			}
		})
	}
}

func TestParseRuleDetails(t *testing.T) {
	d := mustParseFile(t, "testdata/sample-iptables-save-c.txt")
	filter := d.Table("filter")
	in := filter.Chain("INPUT")
	if in.Policy != "DROP" || !in.Builtin() || filter.Chain("MYCHAIN").Builtin() || len(in.Rules) != 12 {
		t.Fatalf("INPUT: policy %q, %d rules", in.Policy, len(in.Rules))
	}

	// counters prefix stripped, kept as numbers
	r := in.Rules[0]
	if !r.HasCounters || r.Text != "-A INPUT -i lo -j ACCEPT" || r.Line != 15 {
		t.Errorf("rule 1: %+v", r)
	}

	// negated core option
	r = in.Rules[4]
	core := r.Matches[0]
	if core.Module != "" || core.Options[0].Name != "-s" || !core.Options[0].Negated || core.Options[0].Arg() != "10.0.0.0/8" {
		t.Errorf("rule 5 core options: %+v", core)
	}
	if core.Text != "! -s 10.0.0.0/8 -p tcp" {
		t.Errorf("core text %q", core.Text)
	}
	if r.Target != "REJECT" || len(r.TargetOptions) != 1 || r.TargetOptions[0].Arg() != "icmp-host-prohibited" {
		t.Errorf("rule 5 target: %q %+v", r.Target, r.TargetOptions)
	}
	mp := r.Matches[1]
	if mp.Module != "multiport" || mp.Text != "-m multiport --dports 80,443,8000:8010" {
		t.Errorf("rule 5 multiport: %+v", mp)
	}

	// quoted comment
	r = in.Rules[5]
	var comment Match
	for _, m := range r.Matches {
		if m.Module == "comment" {
			comment = m
		}
	}
	if o, ok := comment.Option("--comment"); !ok || o.Arg() != "web ports from lab" {
		t.Errorf("comment: %+v", comment)
	}
	if comment.Text != `-m comment --comment "web ports from lab"` {
		t.Errorf("comment text %q", comment.Text)
	}

	// quoted target option keeps its trailing blank
	if v, _ := in.Rules[10].TargetOption("--log-prefix"); v != "INPUT-DROP: " {
		t.Errorf("log prefix %q", v)
	}

	// option without arguments, grouped under its module
	sb := filter.Chain("SSH-BRUTE").Rules[0]
	if sb.Target != "" || len(sb.Matches) != 1 || sb.Matches[0].Module != "recent" {
		t.Fatalf("recent rule: %+v", sb)
	}
	var names []string
	for _, o := range sb.Matches[0].Options {
		names = append(names, o.Name+"/"+strings.Join(o.Args, ","))
	}
	if want := []string{"--set/", "--name/SSH", "--mask/255.255.255.255", "--rsource/"}; !slices.Equal(names, want) {
		t.Errorf("recent options %v; want %v", names, want)
	}

	// negation inside a module
	dnat := d.Table("nat").Chain("DOCKER").Rules[0]
	if o := dnat.Matches[0].Options[0]; o.Name != "-i" || !o.Negated || o.Arg() != "docker0" {
		t.Errorf("! -i docker0: %+v", o)
	}
	if dnat.Target != "DNAT" {
		t.Errorf("DNAT rule target %q", dnat.Target)
	}
}

func TestParseTokenizer(t *testing.T) {
	src := `*filter
:INPUT ACCEPT [0:0]
:X - [0:0]
-A INPUT -m comment --comment "say \"hi\" \\ there" -j X
-A INPUT -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A INPUT -p tcp --dport ! 22 -j ACCEPT
-A INPUT -m comment --comment a\ b -g X
-A INPUT -m comment --comment "" -j ACCEPT
COMMIT
`
	d, err := Parse(strings.NewReader(src), "t")
	if err != nil {
		t.Fatal(err)
	}
	rs := d.Table("filter").Chain("INPUT").Rules
	if got := rs[0].Matches[0].Options[0].Arg(); got != `say "hi" \ there` {
		t.Errorf("escaped comment %q", got)
	}
	if o := rs[1].Matches[0].Options[0]; !o.Negated || o.Name != "--ctstate" {
		t.Errorf("module negation %+v", o)
	}
	if o := rs[2].Matches[0].Options[1]; !o.Negated || o.Name != "--dport" || o.Arg() != "22" {
		t.Errorf("old-style negation %+v", o)
	}
	if rs[3].Matches[0].Options[0].Arg() != "a b" || !rs[3].Goto || rs[3].Target != "X" {
		t.Errorf("escaped blank / goto: %+v", rs[3])
	}
	if o := rs[4].Matches[0].Options[0]; len(o.Args) != 1 || o.Args[0] != "" {
		t.Errorf("empty quoted argument: %+v", o)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown line", "*filter\n:INPUT ACCEPT [0:0]\nbogus\nCOMMIT\n", "x.txt:3: unknown line"},
		{"rule before table", "# c\n-A INPUT -j ACCEPT\n", "x.txt:2: rule outside a table"},
		{"chain before table", ":INPUT ACCEPT [0:0]\n", "x.txt:1: chain declaration outside a table"},
		{"missing COMMIT at end", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", "x.txt:1: table filter has no COMMIT"},
		{"missing COMMIT before next table", "*filter\n:INPUT ACCEPT [0:0]\n*nat\nCOMMIT\n", "x.txt:3: table \"nat\" begins before table filter (line 1)"},
		{"COMMIT without table", "COMMIT\n", "x.txt:1: COMMIT without a table"},
		{"undeclared chain", "*filter\n:INPUT ACCEPT [0:0]\n-A FOO -j ACCEPT\nCOMMIT\n", "x.txt:3: rule appends to undeclared chain FOO"},
		{"jump to undeclared chain", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 80 -j BOGUS-CHAIN\nCOMMIT\n", "x.txt:3: jump to undeclared chain BOGUS-CHAIN"},
		{"goto to undeclared chain", "*filter\n:INPUT ACCEPT [0:0]\n\n-A INPUT -g ACCEPT\nCOMMIT\n", "x.txt:4: goto to undeclared chain ACCEPT"},
		{"jump to built-in chain", "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j OUTPUT\nCOMMIT\n", "x.txt:4: jump to built-in chain OUTPUT"},
		{"bad address", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300/8 -j ACCEPT\nCOMMIT\n", `x.txt:3: bad value "10.0.0.300/8" for -s`},
		{"bad prefix length", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -d 10.0.0.0/33 -j ACCEPT\nCOMMIT\n", `x.txt:3: bad value "10.0.0.0/33" for -d`},
		{"bad port", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 70000 -j ACCEPT\nCOMMIT\n", `x.txt:3: bad value "70000" for --dport`},
		{"backwards port range", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m multiport --dports 80,90:85 -j ACCEPT\nCOMMIT\n", `x.txt:3: bad value "80,90:85" for --dports`},
		{"bad DNAT", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 1.2.3:80\nCOMMIT\n", `x.txt:3: bad value "1.2.3:80" for DNAT --to-destination`},
		{"bad REDIRECT", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j REDIRECT --to-ports x\nCOMMIT\n", `x.txt:3: bad value "x" for REDIRECT --to-ports`},
		{"bad iprange", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m iprange --src-range 10.0.0.9-10.0.0.1 -j ACCEPT\nCOMMIT\n", `x.txt:3: bad value "10.0.0.9-10.0.0.1" for --src-range`},
		{"bad counters", "*filter\n:INPUT ACCEPT [0:0]\n[1:x] -A INPUT -j ACCEPT\nCOMMIT\n", "x.txt:3: bad counters"},
		{"bad policy", "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", `x.txt:2: bad policy "REJECT"`},
		{"policy on user chain", "*filter\n:MINE DROP [0:0]\nCOMMIT\n", "x.txt:2: chain MINE is not a built-in chain"},
		{"chain twice", "*filter\n:A - [0:0]\n:A - [0:0]\nCOMMIT\n", "x.txt:3: chain A declared twice"},
		{"table twice", "*filter\nCOMMIT\n*filter\nCOMMIT\n", "x.txt:3: table filter appears twice"},
		{"unterminated quote", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"oops -j ACCEPT\nCOMMIT\n", "x.txt:3: unterminated quote"},
		{"stray argument", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT tcp -j ACCEPT\nCOMMIT\n", `x.txt:3: unexpected "tcp"`},
		{"two targets", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT -j DROP\nCOMMIT\n", "x.txt:3: more than one target"},
		{"dangling negation", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT !\nCOMMIT\n", `x.txt:3: "!" at the end`},
		{"insert instead of append", "*filter\n:INPUT ACCEPT [0:0]\n-I INPUT -j ACCEPT\nCOMMIT\n", "x.txt:3: unknown line"},
		{"missing target name", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j\nCOMMIT\n", "x.txt:3: -j without a name"},
		{"-s without address", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s -j ACCEPT\nCOMMIT\n", "x.txt:3: -s takes 1 value(s), got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src), "x.txt")
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAcceptsUnknownExtensions(t *testing.T) {
	src := "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m u32 --u32 \"0>>22&0x3C@ 12>>26&0x3C@ 0 & 0xFFFFFFFF=0x1\" -j FANCY --fancy-level 3\n-A PREROUTING -j CHECKSUM --checksum-fill\nCOMMIT\n"
	d, err := Parse(strings.NewReader(src), "m")
	if err != nil {
		t.Fatal(err)
	}
	r := d.Table("mangle").Chain("PREROUTING").Rules[0]
	if r.Target != "FANCY" || r.Matches[0].Module != "u32" {
		t.Errorf("%+v", r)
	}
}

func TestParseFileErrorsNamePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.rules")
	if err := os.WriteFile(path, []byte("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 80 -j BOGUS-CHAIN\nCOMMIT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: ") {
		t.Errorf("error %v; want it to start with %s:3:", err, path)
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing file must be an error")
	}
}

// TestParseSplitAgrees checks that parsing a large dump in segments on several cores gives
// exactly the dump a single pass gives, and that errors keep their line numbers.
func TestParseSplitAgrees(t *testing.T) {
	var b strings.Builder
	if err := GenerateKubeProxy(&b, 20000, 7); err != nil {
		t.Fatal(err)
	}
	src := b.String()
	if len(src) < parallelMin {
		t.Fatalf("generated dump is %d bytes, want at least %d to exercise the split", len(src), parallelMin)
	}
	// counters on some rules: those lines do not start with "-A", so the segment's rule array must grow
	src = strings.Replace(src, "\n-A KUBE-SERVICES ", "\n[3:180] -A KUBE-SERVICES ", 500)
	one, err := parseSplit(src, "big", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3, 8} {
		if segs := splitLines(src, n); len(segs) != n {
			t.Fatalf("split into %d: got %d segments", n, len(segs))
		}
		many, err := parseSplit(src, "big", n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, many) {
			t.Fatalf("%d segments: the dump differs from a single pass", n)
		}
	}
	if one.Rules() != 20000 {
		t.Errorf("%d rules read, want 20000", one.Rules())
	}

	lines := strings.Split(src, "\n")
	for _, at := range []int{len(lines) / 3, len(lines) * 2 / 3, len(lines) - 3} {
		bad := slices.Clone(lines)
		bad[at-1] = "-A KUBE-SERVICES -p tcp --dport nonsense -j ACCEPT"
		_, err1 := parseSplit(strings.Join(bad, "\n"), "big", 1)
		_, errN := parseSplit(strings.Join(bad, "\n"), "big", 4)
		want := fmt.Sprintf("big:%d:", at)
		if err1 == nil || errN == nil || !strings.HasPrefix(errN.Error(), want) || err1.Error() != errN.Error() {
			t.Errorf("bad line %d: single pass %v, split %v; want both to start with %q", at, err1, errN, want)
		}
	}
}
