package ufw_test

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/ufw"
	"github.com/portpath/portpath/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The real dump: ufw's files (ENABLED=no, DEFAULT_INPUT_POLICY="REJECT") and the rules
// the kernel had loaded when they were copied, which differ from them in three places
// (8006 is a DROP, not a REJECT; no 5000:5010 rule; the input policy is plain deny).
const (
	dumpDir  = "testdata/dump/etc-ufw"
	dumpIPv4 = "testdata/dump/ufw-iptables-save.txt"
	dumpIPv6 = "testdata/dump/ufw-ip6tables-save.txt"
)

// copyDir copies a ufw directory into a temporary one, applying edits (file → new content
// or a func of the old).
func copyDir(t *testing.T, src string, edits map[string]func(string) string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if f, ok := edits[e.Name()]; ok {
			s = f(s)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func enable(s string) string { return strings.Replace(s, "ENABLED=no", "ENABLED=yes", 1) }

type stepCase struct {
	name  string
	dir   string // the ufw directory; "" is the dump
	ipt   string // iptables-save file; "" is the dump's (for IPv4 targets)
	ip6   string
	iface string
	proto string
	dst   string
	port  uint16
	from  string

	decision report.Decision
	symptom  report.Symptom
	rule     string   // the step's rule text
	fix      []string // the step's fix, exactly
	detail   []string // substrings of the detail
	cond     string   // substring of Conditional
}

func (c stepCase) run(t *testing.T) report.Step {
	t.Helper()
	dir := c.dir
	if dir == "" {
		dir = dumpDir
	}
	o := firewall.Options{IPTablesSave: c.ipt, IP6TablesSave: c.ip6, InIface: c.iface,
		Frontends: []firewall.FrontendSource{{Layer: ufw.Layer, Path: dir, Flag: "--ufw-dir", Open: ufw.Open}}}
	if c.ipt == "" && c.ip6 == "" {
		o.IPTablesSave, o.IP6TablesSave = dumpIPv4, dumpIPv6
	}
	if c.ipt == "-" {
		o.IPTablesSave, o.IP6TablesSave = "", ""
	}
	h, err := firewall.Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	proto := c.proto
	if proto == "" {
		proto = "tcp"
	}
	from := c.from
	if from == "" {
		from = "0.0.0.0/0"
	}
	steps := h.Steps(proto, netip.MustParseAddr(c.dst), c.port, netip.MustParsePrefix(from))
	for _, s := range steps {
		if s.Layer == ufw.Layer {
			return s
		}
	}
	t.Fatalf("no %s step in %+v", ufw.Layer, steps)
	return report.Step{}
}

func stepCases(t *testing.T) []stepCase {
	enabled := copyDir(t, dumpDir, map[string]func(string) string{"ufw.conf": enable})
	noDefaults := t.TempDir()
	for _, f := range []string{"ufw.conf", "user.rules", "user6.rules"} {
		b, err := os.ReadFile(filepath.Join(dumpDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "ufw.conf" {
			b = []byte(enable(string(b)))
		}
		if err := os.WriteFile(filepath.Join(noDefaults, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plain := filepath.Join(t.TempDir(), "plain-iptables.txt")
	writeFile(t, plain, "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
	docker := filepath.Join(t.TempDir(), "docker-iptables.txt")
	b, err := os.ReadFile(dumpIPv4)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, docker, string(b)+"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n")

	wide := t.TempDir()
	writeFile(t, filepath.Join(wide, "ufw.conf"), "ENABLED=yes\n")
	writeFile(t, filepath.Join(wide, "user.rules"), userRules("ufw",
		"### tuple ### deny tcp 80 0.0.0.0/0 any 10.0.0.0/8 in\n-A ufw-user-input -p tcp --dport 80 -s 10.0.0.0/8 -j DROP\n",
		"### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 443 -j ACCEPT\n"))
	wideIPT := filepath.Join(wide, "iptables.txt")
	writeFile(t, wideIPT, kernelRules("-A ufw-user-input -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j DROP\n-A ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT\n"))
	twin := t.TempDir()
	writeFile(t, filepath.Join(twin, "ufw.conf"), "ENABLED=yes\n")
	writeFile(t, filepath.Join(twin, "user.rules"), userRules("ufw",
		"### tuple ### deny tcp 80 0.0.0.0/0 any 10.0.0.0/8 in\n-A ufw-user-input -p tcp --dport 80 -s 10.0.0.0/8 -j DROP\n",
		"### tuple ### allow tcp 80 0.0.0.0/0 any 10.1.2.3 in\n-A ufw-user-input -p tcp --dport 80 -s 10.1.2.3 -j ACCEPT\n"))
	twinIPT := filepath.Join(twin, "iptables.txt")
	writeFile(t, twinIPT, kernelRules("-A ufw-user-input -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j DROP\n-A ufw-user-input -s 10.1.2.3/32 -p tcp -m tcp --dport 80 -j ACCEPT\n"))

	const disabledLoaded = "ufw is disabled (ENABLED=no in testdata/dump/etc-ufw/ufw.conf) but its chains are loaded"
	return []stepCase{
		{name: "allow", dst: "10.99.0.2", port: 22, decision: report.Allow, rule: "ufw allow 22/tcp",
			detail: []string{"tcp/22 from 0.0.0.0/0 is allowed by `ufw allow 22/tcp` (rule 1 in `ufw status numbered`)", disabledLoaded}},
		{name: "limit is conditional", dir: enabled, dst: "10.99.0.2", port: 2222, decision: report.Allow, rule: "ufw limit 2222/tcp",
			cond: "`ufw limit 2222/tcp`: ufw refuses a source's new connections once it opens 6 within 30 s"},
		{name: "allowed only from a CIDR", dir: enabled, dst: "10.99.0.2", port: 8001, decision: report.Allow,
			rule:   "ufw allow from 10.99.0.0/24 to any port 8001 proto tcp",
			detail: []string{"tcp/8001 is allowed only from 10.99.0.0/24, by `ufw allow from 10.99.0.0/24 to any port 8001 proto tcp` (rule 3"}},
		{name: "deny for one client", dir: enabled, dst: "10.99.0.2", port: 8005, from: "10.99.0.1/32", decision: report.Drop, symptom: report.Timeout,
			rule: "ufw deny from 10.99.0.1 to any port 8005 proto tcp comment 'block client'",
			fix:  []string{"ufw allow from 10.99.0.1 to any port 8005 proto tcp"}}, // updates the rule in place
		{name: "deny does not touch other clients", dir: enabled, dst: "10.99.0.2", port: 8005, from: "10.99.0.7/32", decision: report.Drop,
			rule: "ufw default deny incoming", fix: []string{"ufw allow from 10.99.0.7 to any port 8005 proto tcp"}},
		{name: "deny for a wider network", dir: wide, ipt: wideIPT, dst: "10.99.0.2", port: 80, from: "10.1.2.3/32", decision: report.Drop,
			rule: "ufw deny from 10.0.0.0/8 to any port 80 proto tcp",
			fix:  []string{"ufw insert 1 allow from 10.1.2.3 to any port 80 proto tcp", "# or remove the rule: ufw delete deny from 10.0.0.0/8 to any port 80 proto tcp"}},
		{name: "allow rule behind a deny", dir: twin, ipt: twinIPT, dst: "10.99.0.2", port: 80, from: "10.1.2.3/32", decision: report.Drop,
			rule: "ufw deny from 10.0.0.0/8 to any port 80 proto tcp",
			fix:  []string{"ufw delete allow from 10.1.2.3 to any port 80 proto tcp", "ufw insert 1 allow from 10.1.2.3 to any port 80 proto tcp"}},
		{name: "reject udp", dir: enabled, proto: "udp", dst: "10.99.0.2", port: 9001, decision: report.Reject, symptom: report.Refused,
			rule: "ufw reject 9001/udp", fix: []string{"ufw allow 9001/udp"}},
		{name: "loaded rule differs from user.rules", dir: enabled, dst: "10.99.0.2", port: 8006, decision: report.Drop, symptom: report.Timeout,
			rule:   "-A ufw-user-input -p tcp -m tcp --dport 8006 -j DROP",
			detail: []string{"by the loaded rule -A ufw-user-input -p tcp -m tcp --dport 8006 -j DROP (what `ufw deny 8006/tcp` makes)", "user.rules line 32 says (`ufw reject 8006/tcp`): ufw's files were changed without `ufw reload`"},
			fix:    []string{"ufw reload", "ufw allow 8006/tcp"}},
		{name: "default policy differs from the defaults file", dir: enabled, dst: "10.99.0.2", port: 8080, decision: report.Drop, symptom: report.Timeout,
			rule:   "ufw default deny incoming",
			detail: []string{`ufw's default incoming policy is deny (DEFAULT_INPUT_POLICY="REJECT" in `, `the loaded rules apply deny, but`},
			fix:    []string{"ufw allow 8080/tcp"}},
		{name: "rule in user.rules not loaded", dir: enabled, dst: "10.99.0.2", port: 5001, from: "10.99.0.0/24", decision: report.Drop,
			detail: []string{"has `ufw allow from 10.99.0.0/24 to 10.99.0.2 port 5000:5010 proto tcp` (rule 9, line 47), which would decide first, but the kernel has not loaded it"},
			fix:    []string{"ufw reload"}},
		{name: "netbios goes straight to the policy", dir: enabled, dst: "10.99.0.2", port: 445, decision: report.Drop,
			detail: []string{"after.rules applies directly to this traffic"}},
		{name: "interface rule, interface unknown", dir: enabled, dst: "10.99.0.2", port: 8004, decision: report.Unknown,
			detail: []string{"the kernel's rules do not decide tcp/8004", "`ufw allow in on vs to any port 8004`"}},
		{name: "interface rule on that interface", dir: enabled, iface: "vs", proto: "udp", dst: "10.99.0.2", port: 8004, decision: report.Allow,
			rule: "ufw allow in on vs to any port 8004"},
		{name: "IPv6 allow", dir: enabled, dst: "fd99::2", port: 22, decision: report.Allow, rule: "ufw allow 22/tcp",
			detail: []string{"(rule 10 in `ufw status numbered`)"}},
		{name: "IPv6 reject", dir: enabled, proto: "udp", dst: "fd99::2", port: 9001, decision: report.Reject, symptom: report.Refused,
			rule: "ufw reject 9001/udp", fix: []string{"ufw allow 9001/udp"}},
		{name: "no defaults file offline", dir: noDefaults, dst: "10.99.0.2", port: 8080, decision: report.Drop,
			detail: []string{"which is deny as loaded (no defaults file found: looked for "}, fix: []string{"ufw allow 8080/tcp"}},
		{name: "enabled but not loaded", dir: enabled, ipt: plain, dst: "10.99.0.2", port: 22, decision: report.Allow,
			detail: []string{"a rule ufw does not manage: filter/INPUT#1", "ufw is enabled (ENABLED=yes in", "but its rules are not loaded (run `ufw enable` or `ufw reload`)"}},
		{name: "enabled but not loaded, blocked", dir: enabled, ipt: plain, dst: "10.99.0.2", port: 8001, from: "10.99.0.0/24", decision: report.Drop,
			detail: []string{"the policy of the INPUT chain (:INPUT DROP), not a ufw rule"}, fix: []string{"ufw reload"}},
		{name: "disabled and not loaded", ipt: plain, dst: "10.99.0.2", port: 22, decision: report.Skipped,
			detail: []string{"ufw is disabled (ENABLED=no in testdata/dump/etc-ufw/ufw.conf) and its chains are not loaded"}},
		{name: "kernel rules not read", dir: enabled, ipt: "-", dst: "10.99.0.2", port: 5000, from: "10.99.0.0/24", decision: report.Skipped,
			detail: []string{"no verdict without the kernel's rules", "the first rule for tcp/5000 is `ufw allow from 10.99.0.0/24 to 10.99.0.2 port 5000:5010 proto tcp` (rule 9)"}},
		{name: "published container port", dir: enabled, ipt: docker, dst: "10.99.0.2", port: 8080, decision: report.Drop,
			rule:   "ufw default deny routed",
			detail: []string{"DNAT to 172.17.0.2:80: the connection goes through FORWARD", "DEFAULT_FORWARD_POLICY"},
			fix:    []string{"ufw route allow from any to 172.17.0.2 port 80 proto tcp"}},
	}
}

// userRules writes a user.rules file around the rules given (tuple and lines each).
func userRules(prefix string, rules ...string) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, c := range []string{"user-input", "user-output", "user-forward", "user-limit", "user-limit-accept"} {
		fmt.Fprintf(&b, ":%s-%s - [0:0]\n", prefix, c)
	}
	b.WriteString("### RULES ###\n\n")
	for _, r := range rules {
		b.WriteString(r + "\n")
	}
	b.WriteString("### END RULES ###\nCOMMIT\n")
	return b.String()
}

// kernelRules is an iptables-save dump of ufw's chain wiring with the user rules given.
func kernelRules(user string) string {
	return "# Generated by iptables-save v1.8.9 (nf_tables)\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		":ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n:ufw-after-input - [0:0]\n" +
		"-A INPUT -j ufw-before-input\n-A INPUT -j ufw-after-input\n" +
		"-A ufw-before-input -i lo -j ACCEPT\n-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A ufw-before-input -j ufw-user-input\n" +
		user + "COMMIT\n"
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStep(t *testing.T) {
	var golden strings.Builder
	for _, c := range stepCases(t) {
		t.Run(c.name, func(t *testing.T) {
			st := c.run(t)
			fmt.Fprintf(&golden, "## %s\n%s %s symptom=%q\n  %s\n", c.name, st.Layer, st.Decision, st.Symptom, st.Detail)
			if st.Rule != nil {
				fmt.Fprintf(&golden, "  rule: %s (%s #%d)\n", st.Rule.Text, st.Rule.Origin, st.Rule.Position)
			}
			if st.Conditional != "" {
				fmt.Fprintf(&golden, "  conditional: %s\n", st.Conditional)
			}
			for _, f := range st.Fix {
				fmt.Fprintf(&golden, "  fix: %s\n", f)
			}
			if st.Decision != c.decision {
				t.Errorf("decision %s; want %s\n%s", st.Decision, c.decision, st.Detail)
			}
			if c.symptom != "" && st.Symptom != c.symptom {
				t.Errorf("symptom %q; want %q", st.Symptom, c.symptom)
			}
			if c.rule != "" && (st.Rule == nil || st.Rule.Text != c.rule) {
				t.Errorf("rule %+v; want %q\n%s", st.Rule, c.rule, st.Detail)
			}
			for _, d := range c.detail {
				if !strings.Contains(st.Detail, d) {
					t.Errorf("detail %q\nlacks %q", st.Detail, d)
				}
			}
			if c.cond != "" && !strings.Contains(st.Conditional, c.cond) {
				t.Errorf("conditional %q lacks %q", st.Conditional, c.cond)
			}
			if c.fix != nil && strings.Join(st.Fix, "\n") != strings.Join(c.fix, "\n") {
				t.Errorf("fix %q; want %q", st.Fix, c.fix)
			}
			if st.Decision.Blocks() && c.fix == nil && len(st.Fix) == 0 && !strings.Contains(c.name, "netbios") {
				t.Errorf("blocked without a fix: %s", st.Detail)
			}
		})
	}
	// temporary directory names vary; the golden file keeps them out
	out := golden.String()
	for _, d := range []string{os.TempDir()} {
		out = replaceTempDirs(out, d)
	}
	checkGolden(t, "testdata/steps.golden", out)
}

func replaceTempDirs(s, tmp string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, tmp+"/")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexAny(s, " ,;:)\n`\"")
		rest := s[end:]
		// keep the file name, drop the directories
		path := s[:end]
		b.WriteString("TMP/" + filepath.Base(path))
		s = rest
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test -update and review):\n--- got\n%s", path, got)
	}
}
