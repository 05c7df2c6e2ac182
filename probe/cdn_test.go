package probe

import (
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestKnownCDNsParse(t *testing.T) {
	d, err := ParseCDNData(cdnFile, "cdndata/cdn.json")
	if err != nil {
		t.Fatal(err)
	}
	if d.Date == "" || len(d.CDNs) < 7 {
		t.Fatalf("date %q, %d CDNs", d.Date, len(d.CDNs))
	}
	for _, c := range d.CDNs {
		if len(c.Source) == 0 || len(c.Domains) == 0 || c.Fix == "" {
			t.Errorf("%s: needs sources, domains and a fix", c.Name)
		}
	}
	// DESIGN.md's list of the ports Cloudflare proxies.
	cf := d.CDNs[0]
	if cf.Name != "Cloudflare" || intList(cf.HTTPPorts) != "80, 8080, 8880, 2052, 2082, 2086, 2095" || intList(cf.HTTPSPorts) != "443, 2053, 2083, 2087, 2096, 8443" {
		t.Errorf("Cloudflare ports: %v %v", cf.HTTPPorts, cf.HTTPSPorts)
	}
}

func TestCDNMatch(t *testing.T) {
	d := KnownCDNs()
	tests := []struct {
		name    string
		chain   []string
		addrs   []string
		wantCDN string
		wantBy  string
	}{
		{"cloudflare cname", []string{"www.example.com.cdn.cloudflare.net"}, nil, "Cloudflare", "CNAME www.example.com.cdn.cloudflare.net"},
		{"cloudflare range v4", nil, []string{"198.51.100.1", "104.18.32.7"}, "Cloudflare", "104.18.32.7 in 104.16.0.0/13"},
		{"cloudflare range v6", nil, []string{"2606:4700:3030::6815:1"}, "Cloudflare", "2606:4700::/32"},
		{"cloudfront", []string{"d111111abcdef8.cloudfront.net."}, nil, "Amazon CloudFront", "CNAME"},
		{"cloudfront range", nil, []string{"13.224.5.6"}, "Amazon CloudFront", "13.224.0.0/14"},
		{"fastly", []string{"dualstack.n.sni.global.fastly.net"}, nil, "Fastly", "CNAME"},
		{"fastly range", nil, []string{"151.101.1.69"}, "Fastly", "151.101.0.0/16"},
		{"akamai", []string{"www.example.com.edgekey.net", "e1234.a.akamaiedge.net"}, nil, "Akamai", "edgekey.net"},
		{"alibaba kunlun", []string{"www.example.com.w.kunlunsl.com"}, nil, "Alibaba Cloud CDN/DCDN", "CNAME"},
		{"alibaba kunlun other", []string{"www.example.com.w.KUNLUNLE.com"}, nil, "Alibaba Cloud CDN/DCDN", "CNAME"},
		{"alibaba cdngslb", []string{"example.aliyundoc.com.w.cdngslb.com"}, nil, "Alibaba Cloud CDN/DCDN", "CNAME"},
		{"tencent cdn", []string{"www.example.com.cdn.dnsv1.com"}, nil, "Tencent Cloud CDN/ECDN", "CNAME"},
		{"tencent ecdn", []string{"www.example.com.dsa.dnsv1.com.cn"}, nil, "Tencent Cloud CDN/ECDN", "CNAME"},
		{"edgeone", []string{"www.example.com.eo.dnse3.com"}, nil, "Tencent Cloud EdgeOne", "CNAME"},
		{"not a cdn", []string{"lb.example.com", "kunlun.example.org", "cloudflare.net.example.com"}, []string{"192.0.2.1", "2001:db8::1"}, "", ""},
		{"suffix needs a label boundary", []string{"notcloudfront.net"}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := d.Match(tt.chain, addrs(tt.addrs...))
			if tt.wantCDN == "" {
				if ok {
					t.Fatalf("matched %s by %s", m.CDN.Name, m.By)
				}
				return
			}
			if !ok || m.CDN.Name != tt.wantCDN || !strings.Contains(m.By, tt.wantBy) {
				t.Fatalf("ok=%v %+v", ok, m)
			}
		})
	}
}

func TestCDNStep(t *testing.T) {
	d := KnownCDNs()
	cf := []string{"app.example.com.cdn.cloudflare.net"}
	edge := addrs("104.16.1.1")
	tests := []struct {
		name      string
		target    string
		chain     []string
		origin    []string
		wantDec   report.Decision
		wantCause string
		wantSym   report.Symptom
		wantIn    string
	}{
		{"no cdn", "app.example.com:8282", nil, nil, report.Allow, "", "", "no known CDN"},
		{"ws on an unproxied port", "ws://app.example.com:8282", cf, nil, report.Drop, report.CauseCDNPortUnsupported, report.Timeout, "HTTP only on 80, 8080, 8880, 2052, 2082, 2086, 2095, not port 8282"},
		{"wss on an http-only port", "wss://app.example.com:8080", cf, nil, report.Drop, report.CauseCDNPortUnsupported, report.Timeout, "HTTPS only on 443, 2053"},
		{"udp", "udp://app.example.com:443", cf, nil, report.Drop, report.CauseCDNPortUnsupported, report.Timeout, "not UDP"},
		{"raw tcp on a proxied port", "app.example.com:8443", cf, nil, report.Unknown, report.CauseCDNInPath, "", "cannot be seen"},
		{"proxied, origin known", "https://app.example.com", cf, []string{"203.0.113.10"}, report.Allow, report.CauseCDNInPath, "", "origin 203.0.113.10"},
		{"cdn with unknown ports", "app.example.com:9000", []string{"x.edgekey.net"}, nil, report.Unknown, report.CauseCDNInPath, "", "depends on the service's configuration"},
		{"origin without a cdn", "app.example.com:9000", nil, []string{"203.0.113.10"}, report.Allow, "", "", "--origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			a := addrs("192.0.2.1")
			if tt.chain != nil {
				a = edge
			}
			st := CDNStep(d, tgt, tt.chain, a, addrs(tt.origin...))
			if st.Layer != "cdn" || st.Decision != tt.wantDec || st.Cause != tt.wantCause || st.Symptom != tt.wantSym || !strings.Contains(st.Detail, tt.wantIn) {
				t.Errorf("got %s %s %q %q", st.Decision, st.Cause, st.Symptom, st.Detail)
			}
			if st.Cause == report.CauseCDNPortUnsupported && len(st.Fix) == 0 {
				t.Error("no fix")
			}
		})
	}
}

func FuzzParseCDNData(f *testing.F) {
	f.Add(string(cdnFile))
	f.Add(`{"date":"x","cdns":[{"name":"a","domains":["["],"ranges":["1.2.3.4/33"]}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCDNData([]byte(s), "fuzz")
		if err != nil {
			return
		}
		d.Match([]string{"a.b.c", ""}, addrs("192.0.2.1", "::1"))
	})
}
