package aliyun

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

const region = "cn-hangzhou"

// web is a Running VPC instance with a public IP, two groups and a vSwitch.
func web(groups ...string) fInst {
	return fInst{ID: "i-bp1web", Name: "web", Status: "Running", Public: "47.96.1.10", VSwitch: "vsw-1", Groups: groups,
		NICs: []fNIC{{ID: "eni-primary", Private: "172.16.0.10"}}}
}

func query(addr string, port uint16, proto, src string) providers.Query {
	return providers.Query{Addrs: []netip.Addr{netip.MustParseAddr(addr)}, Source: netip.MustParsePrefix(src), Proto: proto, Port: port}
}

func layer(t *testing.T, steps []report.Step, name string) report.Step {
	t.Helper()
	for _, s := range steps {
		if s.Layer == name {
			return s
		}
	}
	t.Fatalf("no %s step in %s", name, dump(steps))
	return report.Step{}
}

func dump(steps []report.Step) string {
	b, _ := json.MarshalIndent(steps, "", "  ")
	return string(b)
}

// readOnly fails unless every action called reads.
func readOnly(t *testing.T, f *fakeCloud) {
	t.Helper()
	for _, a := range f.actions() {
		if !strings.HasPrefix(a, "Describe") && !strings.HasPrefix(a, "List") {
			t.Errorf("action %s is not a read action", a)
		}
	}
}

func TestSecurityGroups(t *testing.T) {
	tests := []struct {
		name      string
		inst      fInst
		groups    []fGroup
		pls       map[string][]string
		q         providers.Query
		decision  report.Decision
		cause     string
		rule      string
		allowed   []string
		fixHas    string
		maxCalls  int
		detailHas string
	}{
		{
			name: "merged order differs from per-group order",
			inst: web("sg-a", "sg-b"),
			groups: []fGroup{
				{ID: "sg-a", Perms: []map[string]any{perm("sgr-a-accept", 10, "Accept", "TCP", "8282/8282", "0.0.0.0/0")}},
				{ID: "sg-b", Perms: []map[string]any{perm("sgr-b-ssh", 1, "Accept", "TCP", "22/22", "0.0.0.0/0"), perm("sgr-b-drop", 5, "Drop", "TCP", "1/65535", "0.0.0.0/0")}},
			},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Drop, cause: report.CauseCloudSGDeny, rule: "sgr-b-drop", maxCalls: 4,
			fixHas: "aliyun ecs AuthorizeSecurityGroup --RegionId cn-hangzhou --SecurityGroupId sg-b --IpProtocol tcp --PortRange 8282/8282 --SourceCidrIp 0.0.0.0/0 --Priority 1",
		},
		{
			name: "higher priority accept in the second group wins",
			inst: web("sg-a", "sg-b"),
			groups: []fGroup{
				{ID: "sg-a", Perms: []map[string]any{perm("sgr-a-drop", 50, "drop", "tcp", "8000/9000", "0.0.0.0/0")}},
				{ID: "sg-b", Perms: []map[string]any{perm("sgr-b-ok", 2, "accept", "tcp", "8282/8282", "0.0.0.0/0")}},
			},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Allow, rule: "sgr-b-ok", maxCalls: 4,
		},
		{
			name: "priority tie: drop before accept",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-accept", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0"),
				perm("sgr-drop", 1, "Drop", "ALL", "-1/-1", "0.0.0.0/0"),
			}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Drop, cause: report.CauseCloudSGDeny, rule: "sgr-drop",
			fixHas: "aliyun ecs RevokeSecurityGroup --RegionId cn-hangzhou --SecurityGroupId sg-a --SecurityGroupRuleId.1 sgr-drop",
		},
		{
			name:     "no rule allows",
			inst:     web("sg-a"),
			groups:   []fGroup{{ID: "sg-a", Perms: []map[string]any{perm("sgr-ssh", 1, "Accept", "TCP", "22/22", "0.0.0.0/0")}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Drop, cause: report.CauseCloudSGNoAllow, fixHas: "控制台 → 云服务器 ECS → 网络与安全 → 安全组 → sg-a → 管理规则 → 入方向 → 手动添加",
		},
		{
			name: "prefix list expanded: allowed from part of the internet",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-pl", 1, "Accept", "TCP", "8282/8282", "pl-office"),
			}}},
			pls:      map[string][]string{"pl-office": {"203.0.113.0/24", "198.51.100.7/32"}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Allow, rule: "sgr-pl", allowed: []string{"198.51.100.7/32", "203.0.113.0/24"},
		},
		{
			name: "group source never matches internet clients",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-ref", 1, "Accept", "TCP", "8282/8282", "sg-other"),
			}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Drop, cause: report.CauseCloudSGNoAllow, detailHas: "private addresses only",
		},
		{
			name: "port list rule (no PortRange) is unknown, never open",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-portlist", 1, "Accept", "TCP", "", "0.0.0.0/0"),
			}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Unknown, detailHas: "port list",
		},
		{
			name: "5-tuple drop on source ports before a certain drop: blocked either way",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-5t", 1, "Drop", "TCP", "8282/8282", "0.0.0.0/0", "SourcePortRange", "1000/2000"),
			}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Drop, cause: report.CauseCloudSGNoAllow,
		},
		{
			name: "5-tuple accept on source ports: unknown",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-5t", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0", "SourcePortRange", "1000/2000"),
			}}},
			q:        query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"),
			decision: report.Unknown, detailHas: "source ports 1000/2000",
		},
		{
			name: "IPv6 source rule and UDP, lowercase protocol",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
				perm("sgr-v4", 1, "accept", "udp", "1/65535", "10.0.0.0/8"),
				perm("sgr-all", 2, "accept", "udp", "53/53", "0.0.0.0/0"),
			}}},
			q:        query("47.96.1.10", 53, "udp", "0.0.0.0/0"),
			decision: report.Allow, rule: "sgr-all",
		},
		{
			name: "intra-group traffic under InnerAccessPolicy Accept overrides a drop rule",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Inner: "Accept", Perms: []map[string]any{
				perm("sgr-drop", 1, "Drop", "ALL", "-1/-1", "172.16.0.0/12"),
			}}},
			q:        query("172.16.0.10", 8282, "tcp", "172.16.0.20/32"),
			decision: report.Allow, rule: "sg-a InnerAccessPolicy",
		},
		{
			name:     "intra-group traffic under InnerAccessPolicy Drop",
			inst:     web("sg-a"),
			groups:   []fGroup{{ID: "sg-a", Inner: "Drop"}},
			q:        query("172.16.0.10", 8282, "tcp", "172.16.0.20/32"),
			decision: report.Drop, cause: report.CauseCloudSGNoAllow,
		},
		{
			name: "group source matches a member's private address",
			inst: web("sg-a"),
			groups: []fGroup{{ID: "sg-a", Inner: "Drop", Perms: []map[string]any{
				perm("sgr-ref", 1, "Accept", "TCP", "8282/8282", "sg-app"),
			}}},
			q:        query("172.16.0.10", 8282, "tcp", "172.16.0.0/24"),
			decision: report.Allow, rule: "sgr-ref", allowed: []string{"172.16.0.20/32"},
		},
		{
			name:     "enterprise group: no intra-group default",
			inst:     web("sg-e"),
			groups:   []fGroup{{ID: "sg-e", Type: "enterprise", Inner: "Accept"}},
			q:        query("172.16.0.10", 8282, "tcp", "172.16.0.20/32"),
			decision: report.Drop, cause: report.CauseCloudSGNoAllow, detailHas: "enterprise",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]*fRegion{region: {
				Instances: []fInst{tt.inst}, Groups: tt.groups, PLs: tt.pls,
				NICs: []fNIC{{ID: "eni-peer", Instance: "i-peer", Private: "172.16.0.20", VSwitch: "vsw-1", Groups: []string{"sg-a", "sg-app", "sg-e"}}},
			}})
			steps := f.provider(region).Steps(context.Background(), tt.q)
			sg := layer(t, steps, "aliyun.security-group")
			if sg.Decision != tt.decision || sg.Cause != tt.cause {
				t.Fatalf("decision %s cause %q, want %s %q:\n%s", sg.Decision, sg.Cause, tt.decision, tt.cause, dump(steps))
			}
			if tt.rule != "" && (sg.Rule == nil || sg.Rule.ID != tt.rule) {
				t.Errorf("rule %+v, want %s", sg.Rule, tt.rule)
			}
			if !slices.Equal(sg.AllowedFrom, tt.allowed) {
				t.Errorf("allowed from %v, want %v", sg.AllowedFrom, tt.allowed)
			}
			if tt.fixHas != "" && !slices.ContainsFunc(sg.Fix, func(s string) bool { return strings.Contains(s, tt.fixHas) }) {
				t.Errorf("fix %q lacks %q", sg.Fix, tt.fixHas)
			}
			if tt.detailHas != "" && !strings.Contains(sg.Detail, tt.detailHas) {
				t.Errorf("detail %q lacks %q", sg.Detail, tt.detailHas)
			}
			if tt.maxCalls > 0 && len(f.actions()) > tt.maxCalls {
				t.Errorf("%d calls %v, want at most %d", len(f.actions()), f.actions(), tt.maxCalls)
			}
			readOnly(t, f)
		})
	}
}

func TestNetworkACL(t *testing.T) {
	allOut := []map[string]string{aclEntry("nae-out", "accept", "all", "-1/-1", "0.0.0.0/0", true)}
	tests := []struct {
		name     string
		in, out  []map[string]string
		decision report.Decision
		cause    string
		rule     string
		fixHas   string
	}{
		{"ordered first match: deny before allow", []map[string]string{
			aclEntry("nae-deny", "drop", "tcp", "8282/8282", "0.0.0.0/0", false),
			aclEntry("nae-all", "accept", "all", "-1/-1", "0.0.0.0/0", false)}, allOut,
			report.Drop, report.CauseCloudACLDeny, "nae-deny", "--UpdateIngressAclEntries true --IngressAclEntries.1.Policy accept --IngressAclEntries.1.Protocol tcp --IngressAclEntries.1.Port 8282/8282 --IngressAclEntries.1.SourceCidrIp 0.0.0.0/0"},
		{"allowed both ways", []map[string]string{
			aclEntry("nae-web", "accept", "tcp", "8282/8282", "0.0.0.0/0", false)}, allOut,
			report.Allow, "", "nae-web", ""},
		{"stateless: replies to ephemeral ports denied", []map[string]string{
			aclEntry("nae-web", "accept", "tcp", "8282/8282", "0.0.0.0/0", false)},
			[]map[string]string{aclEntry("nae-out80", "accept", "tcp", "80/80", "0.0.0.0/0", true)},
			report.Drop, report.CauseCloudACLDeny, "", "--UpdateEgressAclEntries true"},
		{"no entry matches", []map[string]string{
			aclEntry("nae-ssh", "accept", "tcp", "22/22", "0.0.0.0/0", false)}, allOut,
			report.Drop, report.CauseCloudACLDeny, "acl-1#implicit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]*fRegion{region: {
				Instances: []fInst{web("sg-a")},
				Groups:    []fGroup{{ID: "sg-a", Perms: []map[string]any{perm("sgr-ok", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0")}}},
				ACLs:      []fACL{{ID: "acl-1", VSwitches: []string{"vsw-1"}, In: tt.in, Out: tt.out}},
			}})
			steps := f.provider(region).Steps(context.Background(), query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"))
			acl := layer(t, steps, "aliyun.network-acl")
			if acl.Decision != tt.decision || acl.Cause != tt.cause {
				t.Fatalf("decision %s cause %q, want %s %q:\n%s", acl.Decision, acl.Cause, tt.decision, tt.cause, dump(steps))
			}
			if tt.rule != "" && (acl.Rule == nil || acl.Rule.ID != tt.rule) {
				t.Errorf("rule %+v, want %s", acl.Rule, tt.rule)
			}
			if tt.fixHas != "" && !slices.ContainsFunc(acl.Fix, func(s string) bool { return strings.Contains(s, tt.fixHas) }) {
				t.Errorf("fix %q lacks %q", acl.Fix, tt.fixHas)
			}
			readOnly(t, f)
		})
	}
	t.Run("absent ACL is skipped", func(t *testing.T) {
		f := newFake(t, map[string]*fRegion{region: {Instances: []fInst{web("sg-a")}, Groups: []fGroup{{ID: "sg-a"}}}})
		steps := f.provider(region).Steps(context.Background(), query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"))
		if acl := layer(t, steps, "aliyun.network-acl"); acl.Decision != report.Skipped {
			t.Errorf("decision %s, want skipped", acl.Decision)
		}
	})
}

func TestInstances(t *testing.T) {
	stopped := web("sg-a")
	stopped.Status = "Stopped"
	eip := web("sg-a")
	eip.Public, eip.EIP = "", "121.40.0.9"
	second := web("sg-a")
	second.NICs = append(second.NICs, fNIC{ID: "eni-second", Private: "172.16.1.30", VSwitch: "vsw-2", Groups: []string{"sg-second"}})
	classic := fInst{ID: "i-classic", Status: "Running", Net: "classic", Public: "42.1.1.1", Groups: []string{"sg-c"}, NICs: []fNIC{{Private: "10.0.0.5"}}}
	groups := []fGroup{
		{ID: "sg-a", Perms: []map[string]any{perm("sgr-a", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0")}},
		{ID: "sg-second", Inner: "Drop", Perms: []map[string]any{perm("sgr-second-drop", 1, "Drop", "TCP", "8282/8282", "172.16.0.0/12")}},
		{ID: "sg-c", Perms: []map[string]any{
			perm("sgr-c-intranet", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0"),
			perm("sgr-c-internet", 1, "Drop", "TCP", "8282/8282", "0.0.0.0/0", "NicType", "internet"),
		}},
	}
	tests := []struct {
		name  string
		insts []fInst
		swas  []fSWAS
		q     providers.Query
		check func(t *testing.T, steps []report.Step, f *fakeCloud)
	}{
		{"stopped instance", []fInst{stopped}, nil, query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			st := layer(t, steps, "aliyun.instance")
			if st.Decision != report.Drop || st.Cause != report.CauseInstanceNotRunning || st.Symptom != report.Timeout ||
				!slices.Contains(st.Fix, "aliyun ecs StartInstance --RegionId cn-hangzhou --InstanceId i-bp1web") {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"found by EIP after the public-IP search", []fInst{eip}, nil, query("121.40.0.9", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.security-group"); st.Decision != report.Allow {
				t.Errorf("got %s", dump(steps))
			}
			n := 0
			for _, c := range f.calls {
				if c.Action == "DescribeInstances" && c.Region == region {
					n++
				}
			}
			if n != 2 {
				t.Errorf("DescribeInstances called %d times, want 2 (public IP, then EIP)", n)
			}
		}},
		{"by name", []fInst{web("sg-a")}, nil, providers.Query{Name: "web", Source: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Port: 8282}, func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.security-group"); st.Decision != report.Allow || st.Address != "47.96.1.10" {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"by ID, not found", nil, nil, providers.Query{Instance: "i-missing", Source: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Port: 8282}, func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.instance"); st.Cause != report.CauseInstanceNotFound || st.Decision != report.Drop {
				t.Errorf("got %s", dump(steps))
			}
			if slices.Contains(f.actions(), "ListInstances") {
				t.Errorf("an ECS ID was looked up in SWAS: %v", f.actions())
			}
		}},
		{"not ours: skipped", nil, nil, query("8.8.8.8", 53, "udp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if len(steps) != 1 || steps[0].Decision != report.Skipped {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"secondary NIC groups decide its address", []fInst{second}, nil, query("172.16.1.30", 8282, "tcp", "172.16.0.0/12"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			st := layer(t, steps, "aliyun.security-group")
			if st.Decision != report.Drop || st.Rule == nil || st.Rule.ID != "sgr-second-drop" {
				t.Errorf("got %s", dump(steps))
			}
			if !slices.Contains(f.actions(), "DescribeNetworkInterfaces") {
				t.Errorf("DescribeNetworkInterfaces not called: %v", f.actions())
			}
		}},
		{"private address from the internet", []fInst{web("sg-a")}, nil, query("172.16.0.10", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.public-address"); st.Cause != report.CausePrivateAddress || !strings.Contains(st.Detail, "47.96.1.10") {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"classic network: internet NicType rules for the public address", []fInst{classic}, nil, query("42.1.1.1", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			st := layer(t, steps, "aliyun.security-group")
			if st.Decision != report.Drop || st.Rule == nil || st.Rule.ID != "sgr-c-internet" || !slices.ContainsFunc(st.Fix, func(s string) bool { return strings.HasSuffix(s, "--NicType internet") }) {
				t.Errorf("got %s", dump(steps))
			}
			if acl := layer(t, steps, "aliyun.network-acl"); acl.Decision != report.Skipped {
				t.Errorf("classic ACL %s", acl.Decision)
			}
		}},
		{"SWAS by public IP: TCP+UDP rule opens UDP", nil, []fSWAS{{ID: "2ad1ae67295445f598017499dc", Name: "blog", Status: "Running", Public: "39.1.2.3",
			Rules: []map[string]string{
				{"RuleId": "r-ssh", "RuleProtocol": "TCP", "Port": "22", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"},
				{"RuleId": "r-game", "RuleProtocol": "TCP+UDP", "Port": "8000/8300", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"},
			}}}, query("39.1.2.3", 8282, "udp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.swas-firewall"); st.Decision != report.Allow || st.Rule == nil || st.Rule.ID != "r-game" {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"SWAS closed port, rules paged", nil, []fSWAS{{ID: "2ad1ae67295445f598017499dc", Status: "Running", Public: "39.1.2.3",
			Rules: []map[string]string{
				{"RuleId": "r-ssh", "RuleProtocol": "TCP", "Port": "22", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"},
				{"RuleId": "r-web", "RuleProtocol": "TCP", "Port": "80", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"},
				{"RuleId": "r-mysql", "RuleProtocol": "TCP", "Port": "3306", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"},
			}}}, query("39.1.2.3", 3306, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
			if st := layer(t, steps, "aliyun.swas-firewall"); st.Decision != report.Allow || st.Rule.ID != "r-mysql" {
				t.Errorf("got %s", dump(steps))
			}
		}},
		{"SWAS port not opened", nil, []fSWAS{{ID: "2ad1ae67295445f598017499dc", Status: "Running", Public: "39.1.2.3",
			Rules: []map[string]string{{"RuleId": "r-ssh", "RuleProtocol": "TCP", "Port": "22", "SourceCidrIp": "0.0.0.0/0", "Policy": "accept"}}}},
			query("39.1.2.3", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
				st := layer(t, steps, "aliyun.swas-firewall")
				if st.Decision != report.Drop || st.Cause != report.CauseLightweightFirewall ||
					!slices.Contains(st.Fix, "aliyun swas-open CreateFirewallRule --RegionId cn-hangzhou --InstanceId 2ad1ae67295445f598017499dc --RuleProtocol TCP --Port 8282 --Remark portpath") {
					t.Errorf("got %s", dump(steps))
				}
			}},
		{"SWAS stopped", nil, []fSWAS{{ID: "2ad1ae67295445f598017499dc", Status: "Stopped", Public: "39.1.2.3"}},
			query("39.1.2.3", 8282, "tcp", "0.0.0.0/0"), func(t *testing.T, steps []report.Step, f *fakeCloud) {
				if st := layer(t, steps, "aliyun.instance"); st.Cause != report.CauseInstanceNotRunning {
					t.Errorf("got %s", dump(steps))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]*fRegion{region: {Instances: tt.insts, Groups: groups, SWAS: tt.swas}, "cn-beijing": {}})
			f.pageSize = 1
			steps := f.provider(region, "cn-beijing").Steps(context.Background(), tt.q)
			tt.check(t, steps, f)
			readOnly(t, f)
		})
	}
}

func TestPagingNextToken(t *testing.T) {
	f := newFake(t, map[string]*fRegion{region: {Instances: []fInst{web("sg-a")}, Groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{
		perm("sgr-1", 5, "Accept", "TCP", "22/22", "0.0.0.0/0"),
		perm("sgr-2", 5, "Accept", "TCP", "80/80", "0.0.0.0/0"),
		perm("sgr-3", 1, "Drop", "TCP", "8282/8282", "0.0.0.0/0"),
	}}}}})
	f.pageSize = 1
	steps := f.provider(region).Steps(context.Background(), query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"))
	if st := layer(t, steps, "aliyun.security-group"); st.Rule == nil || st.Rule.ID != "sgr-3" {
		t.Fatalf("the rule on the last page was not read: %s", dump(steps))
	}
	if n := strings.Count(strings.Join(f.actions(), " "), "DescribeSecurityGroupAttribute"); n != 3 {
		t.Errorf("%d pages read, want 3", n)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		action   string
		flt      fault
		decision report.Decision
		has      string
		attempts int
	}{
		{"throttled twice then answered", "DescribeSecurityGroupAttribute", fault{Status: 400, Code: "Throttling.User", Times: 2}, report.Allow, "", 3},
		{"throttled forever", "DescribeSecurityGroupAttribute", fault{Status: 400, Code: "Throttling.User", Times: -1}, report.Unknown, "throttled (Throttling.User) after 3 attempts", 3},
		{"5xx forever", "DescribeSecurityGroupAttribute", fault{Status: 503, Code: "ServiceUnavailable", Times: -1}, report.Unknown, "HTTP 503", 3},
		{"timeouts", "DescribeSecurityGroupAttribute", fault{Delay: 2 * time.Second, Times: -1}, report.Unknown, "timeout", 3},
		{"no permission", "DescribeSecurityGroupAttribute", fault{Status: 403, Code: "Forbidden.RAM", Times: -1}, report.Unknown, "grant the RAM action ecs:DescribeSecurityGroupAttribute", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]*fRegion{region: {Instances: []fInst{web("sg-a")},
				Groups: []fGroup{{ID: "sg-a", Perms: []map[string]any{perm("sgr-ok", 1, "Accept", "TCP", "8282/8282", "0.0.0.0/0")}}}}})
			f.faults[tt.action] = &tt.flt
			steps := f.provider(region).Steps(context.Background(), query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"))
			st := layer(t, steps, "aliyun.security-group")
			if st.Decision != tt.decision || !strings.Contains(st.Detail, tt.has) {
				t.Fatalf("decision %s detail %q, want %s with %q", st.Decision, st.Detail, tt.decision, tt.has)
			}
			if n := strings.Count(strings.Join(f.actions(), " "), tt.action); n != tt.attempts {
				t.Errorf("%s tried %d times, want %d", tt.action, n, tt.attempts)
			}
			for _, s := range steps {
				if strings.Contains(s.Detail, "fake-secret-value") || strings.Contains(s.Detail, "Signature=") || strings.Contains(s.Detail, "AccessKeyId=") {
					t.Errorf("a step quotes the request: %s", s.Detail)
				}
			}
			readOnly(t, f)
		})
	}
}

func TestCredentials(t *testing.T) {
	f := newFake(t, map[string]*fRegion{region: {Instances: []fInst{web("sg-a")}, Groups: []fGroup{{ID: "sg-a"}}}})
	q := query("47.96.1.10", 8282, "tcp", "0.0.0.0/0")
	p := func() *Provider {
		return New(Options{Regions: []string{region}, Endpoint: f.srv.URL, Backoff: time.Millisecond})
	}
	t.Run("none: skipped with help", func(t *testing.T) {
		steps := p().Steps(context.Background(), q)
		if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, "ALIBABA_CLOUD_ACCESS_KEY_ID") {
			t.Fatalf("got %s", dump(steps))
		}
	})
	for _, env := range [][2]string{
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
		{"ALICLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY_SECRET"},
		{"ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY"},
		{"ALIBABACLOUD_ACCESS_KEY_ID", "ALIBABACLOUD_ACCESS_KEY_SECRET"},
	} {
		t.Run(env[0], func(t *testing.T) {
			t.Setenv(env[0], "LTAI"+env[0])
			t.Setenv(env[1], "s3cret")
			f.calls = nil
			steps := p().Steps(context.Background(), q)
			if st := layer(t, steps, "aliyun.security-group"); st.Decision == report.Skipped {
				t.Fatalf("got %s", dump(steps))
			}
			if f.calls[0].AccessKeyID != "LTAI"+env[0] {
				t.Errorf("signed with %q", f.calls[0].AccessKeyID)
			}
		})
	}
	t.Run("aliyun CLI profile and its region", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("ALIBABA_CLOUD_PROFILE", "prod")
		os.MkdirAll(filepath.Join(home, ".aliyun"), 0o700)
		cfg := `{"current":"default","profiles":[{"name":"default","mode":"AK","access_key_id":"LTAIdefault","access_key_secret":"x","region_id":"cn-beijing"},
			{"name":"prod","mode":"AK","access_key_id":"LTAIprod","access_key_secret":"y","region_id":"cn-hangzhou"}]}`
		if err := os.WriteFile(filepath.Join(home, ".aliyun", "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		f.calls = nil
		steps := New(Options{Endpoint: f.srv.URL}).Steps(context.Background(), q)
		if st := layer(t, steps, "aliyun.security-group"); st.Decision == report.Skipped {
			t.Fatalf("got %s", dump(steps))
		}
		if f.calls[0].AccessKeyID != "LTAIprod" || f.calls[0].Region != region {
			t.Errorf("call %+v, want profile prod in %s", f.calls[0], region)
		}
	})
}

// BenchmarkCheckTwoGroups measures one check of an ECS instance with two security groups
// and a vSwitch ACL, and reports the API calls it costs.
func BenchmarkCheckTwoGroups(b *testing.B) {
	f := newFake(b, map[string]*fRegion{region: {Instances: []fInst{web("sg-a", "sg-b")},
		Groups: []fGroup{
			{ID: "sg-a", Perms: []map[string]any{perm("sgr-a", 10, "Accept", "TCP", "8282/8282", "0.0.0.0/0")}},
			{ID: "sg-b", Perms: []map[string]any{perm("sgr-b", 5, "Drop", "TCP", "1/65535", "0.0.0.0/0")}},
		},
		ACLs: []fACL{{ID: "acl-1", VSwitches: []string{"vsw-1"}, In: []map[string]string{aclEntry("a", "accept", "all", "-1/-1", "0.0.0.0/0", false)},
			Out: []map[string]string{aclEntry("b", "accept", "all", "-1/-1", "0.0.0.0/0", true)}}},
	}})
	p := f.provider(region)
	q := query("47.96.1.10", 8282, "tcp", "0.0.0.0/0")
	b.ResetTimer()
	for range b.N {
		p.Steps(context.Background(), q)
	}
	b.ReportMetric(float64(len(f.actions()))/float64(b.N), "calls/op")
}

func TestSearchFailures(t *testing.T) {
	t.Run("search failed everywhere: unknown, never not-found", func(t *testing.T) {
		f := newFake(t, map[string]*fRegion{region: {Instances: []fInst{web("sg-a")}}})
		f.faults["DescribeInstances"] = &fault{Status: 403, Code: "Forbidden.RAM", Times: -1}
		steps := f.provider(region).Steps(context.Background(), query("47.96.1.10", 8282, "tcp", "0.0.0.0/0"))
		if len(steps) != 1 || steps[0].Decision != report.Unknown || steps[0].Cause != "" || !strings.Contains(steps[0].Detail, "grant the RAM action ecs:DescribeInstances") {
			t.Fatalf("got %s", dump(steps))
		}
	})
	t.Run("nothing to look up", func(t *testing.T) {
		f := newFake(t, nil)
		steps := f.provider(region).Steps(context.Background(), providers.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Port: 80})
		if len(steps) != 1 || steps[0].Decision != report.Skipped || len(f.actions()) != 0 {
			t.Fatalf("got %s after %v", dump(steps), f.actions())
		}
	})
	t.Run("a region without SWAS endpoint is not an error", func(t *testing.T) {
		// what the SDK returns when swas.<region>.aliyuncs.com does not resolve
		err := &attemptsError{err: &url.Error{Op: "Post", URL: "https://swas.xx-nowhere-9.aliyuncs.com/", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: "swas.xx-nowhere-9.aliyuncs.com", IsNotFound: true}}}}
		if !notOffered(err) || notOffered(&attemptsError{err: errCallTimeout}) {
			t.Fatal("a name that does not resolve is not told apart from other failures")
		}
		if msg := apiMessage("swas-open:ListInstances", err); strings.Contains(msg, "https://") {
			t.Errorf("the message quotes the request URL: %s", msg)
		}
	})
}
