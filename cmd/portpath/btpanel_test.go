package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/portpath/portpath/report"
)

// panelDB makes a BT panel firewall.db with the panel's seed port rules and no rule for 8282.
func panelDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "firewall.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE TABLE `firewall_new` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `protocol` TEXT DEFAULT '', `ports` TEXT, `types` TEXT, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '', `domain` TEXT DEFAULT '', `sid` int DEFAULT 0, `chain` TEXT DEFAULT '')",
		"CREATE TABLE `firewall_ip` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `types` TEXT, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '', `sid` int DEFAULT 0, `domain` TEXT DEFAULT '', `chain` TEXT DEFAULT '')",
		"INSERT INTO firewall_new (protocol, ports, types, brief, addtime) VALUES ('tcp', '22', 'accept', 'SSH', '2024-05-01 10:00:00')",
		"INSERT INTO firewall_new (protocol, ports, types, brief, addtime) VALUES ('tcp', '8888', 'accept', 'panel', '2024-05-01 10:00:00')",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestBTPanelOffline(t *testing.T) {
	db := panelDB(t)
	code, stdout, stderr := runCLI(t, "check", "10.99.0.2:8282", "--no-probe", "--from", "203.0.113.0/24",
		"--iptables-save", "testdata/server-iptables.txt", "--btpanel-db", db, "-o", "json")
	if code != exitBlocked {
		t.Fatalf("exit %d; want %d\n%s%s", code, exitBlocked, stdout, stderr)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if r.Cause == nil || r.Cause.Code != report.CausePanelFirewall || r.Cause.Step != "host.btpanel" || r.Symptom.Predicted != report.Timeout {
		t.Fatalf("cause %+v symptom %+v; want PANEL_FIREWALL at host.btpanel, timeout\n%s", r.Cause, r.Symptom, stepsText(r))
	}
	var panel *report.Step
	for i := range r.Steps {
		if r.Steps[i].Layer == "host.btpanel" {
			panel = &r.Steps[i]
		}
	}
	if panel == nil || !strings.Contains(strings.Join(panel.Fix, "\n"), "添加端口规则") {
		t.Errorf("the panel step lacks the panel's fix: %+v", panel)
	}
}

func TestBTPanelBadPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.db")
	code, stdout, stderr := runCLI(t, "check", "10.99.0.2:8282", "--no-probe",
		"--iptables-save", "testdata/server-iptables.txt", "--btpanel-db", missing, "-o", "json")
	if code != exitUsage {
		t.Fatalf("exit %d; want %d\n%s%s", code, exitUsage, stdout, stderr)
	}
	if !strings.Contains(stderr, "--btpanel-db") || !strings.Contains(stderr, "nope.db") {
		t.Errorf("stderr %q does not name the option and the file", stderr)
	}
}

// TestBTPanelUnreadable: a file that is not the panel's database makes the panel's step
// unknown, so a port the kernel allows is inconclusive rather than open.
func TestBTPanelUnreadable(t *testing.T) {
	code, stdout, stderr := runCLI(t, "check", "10.99.0.2:8282", "--no-probe", "--from", "198.51.100.7",
		"--iptables-save", "testdata/server-iptables.txt", "--btpanel-db", "testdata/server-iptables.txt", "-o", "json")
	if code != exitInconclusive {
		t.Fatalf("exit %d; want %d\n%s%s", code, exitInconclusive, stdout, stderr)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	for _, s := range r.Steps {
		if s.Layer == "host.btpanel" && (s.Decision != report.Unknown || !strings.Contains(s.Detail, "server-iptables.txt is not an SQLite database")) {
			t.Errorf("panel step %s %q; want unknown naming the file", s.Decision, s.Detail)
		}
	}
}
