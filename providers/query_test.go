package providers

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestIsPrivateAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"172.32.0.1", false}, {"192.168.9.9", true},
		{"100.64.0.1", true}, {"100.128.0.1", false}, {"169.254.169.254", true}, {"127.0.0.1", true},
		{"203.0.113.5", false}, {"8.8.8.8", false}, {"::ffff:10.0.0.1", true}, {"::ffff:1.1.1.1", false},
		{"fd00::1", true}, {"fe80::1", true}, {"::1", true}, {"2001:db8::1", false},
	}
	for _, tt := range tests {
		if got := IsPrivateAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("IsPrivateAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestIsPrivateSet(t *testing.T) {
	tests := []struct {
		set  string
		want bool
	}{
		{"10.0.0.0/8", true}, {"10.20.0.0/16", true}, {"192.168.1.7/32", true},
		{"0.0.0.0/0", false}, {"8.0.0.0/7", false}, {"172.0.0.0/8", false}, // wider than 172.16.0.0/12
		{"::/0", false}, {"fd12::/64", true}, {"2001:db8::/32", false},
	}
	for _, tt := range tests {
		if got := IsPrivateSet(netip.MustParsePrefix(tt.set)); got != tt.want {
			t.Errorf("IsPrivateSet(%s) = %v, want %v", tt.set, got, tt.want)
		}
	}
}

func TestPrivateRangesIsACopy(t *testing.T) {
	ps := PrivateRanges()
	ps[0] = netip.MustParsePrefix("8.8.8.0/24")
	if IsPrivateAddr(netip.MustParseAddr("8.8.8.8")) || !IsPrivateAddr(netip.MustParseAddr("10.0.0.1")) {
		t.Error("changing the returned slice changed what is private")
	}
}

func TestSourceFor(t *testing.T) {
	tests := []struct {
		name, source, dst string
		want              string // "" when a skipped step is expected
	}{
		{"same family", "198.51.100.0/24", "203.0.113.5", "198.51.100.0/24"},
		{"internet to IPv6", "0.0.0.0/0", "2001:db8::5", "::/0"},
		{"IPv6 internet to IPv4", "::/0", "203.0.113.5", "0.0.0.0/0"},
		{"IPv4 set to IPv6", "198.51.100.0/24", "2001:db8::5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{Source: netip.MustParsePrefix(tt.source)}
			got, skip := SourceFor(q, netip.MustParseAddr(tt.dst), "x.layer")
			if tt.want != "" {
				if skip != nil || got.String() != tt.want {
					t.Fatalf("SourceFor = %v, %+v; want %s and no step", got, skip, tt.want)
				}
				return
			}
			if skip == nil {
				t.Fatalf("SourceFor = %v and no step; want a skipped step", got)
			}
			want := report.Step{Layer: "x.layer", Decision: report.Skipped, Address: tt.dst,
				Detail: "the source set " + tt.source + " is of the other address family than " + tt.dst}
			if skip.Layer != want.Layer || skip.Decision != want.Decision || skip.Address != want.Address || skip.Detail != want.Detail {
				t.Errorf("step = %+v, want %+v", *skip, want)
			}
		})
	}
}

func TestSought(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8::5")}
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"by address", Query{Addrs: addrs}, "an instance owning 203.0.113.5, 2001:db8::5"},
		{"by ID wins", Query{Addrs: addrs, Instance: "i-1", Name: "web"}, "instance i-1"},
		{"by name", Query{Addrs: addrs, Name: "web"}, "an instance named web"},
		{"nothing", Query{}, "an instance owning "},
	}
	for _, tt := range tests {
		if got := tt.q.Sought(); got != tt.want {
			t.Errorf("%s: Sought() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckWhat(t *testing.T) {
	if got := (Check{Proto: "udp", Port: 53}).What(); got != "udp/53" {
		t.Errorf("What() = %q, want udp/53", got)
	}
}

func TestNotFound(t *testing.T) {
	byAddr := Query{Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}}
	named := Query{Instance: "i-1"}
	for _, c := range []struct {
		name     string
		q        Query
		errs     []string
		decision report.Decision
		cause    string
		detail   string
	}{
		{"by address: not in this account", byAddr, nil, report.Skipped, report.CauseInstanceNotFound, "no VM found for an instance owning 203.0.113.5 in r1, r2 (searched with these credentials): the target is not an instance"},
		{"named: missing blocks", named, nil, report.Drop, report.CauseInstanceNotFound, "no VM found for instance i-1 in r1, r2 (searched with these credentials)"},
		{"a search failed: unknown, never not found", named, []string{"r2: throttled"}, report.Unknown, "", "but some searches failed: r2: throttled"},
	} {
		st := NotFound("x.instance", "VM", c.q, "r1, r2", c.errs)
		if st.Layer != "x.instance" || st.Decision != c.decision || st.Cause != c.cause || !strings.Contains(st.Detail, c.detail) {
			t.Errorf("%s: %+v", c.name, st)
		}
		if (st.Decision == report.Drop) != (st.Symptom == report.Timeout) {
			t.Errorf("%s: symptom %q", c.name, st.Symptom)
		}
	}
}
