package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portpath/portpath/probe/dnstest"
	"github.com/portpath/portpath/report"
)

// loopbackListener accepts and closes connections on 127.0.0.1 until the test ends.
func loopbackListener(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

func stepWith(r report.Report, layer, cause string) *report.Step {
	for i, s := range r.Steps {
		if s.Layer == layer && s.Cause == cause {
			return &r.Steps[i]
		}
	}
	return nil
}

// TestCheckClientSideCauses runs whole checks against a real DNS server (miekg/dns on
// 127.0.0.1) serving CNAME chains to CDN names, real loopback listeners and real proxy
// settings, and asserts the cause, the step and the symptom of each client-side cause.
func TestCheckClientSideCauses(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"} {
		t.Setenv(k, "")
	}
	port := loopbackListener(t)
	p := strconv.Itoa(port)
	srv := dnstest.Start(t, dnstest.Zone{
		CNAME: map[string]string{
			"cdn.app.test":  "cdn.app.test.cdn.cloudflare.net",
			"edge.app.test": "edge.app.test.w.kunlunsl.com",
		},
		Addrs: map[string][]string{
			"app.test":                        {"127.0.0.1"},
			"two.app.test":                    {"127.0.0.1", "127.0.0.2"},
			"cdn.app.test.cdn.cloudflare.net": {"127.0.0.1"},
			"edge.app.test.w.kunlunsl.com":    {"192.0.2.80"},
			"fake.app.test":                   {"198.18.0.7"},
		},
		Rcode:  map[string]int{"broken.app.test": dns.RcodeServerFailure},
		Silent: map[string]bool{"silent.app.test": true},
	})
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantCode    int
		wantCause   string
		wantStep    string
		wantSymptom report.Symptom
		wantDetail  string
		check       func(t *testing.T, r report.Report)
	}{
		{name: "nxdomain", args: []string{"gone.app.test:" + p}, wantCode: exitBlocked,
			wantCause: report.CauseDNSFailure, wantStep: "dns", wantSymptom: report.DNSFailure, wantDetail: "NXDOMAIN"},
		{name: "servfail", args: []string{"broken.app.test:" + p}, wantCode: exitBlocked,
			wantCause: report.CauseDNSFailure, wantStep: "dns", wantSymptom: report.DNSFailure, wantDetail: "SERVFAIL"},
		{name: "silent server within the timeout", args: []string{"silent.app.test:" + p, "--timeout", "300ms"}, wantCode: exitBlocked,
			wantCause: report.CauseDNSFailure, wantStep: "dns", wantSymptom: report.DNSFailure, wantDetail: "no DNS server answered in time"},
		{name: "wrong address", args: []string{"app.test:" + p, "--expect-ip", "127.0.0.2"}, wantCode: exitBlocked,
			wantCause: report.CauseDNSWrongIP, wantStep: "dns", wantDetail: "none of these is the server's address (127.0.0.2)",
			check: func(t *testing.T, r report.Report) {
				if r.Symptom == nil || r.Symptom.Observed != report.Connected {
					t.Errorf("symptom %+v: the probe reached the other machine", r.Symptom)
				}
			}},
		{name: "answers disagree on openness", args: []string{"two.app.test:" + p},
			check: func(t *testing.T, r report.Report) {
				s := stepWith(r, "dns", report.CauseDNSWrongIP)
				if s == nil || s.Decision != report.Unknown || !strings.Contains(s.Detail, "127.0.0.1 connected, 127.0.0.2 (refused) did not") {
					t.Errorf("no disagreement step: %+v\n%s", s, stepsText(r))
				}
			}},
		{name: "cloudflare does not proxy the port", args: []string{"ws://cdn.app.test:" + p}, wantCode: exitBlocked,
			wantCause: report.CauseCDNPortUnsupported, wantStep: "cdn", wantSymptom: report.Timeout, wantDetail: "Cloudflare proxies HTTP only on 80, 8080",
			check: func(t *testing.T, r report.Report) {
				if d := stepWith(r, "dns", ""); d == nil || !strings.Contains(d.Detail, "CNAME cdn.app.test.cdn.cloudflare.net") {
					t.Errorf("dns step does not show the chain: %+v", d)
				}
			}},
		{name: "cdn in the path", args: []string{"http://edge.app.test:8080", "--no-probe"}, wantCode: exitInconclusive,
			wantCause: report.CauseCDNInPath, wantStep: "cdn", wantDetail: "Alibaba Cloud CDN/DCDN (CNAME edge.app.test.w.kunlunsl.com)"},
		{name: "cdn with the origin known", args: []string{"http://edge.app.test:8282", "--no-probe", "--origin", "10.99.0.2",
			"--iptables-save", "testdata/server-iptables.txt", "--proc-net", "testdata/server-net"}, wantCode: exitOpen,
			check: func(t *testing.T, r report.Report) {
				c := stepWith(r, "cdn", report.CauseCDNInPath)
				if c == nil || c.Decision != report.Allow {
					t.Errorf("cdn step %+v", c)
				}
				n := 0
				for _, s := range r.Steps {
					if strings.HasPrefix(s.Layer, "host.") && s.Decision != report.Skipped {
						n++
						if s.Address != "" && s.Address != "10.99.0.2" {
							t.Errorf("%s evaluated for %s, not the origin", s.Layer, s.Address)
						}
					}
				}
				if n == 0 || r.Target.Addresses[0] != "192.0.2.80" {
					t.Errorf("%d host steps, addresses %v\n%s", n, r.Target.Addresses, stepsText(r))
				}
			}},
		{name: "fake-ip answer", args: []string{"fake.app.test:" + p, "--no-probe"}, wantCode: exitInconclusive,
			wantCause: report.CauseClientProxy, wantStep: "client.proxy", wantDetail: "198.18.0.7"},
		{name: "proxy that refuses", args: []string{"https://app.test:" + p}, env: map[string]string{"HTTPS_PROXY": "http://127.0.0.1:" + strconv.Itoa(closedPort(t))},
			wantCode: exitBlocked, wantCause: report.CauseClientProxy, wantStep: "client.proxy", wantSymptom: report.Refused, wantDetail: "cannot be reached (refused)"},
		{name: "proxy excluded by NO_PROXY", args: []string{"app.test:" + p}, env: map[string]string{"ALL_PROXY": "socks5://127.0.0.1:1", "NO_PROXY": "app.test"},
			check: func(t *testing.T, r report.Report) {
				if s := stepWith(r, "client.proxy", ""); s == nil || s.Decision != report.Allow {
					t.Errorf("client.proxy %+v", s)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			start := time.Now()
			args := append([]string{"check"}, tt.args...)
			args = append(args, "--dns-server", srv.Addr, "--provider", "none", "-o", "json")
			code, stdout, stderr := runCLI(t, args...)
			took := time.Since(start)
			var r report.Report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("exit %d, not JSON: %v\n%s%s", code, err, stdout, stderr)
			}
			if tt.wantCause != "" {
				if code != tt.wantCode {
					t.Errorf("exit %d, want %d", code, tt.wantCode)
				}
				if r.Cause == nil || r.Cause.Code != tt.wantCause || r.Cause.Step != tt.wantStep || !strings.Contains(r.Cause.Message, tt.wantDetail) {
					t.Fatalf("cause %+v; want %s at %s with %q\n%s", r.Cause, tt.wantCause, tt.wantStep, tt.wantDetail, stepsText(r))
				}
				if tt.wantSymptom != "" && (r.Symptom == nil || r.Symptom.Predicted != tt.wantSymptom) {
					t.Errorf("symptom %+v, want predicted %s", r.Symptom, tt.wantSymptom)
				}
			}
			if tt.name == "silent server within the timeout" && took > 2*time.Second {
				t.Errorf("took %v with --timeout 300ms", took)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestClientFlagsRejectBadAddresses(t *testing.T) {
	for _, args := range [][]string{
		{"check", "app.test:80", "--expect-ip", "not-an-ip"},
		{"check", "app.test:80", "--origin", "10.0.0.300"},
		{"check", "app.test:80", "--dns-server", ":53"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, args[2]) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestFinishClientProviderAddresses: a provider that found the instance (by --instance or
// --name) at other addresses than the DNS answers makes the answer DNS_WRONG_IP.
func TestFinishClientProviderAddresses(t *testing.T) {
	answers := []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	tests := []struct {
		name      string
		cloud     []report.Step
		expect    []netip.Addr
		wantWrong bool
	}{
		{"found elsewhere", []report.Step{{Layer: "aws.route", Decision: report.Allow, Address: "172.31.5.9"}, {Layer: "aws.security-group", Decision: report.Allow, Address: "203.0.113.10"}}, nil, true},
		{"found at the answer", []report.Step{{Layer: "aws.security-group", Decision: report.Allow, Address: "198.51.100.7"}, {Layer: "aws.route", Decision: report.Allow, Address: "172.31.5.9"}}, nil, false},
		{"skipped providers say nothing", []report.Step{{Layer: "aliyun.discovery", Decision: report.Skipped, Address: "203.0.113.10"}}, nil, false},
		{"--expect-ip already judged", []report.Step{{Layer: "aws.route", Decision: report.Allow, Address: "203.0.113.10"}}, answers, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := report.Report{Target: report.Target{Host: "app.example.com", Port: 443}}
			o := &checkOptions{Client: clientOptions{ExpectIP: tt.expect}}
			finishClient(&r, o, resolution{Addrs: answers}, nil, tt.cloud)
			s := stepWith(r, "dns", report.CauseDNSWrongIP)
			if (s != nil) != tt.wantWrong {
				t.Fatalf("DNS_WRONG_IP step %+v, want %v", s, tt.wantWrong)
			}
			if s != nil && (s.Decision != report.Reject || !strings.Contains(s.Detail, "found the instance at other addresses") || !strings.Contains(s.Fix[0], "203.0.113.10")) {
				t.Errorf("step %+v", s)
			}
		})
	}
}
