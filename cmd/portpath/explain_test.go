package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// runExplain runs the program with stdin and decodes the JSON explanation.
func runExplain(t *testing.T, stdin string, args ...string) (int, explanation, string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"explain", "-o", "json", "--provider", "none", "--timeout", "1s"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	var e explanation
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &e); err != nil {
			t.Fatalf("explain output: %v\n%s", err, stdout.String())
		}
	}
	return code, e, stderr.String()
}

func recognisedIDs(e explanation) []string {
	var ids []string
	for _, r := range e.Recognised {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestExplainOnly(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		first  string
		target string
	}{
		{"chrome websocket 200", "", []string{"--no-run", "WebSocket connection to 'ws://example.com:8282/' failed: Error during WebSocket handshake: Unexpected response code: 200"}, exitOpen, "chrome-ws-code-200", "ws://example.com:8282/"},
		{"curl refused", "", []string{"--no-run", "curl: (7) Failed to connect to example.com port 8282 after 3 ms: Connection refused"}, exitOpen, "curl-refused", "example.com:8282"},
		{"chinese windows refused", "", []string{"--no-run", "由于目标计算机积极拒绝，无法连接。"}, exitOpen, "os-econnrefused", ""},
		{"chinese linux no route", "", []string{"--no-run", "connect: 没有到主机的路由"}, exitOpen, "os-ehostunreach", ""},
		{"unquoted words", "", []string{"--no-run", "connect:", "cannot", "assign", "requested", "address"}, exitOpen, "os-eaddrnotavail", ""},
		{"stdin dash", "Error: connect ETIMEDOUT 203.0.113.10:8282\n    at TCPConnectWrap.afterConnect", []string{"--no-run", "-"}, exitOpen, "node-timeout", "203.0.113.10:8282"},
		{"stdin without argument", "java.net.NoRouteToHostException: No route to host", []string{"--no-run"}, exitOpen, "java-no-route", ""},
		{"unrecognised", "", []string{"--no-run", "the printer is on fire"}, exitInconclusive, "", ""},
		{"no target, not run", "", []string{"connect: connection refused"}, exitOpen, "os-econnrefused", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, e, stderr := runExplain(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			ids := recognisedIDs(e)
			if tt.first == "" && len(ids) > 0 || tt.first != "" && (len(ids) == 0 || ids[0] != tt.first) {
				t.Errorf("recognised %v, want first %q", ids, tt.first)
			}
			if e.Target != tt.target || e.Report != nil {
				t.Errorf("target %q report %v; want %q and no check", e.Target, e.Report != nil, tt.target)
			}
			for _, r := range e.Recognised {
				if len(r.Causes) == 0 {
					t.Errorf("%s has no causes", r.ID)
				}
			}
		})
	}
}

func TestExplainUsage(t *testing.T) {
	code, _, stderr := runExplain(t, "  \n", "--no-run")
	if code != exitUsage || !strings.Contains(stderr, "stdin is empty") {
		t.Errorf("empty stdin: exit %d %q; want 2", code, stderr)
	}
}

// The text names a target: explain runs the check, and its exit code is the check's.
func TestExplainRunsCheck(t *testing.T) {
	plain, _, _, _, _ := appServers(t)
	msg := "WebSocket connection to 'ws://" + plain + "/' failed: Error during WebSocket handshake: Unexpected response code: 200"
	code, e, stderr := runExplain(t, "", msg)
	if code != exitBlocked {
		t.Fatalf("exit %d, want 3 (stderr %q)", code, stderr)
	}
	if e.Report == nil || e.Report.Cause == nil || e.Report.Cause.Code != report.CauseProtocolMismatch || e.Report.Cause.Step != "app.protocol" {
		t.Fatalf("report %+v, want PROTOCOL_MISMATCH at app.protocol", e.Report)
	}
	if ids := recognisedIDs(e); len(ids) == 0 || ids[0] != "chrome-ws-code-200" {
		t.Errorf("recognised %v", ids)
	}

	// curl's refusal against a closed loopback port.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	code, e, stderr = runExplain(t, "", "curl: (7) Failed to connect to 127.0.0.1 port "+strconv.Itoa(port)+" after 0 ms: Couldn't connect to server")
	if code != exitBlocked || e.Report == nil || e.Report.Symptom == nil || e.Report.Symptom.Observed != report.Refused {
		t.Fatalf("exit %d report %+v (stderr %q); want 3 with observed refused", code, e.Report, stderr)
	}

	// Text output: the explanation, then the report.
	var stdout bytes.Buffer
	code = run(t.Context(), []string{"explain", "--provider", "none", "--timeout", "1s", msg}, strings.NewReader(""), &stdout, &bytes.Buffer{})
	out := stdout.String()
	if code != exitBlocked || !strings.Contains(out, "Likely causes") || !strings.Contains(out, "websocket://0.0.0.0:") || !strings.Contains(out, "app.protocol") {
		t.Errorf("exit %d, text output:\n%s", code, out)
	}
}
