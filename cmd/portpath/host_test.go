package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestHostFromFiles(t *testing.T) {
	evidence := []string{"host", "--proc-net", "testdata/server-net", "--iptables-save", "testdata/server-iptables.txt"}

	code, out, errOut := runCLI(t, append(evidence, "--address", "203.0.113.10", "--from", "198.51.100.7", "-o", "json")...)
	if code != exitOpen {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	var r report.HostReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if r.SchemaVersion != report.SchemaVersion || strings.Join(r.Addresses, ",") != "203.0.113.10" {
		t.Errorf("header: %+v", r)
	}
	got := map[string]report.Exposure{}
	for _, e := range r.Ports {
		got[e.Proto+"/"+itoa(e.Port)] = e
	}
	for key, want := range map[string]report.Reach{
		"tcp/8282": report.Reachable,    // allowed from 198.51.100.0/24
		"udp/5353": report.NotReachable, // INPUT policy DROP
		"tcp/8443": report.Undecided,    // [::] with IPV6_V6ONLY unknown in a copy of /proc/net
		"tcp/9000": report.LocalOnly,
	} {
		if got[key].Reach != want {
			t.Errorf("%s: %q (%s); want %q", key, got[key].Reach, got[key].Detail, want)
		}
	}
	if e := got["udp/5353"]; e.Symptom != report.Timeout || e.Rule == nil || e.Rule.Text != ":INPUT DROP" || len(e.Fix) == 0 {
		t.Errorf("closed row: %+v", e)
	}

	// from the whole internet 8282 is open to 198.51.100.0/24 only
	code, out, _ = runCLI(t, append(evidence, "--address", "203.0.113.10")...)
	if code != exitOpen || !strings.Contains(out, "only from 198.51.100.0/24") || !strings.Contains(out, "To open what is closed:") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}

	// without addresses, wildcard listeners are not checked, and say how to fix that
	code, out, _ = runCLI(t, evidence...)
	if code != exitOpen || !strings.Contains(out, "not checked") || !strings.Contains(out, "--address") || strings.Contains(out, " yes ") {
		t.Errorf("no addresses (exit %d):\n%s", code, out)
	}
}

func TestHostBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"host", "--iptables-save", "testdata/server-iptables.txt"},
		{"host", "--proc-net", "testdata/server-net", "--address", "not-an-ip"},
		{"host", "--proc-net", "testdata/server-net", "--iptables-save", "testdata/bad-iptables.txt"},
		{"host", "--proc-net", "testdata/server-net", "--iptables-save", "testdata/server-iptables.txt", "extra"},
	} {
		code, _, errOut := runCLI(t, args...)
		if code != exitUsage || !strings.HasPrefix(errOut, "portpath: ") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, code, errOut)
		}
	}
}
