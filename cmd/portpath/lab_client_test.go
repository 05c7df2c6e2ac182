package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/internal/netlab"
	"github.com/portpath/portpath/report"
)

// holdConnections opens n connections from ns to addr:port in a bash that keeps them
// (close=false) or closes them at once, leaving the client's TIME_WAIT (close=true); the
// shell stays until the test ends.
func (l *lab) holdConnections(ns, addr, port string, n int, close bool) {
	l.t.Helper()
	step := `exec {fd}<>/dev/tcp/` + addr + `/` + port
	settle := ""
	if close {
		step += `; exec {fd}>&-`
		// ready once every closed socket has reached TIME_WAIT: one still in FIN_WAIT1/2
		// is being moved into the kernel's time-wait table, and a connect() racing that move
		// can find its port free
		settle = `for j in $(seq 50); do [ -z "$(ss -Htn state fin-wait-1 state fin-wait-2 dst ` + addr + ` dport = :` + port + `)" ] && break; sleep 0.1; done; `
	}
	script := `set -e; for i in $(seq ` + strconv.Itoa(n) + `); do ` + step + `; done; ` + settle + `echo ready; exec sleep 600`
	cmd := exec.Command("ip", "netns", "exec", ns, "bash", "-c", script)
	if netlab.Ready(l.t, cmd) != "ready" {
		l.t.Fatalf("could not open %d connections to %s:%s from %s", n, addr, port, ns)
	}
}

// listenUntilEOF serves addr:port in ns and closes each connection only after the client
// has closed its side, so the client, which closes first, keeps the TIME_WAIT. It runs in
// python3, which ufw and firewalld bring along.
func (l *lab) listenUntilEOF(ns, addr string, port int) {
	l.t.Helper()
	script := `import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((%q, %d)); l.listen(64); print("ready", flush=True)
def serve(c):
    while c.recv(4096): pass
    c.close()
while True:
    c, _ = l.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`
	cmd := exec.Command("ip", "netns", "exec", ns, "python3", "-c", fmt.Sprintf(script, addr, port))
	if line := netlab.Ready(l.t, cmd); line != "ready" {
		l.t.Fatalf("listener %s:%d in %s: %q", addr, port, ns, line)
	}
}

func clientStep(r report.Report, layer string) *report.Step {
	for i, s := range r.Steps {
		if s.Layer == layer {
			return &r.Steps[i]
		}
	}
	return nil
}

// TestLabEphemeralPortsExhausted gives the client namespace a 10-port ip_local_port_range
// (sysctl is per network namespace), fills it with connections to one ip:port, and checks
// that portpath predicts what connect() then returns: address-not-available, at once.
func TestLabEphemeralPortsExhausted(t *testing.T) {
	needLab(t)
	l := newLab(t)
	l.sh(l.cli, `sysctl -qw net.ipv4.ip_local_port_range="40000 40009" && sysctl -qw net.ipv4.tcp_tw_reuse=2`)
	l.listen(l.srv, "tcp", "10.99.0.2:8001")
	l.listen(l.srv, "tcp", "10.99.0.2:8002")
	l.listenUntilEOF(l.srv, "10.99.0.2", 8003)

	t.Run("held open", func(t *testing.T) {
		l.holdConnections(l.cli, "10.99.0.2", "8001", 10, false)
		start := time.Now()
		r, code := l.portpath(l.cli, "check", "10.99.0.2:8001", "--provider", "none", "--timeout", "2s")
		if code != exitBlocked || r.Cause == nil || r.Cause.Code != report.CauseEphemeralExhausted || r.Cause.Step != "client.ports" {
			t.Fatalf("exit %d cause %+v\n%s", code, r.Cause, stepsText(r))
		}
		if r.Symptom.Predicted != report.AddressNotAvailable || r.Symptom.Observed != report.AddressNotAvailable {
			t.Errorf("symptom %+v, want address-not-available predicted and observed", r.Symptom)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("took %v: EADDRNOTAVAIL comes at once", took)
		}
		fix := strings.Join(clientStep(r, "client.ports").Fix, "\n")
		for _, w := range []string{`sudo sysctl -w net.ipv4.ip_local_port_range="10000 65535"`, "10 connections to this destination are still open"} {
			if !strings.Contains(fix, w) {
				t.Errorf("fix lacks %q:\n%s", w, fix)
			}
		}
		// The limit is per destination ip:port: another port of the same server still works.
		r, _ = l.portpath(l.cli, "check", "10.99.0.2:8002", "--provider", "none", "--timeout", "2s")
		if s := clientStep(r, "client.ports"); s == nil || s.Decision != report.Allow || r.Symptom == nil || r.Symptom.Observed != report.Connected {
			t.Errorf("port 8002: %+v symptom %+v\n%s", s, r.Symptom, stepsText(r))
		}
	})

	t.Run("time wait, then tcp_tw_reuse", func(t *testing.T) {
		l.holdConnections(l.cli, "10.99.0.2", "8003", 10, true)
		r, code := l.portpath(l.cli, "check", "10.99.0.2:8003", "--provider", "none", "--timeout", "2s")
		if code != exitBlocked || r.Cause == nil || r.Cause.Code != report.CauseEphemeralExhausted || r.Symptom.Observed != report.AddressNotAvailable {
			t.Fatalf("exit %d cause %+v symptom %+v\n%s", code, r.Cause, r.Symptom, stepsText(r))
		}
		fix := strings.Join(clientStep(r, "client.ports").Fix, "\n")
		if !strings.Contains(fix, "sudo sysctl -w net.ipv4.tcp_tw_reuse=1  # 10 of the ports are in TIME_WAIT") {
			t.Errorf("fix lacks tcp_tw_reuse:\n%s", fix)
		}
		// Apply the advice inside the namespace: the TIME_WAIT ports, now older than 1 s, are taken over.
		l.sh(l.cli, "sysctl -qw net.ipv4.tcp_tw_reuse=1")
		time.Sleep(1100 * time.Millisecond)
		r, _ = l.portpath(l.cli, "check", "10.99.0.2:8003", "--provider", "none", "--timeout", "2s")
		s := clientStep(r, "client.ports")
		if s == nil || s.Decision != report.Allow || !strings.Contains(s.Detail, "tcp_tw_reuse=1") || r.Symptom == nil || r.Symptom.Observed != report.Connected {
			t.Errorf("after tcp_tw_reuse=1: %+v symptom %+v\n%s", s, r.Symptom, stepsText(r))
		}
	})
}

// TestLabPrivateAddress asks for private addresses from a client namespace: one on a
// routed network, one with no route at all, and one only the default route would carry.
func TestLabPrivateAddress(t *testing.T) {
	needLab(t)
	l := newLab(t)
	l.listen(l.ctr, "tcp", "10.98.0.2:8001")

	r, _ := l.portpath(l.cli, "check", "10.98.0.2:8001", "--provider", "none", "--timeout", "1s")
	if s := clientStep(r, "client.route"); s == nil || s.Decision != report.Allow || !strings.Contains(s.Detail, "10.98.0.0/24 via 10.99.0.2") {
		t.Errorf("routed private address: %+v\n%s", s, stepsText(r))
	}

	r, code := l.portpath(l.cli, "check", "10.77.0.5:8001", "--provider", "none", "--timeout", "1s")
	if code != exitBlocked || r.Cause == nil || r.Cause.Code != report.CausePrivateAddress || r.Cause.Step != "client.route" {
		t.Fatalf("no route: exit %d cause %+v\n%s", code, r.Cause, stepsText(r))
	}
	if r.Symptom.Predicted != report.NoRoute || r.Symptom.Observed != report.NoRoute {
		t.Errorf("no route: symptom %+v", r.Symptom)
	}

	l.sh(l.cli, "ip route add default via 10.99.0.2")
	// The next hop routes on and drops private destinations, as the internet does.
	l.sh(l.srv, "ip route add 10.77.0.0/16 via 10.98.0.2 && iptables -A FORWARD -d 10.77.0.0/16 -j DROP")
	r, code = l.portpath(l.cli, "check", "10.77.0.5:8001", "--provider", "none", "--timeout", "1s")
	if code != exitBlocked || r.Cause == nil || r.Cause.Code != report.CausePrivateAddress || !strings.Contains(r.Cause.Message, "only the default route via 10.99.0.2") {
		t.Fatalf("default route only: exit %d cause %+v\n%s", code, r.Cause, stepsText(r))
	}
	if r.Symptom.Predicted != report.Timeout || r.Symptom.Observed != report.Timeout {
		t.Errorf("default route only: symptom %+v", r.Symptom)
	}
	if s := clientStep(r, "client.route"); s == nil || len(s.Fix) == 0 || !strings.Contains(s.Fix[0], "public address") {
		t.Errorf("fix: %+v", s)
	}
}
