package main

// Kernel lab for firewalld: the real daemon runs inside the server namespace with a private
// D-Bus, a private /run and a private copy of /etc/firewalld (a mount namespace of its own);
// it is configured with firewall-cmd, and portpath's host.firewalld step is compared with a
// real connect() from the client namespace.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/report"
)

// firewalldStart bounds the wait for `firewall-cmd --state` to say running.
const firewalldStart = 60 * time.Second

// labFirewalld is firewalld running in a lab's server namespace.
type labFirewalld struct {
	l    *lab
	pid  string // the firewalld process; its mount and network namespaces are entered for every command
	priv string // the private copy of /etc/firewalld
}

// startFirewalld copies this host's /etc/firewalld, starts dbus-daemon and firewalld in the
// server namespace under a private mount namespace, and waits until firewalld runs.
func startFirewalld(t *testing.T, l *lab) *labFirewalld {
	t.Helper()
	for _, tool := range []string{"firewalld", "firewall-cmd", "dbus-daemon", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("PORTPATH_LAB") == "1" {
				t.Fatalf("PORTPATH_LAB=1 but %s is missing (apt-get install firewalld dbus util-linux)", tool)
			}
			t.Skipf("the firewalld lab needs %s (apt-get install firewalld dbus util-linux)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "portpath-firewalld-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &labFirewalld{l: l, priv: filepath.Join(dir, "etc-firewalld")}
	l.run("cp", "-a", "/etc/firewalld", f.priv)
	l.run("mkdir", filepath.Join(dir, "log"))
	// ICMP rate limits would turn back-to-back rejects into silent drops
	l.sh(l.srv, "sysctl -qw net.ipv4.icmp_ratelimit=0 && sysctl -qw net.ipv6.icmp.ratelimit=0")
	script := fmt.Sprintf(`mount -t tmpfs tmpfs /run && mkdir -p /run/dbus &&
		mount --bind %s /etc/firewalld && mount --bind %s /var/log &&
		dbus-daemon --system --fork && exec firewalld --nofork --nopid`, f.priv, filepath.Join(dir, "log"))
	cmd := exec.Command("ip", "netns", "exec", l.srv, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.pid = fmt.Sprint(cmd.Process.Pid) // sh execs firewalld: the same process
	t.Cleanup(func() {
		// stop everything firewalld's D-Bus started in the namespace: polkitd, dbus-daemon, firewalld
		if pids, err := exec.Command("ip", "netns", "pids", l.srv).Output(); err == nil {
			for _, pid := range strings.Fields(string(pids)) {
				comm, _ := os.ReadFile("/proc/" + pid + "/comm")
				if c := strings.TrimSpace(string(comm)); c == "dbus-daemon" || c == "polkitd" {
					exec.Command("kill", pid).Run()
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(firewalldStart)
	for {
		st, _ := exec.Command("nsenter", "-t", f.pid, "-m", "-n", "firewall-cmd", "--state").Output()
		if strings.TrimSpace(string(st)) == "running" {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("firewalld did not start within %s:\n%s", firewalldStart, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sh runs a script inside firewalld's namespaces (its mount view and the server network).
func (f *labFirewalld) sh(script string) {
	f.l.t.Helper()
	if out, err := exec.Command("nsenter", "-t", f.pid, "-m", "-n", "sh", "-c", script).CombinedOutput(); err != nil {
		f.l.t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// portpath runs the binary inside firewalld's namespaces and decodes its JSON report.
func (f *labFirewalld) portpath(args ...string) report.Report {
	f.l.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("nsenter", append([]string{"-t", f.pid, "-m", "-n", portpathBin}, append(args, "-o", "json")...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			f.l.t.Fatal(err)
		}
	}
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		f.l.t.Fatalf("portpath %s: not JSON: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return r
}

// clientSees is what a real connect() from the client namespace gets.
func clientSees(l *lab, target string) report.Symptom {
	l.t.Helper()
	r, _ := l.portpath(l.cli, "check", target, "--timeout", "1500ms")
	if r.Symptom == nil {
		return ""
	}
	return r.Symptom.Observed
}

var counters = regexp.MustCompile(`\[\d+:\d+\]|counter packets \d+ bytes \d+`)

// hostDigest fingerprints this host's firewall configuration and live rules (counters left out).
func hostDigest(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	filepath.Walk("/etc/firewalld", func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			fmt.Fprintf(h, "%s %d\n", p, len(b))
			h.Write(b)
		}
		return nil
	})
	for _, c := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}, {"ip6tables-save"}} {
		out, _ := exec.Command(c[0], c[1:]...).Output()
		var keep []string
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") { // iptables-save's dated header and footer
				keep = append(keep, line)
			}
		}
		fmt.Fprintf(h, "%s\n%s", c[0], counters.ReplaceAllString(strings.Join(keep, "\n"), ""))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func firewalldStep(r report.Report) *report.Step {
	for i := range r.Steps {
		if r.Steps[i].Layer == "host.firewalld" {
			return &r.Steps[i]
		}
	}
	return nil
}

func TestLabFirewalld(t *testing.T) {
	needLab(t)
	before := hostDigest(t)
	t.Cleanup(func() {
		if after := hostDigest(t); after != before {
			t.Errorf("this host's /etc/firewalld or firewall rules changed during the test")
		}
	})
	l := newLab(t)
	for _, port := range []string{"80", "8001", "8002", "8006", "8007", "8282"} {
		l.listen(l.srv, "tcp", "[::]:"+port)
	}
	f := startFirewalld(t, l)
	const reject8282 = `rule family="ipv4" source address="10.99.0.1" port port="8282" protocol="tcp" reject`
	f.sh(`firewall-cmd --permanent --add-port=8001/tcp && firewall-cmd --permanent --add-service=http &&
		firewall-cmd --permanent --add-port=8282/tcp && firewall-cmd --permanent --add-rich-rule='` + reject8282 + `' &&
		firewall-cmd --permanent --new-zone=labdrop && firewall-cmd --permanent --zone=labdrop --set-target=DROP &&
		firewall-cmd --permanent --zone=labdrop --add-source=fd99::1/128 && firewall-cmd --reload`)
	f.sh(`firewall-cmd --add-port=8006/tcp && firewall-cmd --permanent --add-port=8007/tcp`) // runtime only; permanent only

	tests := []struct {
		name, target, from string
		want               report.Symptom
		rule               string // the host.firewalld rule text
		detail             string // a part of its detail; "" means no drift may be reported
		fix                string // a part of the fix; "" means none
	}{
		{"port", "10.99.0.2:8001", "10.99.0.1/32", report.Connected, "zone public (the default zone): port 8001/tcp", "", ""},
		{"service", "10.99.0.2:80", "10.99.0.1/32", report.Connected, "zone public (the default zone): service http (80/tcp)", "", ""},
		{"default target", "10.99.0.2:8002", "10.99.0.1/32", report.NoRoute,
			"zone public (the default zone): target default → reject with icmpx admin-prohibited", "",
			`firewall-cmd --permanent --zone=public --add-rich-rule='rule family="ipv4" source address="10.99.0.1" port port="8002" protocol="tcp" accept' && firewall-cmd --reload`},
		{"rich rule reject", "10.99.0.2:8282", "10.99.0.1/32", report.Refused,
			"zone public (the default zone): rich rule '" + reject8282 + "'", "",
			"firewall-cmd --permanent --zone=public --remove-rich-rule='" + reject8282 + "' && firewall-cmd --reload"},
		{"runtime-only port", "10.99.0.2:8006", "10.99.0.1/32", report.Connected,
			"zone public (the default zone): port 8006/tcp", "open now, closed after the next reload (`firewall-cmd --reload`)", ""},
		{"permanent-only port", "10.99.0.2:8007", "10.99.0.1/32", report.NoRoute,
			"zone public (the default zone): target default → reject with icmpx admin-prohibited",
			"closed now, open after the next reload (`firewall-cmd --reload`)", "firewall-cmd --reload"},
		{"zone target DROP", "[fd99::2]:8001", "fd99::1/128", report.Timeout,
			"zone labdrop (source fd99::1/128): target DROP → drop", "",
			`firewall-cmd --permanent --zone=labdrop --add-rich-rule='rule family="ipv6" source address="fd99::1" port port="8001" protocol="tcp" accept' && firewall-cmd --reload`},
	}
	var fixes []struct{ name, target, fix string }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientSees(l, tt.target); got != tt.want {
				t.Fatalf("the client saw %q; the lab is not what the row describes (want %s)", got, tt.want)
			}
			r := f.portpath("check", tt.target, "--local", "--no-probe", "--from", tt.from)
			if got := symptomOf(r); got != tt.want {
				t.Errorf("predicted %q, the kernel gave %q\nsteps: %s", got, tt.want, stepsText(r))
			}
			st := firewalldStep(r)
			if st == nil {
				t.Fatalf("no host.firewalld step\nsteps: %s", stepsText(r))
			}
			if st.Rule == nil || st.Rule.Text != tt.rule {
				t.Errorf("host.firewalld rule %+v\nwant %s\ndetail: %s", st.Rule, tt.rule, st.Detail)
			}
			if tt.detail == "" && strings.Contains(st.Detail, "reload") || !strings.Contains(st.Detail, tt.detail) {
				t.Errorf("host.firewalld detail:\n%s\nwant it to contain %q", st.Detail, tt.detail)
			}
			wantDecision := report.Allow
			if tt.want != report.Connected {
				wantDecision = report.Reject
				if tt.want == report.Timeout {
					wantDecision = report.Drop
				}
			}
			if st.Decision != wantDecision || st.Symptom != symptomOf(r) && tt.want != report.Connected {
				t.Errorf("host.firewalld %s %q; want %s %q", st.Decision, st.Symptom, wantDecision, tt.want)
			}
			fix := strings.Join(st.Fix, "\n")
			if tt.fix == "" && fix != "" || !strings.Contains(fix, tt.fix) {
				t.Errorf("fix:\n%s\nwant it to contain\n%s", fix, tt.fix)
			}
			if tt.fix != "" && len(st.Fix) == 1 {
				fixes = append(fixes, struct{ name, target, fix string }{tt.name, tt.target, st.Fix[0]})
			}
		})
	}
	// The printed fixes, run in order inside the namespace, must let the client in.
	for _, fx := range fixes {
		t.Run("fix/"+fx.name, func(t *testing.T) {
			f.sh(fx.fix)
			if got := clientSees(l, fx.target); got != report.Connected {
				t.Errorf("after `%s` the client sees %q; want connected", fx.fix, got)
			}
		})
	}
	// Each fix reloaded: the runtime-only port is gone, as its step foretold.
	if got := clientSees(l, "10.99.0.2:8006"); got != report.NoRoute {
		t.Errorf("after a reload the runtime-only port 8006 gives %q; want no-route", got)
	}
	// An interface bound to another zone at runtime only: dispatch by interface, and drift.
	out, err := exec.Command("nsenter", "-t", f.pid, "-m", "-n", "ls", "/sys/class/net").Output()
	if err != nil {
		t.Fatal(err)
	}
	iface := ""
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "ps") {
			iface = n
		}
	}
	f.sh("firewall-cmd --zone=internal --change-interface=" + iface)
	t.Run("interface zone", func(t *testing.T) {
		if got := clientSees(l, "10.99.0.2:8001"); got != report.NoRoute {
			t.Fatalf("the client saw %q; want no-route from zone internal", got)
		}
		r := f.portpath("check", "10.99.0.2:8001", "--local", "--no-probe", "--from", "10.99.0.1/32")
		st := firewalldStep(r)
		want := fmt.Sprintf("zone internal (interface %s): target default → reject with icmpx admin-prohibited", iface)
		if st == nil || st.Rule == nil || st.Rule.Text != want || symptomOf(r) != report.NoRoute {
			t.Fatalf("step %+v\nwant rule %s\nsteps: %s", st, want, stepsText(r))
		}
		if !strings.Contains(st.Detail, "closed now, open after the next reload") || strings.Join(st.Fix, "") != "firewall-cmd --reload" {
			t.Errorf("detail %s, fix %v; want the runtime-only binding reported as drift, fixed by a reload", st.Detail, st.Fix)
		}
		f.sh(st.Fix[0])
		if got := clientSees(l, "10.99.0.2:8001"); got != report.Connected {
			t.Errorf("after %s the client saw %q; want connected", st.Fix[0], got)
		}
	})
	// The private configuration copy read offline names the same zone and entry.
	r := f.portpath("check", "10.99.0.2:8001", "--local", "--no-probe", "--from", "10.99.0.1/32", "--firewalld-dir", f.priv)
	if st := firewalldStep(r); st == nil || st.Rule == nil || st.Rule.Text != "zone public (the default zone): port 8001/tcp" {
		t.Errorf("with --firewalld-dir %s: %+v\nsteps: %s", f.priv, st, stepsText(r))
	}
}
