package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// hostReport runs `portpath host -o json` inside ns and decodes it.
func (l *lab) hostReport(ns string, args ...string) report.HostReport {
	l.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, portpathBin, "host", "-o", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("portpath host: %v\n%s", err, stderr.String())
	}
	var r report.HostReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		l.t.Fatalf("portpath host: not JSON: %v\n%s", err, stdout.String())
	}
	return r
}

// TestLabHostListsExposure checks every row of `portpath host` on a server against what a
// real connect() from the client namespace gets.
func TestLabHostListsExposure(t *testing.T) {
	needLab(t)
	l := newLab(t)
	l.listen(l.srv, "tcp4", "0.0.0.0:8282")   // open
	l.listen(l.srv, "tcp4", "10.99.0.2:5432") // dropped
	l.listen(l.srv, "tcp4", "127.0.0.1:6379") // this host only
	l.listen(l.srv, "tcp", "[::]:9000")       // dual stack: rejected for IPv4 clients
	l.listen(l.srv, "tcp4", "0.0.0.0:7000")   // allowed only from another network
	l.sh(l.srv, `iptables -A INPUT -p tcp --dport 5432 -j DROP &&
		iptables -A INPUT -p tcp --dport 9000 -j REJECT --reject-with tcp-reset &&
		iptables -A INPUT -p tcp --dport 7000 -s 203.0.113.0/24 -j ACCEPT &&
		iptables -A INPUT -p tcp --dport 7000 -j DROP`)

	r := l.hostReport(l.srv, "--from", "10.99.0.1")
	row := func(port int, addr string) *report.Exposure {
		for i := range r.Ports {
			if e := &r.Ports[i]; e.Port == port && e.Proto == "tcp" && (addr == "" || e.Address == addr) {
				return e
			}
		}
		t.Fatalf("no row for tcp/%d at %q in %+v", port, addr, r.Ports)
		return nil
	}
	want := []struct {
		port  int
		addr  string
		reach report.Reach
		sym   report.Symptom
	}{
		{8282, "10.99.0.2", report.Reachable, ""},
		{5432, "10.99.0.2", report.NotReachable, report.Timeout},
		{6379, "", report.LocalOnly, ""},
		{9000, "10.99.0.2", report.NotReachable, report.Refused},
		{7000, "10.99.0.2", report.NotReachable, report.Timeout},
	}
	for _, w := range want {
		e := row(w.port, w.addr)
		if e.Reach != w.reach || e.Symptom != w.sym {
			t.Errorf("tcp/%d: reachable %q symptom %q; want %q %q (%+v)", w.port, e.Reach, e.Symptom, w.reach, w.sym, e)
		}
		if e.Reach == report.NotReachable && (e.Rule == nil || len(e.Fix) == 0 || e.Layer != "host.iptables") {
			t.Errorf("tcp/%d: a closed row names no rule or no fix: %+v", w.port, e)
		}
		if e.Reach == report.LocalOnly {
			continue
		}
		// the client's own view
		client, _ := l.portpath(l.cli, "check", e.Address+":"+itoa(w.port), "--timeout", "1500ms")
		seen := client.Symptom.Observed
		wantSeen := w.sym
		if w.reach == report.Reachable {
			wantSeen = report.Connected
		}
		if seen != wantSeen {
			t.Errorf("tcp/%d: the row says %q/%q, a real connect() from 10.99.0.1 saw %q", w.port, e.Reach, e.Symptom, seen)
		}
	}
	// from the whole internet, 7000 is open to part of it only
	r = l.hostReport(l.srv)
	if e := row(7000, "10.99.0.2"); e.Reach != report.ReachablePart || !strings.Contains(strings.Join(e.AllowedFrom, " "), "203.0.113.0/24") {
		t.Errorf("tcp/7000 from the internet: %+v; want only from 203.0.113.0/24", e)
	}
	// the IPv6 wildcard is evaluated at the IPv6 address as well
	if e := row(9000, "fd99::2"); e.Reach != report.Reachable {
		t.Errorf("tcp/9000 at fd99::2 (no ip6tables rule): %+v", e)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
