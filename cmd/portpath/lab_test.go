package main

// Kernel lab: every row of the measured symptom table that netfilter and the socket layer
// can produce is rebuilt with real rules in network namespaces, and portpath's server-side
// prediction is compared with what a real connect() from a client namespace gets.
//
// The client side is portpath's own probe run inside the client namespace; the server side
// is `portpath check --local --no-probe` run inside the server namespace. Listeners are this
// test binary re-executed in listener mode (see TestMain).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/internal/netlab"
	"github.com/portpath/portpath/report"
)

// listenEnv switches the test binary into listener mode: "network address".
const listenEnv = "PORTPATH_LAB_LISTEN"

var portpathBin string // built once by TestMain when the lab runs

func TestMain(m *testing.M) {
	if spec := os.Getenv(listenEnv); spec != "" {
		os.Exit(serveLab(spec))
	}
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "portpath-lab-")
			if err != nil {
				fmt.Fprintln(os.Stderr, "lab:", err)
				return 1
			}
			defer os.RemoveAll(dir)
			portpathBin = filepath.Join(dir, "portpath")
			if out, err := exec.Command("go", "build", "-o", portpathBin, ".").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "lab: build portpath: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// serveLab listens as the spec says, prints "ready", and accepts until killed.
func serveLab(spec string) int {
	network, addr, _ := strings.Cut(spec, " ")
	if strings.HasPrefix(network, "udp") {
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("ready")
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return 0
			}
			c.WriteTo(buf[:n], from)
		}
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return 0
		}
		c.Close()
	}
}

// needLab skips without root, and fails instead when PORTPATH_LAB=1 says the lab must run.
func needLab(t *testing.T) {
	t.Helper()
	why := netlab.Missing("kernel lab", "network namespaces, iptables, nft", "iptables nftables iproute2",
		"ip", "iptables", "iptables-legacy", "ip6tables", "nft")
	if why == "" && portpathBin == "" {
		why = "portpath binary not built"
	}
	netlab.Require(t, why)
}

// lab is a client and a server namespace joined by a veth pair (10.99.0.1 ↔ 10.99.0.2,
// fd99::1 ↔ fd99::2), plus a "container" namespace behind the server (10.98.0.2).
type lab struct {
	t             *testing.T
	cli, srv, ctr string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	id := netlab.ID()
	l := &lab{t: t, cli: "ppc" + id, srv: "pps" + id, ctr: "ppk" + id}
	netlab.Add(t, l.cli, l.srv, l.ctr)
	vc, vs, kc, ks := "pc"+id, "ps"+id, "kc"+id, "ks"+id
	netlab.Veth(t, l.cli, vc, l.srv, vs)
	netlab.Veth(t, l.ctr, kc, l.srv, ks)
	netlab.Up(t, l.cli, vc, "10.99.0.1/24", "fd99::1/64")
	netlab.Up(t, l.srv, vs, "10.99.0.2/24", "fd99::2/64")
	netlab.Up(t, l.srv, ks, "10.98.0.1/24")
	l.sh(l.srv, "sysctl -qw net.ipv4.ip_forward=1")
	netlab.Up(t, l.ctr, kc, "10.98.0.2/24")
	l.sh(l.ctr, "ip route add default via 10.98.0.1")
	l.sh(l.cli, "ip route add 10.98.0.0/24 via 10.99.0.2")
	return l
}

func (l *lab) run(name string, args ...string) {
	l.t.Helper()
	netlab.Run(l.t, name, args...)
}

// sh runs a shell script inside a namespace.
func (l *lab) sh(ns, script string) {
	l.t.Helper()
	netlab.Sh(l.t, ns, script)
}

// listen starts a listener inside ns and waits until it is bound.
func (l *lab) listen(ns, network, addr string) {
	l.t.Helper()
	self, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), listenEnv+"="+network+" "+addr)
	if line := netlab.Ready(l.t, cmd); line != "ready" {
		l.t.Fatalf("listener %s %s in %s: %q", network, addr, ns, line)
	}
}

// portpath runs the binary inside ns and decodes its JSON report.
func (l *lab) portpath(ns string, args ...string) (report.Report, int) {
	l.t.Helper()
	return l.decode(exec.Command("ip", append([]string{"netns", "exec", ns, portpathBin}, append(args, "-o", "json")...)...), args)
}

// decode runs cmd, a portpath run with args and -o json, and decodes its JSON report.
func (l *lab) decode(cmd *exec.Cmd, args []string) (report.Report, int) {
	l.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		l.t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		l.t.Fatalf("portpath %s: exit %d, not JSON: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, err, stdout.String(), stderr.String())
	}
	return r, code
}

// symptomOf is the report's predicted symptom, or "connected" for an open verdict.
func symptomOf(r report.Report) report.Symptom {
	if r.Verdict == report.Open {
		return report.Connected
	}
	if r.Symptom == nil {
		return ""
	}
	return r.Symptom.Predicted
}

func TestLabKernelAgreesWithPrediction(t *testing.T) {
	needLab(t)
	const port = "8001"
	tests := []struct {
		name string
		// server sets up rules and listeners in the server (and container) namespaces
		server    func(l *lab)
		target    string
		from      string
		want      report.Symptom
		wantCause string
		wantLayer string
	}{
		{name: "open", target: "10.99.0.2:8001", want: report.Connected,
			server: func(l *lab) { l.listen(l.srv, "tcp4", "10.99.0.2:8001") }},
		{name: "iptables DROP", target: "10.99.0.2:8001", want: report.Timeout, wantCause: report.CauseHostFirewallDrop, wantLayer: "host.iptables",
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j DROP")
			}},
		{name: "iptables policy DROP", target: "10.99.0.2:8001", want: report.Timeout, wantCause: report.CauseHostFirewallDrop, wantLayer: "host.iptables",
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -P INPUT DROP")
			}},
		{name: "REJECT default", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j REJECT")
			}},
		{name: "REJECT tcp-reset", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j REJECT --reject-with tcp-reset")
			}},
		{name: "REJECT icmp-host-prohibited", target: "10.99.0.2:8001", want: report.NoRoute, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -N CHECK && iptables -A INPUT -p tcp -j CHECK && iptables -A CHECK -p tcp -m multiport --dports 7000:9000 -j REJECT --reject-with icmp-host-prohibited")
			}},
		{name: "REJECT icmp-admin-prohibited", target: "10.99.0.2:8001", want: report.NoRoute, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j REJECT --reject-with icmp-admin-prohibited")
			}},
		{name: "nothing listening", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseNotListening, wantLayer: "host.socket",
			server: func(l *lab) {}},
		{name: "bound to 127.0.0.1 only", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseListenLoopbackOnly, wantLayer: "host.socket",
			server: func(l *lab) { l.listen(l.srv, "tcp4", "127.0.0.1:8001") }},
		{name: "v6-only listener, IPv4 client", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseListenWrongFamily, wantLayer: "host.socket",
			server: func(l *lab) { l.listen(l.srv, "tcp6", "[::]:8001") }},
		{name: "DROP before a loopback-only listener", target: "10.99.0.2:8001", want: report.Timeout, wantCause: report.CauseHostFirewallDrop,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "127.0.0.1:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j DROP")
			}},
		{name: "nft accept in one base chain, iptables drop in another", target: "10.99.0.2:8001", want: report.Timeout, wantCause: report.CauseHostFirewallDrop, wantLayer: "host.iptables",
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, `nft add table inet early && nft add chain inet early in '{ type filter hook input priority -10; policy accept; }' && nft add rule inet early in tcp dport 8001 accept && iptables -A INPUT -p tcp --dport 8001 -j DROP`)
			}},
		{name: "two nft base chains: accept then reject", target: "10.99.0.2:8001", want: report.NoRoute, wantCause: report.CauseHostFirewallReject, wantLayer: "host.nftables",
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, `nft -f - <<'EOF'
table inet a {
	chain in {
		type filter hook input priority -10; policy accept;
		tcp dport 8001 accept
	}
}
table inet b {
	chain in {
		type filter hook input priority 10; policy accept;
		ct state established,related accept
		tcp dport 8001 reject with icmpx admin-prohibited
	}
}
EOF`)
			}},
		{name: "legacy REJECT and nft ACCEPT both apply", target: "10.99.0.2:8001", want: report.Refused, wantCause: report.CauseHostFirewallReject, wantLayer: "host.iptables",
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j ACCEPT && iptables-legacy -A INPUT -p tcp --dport 8001 -j REJECT --reject-with tcp-reset")
			}},
		{name: "DNAT to a container, FORWARD drops", target: "10.99.0.2:8080", want: report.Timeout, wantCause: report.CauseHostFirewallDrop, wantLayer: "host.iptables",
			server: func(l *lab) {
				l.listen(l.ctr, "tcp4", "10.98.0.2:80")
				l.sh(l.srv, `iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 10.98.0.2:80 &&
					iptables -A INPUT -p tcp --dport 8080 -j ACCEPT &&
					iptables -N DOCKER-USER && iptables -A FORWARD -j DOCKER-USER &&
					iptables -A DOCKER-USER -s 10.99.0.0/24 -j DROP`)
			}},
		{name: "DNAT to a container, FORWARD accepts", target: "10.99.0.2:8080", want: report.Connected,
			server: func(l *lab) {
				l.listen(l.ctr, "tcp4", "10.98.0.2:80")
				l.sh(l.srv, `iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 10.98.0.2:80 &&
					iptables -P INPUT DROP && iptables -P FORWARD DROP &&
					iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT &&
					iptables -A FORWARD -d 10.98.0.2/32 -p tcp --dport 80 -j ACCEPT`)
			}},
		{name: "REDIRECT: filter sees the translated port", target: "10.99.0.2:8082", want: report.Connected,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, `iptables -t nat -A PREROUTING -p tcp --dport 8082 -j REDIRECT --to-ports 8001 &&
					iptables -A INPUT -p tcp --dport 8082 -j REJECT && iptables -A INPUT -p tcp --dport 8001 -j ACCEPT`)
			}},
		{name: "IPv6 icmp6-adm-prohibited", target: "[fd99::2]:8001", from: "fd99::1/128", want: report.PermissionDenied, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "tcp", "[::]:8001")
				l.sh(l.srv, "ip6tables -A INPUT -p tcp --dport 8001 -j REJECT --reject-with icmp6-adm-prohibited")
			}},
		{name: "IPv6 client reaches a dual-stack listener that IPv4 rules drop", target: "[fd99::2]:8001", from: "fd99::1/128", want: report.Connected,
			server: func(l *lab) {
				l.listen(l.srv, "tcp", "[::]:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -j DROP")
			}},
		{name: "UDP answered", target: "udp://10.99.0.2:5353", want: report.Connected,
			server: func(l *lab) { l.listen(l.srv, "udp4", "0.0.0.0:5353") }},
		{name: "UDP REJECT", target: "udp://10.99.0.2:5353", want: report.Refused, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "udp4", "0.0.0.0:5353")
				l.sh(l.srv, "iptables -A INPUT -p udp --dport 5353 -j REJECT")
			}},
		{name: "UDP nothing bound", target: "udp://10.99.0.2:5353", want: report.Refused, wantCause: report.CauseNotListening,
			server: func(l *lab) {}},
		{name: "UDP icmp-host-prohibited", target: "udp://10.99.0.2:5353", want: report.NoRoute, wantCause: report.CauseHostFirewallReject,
			server: func(l *lab) {
				l.listen(l.srv, "udp4", "0.0.0.0:5353")
				l.sh(l.srv, "iptables -A INPUT -p udp --dport 5353 -j REJECT --reject-with icmp-host-prohibited")
			}},
		{name: "allowed only from another source", target: "10.99.0.2:8001", want: report.Timeout, wantCause: report.CauseHostFirewallDrop,
			server: func(l *lab) {
				l.listen(l.srv, "tcp4", "0.0.0.0:8001")
				l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 -s 203.0.113.0/24 -j ACCEPT && iptables -A INPUT -p tcp --dport 8001 -j DROP")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			tt.server(l)
			from := tt.from
			if from == "" {
				from = "10.99.0.1/32"
			}

			client, _ := l.portpath(l.cli, "check", tt.target, "--timeout", "1500ms")
			if client.Symptom == nil || client.Symptom.Observed != tt.want {
				t.Fatalf("client saw %+v; the lab is not what the row describes (want %s)", client.Symptom, tt.want)
			}

			server, code := l.portpath(l.srv, "check", tt.target, "--local", "--no-probe", "--from", from)
			if got := symptomOf(server); got != tt.want {
				t.Fatalf("predicted %q, the kernel gave %q\nsteps: %s", got, tt.want, stepsText(server))
			}
			wantCode := map[report.Symptom]int{report.Connected: exitOpen}[tt.want]
			if tt.want != report.Connected {
				wantCode = exitBlocked
			}
			if code != wantCode {
				t.Errorf("exit code %d; want %d", code, wantCode)
			}
			if tt.wantCause != "" && (server.Cause == nil || server.Cause.Code != tt.wantCause) {
				t.Errorf("cause %+v; want %s\nsteps: %s", server.Cause, tt.wantCause, stepsText(server))
			}
			if tt.wantLayer != "" && (server.Cause == nil || server.Cause.Step != tt.wantLayer) {
				t.Errorf("cause %+v; want it at layer %s", server.Cause, tt.wantLayer)
			}
			if server.Cause != nil && strings.HasPrefix(server.Cause.Code, "HOST_FIREWALL") {
				for _, s := range server.Steps {
					if s.Layer == server.Cause.Step && (s.Rule == nil || len(s.Fix) == 0) {
						t.Errorf("blocking step %s has no deciding rule or no fix: %+v", s.Layer, s)
					}
				}
			}
		})
	}
}

// TestLabSourceSet checks that the step names the part of the source set that gets through.
func TestLabSourceSet(t *testing.T) {
	needLab(t)
	l := newLab(t)
	l.listen(l.srv, "tcp4", "0.0.0.0:8001")
	l.sh(l.srv, "iptables -A INPUT -p tcp --dport 8001 ! -s 10.99.0.0/24 -j DROP")
	r, code := l.portpath(l.srv, "check", "10.99.0.2:8001", "--local", "--no-probe")
	if r.Verdict != report.Open || code != exitOpen {
		t.Fatalf("verdict %s (exit %d); want open for part of the internet\n%s", r.Verdict, code, stepsText(r))
	}
	for _, s := range r.Steps {
		if s.Layer == "host.iptables" {
			if len(s.AllowedFrom) != 1 || s.AllowedFrom[0] != "10.99.0.0/24" {
				t.Errorf("allowed_from = %v; want [10.99.0.0/24]", s.AllowedFrom)
			}
			return
		}
	}
	t.Errorf("no host.iptables step\n%s", stepsText(r))
}

// TestLabNotRoot runs the server view as an unprivileged user: the firewall is unknown, never open.
func TestLabNotRoot(t *testing.T) {
	needLab(t)
	l := newLab(t)
	l.listen(l.srv, "tcp4", "0.0.0.0:8001")
	dir, err := os.MkdirTemp("", "portpath-nobody-") // t.TempDir's parents are closed to other users
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "portpath")
	l.run("cp", portpathBin, bin)
	l.run("chmod", "0755", dir, bin)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", l.srv, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "check", "10.99.0.2:8001", "--local", "--no-probe", "-o", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+dir)
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInconclusive {
		t.Fatalf("exit %v; want %d (inconclusive)\n%s%s", err, exitInconclusive, stdout.String(), stderr.String())
	}
	var r report.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Steps {
		if s.Layer == "host.iptables" || s.Layer == "host.nftables" {
			if s.Decision != report.Unknown || !strings.Contains(s.Detail, "root") {
				t.Errorf("firewall step as non-root: %+v; want unknown naming root", s)
			}
			return
		}
	}
	t.Errorf("no firewall step\n%s", stepsText(r))
}

func stepsText(r report.Report) string {
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "\n  %s %s %s", s.Layer, s.Decision, s.Detail)
		if s.Rule != nil {
			fmt.Fprintf(&b, " [rule %s: %s]", s.Rule.ID, s.Rule.Text)
		}
	}
	return b.String()
}
