package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// captureOpts runs the check command with the runF seam and returns the options it built.
func captureOpts(t *testing.T, env map[string]string, args ...string) (*checkOptions, error) {
	t.Helper()
	t.Setenv("HOME", t.TempDir()) // no user config file leaks in
	for k, v := range env {
		t.Setenv(k, v)
	}
	var got *checkOptions
	root := newRootCmd(func(_ context.Context, o *checkOptions) error { got = o; return nil })
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.ExecuteContext(t.Context())
	return got, err
}

func TestCheckSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("timeout: 7s\nfrom: 10.0.0.0/8\noutput: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantT    time.Duration
		wantFrom string
		wantFmt  report.Format
	}{
		{"defaults", nil, []string{"check", "h:1"}, 3 * time.Second, "0.0.0.0/0", report.FormatText},
		{"file", nil, []string{"check", "h:1", "--config", cfg}, 7 * time.Second, "10.0.0.0/8", report.FormatJSON},
		{"env beats file", map[string]string{"PORTPATH_TIMEOUT": "5s"}, []string{"check", "h:1", "--config", cfg}, 5 * time.Second, "10.0.0.0/8", report.FormatJSON},
		{"flag beats env", map[string]string{"PORTPATH_TIMEOUT": "5s", "PORTPATH_FROM": "192.0.2.1"}, []string{"check", "h:1", "--config", cfg, "--timeout", "2s", "-o", "text"}, 2 * time.Second, "192.0.2.1/32", report.FormatText},
		{"config from env", map[string]string{"PORTPATH_CONFIG": cfg}, []string{"check", "h:1"}, 7 * time.Second, "10.0.0.0/8", report.FormatJSON},
		{"dashed keys from env", map[string]string{"PORTPATH_NO_PROBE": "true"}, []string{"check", "h:1"}, 3 * time.Second, "0.0.0.0/0", report.FormatText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := captureOpts(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if o.Timeout != tt.wantT || o.From.String() != tt.wantFrom || o.Format != tt.wantFmt {
				t.Errorf("timeout=%v from=%v format=%v; want %v %v %v", o.Timeout, o.From, o.Format, tt.wantT, tt.wantFrom, tt.wantFmt)
			}
			if tt.name == "dashed keys from env" && !o.NoProbe {
				t.Error("PORTPATH_NO_PROBE=true did not set --no-probe")
			}
			if o.Color {
				t.Error("colour on a non-terminal")
			}
		})
	}
}

// runCLI runs the whole program as main does and returns the exit code and outputs.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badCfg, []byte("timeout: [\n"), 0o600)
	unknownKey := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownKey, []byte("timout: 3s\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string // words the one-line message must contain
	}{
		{"no target", []string{"check"}, "exactly one TARGET"},
		{"no port", []string{"check", "example.com"}, "example.com"},
		{"port 0", []string{"check", "example.com:0"}, "port"},
		{"port too big", []string{"check", "example.com:70000"}, "70000"},
		{"unknown scheme", []string{"check", "ftp://example.com:21"}, "ftp"},
		{"bad --from", []string{"check", "127.0.0.1:1", "--from", "nowhere"}, "--from"},
		{"bad --timeout", []string{"check", "127.0.0.1:1", "--timeout", "-1s"}, "--timeout"},
		{"bad --output", []string{"check", "127.0.0.1:1", "-o", "yaml"}, "yaml"},
		{"unknown flag", []string{"check", "127.0.0.1:1", "--frm", "x"}, "frm"},
		{"missing config", []string{"check", "127.0.0.1:1", "--config", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"malformed config", []string{"check", "127.0.0.1:1", "--config", badCfg}, "bad.yaml"},
		{"unknown config key", []string{"check", "127.0.0.1:1", "--config", unknownKey}, "timout"},
		{"missing dump", []string{"check", "127.0.0.1:1", "--no-probe", "--iptables-save", filepath.Join(dir, "nope.txt")}, "nope.txt"},
		{"malformed dump", []string{"check", "127.0.0.1:1", "--no-probe", "--iptables-save", "testdata/bad-iptables.txt"}, "bad-iptables.txt:3"},
		{"missing proc-net", []string{"check", "127.0.0.1:1", "--no-probe", "--proc-net", filepath.Join(dir, "nonet")}, "nonet"},
		{"malformed nft json", []string{"check", "127.0.0.1:1", "--no-probe", "--nft-json", "testdata/bad-iptables.txt"}, "bad-iptables.txt"},
		// the files are read while the name is resolved; a broken one wins over a failed lookup
		{"malformed dump, name not resolved", []string{"check", "app.test:80", "--dns-server", "127.0.0.1:1", "--timeout", "2s", "--iptables-save", "testdata/bad-iptables.txt"}, "bad-iptables.txt:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not name %q", stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 || strings.Contains(stderr, "goroutine") {
				t.Errorf("want one line, got:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("nothing may be printed on stdout for bad input, got %q", stdout)
			}
		})
	}
}

// TestOfflineEvidence analyses another server from its dumps: no probe, no root needed.
func TestOfflineEvidence(t *testing.T) {
	tests := []struct {
		name        string
		target      string
		from        string
		wantVerdict report.Verdict
		wantCode    int
		wantCause   string
		wantSymptom report.Symptom
	}{
		{"policy drop", "10.99.0.2:8282", "0.0.0.0/0", report.Open, exitOpen, "", ""}, // part of the internet (198.51.100.0/24) gets through
		{"policy drop for an outside source", "10.99.0.2:8282", "203.0.113.0/24", report.Blocked, exitBlocked, report.CauseHostFirewallDrop, report.Timeout},
		{"allowed source", "10.99.0.2:8282", "198.51.100.7", report.Open, exitOpen, "", ""},
		{"reject before a loopback listener", "10.99.0.2:9000", "0.0.0.0/0", report.Blocked, exitBlocked, report.CauseHostFirewallReject, report.Refused},
		{"allowed port nothing listens on", "10.99.0.2:22", "0.0.0.0/0", report.Blocked, exitBlocked, report.CauseNotListening, report.Refused},
		{"dual-stack listener", "10.99.0.2:8443", "0.0.0.0/0", report.Inconclusive, exitInconclusive, "", ""}, // v6only cannot be read from a copy of /proc/net
		{"udp listener, firewall drops", "udp://10.99.0.2:5353", "0.0.0.0/0", report.Blocked, exitBlocked, report.CauseHostFirewallDrop, report.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "check", tt.target, "--no-probe", "--from", tt.from,
				"--iptables-save", "testdata/server-iptables.txt", "--proc-net", "testdata/server-net", "-o", "json")
			if code != tt.wantCode {
				t.Fatalf("exit %d; want %d\n%s%s", code, tt.wantCode, stdout, stderr)
			}
			var r report.Report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, stdout)
			}
			if r.Verdict != tt.wantVerdict {
				t.Fatalf("verdict %s; want %s\n%s", r.Verdict, tt.wantVerdict, stepsText(r))
			}
			if tt.wantCause != "" {
				if r.Cause == nil || r.Cause.Code != tt.wantCause || r.Symptom.Predicted != tt.wantSymptom {
					t.Errorf("cause %+v symptom %+v; want %s / %s\n%s", r.Cause, r.Symptom, tt.wantCause, tt.wantSymptom, stepsText(r))
				}
			}
		})
	}
}

func TestTextOutputNamesRuleAndFix(t *testing.T) {
	code, stdout, _ := runCLI(t, "check", "10.99.0.2:8282", "--no-probe", "--from", "203.0.113.0/24",
		"--iptables-save", "testdata/server-iptables.txt", "--proc-net", "testdata/server-net")
	if code != exitBlocked {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	for _, want := range []string{"BLOCKED", "host.iptables", "HOST_FIREWALL_DROP", ":INPUT DROP", "fix: iptables", "--dport 8282", "client will see: timeout", "Not checked:", "not probed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("colour escapes on a non-terminal")
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "portpath ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "completion", "bash"); code != 0 || !strings.Contains(out, "portpath") {
		t.Errorf("completion bash: exit %d", code)
	}
	if code, out, _ := runCLI(t, "check", "--help"); code != 0 || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "--from") {
		t.Errorf("check --help must teach the exit codes and flags: %d\n%s", code, out)
	}
}

// TestTimeoutsOrdered: the probe must give up well before the host read does.
func TestTimeoutsOrdered(t *testing.T) {
	if probe.DefaultTimeout >= hostReadTimeout {
		t.Errorf("probe timeout %v must be shorter than the host read timeout %v", probe.DefaultTimeout, hostReadTimeout)
	}
}
