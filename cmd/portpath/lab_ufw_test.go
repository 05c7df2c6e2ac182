package main

// ufw lab: the real ufw runs inside the server namespace on a private copy of /etc/ufw and
// /etc/default (bind-mounted in a mount namespace of its own, with a private /run for its
// lock), and portpath runs in that same view. For each case the host.ufw step must name
// the ufw rule as written, the prediction must match a real connect() from the client
// namespace, and for blocked cases the printed ufw fix, run in the namespace, must open
// the port. The host's own ufw files and firewall are digested before and after.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// ufwLab is a lab whose server namespace runs ufw on private configuration.
type ufwLab struct {
	*lab
	etcUfw, etcDefault string
}

func newUfwLab(t *testing.T) *ufwLab {
	t.Helper()
	l := newLab(t)
	priv := t.TempDir()
	u := &ufwLab{lab: l, etcUfw: filepath.Join(priv, "ufw"), etcDefault: filepath.Join(priv, "default")}
	l.run("cp", "-a", "/etc/ufw", u.etcUfw)
	l.run("cp", "-a", "/etc/default", u.etcDefault)
	// start from the files ufw ships, whatever this host has done with its own
	for _, f := range []string{"user.rules", "user6.rules", "ufw.conf"} {
		if _, err := os.Stat("/usr/share/ufw/" + f); err == nil {
			l.run("cp", "/usr/share/ufw/"+f, filepath.Join(u.etcUfw, f))
		}
	}
	// no sysctl changes from ufw, not even inside the namespace
	if err := os.WriteFile(filepath.Join(u.etcUfw, "sysctl-lab.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(u.etcDefault, "ufw")
	b, err := os.ReadFile(def)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^IPT_SYSCTL=.*$`).ReplaceAll(b, []byte("IPT_SYSCTL=/etc/ufw/sysctl-lab.conf"))
	if err := os.WriteFile(def, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return u
}

// view wraps a script so that it runs in the server namespace with the private ufw files.
func (u *ufwLab) view(script string) []string {
	return []string{"netns", "exec", u.srv, "unshare", "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("mount --bind %s /etc/ufw && mount --bind %s /etc/default && mount -t tmpfs ufwlab /run && %s", u.etcUfw, u.etcDefault, script)}
}

// ufw runs a script (ufw commands) in the private view.
func (u *ufwLab) ufw(script string) {
	u.t.Helper()
	if out, err := exec.Command("ip", u.view(script)...).CombinedOutput(); err != nil {
		u.t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// serverView runs portpath in the server namespace, reading the private ufw files as this host's.
func (u *ufwLab) serverView(args ...string) (report.Report, int) {
	u.t.Helper()
	script := "exec " + portpathBin
	for _, a := range append(args, "-o", "json") {
		script += " '" + a + "'"
	}
	return u.decode(exec.Command("ip", u.view(script)...), args)
}

// connects opens n TCP connections from the client namespace, one after the other, and
// returns what each saw: connected, refused or timeout.
func (u *ufwLab) connects(addr string, port, n int) []string {
	u.t.Helper()
	script := fmt.Sprintf(`import socket
for i in range(%d):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((%q, %d)); print("connected")
    except ConnectionRefusedError:
        print("refused")
    except OSError:
        print("timeout")
    s.close()
`, n, addr, port)
	out, err := exec.Command("ip", "netns", "exec", u.cli, "python3", "-c", script).CombinedOutput()
	if err != nil {
		u.t.Fatalf("connect from the client: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func ufwStep(r report.Report) *report.Step {
	for i := range r.Steps {
		if r.Steps[i].Layer == "host.ufw" {
			return &r.Steps[i]
		}
	}
	return nil
}

// hostFirewallDigest digests this host's ufw files and its live rules, without counters.
func hostFirewallDigest(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	for _, root := range []string{"/etc/ufw", "/etc/default/ufw"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "%s: %v\n", p, err)
				return nil
			}
			if d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
			}
			return nil
		})
	}
	counters := regexp.MustCompile(`\[\d+:\d+\]|counter packets \d+ bytes \d+`)
	for _, c := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		fmt.Fprintf(h, "%s err=%v\n", strings.Join(c, " "), err)
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				fmt.Fprintln(h, counters.ReplaceAllString(line, ""))
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestLabUfw(t *testing.T) {
	needLab(t)
	if _, err := exec.LookPath("ufw"); err != nil {
		if os.Getenv("PORTPATH_LAB") == "1" {
			t.Fatal("PORTPATH_LAB=1 but ufw is not installed (apt-get install ufw)")
		}
		t.Skip("the ufw lab needs ufw (apt-get install ufw)")
	}
	before := hostFirewallDigest(t)
	t.Cleanup(func() {
		if after := hostFirewallDigest(t); after != before {
			t.Errorf("this host's ufw files or firewall rules changed during the lab")
		}
	})

	tests := []struct {
		name   string
		setup  string // ufw commands in the private view
		listen string // listener address in the server namespace
		target string
		from   string
		want   report.Symptom
		rule   string   // the host.ufw step's rule text
		detail []string // substrings of its detail
		cond   string   // substring of its conditional
		fix    bool     // run the printed fix and expect the client to connect
		// fixDelete runs the "# or remove the rule" alternative instead
		fixDelete bool
	}{
		{name: "allow", setup: "ufw --force enable && ufw allow 8282/tcp", listen: "0.0.0.0:8282", target: "10.99.0.2:8282",
			want: report.Connected, rule: "ufw allow 8282/tcp", detail: []string{"is allowed by `ufw allow 8282/tcp` (rule 1 in `ufw status numbered`)"}},
		{name: "deny", setup: "ufw --force enable && ufw deny from 10.99.0.1 to any port 8005 proto tcp comment 'block client'", listen: "0.0.0.0:8005",
			target: "10.99.0.2:8005", from: "10.99.0.1/32", want: report.Timeout,
			rule: "ufw deny from 10.99.0.1 to any port 8005 proto tcp comment 'block client'", fix: true},
		{name: "deny a network, insert an allow", setup: "ufw --force enable && ufw allow 22/tcp && ufw deny from 10.99.0.0/24 to any port 8005 proto tcp comment 'block lab'",
			listen: "0.0.0.0:8005", target: "10.99.0.2:8005", from: "10.99.0.1/32", want: report.Timeout,
			rule: "ufw deny from 10.99.0.0/24 to any port 8005 proto tcp comment 'block lab'", fix: true},
		{name: "deny a network, delete it", setup: "ufw --force enable && ufw allow 22/tcp && ufw deny from 10.99.0.0/24 to any port 8005 proto tcp comment 'block lab' && ufw allow 8005/tcp",
			listen: "0.0.0.0:8005", target: "10.99.0.2:8005", from: "10.99.0.1/32", want: report.Timeout,
			rule: "ufw deny from 10.99.0.0/24 to any port 8005 proto tcp comment 'block lab'", fix: true, fixDelete: true},
		{name: "allow behind a deny", setup: "ufw --force enable && ufw deny from 10.99.0.0/24 to any port 8005 proto tcp && ufw allow from 10.99.0.1 to any port 8005 proto tcp",
			listen: "0.0.0.0:8005", target: "10.99.0.2:8005", from: "10.99.0.1/32", want: report.Timeout,
			rule: "ufw deny from 10.99.0.0/24 to any port 8005 proto tcp", fix: true},
		{name: "reject", setup: "ufw --force enable && ufw allow 22/tcp && ufw reject 8006/tcp", listen: "0.0.0.0:8006", target: "10.99.0.2:8006",
			want: report.Refused, rule: "ufw reject 8006/tcp", fix: true},
		{name: "limit", setup: "ufw --force enable && ufw limit 2222/tcp", listen: "0.0.0.0:2222", target: "10.99.0.2:2222",
			want: report.Connected, rule: "ufw limit 2222/tcp", cond: "once it opens 6 within 30 s"},
		{name: "allow only from a CIDR", setup: "ufw --force enable && ufw allow from 10.99.0.128/25 to any port 8001 proto tcp", listen: "0.0.0.0:8001",
			target: "10.99.0.2:8001", from: "10.99.0.1/32", want: report.Timeout, rule: "ufw default deny incoming",
			detail: []string{"ufw's default incoming policy is deny"}, fix: true},
		{name: "default deny", setup: "ufw --force enable", listen: "0.0.0.0:8080", target: "10.99.0.2:8080",
			want: report.Timeout, rule: "ufw default deny incoming", detail: []string{`ufw's default incoming policy is deny (DEFAULT_INPUT_POLICY="DROP" in /etc/default/ufw)`}, fix: true},
		{name: "default reject", setup: "ufw default reject incoming && ufw --force enable", listen: "0.0.0.0:8080", target: "10.99.0.2:8080",
			want: report.Refused, rule: "ufw default reject incoming", detail: []string{"ufw's default incoming policy is reject"}, fix: true},
		{name: "rule in user.rules but not loaded", setup: "ufw --force enable && ufw allow 8282/tcp && iptables -D ufw-user-input -p tcp --dport 8282 -j ACCEPT",
			listen: "0.0.0.0:8282", target: "10.99.0.2:8282", want: report.Timeout, rule: "ufw default deny incoming",
			detail: []string{"has `ufw allow 8282/tcp` (rule 1, line", "the kernel has not loaded it (run `ufw reload`)"}, fix: true},
		{name: "enabled but not loaded", setup: "ufw allow 8282/tcp && sed -i s/ENABLED=no/ENABLED=yes/ /etc/ufw/ufw.conf && iptables -P INPUT DROP",
			listen: "0.0.0.0:8282", target: "10.99.0.2:8282", want: report.Timeout,
			detail: []string{"ufw is enabled (ENABLED=yes in /etc/ufw/ufw.conf) but its rules are not loaded (run `ufw enable` or `ufw reload`)"}, fix: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUfwLab(t)
			u.listen(u.srv, "tcp4", tt.listen)
			u.ufw(tt.setup)
			from := tt.from
			if from == "" {
				from = "10.99.0.1/32"
			}
			host, port := splitTarget(t, tt.target)

			server, _ := u.serverView("check", tt.target, "--local", "--no-probe", "--from", from)
			st := ufwStep(server)
			if st == nil {
				t.Fatalf("no host.ufw step\nsteps: %s", stepsText(server))
			}
			if got := symptomOf(server); got != tt.want {
				t.Errorf("predicted %q; want %q\nsteps: %s", got, tt.want, stepsText(server))
			}
			if tt.rule != "" && (st.Rule == nil || st.Rule.Text != tt.rule) {
				t.Errorf("host.ufw rule %+v; want %q\n%s", st.Rule, tt.rule, st.Detail)
			}
			for _, d := range tt.detail {
				if !strings.Contains(st.Detail, d) {
					t.Errorf("host.ufw detail %q\nlacks %q", st.Detail, d)
				}
			}
			if tt.cond != "" && !strings.Contains(st.Conditional, tt.cond) {
				t.Errorf("host.ufw conditional %q lacks %q", st.Conditional, tt.cond)
			}
			if st.Decision.Blocks() != (tt.want != report.Connected) {
				t.Errorf("host.ufw decision %s for a %s connection", st.Decision, tt.want)
			}

			if tt.name == "limit" {
				// the conditional holds: five new connections in a row get through, the sixth is refused
				got := u.connects(host, port, 6)
				want := []string{"connected", "connected", "connected", "connected", "connected", "refused"}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("six connections saw %v; want %v", got, want)
				}
				return
			}
			client, _ := u.portpath(u.cli, "check", tt.target, "--timeout", "1500ms")
			if client.Symptom == nil || client.Symptom.Observed != tt.want {
				t.Fatalf("the client saw %+v; predicted %s", client.Symptom, tt.want)
			}

			if tt.name == "allow" {
				// the same answer from a copy of the files, outside the private view
				r, _ := u.portpath(u.srv, "check", tt.target, "--local", "--no-probe", "--from", from, "--ufw-dir", u.etcUfw)
				if s := ufwStep(r); s == nil || s.Rule == nil || s.Rule.Text != tt.rule {
					t.Errorf("with --ufw-dir: host.ufw step %+v; want rule %q", s, tt.rule)
				}
			}
			if !tt.fix {
				return
			}
			var cmds []string
			for _, f := range st.Fix {
				switch {
				case tt.fixDelete && strings.HasPrefix(f, "# or remove the rule: "):
					cmds = []string{strings.TrimPrefix(f, "# or remove the rule: ")}
				case !tt.fixDelete && !strings.HasPrefix(f, "#"):
					cmds = append(cmds, f)
				}
			}
			if len(cmds) == 0 || !strings.HasPrefix(cmds[0], "ufw ") {
				t.Fatalf("no ufw fix to run: %q", st.Fix)
			}
			u.ufw(strings.Join(cmds, " && "))
			after, _ := u.portpath(u.cli, "check", tt.target, "--timeout", "1500ms")
			if after.Symptom == nil || after.Symptom.Observed != report.Connected {
				t.Errorf("after the fix %q the client saw %+v; want connected", cmds, after.Symptom)
			}
			fixed, code := u.serverView("check", tt.target, "--local", "--no-probe", "--from", from)
			if fixed.Verdict != report.Open || code != exitOpen {
				t.Errorf("after the fix portpath says %s (exit %d)\nsteps: %s", fixed.Verdict, code, stepsText(fixed))
			}
		})
	}
}

// TestLabUfwPartialSource checks the source set split: a ufw rule for part of the internet.
func TestLabUfwPartialSource(t *testing.T) {
	needLab(t)
	if _, err := exec.LookPath("ufw"); err != nil {
		if os.Getenv("PORTPATH_LAB") == "1" {
			t.Fatal("PORTPATH_LAB=1 but ufw is not installed (apt-get install ufw)")
		}
		t.Skip("the ufw lab needs ufw (apt-get install ufw)")
	}
	u := newUfwLab(t)
	u.listen(u.srv, "tcp4", "0.0.0.0:8001")
	u.ufw("ufw --force enable && ufw allow from 10.99.0.0/24 to any port 8001 proto tcp")
	r, code := u.serverView("check", "10.99.0.2:8001", "--local", "--no-probe")
	st := ufwStep(r)
	if r.Verdict != report.Open || code != exitOpen || st == nil {
		t.Fatalf("verdict %s (exit %d); want open for part of the internet\n%s", r.Verdict, code, stepsText(r))
	}
	if strings.Join(st.AllowedFrom, ",") != "10.99.0.0/24" || st.Rule == nil || st.Rule.Text != "ufw allow from 10.99.0.0/24 to any port 8001 proto tcp" {
		t.Errorf("host.ufw step: allowed_from %v, rule %+v", st.AllowedFrom, st.Rule)
	}
	if got := u.connects("10.99.0.2", 8001, 1); len(got) != 1 || got[0] != "connected" {
		t.Errorf("client in 10.99.0.0/24 saw %v", got)
	}
}

func splitTarget(t *testing.T, target string) (string, int) {
	t.Helper()
	i := strings.LastIndex(target, ":")
	var port int
	if _, err := fmt.Sscanf(target[i+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return target[:i], port
}
