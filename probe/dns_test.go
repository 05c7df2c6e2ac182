package probe

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portpath/portpath/probe/dnstest"
	"github.com/portpath/portpath/report"
)

var testZone = dnstest.Zone{
	CNAME: map[string]string{
		"www.shop.test": "shop.test.cdn.cloudflare.net",
		"loop-a.test":   "loop-b.test",
		"loop-b.test":   "loop-a.test",
		"chain1.test":   "chain2.test",
		"chain2.test":   "www.shop.test",
		"dangling.test": "gone.test",
		"v6chain.test":  "v6only.test",
		"ali.shop.test": "ali.shop.test.w.kunlunsl.com",
	},
	Addrs: map[string][]string{
		"shop.test.cdn.cloudflare.net": {"104.16.1.1", "2606:4700::1"},
		"plain.test":                   {"192.0.2.10", "192.0.2.10", "192.0.2.11"},
		"v6only.test":                  {"2001:db8::1"},
		"empty.test":                   {},
		"ali.shop.test.w.kunlunsl.com": {"127.0.0.1"},
	},
	Rcode:  map[string]int{"broken.test": dns.RcodeServerFailure, "refused.test": dns.RcodeRefused},
	Silent: map[string]bool{"silent.test": true},
}

func TestDNSLookupAgainstRealServer(t *testing.T) {
	srv := dnstest.Start(t, testZone)
	forwarder := dnstest.Start(t, func() dnstest.Zone { z := testZone; z.NoChase = true; return z }())
	tests := []struct {
		name      string
		server    string
		host      string
		wantChain []string
		wantAddrs []netip.Addr
		wantKind  ResolveKind
		wantRcode string
	}{
		{"cname chain to a CDN", srv.Addr, "www.shop.test", []string{"shop.test.cdn.cloudflare.net"}, addrs("104.16.1.1", "2606:4700::1"), "", "NOERROR"},
		{"two-step chain", srv.Addr, "chain1.test", []string{"chain2.test", "www.shop.test", "shop.test.cdn.cloudflare.net"}, addrs("104.16.1.1", "2606:4700::1"), "", "NOERROR"},
		{"forwarder that does not chase", forwarder.Addr, "chain1.test", []string{"chain2.test", "www.shop.test", "shop.test.cdn.cloudflare.net"}, addrs("104.16.1.1", "2606:4700::1"), "", "NOERROR"},
		{"duplicates dropped", srv.Addr, "PLAIN.test.", nil, addrs("192.0.2.10", "192.0.2.11"), "", "NOERROR"},
		{"aaaa only through a cname", srv.Addr, "v6chain.test", []string{"v6only.test"}, addrs("2001:db8::1"), "", "NOERROR"},
		{"nxdomain", srv.Addr, "nothing.test", nil, nil, ResolveNotFound, "NXDOMAIN"},
		{"cname to nowhere", srv.Addr, "dangling.test", nil, nil, ResolveNotFound, "NXDOMAIN"},
		{"name without records", srv.Addr, "empty.test", nil, nil, ResolveNotFound, "NOERROR"},
		{"servfail", srv.Addr, "broken.test", nil, nil, ResolveServerFailure, "SERVFAIL"},
		{"refused", srv.Addr, "refused.test", nil, nil, ResolveServerFailure, "REFUSED"},
		{"cname loop", srv.Addr, "loop-a.test", nil, nil, ResolveNotFound, "NOERROR"},
		{"silent server", srv.Addr, "silent.test", nil, nil, ResolveTimeout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &DNSLookup{Servers: []string{tt.server}, Timeout: 300 * time.Millisecond}
			start := time.Now()
			ans, err := l.Lookup(context.Background(), tt.host)
			// a silent server never answers: ending at all shows the timeout ends it (the margin
			// is for a loaded machine; how fast it ends is not what is tested)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v with a 300ms timeout", took)
			}
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if tt.wantChain != nil && !slices.Equal(ans.Chain, tt.wantChain) {
					t.Errorf("chain %q, want %q", ans.Chain, tt.wantChain)
				}
				if !slices.Equal(ans.Addrs, tt.wantAddrs) {
					t.Errorf("addrs %v, want %v", ans.Addrs, tt.wantAddrs)
				}
				if ans.Via != DNSLibrary || ans.Server != tt.server || ans.Rcode != tt.wantRcode {
					t.Errorf("via %q server %q rcode %q", ans.Via, ans.Server, ans.Rcode)
				}
				return
			}
			var re *ResolveError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *ResolveError", err, err)
			}
			if re.Kind != tt.wantKind || re.Rcode != tt.wantRcode {
				t.Errorf("kind %q rcode %q, want %q %q (%v)", re.Kind, re.Rcode, tt.wantKind, tt.wantRcode, err)
			}
			if tt.wantRcode != "" && !strings.Contains(err.Error(), tt.wantRcode) {
				t.Errorf("error %q does not name %s", err, tt.wantRcode)
			}
		})
	}
}

func TestDNSLookupTriesTheNextServer(t *testing.T) {
	bad := dnstest.Start(t, dnstest.Zone{Rcode: map[string]int{"plain.test": dns.RcodeServerFailure}})
	good := dnstest.Start(t, testZone)
	l := &DNSLookup{Servers: []string{bad.Addr, good.Addr}, Timeout: time.Second}
	ans, err := l.Lookup(context.Background(), "plain.test")
	if err != nil || ans.Server != good.Addr {
		t.Fatalf("answer from %q, err %v; want %s", ans.Server, err, good.Addr)
	}
}

func TestDNSLookupResolvConfAndFallback(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	// resolv.conf cannot name a port (the servers are asked on 53), so the fallbacks are
	// tested with a configuration without servers and with a missing one.
	os.WriteFile(conf, []byte("# nothing\nsearch example\n"), 0o644)
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n192.0.2.99 pinned.test pinned\n::1 localhost ip6-localhost\n"), 0o644)
	sys := &fakeResolver{answers: map[string][]netip.Addr{"plain.test": addrs("198.51.100.7")}}
	tests := []struct {
		name, host, conf string
		wantVia          string
		wantAddrs        []netip.Addr
		wantFallback     bool
	}{
		{"hosts file first", "pinned.test", conf, "hosts file " + hosts, addrs("192.0.2.99"), false},
		{"hosts file both families", "localhost", conf, "hosts file " + hosts, addrs("127.0.0.1", "::1"), false},
		{"no nameserver", "plain.test", conf, SystemResolverName, addrs("198.51.100.7"), true},
		{"unreadable resolv.conf", "plain.test", filepath.Join(dir, "missing"), SystemResolverName, addrs("198.51.100.7"), true},
		{"single label", "plain", conf, SystemResolverName, nil, true},
		{"mdns name", "printer.local", conf, SystemResolverName, nil, true},
		{"under localhost", "app.localhost", conf, SystemResolverName, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &DNSLookup{ResolvConf: tt.conf, HostsFile: hosts, System: sys}
			ans, err := l.Lookup(context.Background(), tt.host)
			if tt.wantAddrs != nil && err != nil {
				t.Fatal(err)
			}
			if ans.Via != tt.wantVia || !slices.Equal(ans.Addrs, tt.wantAddrs) || (ans.Fallback != "") != tt.wantFallback {
				t.Errorf("via %q addrs %v fallback %q", ans.Via, ans.Addrs, ans.Fallback)
			}
		})
	}
}

func TestLookupHosts(t *testing.T) {
	table := "# comment\n10.0.0.1 a.test b.test # trailing\nbad-line\nnot-an-ip x.test\n::ffff:10.0.0.2 A.TEST.\n2001:db8::5 a.test\n"
	got := LookupHosts(strings.NewReader(table), "a.test")
	if want := addrs("10.0.0.1", "10.0.0.2", "2001:db8::5"); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := LookupHosts(strings.NewReader(table), "x.test"); got != nil {
		t.Errorf("x.test: %v", got)
	}
}

func FuzzLookupHosts(f *testing.F) {
	f.Add("127.0.0.1 localhost\n::1 localhost\n", "localhost")
	f.Add("#\n\x00 \xff", "")
	f.Fuzz(func(t *testing.T, table, name string) {
		for _, a := range LookupHosts(strings.NewReader(table), name) {
			if !a.IsValid() {
				t.Fatal("invalid address")
			}
		}
	})
}

func TestReadAnswer(t *testing.T) {
	m := new(dns.Msg)
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m.Answer = []dns.RR{rr("www.x.test. 60 IN CNAME edge.x.test."), rr("edge.x.test. 60 IN A 192.0.2.1"),
		rr("other.test. 60 IN A 192.0.2.9"), rr("EDGE.x.test. 60 IN A 192.0.2.2")}
	chain, got, end := ReadAnswer(m, "www.x.test.", dns.TypeA)
	if !slices.Equal(chain, []string{"edge.x.test"}) || !slices.Equal(got, addrs("192.0.2.1", "192.0.2.2")) || end != "edge.x.test." {
		t.Errorf("chain %q addrs %v end %q", chain, got, end)
	}
}

func TestDNSStep(t *testing.T) {
	ans := DNSAnswer{Host: "app.test", Addrs: addrs("192.0.2.10", "2001:db8::10"), Via: DNSLibrary, Server: "127.0.0.53:53", Rcode: "NOERROR",
		Chain: []string{"lb.app.test"}}
	tests := []struct {
		name      string
		ans       DNSAnswer
		err       error
		expected  []netip.Addr
		cdn       bool
		wantDec   report.Decision
		wantCause string
		wantIn    string
	}{
		{"answer", ans, nil, nil, false, report.Allow, "", "app.test → CNAME lb.app.test → 192.0.2.10, 2001:db8::10 (NOERROR) via github.com/miekg/dns"},
		{"expected matches its family", ans, nil, addrs("192.0.2.10"), false, report.Allow, "", "127.0.0.53:53"},
		{"wrong address", ans, nil, addrs("198.51.100.1"), false, report.Reject, report.CauseDNSWrongIP, "none of these"},
		{"one of two wrong", DNSAnswer{Host: "app.test", Addrs: addrs("192.0.2.10", "192.0.2.11")}, nil, addrs("192.0.2.10"), false, report.Reject, report.CauseDNSWrongIP, "192.0.2.11 is not"},
		{"other family only", DNSAnswer{Host: "app.test", Addrs: addrs("2001:db8::10")}, nil, addrs("192.0.2.10"), false, report.Reject, report.CauseDNSWrongIP, "none of these"},
		{"behind a CDN", ans, nil, addrs("198.51.100.1"), true, report.Allow, "", "192.0.2.10"},
		{"nxdomain", DNSAnswer{Host: "app.test", Via: DNSLibrary, Server: "127.0.0.53:53"}, &ResolveError{Host: "app.test", Kind: ResolveNotFound, Rcode: "NXDOMAIN", Err: errors.New("x")}, nil, false, report.Reject, report.CauseDNSFailure, "NXDOMAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := DNSStep(tt.ans, tt.err, tt.expected, tt.cdn)
			if st.Decision != tt.wantDec || st.Cause != tt.wantCause || !strings.Contains(st.Detail, tt.wantIn) {
				t.Errorf("got %s %s %q", st.Decision, st.Cause, st.Detail)
			}
			if st.Decision.Blocks() && len(st.Fix) == 0 {
				t.Error("no fix")
			}
			if tt.err != nil && st.Symptom != report.DNSFailure {
				t.Errorf("symptom %q", st.Symptom)
			}
		})
	}
}
