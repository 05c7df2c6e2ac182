package firewalld

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/report"
)

// steps evaluates the real firewalld ruleset dump with the configuration at path and
// returns the kernel step and the host.firewalld step.
func steps(t *testing.T, path, src string, proto string, port uint16) (kernel, fw report.Step) {
	t.Helper()
	h, err := firewall.Load(context.Background(), firewall.Options{NftJSON: "testdata/fwd-lab-ruleset.json",
		Frontends: []firewall.FrontendSource{{Layer: Layer, Path: path, Flag: "--firewalld-dir", Open: Open}}})
	if err != nil {
		t.Fatal(err)
	}
	ss := h.Steps(proto, netip.MustParseAddr("10.99.0.2"), port, netip.MustParsePrefix(src))
	var haveK, haveF bool
	for _, s := range ss {
		switch s.Layer {
		case "host.nftables":
			kernel, haveK = s, true
		case Layer:
			fw, haveF = s, true
		}
	}
	if !haveK || !haveF {
		t.Fatalf("no host.nftables or %s step: %+v", Layer, ss)
	}
	return kernel, fw
}

func TestStepNamesZoneAndEntry(t *testing.T) {
	const dropRule = `rule priority="-10" family="ipv4" source address="10.99.0.1" port port="8001" protocol="tcp" drop`
	const resetRule = `rule family="ipv4" source address="10.99.0.1" port port="8006" protocol="tcp" reject type="tcp-reset"`
	const rejectRule = `rule family="ipv4" source address="10.99.0.1" port port="8004" protocol="tcp" reject`
	tests := []struct {
		name     string
		src      string
		proto    string
		port     uint16
		decision report.Decision
		symptom  report.Symptom
		rule     string // the step's rule text
		fix      string // "" means no fix
	}{
		{"service in a source zone", "10.99.0.3/32", "tcp", 80, report.Allow, "", "zone lab (source 10.99.0.0/28): service http (80/tcp)", ""},
		{"port in a source zone", "10.99.0.3/32", "udp", 9001, report.Allow, "", "zone lab (source 10.99.0.0/28): port 9001/udp", ""},
		{"rich accept for part of the set", "10.99.0.0/24", "tcp", 8005, report.Allow, "", `zone lab (source 10.99.0.0/28): rich rule 'rule family="ipv4" source address="10.99.0.0/24" port port="8005" protocol="tcp" accept'`, ""},
		{"negative-priority rich drop", "10.99.0.1/32", "tcp", 8001, report.Drop, report.Timeout, "zone lab (source 10.99.0.0/28): rich rule '" + dropRule + "'",
			"firewall-cmd --permanent --zone=lab --remove-rich-rule='" + dropRule + "' && firewall-cmd --reload"},
		{"rich reject tcp-reset", "10.99.0.1/32", "tcp", 8006, report.Reject, report.Refused, "zone lab (source 10.99.0.0/28): rich rule '" + resetRule + "'",
			"firewall-cmd --permanent --zone=lab --remove-rich-rule='" + resetRule + "' && firewall-cmd --reload"},
		{"rich reject, then the DROP target", "10.99.0.1/32", "tcp", 8004, report.Reject, report.Refused, "zone lab (source 10.99.0.0/28): rich rule '" + rejectRule + "'",
			"firewall-cmd --permanent --zone=lab --remove-rich-rule='" + rejectRule + "' && firewall-cmd --permanent --zone=lab --add-rich-rule='rule family=\"ipv4\" source address=\"10.99.0.1\" port port=\"8004\" protocol=\"tcp\" accept' && firewall-cmd --reload"},
		{"zone target DROP", "10.99.0.3/32", "tcp", 8007, report.Drop, report.Timeout, "zone lab (source 10.99.0.0/28): target DROP → drop",
			"firewall-cmd --permanent --zone=lab --add-rich-rule='rule family=\"ipv4\" source address=\"10.99.0.3\" port port=\"8007\" protocol=\"tcp\" accept' && firewall-cmd --reload"},
		{"default zone, default target", "0.0.0.0/0", "tcp", 9999, report.Reject, report.NoRoute, "zone public (the default zone): target default → reject with icmpx admin-prohibited",
			"firewall-cmd --permanent --zone=public --add-port=9999/tcp && firewall-cmd --reload"},
		{"default zone from a client", "192.0.2.7/32", "udp", 9999, report.Reject, report.NoRoute, "zone public (the default zone): target default → reject with icmpx admin-prohibited",
			"firewall-cmd --permanent --zone=public --add-rich-rule='rule family=\"ipv4\" source address=\"192.0.2.7\" port port=\"9999\" protocol=\"udp\" accept' && firewall-cmd --reload"},
		{"service in the default zone", "0.0.0.0/0", "tcp", 22, report.Allow, "", "zone public (the default zone): service ssh (22/tcp)", ""},
		{"port in the default zone", "192.0.2.7/32", "tcp", 8003, report.Allow, "", "zone public (the default zone): port 8003/tcp", ""},
		{"forward-port", "192.0.2.7/32", "tcp", 8080, report.Allow, "", "zone public (the default zone): forward-port port=8080:proto=tcp:toport=8001:toaddr=", ""},
	}
	for _, path := range []string{"testdata/root", "testdata/list-all-zones.txt"} {
		for _, tt := range tests {
			t.Run(filepath.Base(path)+"/"+tt.name, func(t *testing.T) {
				k, st := steps(t, path, tt.src, tt.proto, tt.port)
				if st.Decision != tt.decision || st.Decision != k.Decision || st.Symptom != tt.symptom || st.Symptom != k.Symptom || st.Cause != k.Cause {
					t.Errorf("decision %s symptom %q cause %q; want %s %q, as the kernel step (%s %q %q)", st.Decision, st.Symptom, st.Cause, tt.decision, tt.symptom, k.Decision, k.Symptom, k.Cause)
				}
				if st.Rule == nil || st.Rule.Text != tt.rule {
					t.Errorf("rule %+v\nwant text %s", st.Rule, tt.rule)
				}
				text := strings.Join(st.Fix, " | ")
				if text != tt.fix {
					t.Errorf("fix\n got %s\nwant %s", text, tt.fix)
				}
				if strings.Contains(st.Detail, "reload") {
					t.Errorf("drift reported where the configuration and the kernel agree: %s", st.Detail)
				}
			})
		}
	}
}

func TestStepDrift(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		port     uint16
		decision report.Decision
		detail   string
		fix      string
	}{
		{"runtime-only port", "10.99.0.3/32", 8001, report.Allow,
			"open now, closed after the next reload (`firewall-cmd --reload`): the permanent configuration (testdata/drift/etc/firewalld) drops it from 10.99.0.3/32 (zone lab: target DROP → drop) — make it permanent: `firewall-cmd --runtime-to-permanent`, or only this: `firewall-cmd --permanent --zone=lab --add-rich-rule='rule family=\"ipv4\" source address=\"10.99.0.3\" port port=\"8001\" protocol=\"tcp\" accept'`", ""},
		{"runtime-only port, whole internet", "0.0.0.0/0", 8001, report.Allow,
			"drops it from 10.99.0.0/32, 10.99.0.2/31, 10.99.0.4/30, 10.99.0.8/29 (zone lab: target DROP → drop) — make it permanent: `firewall-cmd --runtime-to-permanent`, or only this: `firewall-cmd --permanent --zone=lab --add-port=8001/tcp`", ""},
		{"permanent-only port", "10.99.0.3/32", 8007, report.Drop,
			"closed now, open after the next reload (`firewall-cmd --reload`): the permanent configuration (testdata/drift/etc/firewalld) accepts it from 10.99.0.3/32 (zone lab: port 8007/tcp)", "firewall-cmd --reload"},
		{"no drift", "10.99.0.3/32", 80, report.Allow, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, st := steps(t, "testdata/drift", tt.src, "tcp", tt.port)
			if st.Decision != tt.decision || k.Decision != tt.decision {
				t.Fatalf("decision %s (kernel %s); want %s: the permanent configuration must not decide", st.Decision, k.Decision, tt.decision)
			}
			if tt.detail == "" && strings.Contains(st.Detail, "reload") || !strings.Contains(st.Detail, tt.detail) {
				t.Errorf("detail\n%s\nwant it to contain\n%s", st.Detail, tt.detail)
			}
			if got := strings.Join(st.Fix, " | "); got != tt.fix {
				t.Errorf("fix %q; want %q", got, tt.fix)
			}
		})
	}
}

func TestZoneFor(t *testing.T) {
	c := &Config{DefaultZone: "public", Zones: map[string]*Zone{
		"public":  {Name: "public"},
		"lab":     {Name: "lab", Sources: []string{"10.99.0.0/28"}},
		"aaa":     {Name: "aaa", Sources: []string{"10.99.0.0/24"}},
		"work":    {Name: "work", Interfaces: []string{"eth1"}},
		"dmz":     {Name: "dmz", Interfaces: []string{"ens+"}},
		"trusted": {Name: "trusted", Sources: []string{"fd99::/64"}},
	}}
	tests := []struct {
		src, iface, zone, by string
	}{
		{"10.99.0.3", "eth1", "aaa", "source 10.99.0.0/24"}, // by zone name, as firewalld orders its source dispatch
		{"10.99.1.1", "eth1", "work", "interface eth1"},
		{"10.99.1.1", "ens3", "dmz", "interface ens+"},
		{"192.0.2.1", "eth0", "public", "the default zone"},
		{"fd99::1", "eth0", "trusted", "source fd99::/64"},
	}
	for _, tt := range tests {
		z, by, why := c.ZoneFor(netip.MustParseAddr(tt.src), tt.iface)
		if z != tt.zone || by != tt.by {
			t.Errorf("%s on %s: zone %q by %q (%s); want %s by %s", tt.src, tt.iface, z, by, why, tt.zone, tt.by)
		}
	}
	if z, _, why := c.ZoneFor(netip.MustParseAddr("192.0.2.1"), ""); z != "" || !strings.Contains(why, "arrival interface is not known") {
		t.Errorf("unknown interface with interface bindings: zone %q (%s); want undecided", z, why)
	}
	c.Zones["0mac"] = &Zone{Name: "0mac", Sources: []string{"52:54:00:12:34:56"}}
	if z, _, why := c.ZoneFor(netip.MustParseAddr("10.99.0.3"), "eth1"); z != "" || !strings.Contains(why, "52:54:00:12:34:56") {
		t.Errorf("a MAC binding sorted first: zone %q (%s); want undecided", z, why)
	}
}

func TestEvaluateTargets(t *testing.T) {
	for _, tt := range []struct {
		target, backend, dst string
		want                 report.Symptom
	}{
		{TargetDefault, "nftables", "10.99.0.2", report.NoRoute},
		{TargetDefault, "nftables", "fd99::2", report.PermissionDenied},
		{TargetReject, "nftables", "fd99::2", report.PermissionDenied},
		{TargetDefault, "iptables", "10.99.0.2", report.Refused},
		{TargetDefault, "iptables", "fd99::2", report.Refused},
		{TargetReject, "iptables", "10.99.0.2", report.NoRoute},
		{TargetReject, "iptables", "fd99::2", report.PermissionDenied},
		{TargetDrop, "nftables", "10.99.0.2", report.Timeout},
		{TargetAccept, "nftables", "10.99.0.2", ""},
	} {
		c := &Config{DefaultZone: "z", Backend: tt.backend, Zones: map[string]*Zone{"z": {Name: "z", Target: tt.target}}}
		p := Packet{Src: netip.MustParseAddr("10.99.0.1"), Dst: netip.MustParseAddr(tt.dst), Proto: "tcp", Port: 8001}
		if p.Dst.Is6() {
			p.Src = netip.MustParseAddr("fd99::1")
		}
		d := c.Evaluate(p)
		if got := d.Symptom(p); got != tt.want || d.Entry.Kind != "target" {
			t.Errorf("target %s (%s) to %s: %s %q by %s; want %q", tt.target, tt.backend, tt.dst, d.Verdict, got, d.Entry.Text, tt.want)
		}
	}
}

func TestOpenPathErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "etc", "firewalld", "zones")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "lab.xml"), []byte("<zone>\n  <port port=\"80\" protocol=\"tcp\"/>\n  <rule><drop>\n</zone>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	xmlFile := filepath.Join(dir, "zone.xml")
	os.WriteFile(xmlFile, []byte("<zone/>"), 0o644)
	for _, tt := range []struct{ path, want string }{
		{dir, filepath.Join(bad, "lab.xml") + ":4"},
		{xmlFile, "is an XML file"},
		{filepath.Join(dir, "missing"), "no such file"},
		{"testdata/fwd-lab-ruleset.nft", "testdata/fwd-lab-ruleset.nft:2: a continuation line"},
	} {
		_, err := Open(context.Background(), frontend.Source{Path: tt.path})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want it to contain %q", tt.path, err, tt.want)
		}
	}
}

// fakeCmd answers firewall-cmd as a running (or stopped) daemon would.
func fakeCmd(state string, listing []byte) Runner {
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		switch args[0] {
		case "--state":
			if state != "running" {
				return []byte(state + "\n"), errors.New("exit status 252")
			}
			return []byte("running\n"), nil
		case "--list-all-zones":
			return listing, nil
		case "--get-default-zone":
			return []byte("public\n"), nil
		}
		return nil, errors.New("unexpected " + args[0])
	}
}

func TestOpenLive(t *testing.T) {
	listing, err := os.ReadFile("testdata/list-all-zones.txt")
	if err != nil {
		t.Fatal(err)
	}
	old := lookPath
	t.Cleanup(func() { lookPath = old })
	lookPath = func(string) (string, error) { return "/usr/bin/firewall-cmd", nil }
	oldBus := busSocket
	t.Cleanup(func() { busSocket = oldBus })
	busSocket = "testdata/list-all-zones.txt" // any file that exists stands for the bus
	live := frontend.Source{Live: true}
	f, err := open(context.Background(), live, fakeCmd("running", listing), "testdata/root/etc/firewalld", "testdata/root/usr/lib/firewalld")
	if err != nil {
		t.Fatal(err)
	}
	if f.Runtime() == nil || f.Runtime().DefaultZone != "public" || f.Permanent() == nil || f.Runtime().Services["http"] == nil {
		t.Fatalf("running: runtime %+v permanent %v", f.Runtime(), f.Permanent() != nil)
	}
	f, err = open(context.Background(), live, fakeCmd("not running", nil), "testdata/root/etc/firewalld", "testdata/root/usr/lib/firewalld")
	if err != nil {
		t.Fatal(err)
	}
	st := f.Step(frontend.Query{Proto: "tcp", Dst: netip.MustParseAddr("10.99.0.2"), Port: 9999, Source: netip.MustParsePrefix("192.0.2.1/32")}, frontend.Kernel{})
	if st.Decision != report.Skipped || !strings.Contains(st.Detail, "not running") || !strings.Contains(st.Detail, "zone public") {
		t.Errorf("not running: %+v", st)
	}
	busSocket = filepath.Join(t.TempDir(), "no-bus")
	f, err = open(context.Background(), live, func(context.Context, string, ...string) ([]byte, error) {
		t.Fatal("firewall-cmd asked although there is no system bus")
		return nil, nil
	}, "testdata/root/etc/firewalld", "testdata/root/usr/lib/firewalld")
	if err != nil || f.state != stateNotRunning {
		t.Errorf("no system bus: state %q, %v; want not running", f.state, err)
	}
	lookPath = func(string) (string, error) { return "", errors.New("not found") }
	if _, err := open(context.Background(), live, nil, filepath.Join(t.TempDir(), "etc"), filepath.Join(t.TempDir(), "lib")); !errors.Is(err, frontend.ErrAbsent) {
		t.Errorf("nothing installed: %v; want ErrAbsent", err)
	}
	if _, err := open(context.Background(), frontend.Source{}, nil, "", ""); !errors.Is(err, frontend.ErrAbsent) {
		t.Errorf("offline without a path: %v; want ErrAbsent", err)
	}
}

func TestStepWithoutKernel(t *testing.T) {
	f, err := Open(context.Background(), frontend.Source{Path: "testdata/root"})
	if err != nil {
		t.Fatal(err)
	}
	st := f.Step(frontend.Query{Proto: "tcp", Dst: netip.MustParseAddr("10.99.0.2"), Port: 22, Source: netip.MustParsePrefix("0.0.0.0/0")},
		frontend.Kernel{Step: report.Step{Decision: report.Skipped, Detail: "no firewall rules given"}})
	if st.Decision != report.Unknown {
		t.Errorf("without kernel rules: %s; want unknown, never open on the configuration's word", st.Decision)
	}
}

// TestStepOtherTables puts firewalld's real ruleset next to tables of other tools: a drop
// before firewalld's chains, a reject after firewalld accepted, and a host without firewalld.
func TestStepOtherTables(t *testing.T) {
	tests := []struct {
		name, nft string
		port      uint16
		decision  report.Decision
		detail    string
	}{
		{"blocked before firewalld", "testdata/firewalld-plus-others.json", 8010, report.Drop,
			"the connection is blocked before firewalld's chains run: tcp/8010 from 10.99.0.3/32 is dropped by rule inet early input handle"},
		{"blocked after firewalld accepted", "testdata/firewalld-plus-others.json", 8001, report.Reject,
			"zone lab (source 10.99.0.0/28): port 8001/tcp: tcp/8001 from 10.99.0.3/32 is accepted; the kernel blocks it outside firewalld: tcp/8001 from 10.99.0.3/32 is rejected (tcp reset) by rule inet late input"},
		{"no firewalld in the kernel", "testdata/no-firewalld.json", 8010, report.Skipped, "hold no firewalld chains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := firewall.Load(context.Background(), firewall.Options{NftJSON: tt.nft,
				Frontends: []firewall.FrontendSource{{Layer: Layer, Path: "testdata/root", Flag: "--firewalld-dir", Open: Open}}})
			if err != nil {
				t.Fatal(err)
			}
			ss := h.Steps("tcp", netip.MustParseAddr("10.99.0.2"), tt.port, netip.MustParsePrefix("10.99.0.3/32"))
			var k report.Step
			for _, s := range ss {
				if s.Layer == "host.nftables" {
					k = s
				}
			}
			for _, st := range ss {
				if st.Layer != Layer {
					continue
				}
				if st.Decision != tt.decision || !strings.Contains(st.Detail, tt.detail) {
					t.Errorf("%s: %s\nwant %s with %q", st.Decision, st.Detail, tt.decision, tt.detail)
				}
				if st.Decision.Blocks() && (st.Rule != k.Rule || strings.Join(st.Fix, "|") != strings.Join(k.Fix, "|") || len(k.Fix) == 0) {
					t.Errorf("firewalld does not decide: rule %+v fix %v; want the kernel's deciding rule %+v and fix %v", st.Rule, st.Fix, k.Rule, k.Fix)
				}
				if !st.Decision.Blocks() && (st.Rule != nil || len(st.Fix) > 0) {
					t.Errorf("skipped step with rule %+v fix %v", st.Rule, st.Fix)
				}
				return
			}
			t.Fatal("no host.firewalld step")
		})
	}
}
