package ufw

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/frontend"
)

func parseFile(t *testing.T, path string, v6 bool) *UserRules {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := ParseUserRules(f, path, v6)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseUserRulesDump(t *testing.T) {
	tests := []struct {
		path     string
		v6       bool
		commands []string
		chains   map[string]int
	}{
		{"testdata/dump/etc-ufw/user.rules", false, []string{
			"ufw allow 22/tcp",
			"ufw limit 2222/tcp",
			"ufw allow from 10.99.0.0/24 to any port 8001 proto tcp",
			"ufw reject 8006/tcp",
			"ufw reject 9001/udp",
			"ufw allow in on vs to any port 8004",
			"ufw deny from 10.99.0.1 to any port 8005 proto tcp comment 'block client'",
			"ufw route allow in on vs out on vh to 10.98.0.2 port 80 proto tcp",
			"ufw allow from 10.99.0.0/24 to 10.99.0.2 port 5000:5010 proto tcp",
		}, map[string]int{"ufw-user-input": 11, "ufw-user-forward": 1}},
		{"testdata/dump/etc-ufw/user6.rules", true, []string{
			"ufw allow 22/tcp", "ufw limit 2222/tcp", "ufw reject 8006/tcp", "ufw reject 9001/udp", "ufw allow in on vs to any port 8004",
		}, map[string]int{"ufw6-user-input": 8}},
		// the file ufw ships before the first rule is added: no tuples, no END RULES
		{"testdata/pristine/user.rules", false, nil, map[string]int{"ufw-user-limit": 2, "ufw-user-limit-accept": 1}},
		{"testdata/pristine/user6.rules", true, nil, map[string]int{"ufw6-user-input": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			u := parseFile(t, tt.path, tt.v6)
			var got []string
			for _, tp := range u.Tuples {
				got = append(got, tp.Command())
				if len(tp.Lines) == 0 {
					t.Errorf("tuple at line %d has no iptables lines", tp.Line)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.commands, "\n") {
				t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.commands, "\n"))
			}
			for c, n := range tt.chains {
				if len(u.Chains[c]) != n {
					t.Errorf("%s has %d rules; want %d", c, len(u.Chains[c]), n)
				}
			}
		})
	}
}

func TestTupleFields(t *testing.T) {
	u := parseFile(t, "testdata/dump/etc-ufw/user.rules", false)
	tp := u.Tuples[6]
	if tp.Action != "deny" || tp.Proto != "tcp" || tp.DPort != "8005" || tp.Src != "10.99.0.1" || tp.Comment != "block client" || tp.Line != 41 {
		t.Errorf("deny tuple: %+v", tp)
	}
	r := u.Tuples[7]
	if !r.Route || r.InIface != "vs" || r.OutIface != "vh" || r.Dst != "10.98.0.2" {
		t.Errorf("route tuple: %+v", r)
	}
	if l := u.Tuples[1].Lines; len(l) != 3 || !strings.Contains(l[1].Text, "--hitcount 6") {
		t.Errorf("limit lines: %+v", l)
	}
}

func TestParseTupleForms(t *testing.T) {
	tests := []struct {
		tuple string
		v6    bool
		want  string
	}{
		{"allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", false, "ufw allow 22/tcp"},
		{"allow_log tcp 80 0.0.0.0/0 any 0.0.0.0/0 in", false, "ufw allow log 80/tcp"},
		{"deny_log-all any 53 0.0.0.0/0 any 0.0.0.0/0 in", false, "ufw deny log-all 53"},
		{"allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", false, "ufw allow OpenSSH"},
		{"allow tcp 80,443 0.0.0.0/0 any 10.0.0.0/8 Nginx%20Full - in", false, "ufw allow from 10.0.0.0/8 to any app 'Nginx Full'"},
		{"deny any any 0.0.0.0/0 any 203.0.113.9 in", false, "ufw deny from 203.0.113.9"},
		{"allow any any 0.0.0.0/0 any 0.0.0.0/0 in_eth1", false, "ufw allow in on eth1"},
		{"allow tcp 25 0.0.0.0/0 any 0.0.0.0/0 out", false, "ufw allow out 25/tcp"},
		{"reject tcp 8080 0.0.0.0/0 1024:65535 0.0.0.0/0 in", false, "ufw reject from any port 1024:65535 to any port 8080 proto tcp"},
		{"allow tcp 22 ::/0 any 2001:db8::/32 in comment=6974277320", true, `ufw allow from 2001:db8::/32 to any port 22 proto tcp comment 'it'\''s '`},
		{"route:deny any any 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1", false, "ufw route deny in on eth0 out on eth1"},
		{"route:allow tcp 80 172.17.0.2 any 0.0.0.0/0 in", false, "ufw route allow to 172.17.0.2 port 80 proto tcp"},
		{"allow tcp 22 0.0.0.0/0 any 0.0.0.0/0", false, "ufw allow 22/tcp"}, // ufw 0.29: no direction
		{"allow esp any 0.0.0.0/0 any 0.0.0.0/0 in", false, "ufw allow to any proto esp"},
	}
	for _, tt := range tests {
		tp, err := ParseTuple(tt.tuple, tt.v6)
		if err != nil {
			t.Errorf("%q: %v", tt.tuple, err)
			continue
		}
		if got := tp.Command(); got != tt.want {
			t.Errorf("%q → %s; want %s", tt.tuple, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/dump/etc-ufw/user.rules")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text, want string
		v6               bool
	}{
		{"empty", "", "user.rules: empty (no *filter table)", false},
		{"not ufw's", "# nothing\nhello\n", "user.rules:2: expected *filter first", false},
		{"no rules section", "*filter\n:ufw-user-input - [0:0]\nCOMMIT\n", "no ### RULES ### section", false},
		{"truncated", strings.SplitAfter(string(good), "### END RULES ###")[0], "no COMMIT at the end (truncated?)", false},
		{"text after commit", string(good) + "-A ufw-user-input -j ACCEPT\n", "text after COMMIT", false},
		{"bad action", strings.Replace(string(good), "### tuple ### allow tcp 22", "### tuple ### permit tcp 22", 1), `user.rules:20: bad tuple: action "permit"`, false},
		{"short tuple", strings.Replace(string(good), "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "allow tcp 22", 1), "user.rules:20: bad tuple: 3 fields", false},
		{"bad comment", strings.Replace(string(good), "comment=626c", "comment=zz6c", 1), "is not hex", false},
		{"bad port", strings.Replace(string(good), "allow tcp 22 ", "allow tcp 70000 ", 1), "destination port", false},
		{"v6 address in user.rules", strings.Replace(string(good), "any 10.99.0.1 in", "any fd99::1 in", 1), "is an IPv6 address in user.rules", false},
		{"v4 file read as v6", string(good), "chain declaration", true},
		{"undeclared chain", strings.Replace(string(good), "-A ufw-user-input -p tcp --dport 22", "-A ufw-user-nowhere -p tcp --dport 22", 1), "rule for a chain not declared", false},
		{"unknown marker", strings.Replace(string(good), "### LOGGING ###", "### SOMETHING ###", 1), "unknown section marker", false},
		{"bad direction", strings.Replace(string(good), "0.0.0.0/0 in_vs", "0.0.0.0/0 sideways", 1), "direction", false},
		{"insert in rules", strings.Replace(string(good), "-A ufw-user-input -p tcp --dport 22", "-I ufw-user-input -p tcp --dport 22", 1), "ufw appends its rules", false},
		{"tuple outside rules", strings.Replace(string(good), "### RULES ###\n", "", 1), "a tuple outside the ### RULES ### section", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUserRules(strings.NewReader(tt.text), "user.rules", tt.v6)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseConf(t *testing.T) {
	tests := []struct {
		name, text string
		enabled    bool
		wantErr    string
	}{
		{"real", "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n", true, ""},
		{"quoted", "ENABLED=\"no\"\n", false, ""},
		{"single quoted with comment", "ENABLED='yes' # on\n", true, ""},
		{"missing", "LOGLEVEL=low\n", false, "ufw.conf: no ENABLED= line"},
		{"bad value", "ENABLED=maybe\n", false, `ENABLED="maybe"`},
		{"not key=value", "ENABLED yes\n", false, "ufw.conf:1: not a KEY=value line"},
		{"open quote", "ENABLED=\"yes\n", false, "ufw.conf:1: unterminated quote"},
		{"lone quote", "ENABLED=\"\n", false, "unterminated quote"},
		{"trailing text", "ENABLED=\"yes\" no\n", false, "text after the quoted value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnabled(strings.NewReader(tt.text), "ufw.conf")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v; want %q", err, tt.wantErr)
			case err == nil && got != tt.enabled:
				t.Errorf("enabled %v; want %v", got, tt.enabled)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	f, err := os.Open("testdata/dump/etc-ufw/default-ufw")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ParseDefaults(f, "default-ufw")
	if err != nil {
		t.Fatal(err)
	}
	if *d != (Defaults{IPv6: true, Input: "REJECT", Output: "ACCEPT", Forward: "DROP"}) {
		t.Errorf("defaults %+v", *d)
	}
	for text, want := range map[string]string{
		"IPV6=yes\n": "no DEFAULT_INPUT_POLICY= line",
		"DEFAULT_INPUT_POLICY=\"DENY\"\nDEFAULT_OUTPUT_POLICY=ACCEPT\nDEFAULT_FORWARD_POLICY=DROP\n":           `DEFAULT_INPUT_POLICY="DENY"; ufw reads ACCEPT, DROP or REJECT`,
		"IPV6=perhaps\nDEFAULT_INPUT_POLICY=DROP\nDEFAULT_OUTPUT_POLICY=ACCEPT\nDEFAULT_FORWARD_POLICY=DROP\n": `IPV6="perhaps"`,
	} {
		if _, err := ParseDefaults(strings.NewReader(text), "default-ufw"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v; want %q", text, err, want)
		}
	}
}

// TestRuleKeyMatchesLoadedRules compares the lines ufw wrote with the rules iptables-save
// printed for them: equal where the kernel has what the file says, different where not.
func TestRuleKeyMatchesLoadedRules(t *testing.T) {
	for _, tt := range []struct {
		file, dump, chain string
		v6                bool
		differ            map[int]bool // positions where the loaded rule is not the file's
	}{
		{"testdata/dump/etc-ufw/user.rules", "testdata/dump/ufw-iptables-save.txt", "ufw-user-input", false, map[int]bool{6: true}},
		{"testdata/dump/etc-ufw/user6.rules", "testdata/dump/ufw-ip6tables-save.txt", "ufw6-user-input", true, map[int]bool{5: true}},
	} {
		u := parseFile(t, tt.file, tt.v6)
		loaded := loadedChain(t, tt.dump, tt.chain)
		if len(loaded) < 8 {
			t.Fatalf("%s: %d loaded rules in %s", tt.dump, len(loaded), tt.chain)
		}
		for i, l := range loaded {
			pos := i + 1
			file := u.Chains[tt.chain][i]
			same := ruleKey(file.Text, tt.v6) == ruleKey(l, tt.v6)
			if same == tt.differ[pos] {
				t.Errorf("%s #%d: same=%v\n file:   %s\n        %s\n loaded: %s\n        %s", tt.chain, pos, same, file.Text, ruleKey(file.Text, tt.v6), l, ruleKey(l, tt.v6))
			}
			// every loaded user rule reads back as the ufw rule of its tuple (but the stale one)
			if tp := tupleOf(l, tt.v6); tp == nil {
				t.Errorf("%s #%d: %s does not read back as a ufw rule", tt.chain, pos, l)
			} else if !tt.differ[pos] && file.Tuple.Action != tp.Action {
				t.Errorf("%s #%d: reads back as %s; the tuple says %s", tt.chain, pos, tp.Command(), file.Tuple.Command())
			}
		}
	}
}

func loadedChain(t *testing.T, path, chain string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "-A "+chain+" ") {
			out = append(out, sc.Text())
		}
	}
	return out
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	fe, err := Open(ctx, frontend.Source{Path: "testdata/dump/etc-ufw"})
	if err != nil {
		t.Fatal(err)
	}
	c := fe.(*Frontend).Config()
	if c.Enabled || c.DefaultsFile != filepath.Join("testdata/dump/etc-ufw", "default-ufw") || len(c.Rules4.Tuples) != 9 || len(c.Rules6.Tuples) != 5 {
		t.Errorf("config %+v", c)
	}
	if n := c.Rules6.Tuples[0].Number; n != 10 {
		t.Errorf("first IPv6 rule is number %d; want 10", n)
	}

	// the layout of an /etc copy: etc/ufw and etc/default/ufw
	etc := t.TempDir()
	for _, d := range []string{"ufw", "default"} {
		if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{"testdata/pristine/ufw.conf": "ufw/ufw.conf", "testdata/pristine/user.rules": "ufw/user.rules", "testdata/pristine/default-ufw": "default/ufw"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fe, err = Open(ctx, frontend.Source{Path: filepath.Join(etc, "ufw")})
	if err != nil {
		t.Fatal(err)
	}
	if c := fe.(*Frontend).Config(); c.Defaults == nil || c.Defaults.Input != "DROP" || c.Rules6 != nil {
		t.Errorf("config from an /etc copy: %+v", c)
	}

	for name, path := range map[string]string{
		"a file, not a directory": "testdata/dump/etc-ufw/ufw.conf",
		"no ufw.conf":             t.TempDir(),
	} {
		if _, err := Open(ctx, frontend.Source{Path: path}); err == nil || errors.Is(err, frontend.ErrAbsent) {
			t.Errorf("%s: error %v; want a read error", name, err)
		}
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "ufw.conf"), []byte("ENABLED=yes\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "user.rules"), []byte("*filter\n### RULES ###\n### tuple ### allow tcp\nCOMMIT\n"), 0o644)
	if _, err := Open(ctx, frontend.Source{Path: bad}); err == nil || !strings.Contains(err.Error(), "user.rules:3: bad tuple") {
		t.Errorf("corrupt user.rules: %v", err)
	}
}
