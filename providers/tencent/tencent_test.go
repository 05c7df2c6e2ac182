package tencent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

const region = "ap-guangzhou"

// world is the base account. ins-web has two security groups: sg-a (SSH from an office,
// a DROP of 8080, template rules) and sg-b (80,443 and an ACCEPT of 8080 that sg-a's DROP
// shadows); ins-acl sits behind an ACL that denies 8080 above an ACCEPT; ins-acl2 behind an
// ACL that drops every reply; ins-off is stopped. Lighthouse lhins-blog's firewall drops
// 22,88 above an ACCEPT of 88.
func world() map[string]*fRegion {
	allowAll := []fEntry{{Protocol: "ALL", Port: "ALL", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"}, {Protocol: "ALL", Port: "ALL", Ipv6CidrBlock: "::/0", Action: "ACCEPT"}}
	return map[string]*fRegion{
		region: {
			CVM: []fInstance{
				{ID: "ins-web", Name: "web", State: "RUNNING", Private: []string{"10.0.1.10"}, Public: []string{"203.0.113.10"}, IPv6: []string{"2001:db8::10"},
					VPC: "vpc-1", Subnet: "subnet-a", Groups: []string{"sg-a", "sg-b"}},
				{ID: "ins-off", Name: "off", State: "STOPPED", Private: []string{"10.0.1.11"}, Public: []string{"203.0.113.11"}, VPC: "vpc-1", Subnet: "subnet-a", Groups: []string{"sg-b"}},
				{ID: "ins-acl", Name: "acl", State: "RUNNING", Private: []string{"10.0.2.10"}, Public: []string{"203.0.113.12"}, VPC: "vpc-1", Subnet: "subnet-b", Groups: []string{"sg-open"}},
				{ID: "ins-acl2", Name: "acl2", State: "RUNNING", Private: []string{"10.0.3.10"}, Public: []string{"203.0.113.13"}, VPC: "vpc-1", Subnet: "subnet-c", Groups: []string{"sg-open"}},
				{ID: "ins-bare", Name: "bare", State: "RUNNING", Private: []string{"10.0.4.10"}, Public: []string{"203.0.113.14"}, VPC: "vpc-1", Subnet: "subnet-d", Groups: []string{"sg-open"}},
			},
			ENIs: []fENI{{ID: "eni-2", Instance: "ins-web", VPC: "vpc-1", Subnet: "subnet-a", Private: "10.0.1.20", Public: "203.0.113.20", Groups: []string{"sg-open"}}},
			SGs: map[string][]fPolicy{
				"sg-a": {
					{PolicyIndex: 0, Protocol: "TCP", Port: "22", CidrBlock: "198.51.100.0/24", Action: "ACCEPT", PolicyDescription: "ssh"},
					{PolicyIndex: 1, Protocol: "TCP", Port: "8080", CidrBlock: "0.0.0.0/0", Action: "DROP", PolicyDescription: "no admin"},
					{PolicyIndex: 2, Protocol: "TCP", Port: "6000", AddressTemplate: map[string]string{"AddressGroupId": "ipmg-partners"}, Action: "ACCEPT"},
					{PolicyIndex: 3, Protocol: "TCP", Port: "3306-20000", AddressTemplate: map[string]string{"AddressId": "ipm-office"}, Action: "ACCEPT"},
					{PolicyIndex: 4, ServiceTemplate: map[string]string{"ServiceId": "ppm-web"}, CidrBlock: "0.0.0.0/0", Action: "ACCEPT"},
					{PolicyIndex: 5, ServiceTemplate: map[string]string{"ServiceGroupId": "ppmg-rpc"}, CidrBlock: "0.0.0.0/0", Action: "ACCEPT"},
				},
				"sg-b": {
					{PolicyIndex: 0, Protocol: "TCP", Port: "80,443", CidrBlock: "0.0.0.0/0", Ipv6CidrBlock: "::/0", Action: "ACCEPT", PolicyDescription: "web"},
					{PolicyIndex: 1, Protocol: "TCP", Port: "8080", CidrBlock: "0.0.0.0/0", Action: "ACCEPT", PolicyDescription: "admin"},
					{PolicyIndex: 2, Protocol: "TCP", Port: "25000", SecurityGroupId: "sg-a", Action: "ACCEPT"},
				},
				"sg-open": {{PolicyIndex: 0, Protocol: "ALL", Port: "ALL", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"}},
			},
			ACLs: []fACL{
				{ID: "acl-a", VPC: "vpc-1", Subnets: []string{"subnet-a"}, In: allowAll, Out: allowAll},
				{ID: "acl-b", VPC: "vpc-1", Subnets: []string{"subnet-b"}, In: []fEntry{
					{Protocol: "TCP", Port: "22", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"},
					{Protocol: "TCP", Port: "8080", CidrBlock: "0.0.0.0/0", Action: "DROP", Description: "block admin"},
					{Protocol: "TCP", Port: "8000-9000", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"},
				}, Out: allowAll},
				{ID: "acl-c", VPC: "vpc-1", Subnets: []string{"subnet-c"}, In: allowAll, Out: []fEntry{{Protocol: "ALL", Port: "ALL", CidrBlock: "0.0.0.0/0", Action: "DROP"}}},
				{ID: "acl-other", VPC: "vpc-2", Subnets: []string{"subnet-d"}, In: nil, Out: nil},
			},
			AddrTpls: map[string][]string{
				"ipm-office":   {"203.0.113.5", "198.51.100.0/24", "192.0.2.10-192.0.2.20"},
				"ipm-partner1": {"100.100.0.0/16"},
			},
			AddrGroups: map[string][]string{"ipmg-partners": {"ipm-partner1"}},
			SvcTpls:    map[string][]string{"ppm-web": {"tcp:8443", "udp:99"}, "ppm-rpc": {"tcp:7000-7001", "tcp:7100,7200"}},
			SvcGroups:  map[string][]string{"ppmg-rpc": {"ppm-rpc"}},
			LH: []fLighthouse{
				{ID: "lhins-blog", Name: "blog", State: "RUNNING", Public: []string{"203.0.113.50"}, Private: []string{"10.9.0.5"}, Firewall: []fFirewall{
					{Protocol: "TCP", Port: "22,88", CidrBlock: "0.0.0.0/0", Action: "DROP", AppType: "自定义"},
					{Protocol: "TCP", Port: "88", CidrBlock: "0.0.0.0/0", Action: "ACCEPT", AppType: "自定义"},
					{Protocol: "TCP", Port: "80", CidrBlock: "0.0.0.0/0", Action: "ACCEPT", AppType: "HTTP(80)"},
					{Protocol: "TCP", Port: "443", Action: "ACCEPT", AppType: "HTTPS(443)"},
				}},
				{ID: "lhins-off", Name: "offline", State: "STOPPED", Public: []string{"203.0.113.51"}},
			},
		},
		"ap-shanghai": {},
	}
}

// scrub keeps the real environment out: no TENCENTCLOUD_* variables, an empty HOME.
func scrub(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TENCENTCLOUD_") || k == "TCCLI_PROFILE" {
			t.Setenv(k, "")
		}
	}
	for _, k := range []string{"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN",
		"TENCENTCLOUD_SECURITY_TOKEN", "TENCENTCLOUD_TOKEN", "TENCENTCLOUD_REGION", "TENCENTCLOUD_CREDENTIALS_FILE", "TCCLI_PROFILE"} {
		t.Setenv(k, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

// withKeys scrubs the environment and sets test keys.
func withKeys(t *testing.T) {
	scrub(t)
	t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDtest")
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "test-secret-key")
}

// readOnly fails the test when anything but a Describe* action was called.
func readOnly(t *testing.T, f *fakeCloud) {
	t.Helper()
	t.Cleanup(func() {
		for _, a := range f.actions() {
			if _, act, _ := strings.Cut(a, ":"); !strings.HasPrefix(act, "Describe") {
				t.Errorf("called %s, which is not a read action", a)
			}
		}
	})
}

func query(target, from string, proto string, port uint16) providers.Query {
	q := providers.Query{Source: netip.MustParsePrefix(from), Proto: proto, Port: port}
	for _, a := range strings.Split(target, ",") {
		if a != "" {
			q.Addrs = append(q.Addrs, netip.MustParseAddr(a))
		}
	}
	return q
}

func layer(steps []report.Step, name string) *report.Step {
	for i := range steps {
		if steps[i].Layer == name {
			return &steps[i]
		}
	}
	return nil
}

type want struct {
	layer    string
	decision report.Decision
	cause    string
	rule     string   // deciding rule ID; "" means none expected
	allowed  []string // AllowedFrom must hold these
	fix      []string // substrings of the joined fix
	detail   []string // substrings of the detail
	noFix    bool
}

func (w want) check(t *testing.T, steps []report.Step) {
	t.Helper()
	st := layer(steps, w.layer)
	if st == nil {
		t.Fatalf("no %s step in %+v", w.layer, steps)
	}
	if st.Decision != w.decision || st.Cause != w.cause {
		t.Errorf("%s: decision %s cause %q, want %s %q (%s)", w.layer, st.Decision, st.Cause, w.decision, w.cause, st.Detail)
	}
	if w.rule != "" && (st.Rule == nil || st.Rule.ID != w.rule) {
		t.Errorf("%s: rule %+v, want %s (%s)", w.layer, st.Rule, w.rule, st.Detail)
	}
	if w.rule == "" && st.Rule != nil && w.decision != report.Unknown {
		t.Errorf("%s: rule %+v, want none", w.layer, st.Rule)
	}
	for _, a := range w.allowed {
		if !slices.Contains(st.AllowedFrom, a) {
			t.Errorf("%s: allowed from %v, want %s in it", w.layer, st.AllowedFrom, a)
		}
	}
	if len(w.allowed) == 0 && len(st.AllowedFrom) > 0 {
		t.Errorf("%s: allowed only from %v, want all", w.layer, st.AllowedFrom)
	}
	fix := strings.Join(st.Fix, "\n")
	for _, f := range w.fix {
		if !strings.Contains(fix, f) {
			t.Errorf("%s: fix\n%s\nlacks %q", w.layer, fix, f)
		}
	}
	if w.noFix && fix != "" {
		t.Errorf("%s: fix %q, want none", w.layer, fix)
	}
	for _, d := range w.detail {
		if !strings.Contains(st.Detail, d) {
			t.Errorf("%s: detail %q lacks %q", w.layer, st.Detail, d)
		}
	}
	if st.Decision.Blocks() && st.Symptom != report.Timeout {
		t.Errorf("%s: symptom %q, want timeout", w.layer, st.Symptom)
	}
}

func TestSecurityGroups(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	p := f.provider(region, "ap-shanghai")
	cases := []struct {
		name, target, from, proto string
		port                      uint16
		want                      want
	}{
		{"drop shadows a later accept", "203.0.113.10", "0.0.0.0/0", "tcp", 8080, want{layer: "tencent.security-group", decision: report.Drop,
			cause: report.CauseCloudSGDeny, rule: "sg-a#1",
			detail: []string{"shadows ACCEPT rule sg-b#1", "move that rule above sg-a#1"},
			fix: []string{`tccli vpc CreateSecurityGroupPolicies --region ap-guangzhou --SecurityGroupId sg-a --SecurityGroupPolicySet '{"Ingress":[{"PolicyIndex":1,"Protocol":"TCP","Port":"8080","CidrBlock":"0.0.0.0/0","Action":"ACCEPT","PolicyDescription":"admin"}]}'`,
				`tccli vpc DeleteSecurityGroupPolicies --region ap-guangzhou --SecurityGroupId sg-b --SecurityGroupPolicySet '{"Ingress":[{"PolicyIndex":1}]}'`}}},
		{"allowed only by the second group", "203.0.113.10", "0.0.0.0/0", "tcp", 443, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-b#0", noFix: true}},
		{"port list first entry", "203.0.113.10", "0.0.0.0/0", "tcp", 80, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-b#0"}},
		{"ipv6 source field", "2001:db8::10", "0.0.0.0/0", "tcp", 443, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-b#0"}},
		{"ipv6 without ipv6 rule", "2001:db8::10", "0.0.0.0/0", "tcp", 8443, want{layer: "tencent.security-group", decision: report.Drop,
			cause: report.CauseCloudSGNoAllow, fix: []string{`"Ipv6CidrBlock":"::/0"`}}},
		{"address template expanded", "203.0.113.10", "0.0.0.0/0", "tcp", 5000, want{layer: "tencent.security-group", decision: report.Allow,
			rule: "sg-a#3", allowed: []string{"203.0.113.5/32", "198.51.100.0/24", "192.0.2.10/31", "192.0.2.20/32"}}},
		{"address template group", "203.0.113.10", "100.100.0.0/16", "tcp", 6000, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-a#2"}},
		{"template group and template both allow part", "203.0.113.10", "0.0.0.0/0", "tcp", 6000, want{layer: "tencent.security-group", decision: report.Allow,
			rule: "sg-a#2", allowed: []string{"100.100.0.0/16", "198.51.100.0/24"}}},
		{"service template", "203.0.113.10", "0.0.0.0/0", "tcp", 8443, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-a#4"}},
		{"service template udp", "203.0.113.10", "0.0.0.0/0", "udp", 99, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-a#4"}},
		{"service template group", "203.0.113.10", "0.0.0.0/0", "tcp", 7200, want{layer: "tencent.security-group", decision: report.Allow, rule: "sg-a#5"}},
		{"nothing allows", "203.0.113.10", "0.0.0.0/0", "tcp", 21000, want{layer: "tencent.security-group", decision: report.Drop,
			cause: report.CauseCloudSGNoAllow, detail: []string{"no rule of security groups sg-a, sg-b (binding order)"},
			fix: []string{`--SecurityGroupId sg-a --SecurityGroupPolicySet '{"Ingress":[{"PolicyIndex":0,"Protocol":"TCP","Port":"21000","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"`}}},
		{"drop shadows a template rule in the same group", "203.0.113.10", "198.51.100.0/24", "tcp", 8080, want{layer: "tencent.security-group", decision: report.Drop,
			cause: report.CauseCloudSGDeny, rule: "sg-a#1", detail: []string{"shadows ACCEPT rule sg-a#3"},
			fix: []string{`--SecurityGroupId sg-a --SecurityGroupPolicySet '{"Ingress":[{"PolicyIndex":1,"Protocol":"TCP","Port":"3306-20000","AddressTemplate":{"AddressId":"ipm-office"},"Action":"ACCEPT"}]}'`,
				`DeleteSecurityGroupPolicies --region ap-guangzhou --SecurityGroupId sg-a --SecurityGroupPolicySet '{"Ingress":[{"PolicyIndex":4}]}'`}}},
		{"secondary interface", "203.0.113.10,203.0.113.20", "0.0.0.0/0", "tcp", 21000, want{layer: "tencent.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow}},
		{"group reference does not match the internet", "203.0.113.10", "0.0.0.0/0", "tcp", 25000, want{layer: "tencent.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow}},
		{"group reference is conditional for private sources", "10.0.1.10", "10.0.0.0/8", "tcp", 25000, want{layer: "tencent.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := p.Steps(context.Background(), query(c.target, c.from, c.proto, c.port))
			if st := layer(steps, "tencent.instance"); st == nil || st.Decision != report.Allow || st.Rule.ID != "ins-web" {
				t.Fatalf("instance step %+v", st)
			}
			c.want.check(t, steps)
			if c.name == "secondary interface" {
				var eni *report.Step
				for i := range steps {
					if steps[i].Layer == "tencent.security-group" && steps[i].Address == "203.0.113.20" {
						eni = &steps[i]
					}
				}
				if eni == nil || eni.Decision != report.Allow || eni.Rule.ID != "sg-open#0" {
					t.Errorf("secondary interface step %+v, want allowed by sg-open#0", eni)
				}
			}
			if st := layer(steps, "tencent.security-group"); c.name == "group reference does not match the internet" && st.Conditional != "" {
				t.Errorf("conditional %q for an internet source", st.Conditional)
			}
			if c.name == "group reference is conditional for private sources" {
				if st := layer(steps, "tencent.security-group"); !strings.Contains(st.Conditional, "sg-a") {
					t.Errorf("conditional %q, want it to name sg-a", st.Conditional)
				}
			}
		})
	}
}

func TestNetworkACL(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	p := f.provider(region)
	cases := []struct {
		name, target string
		port         uint16
		want         want
	}{
		{"drop above accept", "203.0.113.12", 8080, want{layer: "tencent.network-acl", decision: report.Drop, cause: report.CauseCloudACLDeny,
			rule: "acl-b#1", detail: []string{"shadows ACCEPT entry acl-b#2", "move that entry above it"},
			fix: []string{`tccli vpc ModifyNetworkAclEntries --region ap-guangzhou --NetworkAclId acl-b --NetworkAclEntrySet '{"Ingress":[{"Protocol":"TCP","Port":"22","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"},{"Protocol":"TCP","Port":"8000-9000","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"},{"Protocol":"TCP","Port":"8080","CidrBlock":"0.0.0.0/0","Action":"DROP","Description":"block admin"}]}'`}}},
		{"default deny", "203.0.113.12", 3000, want{layer: "tencent.network-acl", decision: report.Drop, cause: report.CauseCloudACLDeny,
			rule: "acl-b#default", fix: []string{`tccli vpc CreateNetworkAclEntries --region ap-guangzhou --NetworkAclId acl-b --NetworkAclEntrySet '{"Ingress":[{"Protocol":"TCP","Port":"3000","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"`}}},
		{"allowed", "203.0.113.12", 8500, want{layer: "tencent.network-acl", decision: report.Allow, rule: "acl-b#2"}},
		{"stateless replies dropped", "203.0.113.13", 8080, want{layer: "tencent.network-acl", decision: report.Drop, cause: report.CauseCloudACLDeny,
			rule: "acl-c#0", detail: []string{"stateless"}, fix: []string{`"Egress":[{"Protocol":"TCP","Port":"1024-65535"`}}},
		{"no ACL on the subnet", "203.0.113.14", 8080, want{layer: "tencent.network-acl", decision: report.Skipped}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := p.Steps(context.Background(), query(c.target, "0.0.0.0/0", "tcp", c.port))
			c.want.check(t, steps)
		})
	}
}

func TestLighthouse(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	p := f.provider(region)
	cases := []struct {
		name string
		port uint16
		want want
	}{
		{"drop before accept", 88, want{layer: "tencent.lighthouse-firewall", decision: report.Drop, cause: report.CauseLightweightFirewall,
			rule: "lhins-blog#0", detail: []string{"shadows ACCEPT rule lhins-blog#1", "move that rule above it"},
			fix: []string{`tccli lighthouse ModifyFirewallRules --region ap-guangzhou --InstanceId lhins-blog --FirewallRules '[{"Protocol":"TCP","Port":"88","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"},{"Protocol":"TCP","Port":"22,88","CidrBlock":"0.0.0.0/0","Action":"DROP"}`}}},
		{"accept", 80, want{layer: "tencent.lighthouse-firewall", decision: report.Allow, rule: "lhins-blog#2"}},
		{"empty address fields mean every IPv4 source", 443, want{layer: "tencent.lighthouse-firewall", decision: report.Allow, rule: "lhins-blog#3"}},
		{"default deny", 8080, want{layer: "tencent.lighthouse-firewall", decision: report.Drop, cause: report.CauseLightweightFirewall,
			fix: []string{`tccli lighthouse CreateFirewallRules --region ap-guangzhou --InstanceId lhins-blog --FirewallRules '[{"Protocol":"TCP","Port":"8080","CidrBlock":"0.0.0.0/0","Action":"ACCEPT"`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := p.Steps(context.Background(), query("203.0.113.50", "0.0.0.0/0", "tcp", c.port))
			if st := layer(steps, "tencent.instance"); st == nil || st.Rule.ID != "lhins-blog" || st.Decision != report.Allow {
				t.Fatalf("instance step %+v", st)
			}
			c.want.check(t, steps)
		})
	}
}

// TestLighthouseIPv6 evaluates the separate IPv6 field: an IPv4-only rule does not match IPv6 clients.
func TestLighthouseIPv6(t *testing.T) {
	s := func(v string) *string { return &v }
	fw := []firewallRule{
		{Protocol: s("TCP"), Port: s("80"), CidrBlock: s("0.0.0.0/0"), Action: s("ACCEPT")},
		{Protocol: s("TCP"), Port: s("443"), Ipv6CidrBlock: s("::/0"), Action: s("ACCEPT")},
	}
	dst := netip.MustParseAddr("2001:db8::50")
	for _, c := range []struct {
		port uint16
		want report.Decision
	}{{80, report.Drop}, {443, report.Allow}} {
		rules, specs := flattenFirewall("lhins-v6", fw, dst)
		st := evalLighthouse(check{Region: region, Source: netip.MustParsePrefix("::/0"), Dst: dst, Proto: "tcp", Port: c.port}, "lhins-v6", rules, specs)
		if st.Decision != c.want {
			t.Errorf("port %d: %s (%s), want %s", c.port, st.Decision, st.Detail, c.want)
		}
		if c.want == report.Drop && (!strings.Contains(st.Detail, "need Ipv6CidrBlock") || !strings.Contains(strings.Join(st.Fix, ""), `"Ipv6CidrBlock":"::/0"`)) {
			t.Errorf("port %d: detail %q fix %q, want the IPv6 field named", c.port, st.Detail, st.Fix)
		}
	}
}

func TestStoppedInstances(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	p := f.provider(region)
	for _, c := range []struct{ target, id, fix string }{
		{"203.0.113.11", "ins-off", `tccli cvm StartInstances --region ap-guangzhou --InstanceIds '["ins-off"]'`},
		{"203.0.113.51", "lhins-off", `tccli lighthouse StartInstances --region ap-guangzhou --InstanceIds '["lhins-off"]'`},
	} {
		steps := p.Steps(context.Background(), query(c.target, "0.0.0.0/0", "tcp", 80))
		if len(steps) != 1 {
			t.Fatalf("%s: steps %+v, want only the instance", c.id, steps)
		}
		want{layer: "tencent.instance", decision: report.Drop, cause: report.CauseInstanceNotRunning, rule: c.id, fix: []string{c.fix}}.check(t, steps)
	}
}

func TestFindByIDAndName(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	p := f.provider(region, "ap-shanghai")
	for _, c := range []struct {
		name string
		q    providers.Query
		want string // instance found; "" means not found
		dec  report.Decision
	}{
		{"cvm by id", providers.Query{Instance: "ins-web"}, "ins-web", report.Allow},
		{"lighthouse by id", providers.Query{Instance: "lhins-blog"}, "lhins-blog", report.Allow},
		{"cvm by name", providers.Query{Name: "web"}, "ins-web", report.Allow},
		{"lighthouse by name", providers.Query{Name: "blog"}, "lhins-blog", report.Allow},
		{"by private address", providers.Query{Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.10")}}, "ins-web", report.Allow},
		{"missing id", providers.Query{Instance: "ins-nope"}, "", report.Drop},
		{"unknown address", providers.Query{Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.99")}}, "", report.Skipped},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.q.Source, c.q.Proto, c.q.Port = netip.MustParsePrefix("0.0.0.0/0"), "tcp", 80
			steps := p.Steps(context.Background(), c.q)
			st := layer(steps, "tencent.instance")
			if st == nil || st.Decision != c.dec {
				t.Fatalf("instance step %+v, want %s", st, c.dec)
			}
			if c.want == "" {
				if st.Cause != report.CauseInstanceNotFound || !strings.Contains(st.Detail, "ap-guangzhou, ap-shanghai") {
					t.Errorf("not-found step %+v", st)
				}
				return
			}
			if st.Rule == nil || st.Rule.ID != c.want {
				t.Errorf("found %+v, want %s", st.Rule, c.want)
			}
			if layer(steps, "tencent.security-group") == nil && layer(steps, "tencent.lighthouse-firewall") == nil {
				t.Errorf("no rule layer evaluated: %+v", steps)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		action string
		fault  fault
		calls  int    // calls of action expected
		detail string // in the security-group step's detail; "" means the step decides normally
	}{
		{"throttled every time", "vpc:DescribeSecurityGroupPolicies", fault{Code: "RequestLimitExceeded"}, 2 * maxAttempts, "vpc:DescribeSecurityGroupPolicies was throttled (RequestLimitExceeded) after 3 attempts"},
		{"throttled once", "vpc:DescribeSecurityGroupPolicies", fault{Code: "RequestLimitExceeded", Times: 1}, 3, ""},
		{"server error", "vpc:DescribeSecurityGroupPolicies", fault{Status: 502}, 2 * maxAttempts, "failed after 3 attempts: http status code: 502"},
		{"internal error", "vpc:DescribeSecurityGroupPolicies", fault{Code: "InternalError"}, 2 * maxAttempts, "vpc:DescribeSecurityGroupPolicies failed"},
		{"timeout", "vpc:DescribeSecurityGroupPolicies", fault{Delay: 2 * time.Second}, 2 * maxAttempts, "did not answer in time"},
		{"no permission", "vpc:DescribeSecurityGroupPolicies", fault{Code: "UnauthorizedOperation"}, 2, "grant vpc:DescribeSecurityGroupPolicies"},
		{"no permission for templates", "vpc:DescribeAddressTemplates", fault{Code: "UnauthorizedOperation.CamNoAuth"}, 1, "grant vpc:DescribeAddressTemplates"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			withKeys(t)
			f := newFake(t, world())
			readOnly(t, f)
			f.inject(c.action, c.fault)
			start := time.Now()
			steps := f.provider(region).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 5000))
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("took %v: retries are not bounded", d)
			}
			st := layer(steps, "tencent.security-group")
			if st == nil {
				t.Fatalf("no security-group step: %+v", steps)
			}
			if c.detail == "" {
				if st.Decision != report.Allow {
					t.Errorf("step %+v, want allowed after a retry", st)
				}
			} else if st.Decision != report.Unknown || !strings.Contains(st.Detail, c.detail) {
				t.Errorf("step %s %q, want unknown with %q", st.Decision, st.Detail, c.detail)
			}
			n := 0
			for _, a := range f.actions() {
				if a == c.action {
					n++
				}
			}
			if n != c.calls {
				t.Errorf("%s called %d times, want %d", c.action, n, c.calls)
			}
			if acl := layer(steps, "tencent.network-acl"); acl == nil || acl.Decision != report.Allow {
				t.Errorf("the ACL step should not suffer from the fault: %+v", acl)
			}
		})
	}
	t.Run("discovery denied", func(t *testing.T) {
		withKeys(t)
		f := newFake(t, world())
		f.inject("cvm:DescribeInstances", fault{Code: "UnauthorizedOperation"})
		steps := f.provider(region).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 80))
		st := layer(steps, "tencent.instance")
		if st == nil || st.Decision != report.Unknown || !strings.Contains(st.Detail, "grant cvm:DescribeInstances") {
			t.Errorf("step %+v, want unknown naming cvm:DescribeInstances", st)
		}
	})
}

func TestNoCredentials(t *testing.T) {
	scrub(t)
	f := newFake(t, world())
	steps := f.provider(region).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 80))
	if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, "TENCENTCLOUD_SECRET_ID") {
		t.Fatalf("steps %+v, want one skipped step saying how to give credentials", steps)
	}
	if n := len(f.actions()); n != 0 {
		t.Errorf("%d calls without credentials", n)
	}
}

func TestCredentialSources(t *testing.T) {
	meta := http.NewServeMux()
	meta.HandleFunc("/latest/meta-data/cam/security-credentials/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/portpath-role") {
			w.Write([]byte(`{"TmpSecretId":"AKIDrole","TmpSecretKey":"role-secret","Token":"role-token","ExpiredTime":1790000000,"Expiration":"2026-12-03T18:00:00Z","Code":"Success"}`))
			return
		}
		w.Write([]byte("portpath-role"))
	})
	metaSrv := httptest.NewServer(meta)
	defer metaSrv.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()

	cases := []struct {
		name  string
		setup func(t *testing.T, home string) Options
		token string // X-TC-Token expected; "-" means no credentials at all
	}{
		{"env with session token", func(t *testing.T, home string) Options {
			t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv")
			t.Setenv("TENCENTCLOUD_SECRET_KEY", "env-secret")
			t.Setenv("TENCENTCLOUD_SESSION_TOKEN", "env-token")
			return Options{}
		}, "env-token"},
		{"sdk credentials file", func(t *testing.T, home string) Options {
			write(t, filepath.Join(home, ".tencentcloud", "credentials"), "[default]\nsecret_id = AKIDfile\nsecret_key = file-secret\ntoken = file-token\n")
			return Options{}
		}, "file-token"},
		{"tccli profile", func(t *testing.T, home string) Options {
			write(t, filepath.Join(home, ".tccli", "work.credential"), `{"secretId":"AKIDtccli","secretKey":"tccli-secret","token":"tccli-token"}`)
			write(t, filepath.Join(home, ".tccli", "work.configure"), `{"_sys_param":{"region":"ap-guangzhou","output":"json"}}`)
			return Options{Profile: "work"}
		}, "tccli-token"},
		{"cvm role", func(t *testing.T, home string) Options { return Options{MetadataURL: metaSrv.URL} }, "role-token"},
		{"cvm role that never answers", func(t *testing.T, home string) Options { return Options{MetadataURL: hang.URL} }, "-"},
		{"role lookup off by default", func(t *testing.T, home string) Options { return Options{} }, "-"},
		{"role lookup turned off", func(t *testing.T, home string) Options {
			t.Setenv("TENCENTCLOUD_METADATA_DISABLED", "true")
			return Options{MetadataURL: metaSrv.URL}
		}, "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := scrub(t)
			f := newFake(t, world())
			o := c.setup(t, home)
			o.Regions, o.Endpoint, o.CallTimeout = []string{region}, f.srv.URL, time.Second
			start := time.Now()
			steps := New(o).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 443))
			if d := time.Since(start); d > roleTimeout+2*time.Second {
				t.Errorf("took %v", d)
			}
			if c.token == "-" {
				if len(steps) != 1 || steps[0].Decision != report.Skipped {
					t.Fatalf("steps %+v, want one skipped step", steps)
				}
				return
			}
			if st := layer(steps, "tencent.security-group"); st == nil || st.Decision != report.Allow {
				t.Fatalf("steps %+v", steps)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, tok := range f.tokens {
				if tok != c.token {
					t.Errorf("X-TC-Token %q, want %q", tok, c.token)
				}
			}
			for _, st := range steps {
				for _, secret := range []string{"env-secret", "file-secret", "tccli-secret", "role-secret"} {
					if strings.Contains(st.Detail+strings.Join(st.Fix, ""), secret) {
						t.Errorf("a secret leaked into %+v", st)
					}
				}
			}
		})
	}
}

func TestBadCredentialFiles(t *testing.T) {
	for _, c := range []struct{ name, file, body, want string }{
		{"ini garbage", ".tencentcloud/credentials", "[default]\nsecret_id\n", "credentials:2: expected key = value"},
		{"ini half", ".tencentcloud/credentials", "[default]\nsecret_id = AKID\n", "needs both secret_id and secret_key"},
		{"tccli garbage", ".tccli/default.credential", "{not json", "not a tccli credential file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := scrub(t)
			write(t, filepath.Join(home, c.file), c.body)
			steps := New(Options{Regions: []string{region}, Endpoint: "http://127.0.0.1:1"}).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 80))
			if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, c.want) || !strings.Contains(steps[0].Detail, home) {
				t.Errorf("steps %+v, want skipped naming %s and %q", steps, home, c.want)
			}
		})
	}
}

func TestRegionsDiscovered(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	steps := New(Options{Endpoint: f.srv.URL}).Steps(context.Background(), query("198.51.100.99", "0.0.0.0/0", "tcp", 80))
	if st := layer(steps, "tencent.instance"); st == nil || !strings.Contains(st.Detail, "ap-guangzhou, ap-shanghai") {
		t.Errorf("steps %+v, want both regions searched", steps)
	}
	if a := f.actions(); len(a) == 0 || a[0] != "cvm:DescribeRegions" {
		t.Errorf("actions %v, want DescribeRegions first", a)
	}
}

// TestForeignRegions: a region list shared with another cloud names regions Tencent Cloud
// does not have; they are left out, not reported as failures.
func TestForeignRegions(t *testing.T) {
	withKeys(t)
	f := newFake(t, world())
	readOnly(t, f)
	steps := f.provider("us-east-1", region).Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 443))
	if st := layer(steps, "tencent.security-group"); st == nil || st.Decision != report.Allow {
		t.Errorf("steps %+v, want ins-web found in ap-guangzhou", steps)
	}
	steps = f.provider("us-east-1").Steps(context.Background(), query("203.0.113.10", "0.0.0.0/0", "tcp", 443))
	if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, "us-east-1") {
		t.Errorf("steps %+v, want one skipped step naming us-east-1", steps)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCheck is one check of an instance with two security groups and one address
// template; it reports the API calls made per check (budget: 3 + groups + templates = 6).
func BenchmarkCheck(b *testing.B) {
	for _, k := range []string{"TENCENTCLOUD_SESSION_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN", "TENCENTCLOUD_TOKEN", "TENCENTCLOUD_CREDENTIALS_FILE", "TCCLI_PROFILE"} {
		b.Setenv(k, "")
	}
	b.Setenv("HOME", b.TempDir())
	b.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDbench")
	b.Setenv("TENCENTCLOUD_SECRET_KEY", "bench-secret")
	w := world()
	// sg-a without its template-group and service-template rules: exactly one template
	w[region].SGs["sg-a"] = w[region].SGs["sg-a"][:4]
	w[region].SGs["sg-a"] = slices.Delete(w[region].SGs["sg-a"], 2, 3)
	f := newFake(b, w)
	p := f.provider(region)
	q := query("203.0.113.10", "0.0.0.0/0", "tcp", 5000)
	b.ResetTimer()
	for b.Loop() {
		steps := p.Steps(context.Background(), q)
		if st := layer(steps, "tencent.security-group"); st == nil || st.Decision != report.Allow {
			b.Fatalf("steps %+v", steps)
		}
	}
	b.StopTimer()
	calls := len(f.actions())
	perCheck := float64(calls) / float64(b.N)
	b.ReportMetric(perCheck, "calls/check")
	if perCheck > 6 {
		b.Errorf("%.1f API calls per check, budget is 6 (3 + 2 groups + 1 template)", perCheck)
	}
}
