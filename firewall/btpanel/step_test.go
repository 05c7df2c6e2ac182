package btpanel

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/report"
)

// steps evaluates the evidence through the firewall package, as portpath check does, and
// returns the panel's step and the kernel's.
func steps(t *testing.T, o firewall.Options, db, proto, dst string, port uint16, src string) (panel, kernel report.Step) {
	t.Helper()
	o.Frontends = []firewall.FrontendSource{{Layer: Layer, Path: db, Flag: "--btpanel-db", Open: Open}}
	h, err := firewall.Load(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range h.Steps(proto, netip.MustParseAddr(dst), port, netip.MustParsePrefix(src)) {
		switch {
		case s.Layer == Layer:
			panel, found = s, true
		case s.Layer == "host.iptables" || s.Layer == "host.nftables":
			kernel = s
		}
	}
	if !found {
		t.Fatal("no host.btpanel step")
	}
	return panel, kernel
}

func TestStepAgainstKernel(t *testing.T) {
	ufw := firewall.Options{IPTablesSave: filepath.Join("testdata", "ufw-iptables-save.txt")}
	plain := firewall.Options{IPTablesSave: filepath.Join("testdata", "iptables-save.txt")}
	fwd := firewall.Options{NftJSON: filepath.Join("testdata", "firewalld-nft.json")}
	const (
		ws       = "INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '8282', 'accept', '', 'workerman', '2024-06-01 12:00:00')"
		wsRange  = "INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp/udp', '8000-8300', 'accept', '', 'apps', '2024-06-01 12:00:00')"
		drop8006 = "INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '8006', 'drop', '', 'closed', '2024-06-03 09:00:00')"
		blockNet = "INSERT INTO firewall_ip (types, address, brief, addtime, chain) VALUES ('drop', '203.0.113.0/24', 'scanners', '2024-06-04 09:00:00', 'INPUT')"
	)
	tests := []struct {
		name        string
		o           firewall.Options
		rows        []string
		proto, dst  string
		port        uint16
		src         string
		want        report.Decision
		wantCause   string
		wantSymptom report.Symptom
		wantDetail  []string // words the detail must hold
		wantFix     []string // words some fix line must hold
		wantRule    string   // the rule ID quoted; "" for none
	}{
		{
			name: "ufw host, panel has no rule: the panel's cause", o: ufw,
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want: report.Drop, wantCause: report.CausePanelFirewall, wantSymptom: report.Timeout,
			wantDetail: []string{"the panel has no rule for 8282/tcp", "; the kernel drops it", ":INPUT DROP"},
			wantFix:    []string{"安全 → 系统防火墙 → 添加端口规则", "Security → Firewall → Add port rule", "port 8282, source all", "iptables -A INPUT -p tcp --dport 8282 -j ACCEPT"},
		},
		{
			name: "panel lists the port, the kernel drops it", o: ufw, rows: []string{ws},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want: report.Drop, wantCause: report.CauseHostFirewallDrop, wantSymptom: report.Timeout,
			wantDetail: []string{"the panel lists 8282/tcp as allowed from all", "workerman", "but the kernel drops it"},
			wantFix:    []string{"iptables", "re-apply the panel's rules"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "a panel range covers the port", o: ufw, rows: []string{wsRange},
			proto: "udp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want: report.Drop, wantCause: report.CauseHostFirewallDrop,
			wantDetail: []string{"the panel lists 8282/udp as allowed", "8000-8300/tcp+udp"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "agreement names the panel rule", o: ufw,
			proto: "tcp", dst: "10.99.0.2", port: 22, src: "0.0.0.0/0",
			want:       report.Allow,
			wantDetail: []string{"the panel allows 22/tcp from all", "SSH远程服务", "added 2024-05-01 10:00:00", "firewall_new#3"},
			wantRule:   "firewall_new#3",
		},
		{
			name: "the kernel allows what the panel does not list", o: ufw,
			proto: "tcp", dst: "10.99.0.2", port: 8001, src: "10.99.0.0/24",
			want:       report.Allow,
			wantDetail: []string{"the kernel allows 8001/tcp but the panel has no rule for it", "the next time the panel rewrites its rules it will close"},
			wantFix:    []string{"添加端口规则", "source 10.99.0.0/24"},
		},
		{
			name: "the panel's drop rule is what the kernel enforces", o: ufw, rows: []string{drop8006},
			proto: "tcp", dst: "10.99.0.2", port: 8006, src: "0.0.0.0/0",
			want: report.Drop, wantCause: report.CausePanelFirewall, wantSymptom: report.Timeout,
			wantDetail: []string{"the panel's rule firewall_new#5 drops 8006/tcp from all", "closed"},
			wantFix:    []string{"端口规则 (Security → Firewall → Port rules): delete the rule firewall_new#5", "ufw insert NUM allow proto tcp from any to any port 8006"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "reject keeps the kernel's symptom", o: plain,
			proto: "tcp", dst: "10.99.0.2", port: 9000, src: "0.0.0.0/0",
			want: report.Reject, wantCause: report.CausePanelFirewall, wantSymptom: report.Refused,
			wantDetail: []string{"the panel has no rule for 9000/tcp", "the kernel rejects it"},
			wantFix:    []string{"port 9000, source all", "iptables -I INPUT 6 -p tcp --dport 9000 -j ACCEPT"},
		},
		{
			name: "panel open to all, kernel only to one network", o: plain, rows: []string{ws},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want:       report.Allow,
			wantDetail: []string{"the panel allows 8282/tcp from 198.51.100.0/24", "the panel lists 8282/tcp as allowed from all, but the kernel lets only 198.51.100.0/24 through"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "outside that network the panel's allow is drift", o: plain, rows: []string{ws},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "203.0.113.0/24",
			want: report.Drop, wantCause: report.CauseHostFirewallDrop, wantSymptom: report.Timeout,
			wantDetail: []string{"the panel lists 8282/tcp as allowed from 203.0.113.0/24", "but the kernel drops it"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "the panel opens the port to another network", o: plain, rows: []string{"INSERT INTO firewall_new (protocol, ports, types, address) VALUES ('tcp', '8282', 'accept', '198.51.100.0/24')"},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "203.0.113.0/24",
			want: report.Drop, wantCause: report.CausePanelFirewall,
			wantDetail: []string{"the panel has no rule for 8282/tcp from 203.0.113.0/24 (only: firewall_new#5 allows 198.51.100.0/24)"},
			wantFix:    []string{"port 8282, source 203.0.113.0/24", "iptables -A INPUT -p tcp --dport 8282 -s 203.0.113.0/24 -j ACCEPT"},
		},
		{
			name: "the panel's IP rule blocks the source", o: plain, rows: []string{ws, blockNet},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "203.0.113.0/24",
			want: report.Drop, wantCause: report.CausePanelFirewall,
			wantDetail: []string{"the panel's rule firewall_ip#1 drops 8282/tcp from 203.0.113.0/24", "scanners"},
			wantFix:    []string{"IP规则 (Security → Firewall → IP rules): delete the rule firewall_ip#1"},
			wantRule:   "firewall_ip#1",
		},
		{
			name: "firewalld host: the fix is firewall-cmd", o: fwd,
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want: report.Reject, wantCause: report.CausePanelFirewall, wantSymptom: report.NoRoute,
			wantDetail: []string{"the firewall it drives (firewalld)"},
			wantFix:    []string{"firewall-cmd --permanent --zone=public --add-port=8282/tcp && firewall-cmd --reload"},
		},
		{
			name: "no kernel rules: unknown, never open", o: firewall.Options{}, rows: []string{ws},
			proto: "tcp", dst: "10.99.0.2", port: 8282, src: "0.0.0.0/0",
			want:       report.Unknown,
			wantDetail: []string{"the panel lists 8282/tcp as allowed", "the kernel's rules were not read"},
			wantRule:   "firewall_new#5",
		},
		{
			name: "the panel's own port", o: ufw,
			proto: "tcp", dst: "10.99.0.2", port: 8888, src: "0.0.0.0/0",
			want: report.Drop, wantCause: report.CauseHostFirewallDrop,
			wantDetail: []string{"the panel lists 8888/tcp as allowed", "8888 is the panel's own port"},
			wantRule:   "firewall_new#4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t, tt.rows...)
			writePort(t, filepath.Dir(filepath.Dir(db)), "8888")
			st, k := steps(t, tt.o, db, tt.proto, tt.dst, tt.port, tt.src)
			t.Logf("%s %s: %s\nfix: %q", st.Decision, st.Cause, st.Detail, st.Fix)
			if st.Decision != tt.want || st.Cause != tt.wantCause {
				t.Fatalf("decision %s cause %q; want %s %q\npanel:  %s\nkernel: %s %s", st.Decision, st.Cause, tt.want, tt.wantCause, st.Detail, k.Decision, k.Detail)
			}
			if tt.wantSymptom != "" && st.Symptom != tt.wantSymptom {
				t.Errorf("symptom %s; want %s", st.Symptom, tt.wantSymptom)
			}
			if st.Decision.Blocks() && st.Symptom != k.Symptom {
				t.Errorf("symptom %s differs from the kernel's %s", st.Symptom, k.Symptom)
			}
			if st.Decision == report.Allow && strings.Join(st.AllowedFrom, ",") != strings.Join(k.AllowedFrom, ",") {
				t.Errorf("allowed from %v; the kernel's %v", st.AllowedFrom, k.AllowedFrom)
			}
			for _, w := range tt.wantDetail {
				if !strings.Contains(st.Detail, w) {
					t.Errorf("detail lacks %q:\n%s", w, st.Detail)
				}
			}
			fixes := strings.Join(st.Fix, "\n")
			for _, w := range tt.wantFix {
				if !strings.Contains(fixes, w) {
					t.Errorf("fix lacks %q:\n%s", w, fixes)
				}
			}
			got := ""
			if st.Rule != nil {
				got = st.Rule.ID
				if st.Rule.Origin != db {
					t.Errorf("rule origin %q; want the database %s", st.Rule.Origin, db)
				}
			}
			if got != tt.wantRule {
				t.Errorf("rule %q; want %q", got, tt.wantRule)
			}
		})
	}
}

// TestBadDatabaseIsUnknownStep: a database that cannot be read makes the panel's step
// unknown with the reason, and leaves the kernel's step as it is.
func TestBadDatabaseIsUnknownStep(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "firewall.db")
	writeFile(t, notDB, "this is not a database")
	st, k := steps(t, firewall.Options{IPTablesSave: filepath.Join("testdata", "ufw-iptables-save.txt")}, notDB, "tcp", "10.99.0.2", 8282, "0.0.0.0/0")
	if st.Decision != report.Unknown || !strings.Contains(st.Detail, "firewall.db is not an SQLite database") {
		t.Errorf("step %s %q; want unknown naming the file", st.Decision, st.Detail)
	}
	if k.Decision != report.Drop {
		t.Errorf("kernel step %s; want drop", k.Decision)
	}
}

func TestStepFamilyMismatch(t *testing.T) {
	p := &Panel{cfg: &Config{}}
	st := p.Step(frontend.Query{Proto: "tcp", Dst: netip.MustParseAddr("2001:db8::1"), Port: 80, Source: netip.MustParsePrefix("10.0.0.0/8")}, frontend.Kernel{})
	if st.Decision != report.Skipped {
		t.Errorf("decision %s; want skipped", st.Decision)
	}
}

// TestNotes: what the panel holds but cannot be evaluated is said, never silently dropped.
func TestNotes(t *testing.T) {
	path := newDB(t,
		"INSERT INTO firewall_country (types, country, ports) VALUES ('drop', 'US', '8888')",
		"INSERT INTO firewall_country (types, country, ports) VALUES ('drop', 'BR', '3306')",
		"INSERT INTO firewall_new (protocol, ports, types) VALUES ('sctp', '8888', 'accept')",
	)
	writePort(t, filepath.Dir(filepath.Dir(path)), "8888")
	fe, err := Open(t.Context(), frontend.Source{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	q := frontend.Query{Proto: "tcp", Dst: netip.MustParseAddr("10.99.0.2"), Port: 8888, Source: netip.MustParsePrefix("0.0.0.0/0")}
	st := fe.Step(q, frontend.Kernel{Step: report.Step{Decision: report.Skipped, Detail: "no firewall rules given"}})
	for _, w := range []string{"8888 is the panel's own port", "drop US (firewall_country#1)", "cannot be evaluated", "1 panel rows could not be read", "firewall_new#5: unknown protocol"} {
		if !strings.Contains(st.Detail, w) {
			t.Errorf("detail lacks %q:\n%s", w, st.Detail)
		}
	}
	if strings.Contains(st.Detail, "BR") {
		t.Errorf("a country rule for another port is named:\n%s", st.Detail)
	}
	if st.Decision != report.Unknown {
		t.Errorf("decision %s; want unknown without the kernel's rules", st.Decision)
	}
}
