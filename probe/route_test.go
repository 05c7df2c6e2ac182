package probe

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func readRoutes(t *testing.T) []Route {
	t.Helper()
	var out []Route
	for _, f := range []struct {
		path  string
		parse func(r *os.File) ([]Route, error)
	}{
		{"testdata/proc/net/route", func(r *os.File) ([]Route, error) { return ParseRoutes(r, r.Name()) }},
		{"testdata/proc/net/ipv6_route", func(r *os.File) ([]Route, error) { return ParseRoutes6(r, r.Name()) }},
	} {
		fh, err := os.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := f.parse(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func TestParseRoutesRealDump(t *testing.T) {
	rs := readRoutes(t)
	var got []string
	for _, r := range rs {
		got = append(got, r.Dst.String()+" "+r.Gateway.String()+" "+r.Iface)
	}
	// The dump's IPv4 table: default via 192.0.2.1, 192.0.2.0/24 on eth0; IPv6: fd00::/64,
	// fe80::/64, default via fd00::1, and local /128s on eth0 (the loopback ones are left out).
	want := "0.0.0.0/0 192.0.2.1 eth0|192.0.2.0/24 invalid IP eth0|fd00::/64 invalid IP eth0|fe80::/64 invalid IP eth0|::/0 fd00::1 eth0|fd00::2/128 invalid IP eth0"
	if g := strings.Join(got, "|"); !strings.HasPrefix(g, want) {
		t.Errorf("routes\n %s\nwant prefix\n %s", g, want)
	}
}

func TestParseRoutesErrors(t *testing.T) {
	for _, in := range []string{
		"hdr\neth0 0000000 00000000 0001 0 0 0 00000000\n",
		"hdr\neth0 00000000 00000000 zz 0 0 0 00000000\n",
		"hdr\neth0 00000000\n",
	} {
		if _, err := ParseRoutes(strings.NewReader(in), "route"); err == nil || !strings.Contains(err.Error(), "route:2") {
			t.Errorf("%q: error %v, want one naming route:2", in, err)
		}
	}
	if _, err := ParseRoutes6(strings.NewReader("00 40 00 00 00 00 00 00 0001 eth0\n"), "ipv6_route"); err == nil || !strings.Contains(err.Error(), "ipv6_route:1") {
		t.Errorf("ipv6: error %v", err)
	}
}

func TestPrivateRouteStep(t *testing.T) {
	rs := readRoutes(t)
	vpn := append(append([]Route(nil), rs...), Route{Dst: mustPrefix("10.8.0.0/16"), Iface: "tun0"})
	onlyLAN := []Route{{Dst: mustPrefix("192.168.1.0/24"), Iface: "wlan0"}}
	tests := []struct {
		name      string
		routes    []Route
		addr      string
		wantDec   report.Decision
		wantCause string
		wantSym   report.Symptom
		wantIn    string
	}{
		{"rfc1918 behind the default route", rs, "10.0.3.15", report.Drop, report.CausePrivateAddress, report.Timeout, "only the default route via 192.0.2.1 on eth0"},
		{"cgnat", rs, "100.100.1.2", report.Drop, report.CausePrivateAddress, report.Timeout, "carrier-grade NAT"},
		{"ula behind the default route", rs, "fd12:3456::1", report.Drop, report.CausePrivateAddress, report.Timeout, "unique local"},
		{"ula on the local network", rs, "fd00::9", report.Allow, "", "", "fd00::/64 directly on eth0"},
		{"over a vpn", vpn, "10.8.1.1", report.Allow, "", "", "10.8.0.0/16 directly on tun0"},
		{"no route at all", onlyLAN, "172.16.5.5", report.Reject, report.CausePrivateAddress, report.NoRoute, "no route to it at all"},
		{"same lan", onlyLAN, "192.168.1.20", report.Allow, "", "", "192.168.1.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := addrs(tt.addr)[0]
			if !IsPrivateAddress(a) {
				t.Fatalf("%s is not private", a)
			}
			st := PrivateRouteStep(tt.routes, a)
			if st.Layer != "client.route" || st.Decision != tt.wantDec || st.Cause != tt.wantCause || st.Symptom != tt.wantSym || !strings.Contains(st.Detail, tt.wantIn) {
				t.Errorf("got %s %s %s %q", st.Decision, st.Cause, st.Symptom, st.Detail)
			}
			if st.Cause != "" && len(st.Fix) == 0 {
				t.Error("no fix")
			}
		})
	}
	for _, pub := range []string{"8.8.8.8", "127.0.0.1", "100.128.0.1", "2001:db8::1", "fe80::1"} {
		if IsPrivateAddress(addrs(pub)[0]) {
			t.Errorf("%s counted as private", pub)
		}
	}
}

func TestRouteStepsReadsProc(t *testing.T) {
	st := routeSteps(ClientOptions{ProcRoot: "testdata/proc"}, addrs("10.1.1.1", "192.0.2.7", "8.8.8.8"))
	if len(st) != 1 || st[0].Cause != report.CausePrivateAddress {
		t.Fatalf("steps %+v", st)
	}
	st = routeSteps(ClientOptions{ProcRoot: t.TempDir()}, addrs("10.1.1.1"))
	if len(st) != 1 || st[0].Decision != report.Unknown || !strings.Contains(st[0].Detail, "could not be read") {
		t.Fatalf("unreadable: %+v", st)
	}
}

func FuzzParseRoutes(f *testing.F) {
	b, _ := os.ReadFile("testdata/proc/net/route")
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		if rs, err := ParseRoutes(strings.NewReader(s), "route"); err == nil {
			BestRoute(rs, addrs("10.0.0.1")[0])
		}
	})
}

func FuzzParseRoutes6(f *testing.F) {
	b, _ := os.ReadFile("testdata/proc/net/ipv6_route")
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		if rs, err := ParseRoutes6(strings.NewReader(s), "ipv6_route"); err == nil {
			BestRoute(rs, addrs("fd00::1")[0])
		}
	})
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
