package firewalld

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readZone(t *testing.T, path string) *Zone {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := ParseZoneXML(f, strings.TrimSuffix(filepath.Base(path), ".xml"), path)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func readListing(t *testing.T, path string) *Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseListAllZones(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseZoneXMLLab(t *testing.T) {
	z := readZone(t, "testdata/root/etc/firewalld/zones/lab.xml")
	if z.Target != TargetDrop {
		t.Errorf("target %q; want DROP", z.Target)
	}
	if !slices.Equal(z.Sources, []string{"10.99.0.0/28"}) || !slices.Equal(z.Services, []string{"http"}) {
		t.Errorf("sources %v services %v", z.Sources, z.Services)
	}
	var ports []string
	for _, p := range z.Ports {
		ports = append(ports, p.String())
	}
	if !slices.Equal(ports, []string{"8001/tcp", "9001/udp", "8006/tcp"}) {
		t.Errorf("ports %v", ports)
	}
	if z.Ports[0].Line != 4 {
		t.Errorf("port 8001 at line %d; want 4", z.Ports[0].Line)
	}
	want := []struct {
		text string
		line int
	}{
		{`rule priority="-10" family="ipv4" source address="10.99.0.1" port port="8001" protocol="tcp" drop`, 7},
		{`rule family="ipv4" source address="10.99.0.1" port port="8006" protocol="tcp" reject type="tcp-reset"`, 12},
		{`rule family="ipv4" source address="10.99.0.1" port port="8004" protocol="tcp" reject`, 17},
		{`rule family="ipv4" source address="10.99.0.0/24" port port="8005" protocol="tcp" accept`, 22},
	}
	if len(z.RichRules) != len(want) {
		t.Fatalf("%d rich rules; want %d", len(z.RichRules), len(want))
	}
	for i, w := range want {
		if got := z.RichRules[i].String(); got != w.text || z.RichRules[i].Line != w.line {
			t.Errorf("rule %d = %q at line %d; want %q at line %d", i, got, z.RichRules[i].Line, w.text, w.line)
		}
	}
}

func TestParseListAllZones(t *testing.T) {
	c := readListing(t, "testdata/list-all-zones.txt")
	var names []string
	for n := range c.Zones {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"block", "dmz", "drop", "external", "home", "internal", "lab", "public", "trusted", "work"}; !slices.Equal(names, want) {
		t.Fatalf("zones %v; want %v", names, want)
	}
	if c.DefaultZone != "" {
		t.Errorf("default zone %q; the listing marks none", c.DefaultZone)
	}
	tests := []struct {
		zone, target, services, ports, sources string
		rich, fwd                              int
	}{
		{"lab", TargetDrop, "http", "8001/tcp 9001/udp 8006/tcp", "10.99.0.0/28", 4, 0},
		{"public", TargetDefault, "dhcpv6-client ssh", "8003/tcp", "", 0, 1},
		{"block", TargetReject, "", "", "", 0, 0},
		{"trusted", TargetAccept, "", "", "", 0, 0},
		{"home", TargetDefault, "dhcpv6-client mdns samba-client ssh", "", "", 0, 0},
	}
	for _, tt := range tests {
		z := c.Zones[tt.zone]
		var ports []string
		for _, p := range z.Ports {
			ports = append(ports, p.String())
		}
		if z.Target != tt.target || strings.Join(z.Services, " ") != tt.services || strings.Join(ports, " ") != tt.ports ||
			strings.Join(z.Sources, " ") != tt.sources || len(z.RichRules) != tt.rich || len(z.ForwardPorts) != tt.fwd {
			t.Errorf("zone %s: %+v", tt.zone, z)
		}
	}
	if fp := c.Zones["public"].ForwardPorts[0].String(); fp != "port=8080:proto=tcp:toport=8001:toaddr=" {
		t.Errorf("forward-port %q", fp)
	}
}

// TestListingAgreesWithXML reads the same configuration both ways: the zone files and the
// runtime listing firewall-cmd printed for them must give the same zones.
func TestListingAgreesWithXML(t *testing.T) {
	perm, err := LoadDir("testdata/root/etc/firewalld", "testdata/root/usr/lib/firewalld")
	if err != nil {
		t.Fatal(err)
	}
	rt := readListing(t, "testdata/list-all-zones.txt")
	if len(perm.Zones) != len(rt.Zones) {
		t.Fatalf("%d zones from XML, %d listed", len(perm.Zones), len(rt.Zones))
	}
	for name, lz := range rt.Zones {
		xz := perm.Zones[name]
		if xz == nil {
			t.Errorf("zone %s listed but not in the XML", name)
			continue
		}
		if xz.Target != lz.Target || !slices.Equal(sorted(xz.Services), lz.Services) || !slices.Equal(xz.Sources, lz.Sources) {
			t.Errorf("zone %s: XML target %s services %v sources %v; listed %s %v %v", name, xz.Target, xz.Services, xz.Sources, lz.Target, lz.Services, lz.Sources)
		}
		if !slices.Equal(portStrings(xz.Ports), portStrings(lz.Ports)) {
			t.Errorf("zone %s: ports %v vs %v", name, portStrings(xz.Ports), portStrings(lz.Ports))
		}
		if !slices.Equal(richStrings(xz.RichRules), richStrings(lz.RichRules)) {
			t.Errorf("zone %s: rich rules\n%v\nvs\n%v", name, richStrings(xz.RichRules), richStrings(lz.RichRules))
		}
		if len(xz.ForwardPorts) != len(lz.ForwardPorts) || len(xz.ForwardPorts) > 0 && xz.ForwardPorts[0].String() != lz.ForwardPorts[0].String() {
			t.Errorf("zone %s: forward-ports %v vs %v", name, xz.ForwardPorts, lz.ForwardPorts)
		}
	}
	if perm.DefaultZone != "public" || perm.Backend != "nftables" {
		t.Errorf("firewalld.conf: default %q backend %q", perm.DefaultZone, perm.Backend)
	}
	if perm.Zones["public"].File != "testdata/root/etc/firewalld/zones/public.xml" {
		t.Errorf("public comes from %s; /etc overrides /usr/lib", perm.Zones["public"].File)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func portStrings(ps []Port) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// richStrings sorts by priority, stably, as firewall-cmd lists them.
func richStrings(rs []*RichRule) []string {
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b *RichRule) int { return a.Priority - b.Priority })
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func TestRichRuleRoundTrip(t *testing.T) {
	for _, s := range []string{
		`rule family="ipv4" source address="10.99.0.1" port port="8282" protocol="tcp" reject`,
		`rule priority="-10" family="ipv4" source address="10.99.0.1" port port="8001" protocol="tcp" drop`,
		`rule family="ipv6" source NOT address="fd99::/64" service name="ssh" accept`,
		`rule family="ipv4" source address="10.0.0.0/8" destination address="10.99.0.2" port port="8000-8010" protocol="udp" log prefix="x" level="info" accept limit value="3/m"`,
		`rule family="ipv4" forward-port port="80" protocol="tcp" to-port="8080" to-addr="10.98.0.2"`,
		`rule source ipset="blocked" drop`,
		`rule family="ipv4" source address="192.0.2.1" reject type="icmp-host-prohibited"`,
		`rule protocol value="gre" accept`,
	} {
		r, err := ParseRichRule(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if got := r.String(); got != s {
			t.Errorf("round trip:\n got %s\nwant %s", got, s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	xmlTests := []struct{ name, in, want string }{
		{"unclosed", "<zone>\n  <port port=\"80\" protocol=\"tcp\">\n</zone>\n", "lab.xml:3"},
		{"bad target", `<zone target="MAYBE"/>`, `lab.xml:1: <zone>: unknown target "MAYBE"`},
		{"bad port", "<zone>\n<port port=\"80x\" protocol=\"tcp\"/>\n</zone>", `lab.xml:2: <port>: bad port "80x"`},
		{"bad protocol", "<zone>\n\n<port port=\"80\" protocol=\"icmp\"/></zone>", `lab.xml:3: <port>: bad protocol "icmp"`},
		{"bad source", "<zone><source address=\"10.0.0.0/33\"/></zone>", `lab.xml:1: <source>: bad CIDR`},
		{"two actions", "<zone>\n<rule><accept/><drop/></rule></zone>", `lab.xml:2: <rule>: two actions`},
		{"rule without address", "<zone><rule><source/><accept/></rule></zone>", "source without address"},
		{"not a zone", "<service/>", "not a zone file"},
		{"empty", "", "no XML element"},
		{"garbage", "\x00\x01", "lab.xml:1"},
	}
	for _, tt := range xmlTests {
		_, err := ParseZoneXML(strings.NewReader(tt.in), "lab", "lab.xml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want it to contain %q", tt.name, err, tt.want)
		}
	}
	listTests := []struct{ name, in, want string }{
		{"setting first", "  target: DROP\n", "zones.txt:1: a setting before any zone name"},
		{"bad port", "lab\n  target: DROP\n  ports: 80\n", "zones.txt:3: ports: port \"80\": want PORT/PROTOCOL"},
		{"bad rich rule", "lab\n  rich rules: \n\trule family=\"ipv5\" accept\n", "zones.txt:3: rich rule"},
		{"stray continuation", "lab\n  target: DROP\n\tfoo\n", "zones.txt:3: a continuation line"},
		{"bad target", "lab\n  target: SOMETIMES\n", "zones.txt:2: unknown target"},
		{"no zones", "\n\n", "no zone found"},
		{"bad source", "lab\n  sources: 10.0.0.300\n", "zones.txt:2: sources: bad address"},
	}
	for _, tt := range listTests {
		_, err := ParseListAllZones(strings.NewReader(tt.in), "zones.txt")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParseZoneXML(f *testing.F) {
	for _, p := range []string{"testdata/root/etc/firewalld/zones/lab.xml", "testdata/root/etc/firewalld/zones/public.xml", "testdata/root/usr/lib/firewalld/zones/block.xml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<zone><rule family="ipv4"><source address="10.0.0.1" invert="True"/><forward-port port="80" protocol="tcp" to-port="8080"/><accept><limit value="1/m"/></accept></rule></zone>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := ParseZoneXML(strings.NewReader(string(b)), "fuzz", "fuzz.xml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.xml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range z.RichRules {
			if _, err := ParseRichRule(r.String()); err != nil {
				t.Fatalf("rule %q read from XML does not parse back: %v", r, err)
			}
		}
		_, _ = ParseServiceXML(strings.NewReader(string(b)), "fuzz", "fuzz.xml")
	})
}

func FuzzParseListAllZones(f *testing.F) {
	b, err := os.ReadFile("testdata/list-all-zones.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("a (default, active)\n  forward-ports: \n\tport=1:proto=udp:toport=:toaddr=fd00::1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseListAllZones(strings.NewReader(string(b)), "fuzz.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, z := range c.Zones {
			for _, r := range z.RichRules {
				if _, err := ParseRichRule(r.String()); err != nil {
					t.Fatalf("rule %q does not parse back: %v", r, err)
				}
			}
		}
	})
}

// TestLoadServicesReadsOnlyWhatZonesName checks that only the named services and what they
// include are read, and that a name cannot reach outside the services directory.
func TestLoadServicesReadsOnlyWhatZonesName(t *testing.T) {
	lib := filepath.Join("testdata", "root", "usr", "lib", "firewalld")
	got, err := loadServices("", lib, []string{"samba-client", "ssh", "no-such-service", "../zones/public"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := "netbios-ns samba-client ssh"; strings.Join(names, " ") != want {
		t.Errorf("read %v; want %s (samba-client includes netbios-ns)", names, want)
	}
	zones := map[string]*Zone{"a": {Services: []string{"ssh", "http"}, RichRules: []*RichRule{{Element: "service", Value: "https"}, {Element: "port"}}}}
	if got := strings.Join(serviceNames(zones), " "); got != "http https ssh" {
		t.Errorf("serviceNames = %q", got)
	}
}
