package aliyun

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/portpath/portpath/report"
)

func rng(s string) report.AddrRange { return report.RangeOf(netip.MustParsePrefix(s)) }

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		rules []ordRule
		want  map[string]verdict // address → verdict
	}{
		{"first match wins", []ordRule{
			{accept: false, srcs: []report.AddrRange{rng("10.0.0.0/8")}},
			{accept: true, srcs: []report.AddrRange{rng("0.0.0.0/0")}},
		}, map[string]verdict{"10.1.1.1": vDrop, "8.8.8.8": vAllow}},
		{"no match", []ordRule{{accept: true, srcs: []report.AddrRange{rng("10.0.0.0/8")}}},
			map[string]verdict{"8.8.8.8": vNoMatch}},
		{"uncertain accept then nothing: unknown", []ordRule{{accept: true, uncertain: "x", srcs: []report.AddrRange{rng("0.0.0.0/0")}}},
			map[string]verdict{"8.8.8.8": vUnknown}},
		{"uncertain accept then certain accept: allow", []ordRule{
			{accept: true, uncertain: "x", srcs: []report.AddrRange{rng("0.0.0.0/0")}},
			{accept: true, srcs: []report.AddrRange{rng("8.0.0.0/8")}},
		}, map[string]verdict{"8.8.8.8": vAllow, "9.9.9.9": vUnknown}},
		{"uncertain drop then no match: blocked", []ordRule{{accept: false, uncertain: "x", srcs: []report.AddrRange{rng("0.0.0.0/0")}}},
			map[string]verdict{"8.8.8.8": vNoMatch}},
		{"uncertain drop then accept: unknown", []ordRule{
			{accept: false, uncertain: "x", srcs: []report.AddrRange{rng("0.0.0.0/0")}},
			{accept: true, srcs: []report.AddrRange{rng("0.0.0.0/0")}},
		}, map[string]verdict{"8.8.8.8": vUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs := decide(rng("0.0.0.0/0"), tt.rules)
			for a, want := range tt.want {
				addr := netip.MustParseAddr(a)
				got := verdict(-1)
				for _, o := range outs {
					if o.rng.Contains(addr) {
						got = o.v
					}
				}
				if got != want {
					t.Errorf("%s: %d, want %d (%+v)", a, got, want, outs)
				}
			}
		})
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    report.PortRange
		wantErr bool
	}{
		{"22/22", report.PortRange{Lo: 22, Hi: 22}, false},
		{"1/65535", report.PortRange{Lo: 1, Hi: 65535}, false},
		{"-1/-1", report.AllPorts, false},
		{"3306", report.PortRange{Lo: 3306, Hi: 3306}, false},
		{"", report.PortRange{}, true},
		{"80/22", report.PortRange{}, true},
		{"a/b", report.PortRange{}, true},
		{"70000/70001", report.PortRange{}, true},
	}
	for _, tt := range tests {
		got, err := parsePorts(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parsePorts(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"22/22", "-1/-1", "3306", "1024/1055", "", "/", "65535/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePorts(s)
		if err == nil && p.Lo > p.Hi {
			t.Fatalf("%q gave a backwards range %v", s, p)
		}
	})
}

func TestEndpoints(t *testing.T) {
	p := New(Options{})
	for _, svc := range []string{"ecs", "vpc", "swas"} {
		scheme, host := p.endpointFor(svc, "cn-shanghai")
		if scheme != "HTTPS" || host != svc+".cn-shanghai.aliyuncs.com" {
			t.Errorf("%s: %s %s, want HTTPS %s.cn-shanghai.aliyuncs.com", svc, scheme, host, svc)
		}
	}
	p = New(Options{Endpoint: "http://127.0.0.1:8080"})
	if scheme, host := p.endpointFor("swas", "cn-shanghai"); scheme != "HTTP" || host != "127.0.0.1:8080" {
		t.Errorf("override: %s %s", scheme, host)
	}
}

// FuzzSecurityGroupRule feeds arbitrary rule fields (as the API could return them) through
// the evaluation: it must never panic, and an unreadable rule must never allow.
func FuzzSecurityGroupRule(f *testing.F) {
	f.Add("TCP", "8282/8282", "1", "Accept", "0.0.0.0/0", "")
	f.Add("all", "-1/-1", "100", "drop", "10.0.0.0/8", "1/65535")
	f.Add("udp", "", "x", "weird", "::/0", "80")
	f.Fuzz(func(t *testing.T, proto, ports, prio, policy, src, srcPorts string) {
		c := check{Region: "cn-hangzhou", Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParseAddr("47.96.1.10"), Proto: "tcp", Port: 8282}
		g := sgData{ID: "sg-f", Rules: []ecs.Permission{{SecurityGroupRuleId: "sgr-f", Direction: "ingress", IpProtocol: proto, PortRange: ports,
			Priority: prio, Policy: policy, SourceCidrIp: src, SourcePortRange: srcPorts}}}
		st := evalSecurityGroups(c, []string{"sg-f"}, []sgData{g}, sgContext{ENI: "eni-f", NicType: "intranet"})
		if st.Decision != report.Allow {
			return
		}
		_, perr := parsePorts(ports)
		known := strings.EqualFold(strings.TrimSpace(proto), "all") || perr == nil
		if !known || !portSetIsAll(srcPorts) || strings.EqualFold(strings.TrimSpace(policy), "drop") {
			t.Fatalf("allowed by an unreadable or non-allowing rule: %+v → %+v", g.Rules[0], st)
		}
	})
}
