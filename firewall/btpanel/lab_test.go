package btpanel

// Kernel lab: the rules the panel's iptables backend writes for its database rows are
// loaded into a real kernel in a network namespace, and the panel step's prediction is
// compared with what a real connect() from a client namespace gets. Nothing listens on
// the port, so a connection the firewall lets through is refused and one it drops times out.

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/internal/netlab"
	"github.com/portpath/portpath/report"
)

// needLab skips without root, and fails instead when PORTPATH_LAB=1 says the lab must run.
func needLab(t *testing.T) {
	t.Helper()
	netlab.Require(t, netlab.Missing("kernel lab", "network namespaces, iptables", "iptables iproute2",
		"ip", "iptables", "iptables-save", "bash", "timeout"))
}

// netns is a client and a server namespace joined by a veth pair (10.99.0.1 ↔ 10.99.0.2).
type netns struct {
	t        *testing.T
	cli, srv string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	id := netlab.ID()
	n := &netns{t: t, cli: "ppbc" + id, srv: "ppbs" + id}
	netlab.Add(t, n.cli, n.srv)
	vc, vs := "bc"+id, "bs"+id
	netlab.Veth(t, n.cli, vc, n.srv, vs)
	netlab.Up(t, n.cli, vc, "10.99.0.1/24")
	netlab.Up(t, n.srv, vs, "10.99.0.2/24")
	return n
}

// sh runs a shell command inside a namespace.
func (n *netns) sh(ns, cmd string) string {
	n.t.Helper()
	return netlab.Sh(n.t, ns, cmd)
}

// connect tries a TCP connection from the client namespace: "refused" when the firewall
// let the SYN through to a closed port, "timeout" when it was dropped.
func (n *netns) connect(port uint16) report.Symptom {
	n.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.cli, "timeout", "2", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/10.99.0.2/%d", port))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return report.Connected
	case errors.As(err, &ee) && ee.ExitCode() == 124:
		return report.Timeout
	case strings.Contains(string(out), "refused"):
		return report.Refused
	}
	n.t.Fatalf("connect: %v\n%s", err, out)
	return ""
}

// save writes the server namespace's iptables-save output to a file.
func (n *netns) save(dir string) string {
	n.t.Helper()
	p := filepath.Join(dir, "iptables-save.txt")
	writeFile(n.t, p, n.sh(n.srv, "iptables-save"))
	return p
}

// panelRule is the command the panel's iptables backend runs for an accepted TCP port
// (firewalls.py, AddAcceptPort); del removes it again.
func panelRule(port uint16, del bool) string {
	op := "-I"
	if del {
		op = "-D"
	}
	return fmt.Sprintf("iptables %s INPUT -p tcp -m state --state NEW -m tcp --dport %d -j ACCEPT", op, port)
}

func TestLabPanelAgainstKernel(t *testing.T) {
	needLab(t)
	n := newNetns(t)
	// the base the panel's iptables backend keeps, with its seed ports open
	n.sh(n.srv, "iptables -P INPUT DROP && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT")
	for _, p := range []uint16{80, 21, 22, 8888} {
		n.sh(n.srv, panelRule(p, false))
	}
	const row = "INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '8282', 'accept', '', 'workerman', '2024-06-01 12:00:00')"
	steps := []struct {
		name       string
		kernel     string // shell run in the server namespace before the check; "" for none
		rows       []string
		want       report.Decision
		wantCause  string
		wantDetail string
	}{
		{"the port was never opened", "", nil, report.Drop, report.CausePanelFirewall, "the panel has no rule for 8282/tcp"},
		{"opened on the panel's page", panelRule(8282, false), []string{row}, report.Allow, "", "the panel allows 8282/tcp from 10.99.0.1/32"},
		{"the kernel rule deleted by hand", panelRule(8282, true), []string{row}, report.Drop, report.CauseHostFirewallDrop, "the panel lists 8282/tcp as allowed from 10.99.0.1/32"},
		{"opened by hand, not on the panel", panelRule(8282, false), nil, report.Allow, "", "the next time the panel rewrites its rules it will close"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.kernel != "" {
				n.sh(n.srv, s.kernel)
			}
			db := newDB(t, s.rows...)
			st, k := stepsFor(t, n.save(t.TempDir()), db)
			observed := n.connect(8282)
			t.Logf("observed %s; panel step %s %s", observed, st.Decision, st.Cause)
			if st.Decision != s.want || st.Cause != s.wantCause || !strings.Contains(st.Detail, s.wantDetail) {
				t.Errorf("panel step %s %q: %s; want %s %q with %q", st.Decision, st.Cause, st.Detail, s.want, s.wantCause, s.wantDetail)
			}
			predicted := report.Refused // nothing listens: a connection let through is refused
			if st.Decision.Blocks() {
				predicted = st.Symptom
			}
			if observed != predicted {
				t.Errorf("the kernel answered %s; the panel step (%s) and the kernel step (%s) predict %s", observed, st.Decision, k.Decision, predicted)
			}
		})
	}
}

// stepsFor evaluates a saved ruleset and a panel database as portpath check does.
func stepsFor(t *testing.T, save, db string) (panel, kernel report.Step) {
	t.Helper()
	return steps(t, firewall.Options{IPTablesSave: save}, db, "tcp", "10.99.0.2", 8282, "10.99.0.1/32")
}
