package aws

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/providers/aws/awstest"
	"github.com/portpath/portpath/report"
)

// world is the base account: one running instance with three security groups whose
// union (and only the union) opens tcp/8282 to the internet, an allow-all ACL and a
// public route table; a Lightsail instance whose firewall opens tcp/80 to IPv4 only.
func world() map[string]*awstest.Region {
	return map[string]*awstest.Region{
		"us-east-1": {
			Instances: []awstest.Instance{{ID: "i-0web", Name: "web", State: "running", ENIs: []awstest.ENI{{
				ID: "eni-1", Subnet: "subnet-a", VPC: "vpc-1", Groups: []string{"sg-a", "sg-b", "sg-c"},
				Private: "10.0.1.10", Public: "203.0.113.10", IPv6: []string{"2001:db8::10"},
			}}}},
			SGs: []awstest.SG{
				{ID: "sg-a", Name: "ssh", Perms: []awstest.Perm{{Proto: "tcp", From: 22, To: 22, CIDRs: []string{"198.51.100.0/24"}}}},
				{ID: "sg-b", Name: "low", Perms: []awstest.Perm{{Proto: "tcp", From: 8000, To: 8999, CIDRs: []string{"0.0.0.0/1"}}}},
				{ID: "sg-c", Name: "high", Perms: []awstest.Perm{{Proto: "6", From: 8282, To: 8282, CIDRs: []string{"128.0.0.0/1"}, CIDR6s: []string{"::/0"}}}},
			},
			ACLs: []awstest.ACL{{ID: "acl-a", Subnets: []string{"subnet-a"}, Entries: allowAllACL()}},
			RTs: []awstest.RouteTable{{ID: "rtb-a", VPC: "vpc-1", Subnets: []string{"subnet-a"}, Routes: []awstest.Route{
				{Dst: "10.0.0.0/16", GW: "local"}, {Dst: "0.0.0.0/0", GW: "igw-1"}, {Dst6: "::/0", GW: "igw-1"}}}},
			PLs: map[string][]string{"pl-office": {"192.0.2.0/25", "192.0.2.128/25", "198.51.100.0/24"}},
			LS: []awstest.LightsailInstance{{Name: "blog", State: "running", Public: "203.0.113.50", Private: "172.26.0.5", IPv6: []string{"2001:db8::50"},
				Ports: []awstest.Port{{From: 80, To: 80, Proto: "tcp", CIDRs: []string{"0.0.0.0/0"}}, {From: 22, To: 22, Proto: "tcp", Aliases: []string{"lightsail-connect"}}}}},
		},
		"eu-west-1": {},
	}
}

func allowAllACL() []awstest.Entry {
	return []awstest.Entry{
		{N: 100, Proto: "-1", Allow: true, CIDR: "0.0.0.0/0"},
		{N: 101, Proto: "-1", Allow: true, CIDR6: "::/0"},
		{N: 32767, Proto: "-1", CIDR: "0.0.0.0/0"},
		{N: 32768, Proto: "-1", CIDR6: "::/0"},
		{N: 100, Proto: "-1", Allow: true, Egress: true, CIDR: "0.0.0.0/0"},
		{N: 101, Proto: "-1", Allow: true, Egress: true, CIDR6: "::/0"},
		{N: 32767, Proto: "-1", Egress: true, CIDR: "0.0.0.0/0"},
		{N: 32768, Proto: "-1", Egress: true, CIDR6: "::/0"},
	}
}

func query(t testing.TB, target, from string, port uint16) providers.Query {
	t.Helper()
	q := providers.Query{Source: netip.MustParsePrefix(from), Proto: "tcp", Port: port}
	for _, a := range strings.Split(target, ",") {
		if a != "" {
			q.Addrs = append(q.Addrs, netip.MustParseAddr(a))
		}
	}
	return q
}

func stepOf(steps []report.Step, layer string) *report.Step {
	for i := range steps {
		if steps[i].Layer == layer {
			return &steps[i]
		}
	}
	return nil
}

// provider is the provider aimed at the fake, searching regions.
func provider(f *awstest.Server, regions ...string) *Provider {
	return New(Options{Regions: regions, Endpoint: f.URL, Config: f.Config()})
}

// assertReadOnly fails when the provider called anything but Describe*/Get*.
func assertReadOnly(t testing.TB, f *awstest.Server) {
	t.Helper()
	for _, a := range f.Actions() {
		if !strings.HasPrefix(a, "ec2:Describe") && !strings.HasPrefix(a, "ec2:Get") && !strings.HasPrefix(a, "lightsail:Get") {
			t.Errorf("non-read action called: %s", a)
		}
	}
}

type want struct {
	layer    string
	decision report.Decision
	cause    string
	rule     string   // substring of Rule.ID; "" = not checked
	detail   string   // substring of Detail; "" = not checked
	fix      string   // substring of some Fix; "" = not checked
	allowed  []string // AllowedFrom; nil = not checked
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(w map[string]*awstest.Region)
		target   string
		from     string
		port     uint16
		pageSize int
		q        func(*providers.Query)
		want     []want
	}{
		{name: "multi-SG union opens the port", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282, pageSize: 1,
			want: []want{
				{layer: "aws.instance", decision: report.Allow, detail: "i-0web (web) in us-east-1 is running"},
				{layer: "aws.route", decision: report.Allow, rule: "rtb-a", detail: "igw-1"},
				{layer: "aws.network-acl", decision: report.Allow, rule: "acl-a#100"},
				{layer: "aws.security-group", decision: report.Allow, rule: "ingress", detail: "union of sg-b ingress #1, sg-c ingress #1"},
			}},
		{name: "one group alone allows only half", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) { w["us-east-1"].SGs[2].Perms[0].CIDRs = nil },
			want: []want{{layer: "aws.security-group", decision: report.Allow, rule: "sg-b ingress #1", allowed: []string{"0.0.0.0/1"}}}},
		{name: "no group allows", target: "203.0.113.10", from: "0.0.0.0/0", port: 9999,
			want: []want{{layer: "aws.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow, detail: "no rule allows tcp/9999",
				fix: "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id sg-a --protocol tcp --port 9999 --cidr 0.0.0.0/0"}}},
		{name: "IPv6 destination uses IPv6 ranges", target: "2001:db8::10", from: "0.0.0.0/0", port: 8282,
			want: []want{{layer: "aws.security-group", decision: report.Allow, rule: "sg-c ingress #1"}, {layer: "aws.network-acl", decision: report.Allow, rule: "acl-a#101"}}},
		{name: "IPv6 no allow gives --ip-permissions fix", target: "2001:db8::10", from: "0.0.0.0/0", port: 22,
			want: []want{{layer: "aws.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow, fix: "Ipv6Ranges=[{CidrIpv6=::/0}]"}}},
		{name: "SG reference does not match an internet source", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].SGs[1].Perms = []awstest.Perm{{Proto: "tcp", From: 8282, To: 8282, RefGroups: []string{"sg-lb"}}}
				w["us-east-1"].SGs[2].Perms = nil
			},
			want: []want{{layer: "aws.security-group", decision: report.Drop, cause: report.CauseCloudSGNoAllow, detail: "private addresses only"}}},
		{name: "SG reference from a private source is unknown", target: "10.0.1.10", from: "10.0.0.0/16", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].SGs[1].Perms = []awstest.Perm{{Proto: "tcp", From: 8282, To: 8282, RefGroups: []string{"sg-lb"}}}
				w["us-east-1"].SGs[2].Perms = nil
			},
			want: []want{{layer: "aws.security-group", decision: report.Unknown, detail: "members of sg-lb"}, {layer: "aws.route", decision: report.Allow, detail: "local"}}},
		{name: "prefix list expanded (paged)", target: "203.0.113.10", from: "0.0.0.0/0", port: 443, pageSize: 1,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].SGs[0].Perms = append(w["us-east-1"].SGs[0].Perms, awstest.Perm{Proto: "tcp", From: 443, To: 443, PLs: []string{"pl-office"}})
			},
			want: []want{{layer: "aws.security-group", decision: report.Allow, rule: "sg-a ingress #2", allowed: []string{"192.0.2.0/24", "198.51.100.0/24"}}}},
		{name: "missing prefix list is unknown, never open", target: "203.0.113.10", from: "192.0.2.1/32", port: 443,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].SGs[0].Perms = append(w["us-east-1"].SGs[0].Perms, awstest.Perm{Proto: "tcp", From: 443, To: 443, PLs: []string{"pl-gone"}})
			},
			want: []want{{layer: "aws.security-group", decision: report.Unknown, detail: "pl-gone"}}},
		{name: "NACL deny before allow", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].ACLs[0].Entries = append([]awstest.Entry{{N: 90, Proto: "6", CIDR: "0.0.0.0/0", From: 8282, To: 8282}}, allowAllACL()...)
			},
			want: []want{{layer: "aws.network-acl", decision: report.Drop, cause: report.CauseCloudACLDeny, rule: "acl-a#90",
				fix: "create-network-acl-entry --region us-east-1 --network-acl-id acl-a --ingress --rule-number 89 --protocol tcp --port-range From=8282,To=8282 --cidr-block 0.0.0.0/0 --rule-action allow"}}},
		{name: "NACL deny for part of the source", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].ACLs[0].Entries = append([]awstest.Entry{{N: 90, Proto: "-1", CIDR: "0.0.0.0/1"}}, allowAllACL()...)
			},
			want: []want{{layer: "aws.network-acl", decision: report.Allow, allowed: []string{"128.0.0.0/1"}}}},
		{name: "NACL without egress for replies", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].ACLs[0].Entries = []awstest.Entry{
					{N: 100, Proto: "6", Allow: true, CIDR: "0.0.0.0/0", From: 8282, To: 8282},
					{N: 32767, Proto: "-1", CIDR: "0.0.0.0/0"},
					{N: 100, Proto: "6", Allow: true, Egress: true, CIDR: "0.0.0.0/0", From: 80, To: 443},
					{N: 32767, Proto: "-1", Egress: true, CIDR: "0.0.0.0/0"},
				}
			},
			want: []want{{layer: "aws.network-acl", decision: report.Drop, cause: report.CauseCloudACLDeny, rule: "acl-a#*", detail: "stateless",
				fix: "--egress --rule-number 32766 --protocol tcp --port-range From=1024,To=65535 --cidr-block 0.0.0.0/0"}}},
		{name: "NACL egress only for high ports is conditional", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].ACLs[0].Entries = []awstest.Entry{
					{N: 100, Proto: "-1", Allow: true, CIDR: "0.0.0.0/0"},
					{N: 100, Proto: "6", Allow: true, Egress: true, CIDR: "0.0.0.0/0", From: 32768, To: 65535},
					{N: 32767, Proto: "-1", Egress: true, CIDR: "0.0.0.0/0"},
				}
			},
			want: []want{{layer: "aws.network-acl", decision: report.Allow, detail: "replies"}}},
		{name: "main route table fallback", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				r := w["us-east-1"]
				r.RTs = []awstest.RouteTable{
					{ID: "rtb-other-main", VPC: "vpc-2", Main: true, Routes: []awstest.Route{{Dst: "0.0.0.0/0", GW: "nat-2"}}},
					{ID: "rtb-main", VPC: "vpc-1", Main: true, Routes: []awstest.Route{{Dst: "10.0.0.0/16", GW: "local"}, {Dst: "0.0.0.0/0", GW: "igw-1"}}},
				}
			},
			want: []want{{layer: "aws.route", decision: report.Allow, rule: "rtb-main", detail: "main table of vpc-1"}}},
		{name: "no internet gateway", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].RTs[0].Routes = []awstest.Route{{Dst: "10.0.0.0/16", GW: "local"}, {Dst: "0.0.0.0/0", GW: "nat-9"}}
			},
			want: []want{{layer: "aws.route", decision: report.Drop, cause: report.CauseNoPublicPath, detail: "nat-9", fix: "describe-internet-gateways"}}},
		{name: "blackhole route", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].RTs[0].Routes = []awstest.Route{{Dst: "0.0.0.0/0", GW: "igw-old", State: "blackhole"}}
			},
			want: []want{{layer: "aws.route", decision: report.Drop, cause: report.CauseNoPublicPath, detail: "blackhole"}}},
		{name: "private address from the internet", target: "10.0.1.10", from: "0.0.0.0/0", port: 8282,
			want: []want{{layer: "aws.route", decision: report.Drop, cause: report.CausePrivateAddress, detail: "203.0.113.10"}}},
		{name: "no public IP on the instance named by ID", target: "", from: "0.0.0.0/0", port: 8282,
			q: func(q *providers.Query) { q.Instance = "i-0web" },
			edit: func(w map[string]*awstest.Region) {
				w["us-east-1"].Instances[0].ENIs[0].Public = ""
				w["us-east-1"].Instances[0].ENIs[0].IPv6 = nil
			},
			want: []want{{layer: "aws.route", decision: report.Drop, cause: report.CausePrivateAddress, fix: "aws ec2 associate-address --region us-east-1 --network-interface-id eni-1"}}},
		{name: "found by Name tag", target: "", from: "0.0.0.0/0", port: 8282,
			q:    func(q *providers.Query) { q.Name = "web" },
			want: []want{{layer: "aws.instance", decision: report.Allow}, {layer: "aws.security-group", decision: report.Allow}}},
		{name: "stopped instance", target: "203.0.113.10", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) { w["us-east-1"].Instances[0].State = "stopped" },
			want: []want{{layer: "aws.instance", decision: report.Drop, cause: report.CauseInstanceNotRunning, detail: "stopped", fix: "start-instances"}}},
		{name: "not found lists the regions", target: "198.18.7.7", from: "0.0.0.0/0", port: 8282,
			want: []want{{layer: "aws.instance", decision: report.Skipped, cause: report.CauseInstanceNotFound, detail: "us-east-1, eu-west-1"}}},
		{name: "named instance not found blocks", target: "", from: "0.0.0.0/0", port: 8282,
			q:    func(q *providers.Query) { q.Instance = "i-nope" },
			want: []want{{layer: "aws.instance", decision: report.Drop, cause: report.CauseInstanceNotFound, detail: "us-east-1, eu-west-1"}}},
		{name: "instance in the second region", target: "203.0.113.99", from: "0.0.0.0/0", port: 8282,
			edit: func(w map[string]*awstest.Region) {
				eu := w["eu-west-1"]
				us := w["us-east-1"]
				*eu = *us
				eu.LS = nil
				eu.Instances = []awstest.Instance{{ID: "i-0eu", Name: "eu", State: "running", ENIs: []awstest.ENI{{ID: "eni-9", Subnet: "subnet-a", VPC: "vpc-1", Groups: []string{"sg-c"}, Private: "10.0.1.9", Public: "203.0.113.99"}}}}
				w["us-east-1"] = &awstest.Region{}
			},
			want: []want{{layer: "aws.instance", decision: report.Allow, detail: "eu-west-1"},
				{layer: "aws.security-group", decision: report.Allow, fix: "", allowed: []string{"128.0.0.0/1"}}}},
		{name: "Lightsail IPv4-only rule with an IPv6 source", target: "2001:db8::50", from: "::/0", port: 80,
			want: []want{{layer: "aws.instance", decision: report.Allow, detail: "Lightsail instance blog"},
				{layer: "aws.lightsail-firewall", decision: report.Drop, cause: report.CauseLightweightFirewall, detail: "IPv4 sources only",
					fix: "aws lightsail open-instance-public-ports --region us-east-1 --instance-name blog --port-info fromPort=80,toPort=80,protocol=tcp,ipv6Cidrs=::/0"}}},
		{name: "Lightsail IPv4 allowed", target: "203.0.113.50", from: "0.0.0.0/0", port: 80, pageSize: 1,
			want: []want{{layer: "aws.lightsail-firewall", decision: report.Allow, rule: "blog port #1"}}},
		{name: "Lightsail browser-SSH alias does not open to the internet", target: "203.0.113.50", from: "0.0.0.0/0", port: 22,
			want: []want{{layer: "aws.lightsail-firewall", decision: report.Drop, cause: report.CauseLightweightFirewall}}},
		{name: "Lightsail stopped", target: "203.0.113.50", from: "0.0.0.0/0", port: 80,
			edit: func(w map[string]*awstest.Region) { w["us-east-1"].LS[0].State = "stopped" },
			want: []want{{layer: "aws.instance", decision: report.Drop, cause: report.CauseInstanceNotRunning}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := world()
			if tt.edit != nil {
				tt.edit(w)
			}
			f := awstest.New(t, w)
			f.PageSize = tt.pageSize
			q := query(t, tt.target, tt.from, tt.port)
			if tt.q != nil {
				tt.q(&q)
			}
			steps := provider(f, "us-east-1", "eu-west-1").Steps(t.Context(), q)
			for _, wt := range tt.want {
				s := stepOf(steps, wt.layer)
				if s == nil {
					t.Fatalf("no %s step in %+v", wt.layer, steps)
				}
				if s.Decision != wt.decision || s.Cause != wt.cause {
					t.Errorf("%s: decision %s cause %q; want %s %q (detail: %s)", wt.layer, s.Decision, s.Cause, wt.decision, wt.cause, s.Detail)
				}
				if wt.rule != "" && (s.Rule == nil || !strings.Contains(s.Rule.ID, wt.rule)) {
					t.Errorf("%s: rule %+v; want ID containing %q", wt.layer, s.Rule, wt.rule)
				}
				if !strings.Contains(s.Detail, wt.detail) {
					t.Errorf("%s: detail %q; want it to contain %q", wt.layer, s.Detail, wt.detail)
				}
				if wt.fix != "" && !slices.ContainsFunc(s.Fix, func(x string) bool { return strings.Contains(x, wt.fix) }) {
					t.Errorf("%s: fix %q; want one containing %q", wt.layer, s.Fix, wt.fix)
				}
				if wt.allowed != nil && !slices.Equal(s.AllowedFrom, wt.allowed) {
					t.Errorf("%s: allowed from %v; want %v", wt.layer, s.AllowedFrom, wt.allowed)
				}
				if s.Decision.Blocks() && s.Symptom != report.Timeout {
					t.Errorf("%s: blocking cloud step predicts %q; want timeout", wt.layer, s.Symptom)
				}
			}
			for _, s := range steps {
				if s.Decision == report.Allow && s.Cause != "" {
					t.Errorf("%s allows but carries cause %s", s.Layer, s.Cause)
				}
			}
			assertReadOnly(t, f)
		})
	}
}

// TestMainTableNeedsVPCFilter checks the main route table is asked with the VPC, so
// another VPC's main table is never taken.
func TestMainTableNeedsVPCFilter(t *testing.T) {
	w := world()
	w["us-east-1"].RTs = []awstest.RouteTable{
		{ID: "rtb-other-main", VPC: "vpc-2", Main: true, Routes: []awstest.Route{{Dst: "0.0.0.0/0", GW: "igw-2"}}},
		{ID: "rtb-main", VPC: "vpc-1", Main: true, Routes: []awstest.Route{{Dst: "0.0.0.0/0", GW: "nat-1"}}},
	}
	f := awstest.New(t, w)
	steps := provider(f, "us-east-1").Steps(t.Context(), query(t, "203.0.113.10", "0.0.0.0/0", 8282))
	s := stepOf(steps, "aws.route")
	if s == nil || s.Decision != report.Drop || s.Rule == nil || s.Rule.ID != "rtb-main" {
		t.Fatalf("route step %+v; want a drop by rtb-main", s)
	}
	if n := count(f.Actions(), "ec2:DescribeRouteTables"); n != 2 {
		t.Errorf("DescribeRouteTables called %d times; want 2 (subnet, then main)", n)
	}
}

func count(xs []string, s string) int {
	n := 0
	for _, x := range xs {
		if x == s {
			n++
		}
	}
	return n
}

// TestFaults injects throttling, server errors, timeouts and missing permissions: calls are
// retried a bounded number of times, and the layer becomes unknown — never open.
func TestFaults(t *testing.T) {
	tests := []struct {
		name      string
		action    string
		flt       awstest.Fault
		layer     string
		decision  report.Decision
		detail    string
		wantCalls int
	}{
		{"throttled for good", "ec2:DescribeSecurityGroups", awstest.Fault{Status: 503, Code: "RequestLimitExceeded", Times: -1}, "aws.security-group", report.Unknown, "throttled", maxAttempts},
		{"throttled then fine", "ec2:DescribeSecurityGroups", awstest.Fault{Status: 503, Code: "RequestLimitExceeded", Times: 2}, "aws.security-group", report.Allow, "allowed", 3},
		{"server error", "ec2:DescribeNetworkAcls", awstest.Fault{Status: 500, Code: "InternalError", Times: -1}, "aws.network-acl", report.Unknown, "ec2:DescribeNetworkAcls", maxAttempts},
		{"timeout", "ec2:DescribeRouteTables", awstest.Fault{Delay: 3 * time.Second, Times: -1}, "aws.route", report.Unknown, "ec2:DescribeRouteTables", maxAttempts},
		{"no permission for groups", "ec2:DescribeSecurityGroups", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Times: -1}, "aws.security-group", report.Unknown, "grant ec2:DescribeSecurityGroups", 1},
		{"no permission for ACLs", "ec2:DescribeNetworkAcls", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Times: -1}, "aws.network-acl", report.Unknown, "ec2:DescribeNetworkAcls", 1},
		{"no permission to find instances", "ec2:DescribeInstances", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Times: -1}, "aws.instance", report.Unknown, "grant ec2:DescribeInstances", 1},
		{"Lightsail denied", "lightsail:GetInstances", awstest.Fault{Status: 400, Code: "AccessDeniedException", Times: -1}, "aws.instance", report.Allow, "i-0web", 1},
		{"prefix list denied", "ec2:GetManagedPrefixListEntries", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Times: -1}, "aws.security-group", report.Unknown, "ec2:GetManagedPrefixListEntries", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := world()
			w["us-east-1"].SGs[0].Perms = append(w["us-east-1"].SGs[0].Perms, awstest.Perm{Proto: "tcp", From: 8282, To: 8282, PLs: []string{"pl-office"}})
			w["us-east-1"].SGs[1].Perms, w["us-east-1"].SGs[2].Perms = nil, nil
			f := awstest.New(t, w)
			f.SetFault(tt.action, tt.flt)
			start := time.Now()
			steps := provider(f, "us-east-1").Steps(t.Context(), query(t, "203.0.113.10", "192.0.2.1/32", 8282))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v; retries are not bounded", d)
			}
			s := stepOf(steps, tt.layer)
			if s == nil {
				t.Fatalf("no %s step in %+v", tt.layer, steps)
			}
			if s.Decision != tt.decision || !strings.Contains(s.Detail, tt.detail) {
				t.Errorf("%s: %s %q; want %s containing %q", tt.layer, s.Decision, s.Detail, tt.decision, tt.detail)
			}
			if n := count(f.Actions(), tt.action); n != tt.wantCalls {
				t.Errorf("%s called %d times; want %d", tt.action, n, tt.wantCalls)
			}
			for _, st := range steps {
				if strings.Contains(st.Detail, "fake-secret-key") || strings.Contains(st.Detail, "AKIDFAKE") {
					t.Errorf("credentials in output: %s", st.Detail)
				}
			}
			assertReadOnly(t, f)
		})
	}
}

// TestDescribeRegions searches every enabled region when none is named.
func TestDescribeRegions(t *testing.T) {
	w := world()
	w["ap-south-1"] = &awstest.Region{Instances: []awstest.Instance{{ID: "i-0ap", State: "running", ENIs: []awstest.ENI{{ID: "eni-ap", Subnet: "s", VPC: "v", Private: "10.9.0.1", Public: "198.51.100.77"}}}}}
	f := awstest.New(t, w)
	steps := provider(f).Steps(t.Context(), query(t, "198.51.100.77", "0.0.0.0/0", 8282))
	s := stepOf(steps, "aws.instance")
	if s == nil || s.Decision != report.Allow || !strings.Contains(s.Detail, "i-0ap") {
		t.Fatalf("instance step %+v; want i-0ap found", s)
	}
	asked := map[string]bool{}
	for _, c := range f.Calls() {
		if c.Action == "ec2:DescribeInstances" {
			asked[c.Region] = true
		}
	}
	if acts := f.Actions(); count(acts, "ec2:DescribeRegions") != 1 || len(asked) != 3 {
		t.Errorf("actions %v in regions %v; want one DescribeRegions and DescribeInstances in each of 3 regions", acts, asked)
	}
	f.SetFault("ec2:DescribeRegions", awstest.Fault{Status: 403, Code: "UnauthorizedOperation", Times: -1})
	steps = provider(f).Steps(t.Context(), query(t, "198.51.100.77", "0.0.0.0/0", 8282))
	if len(steps) != 1 || steps[0].Decision != report.Unknown || !strings.Contains(steps[0].Detail, "ec2:DescribeRegions") {
		t.Errorf("steps %+v; want one unknown naming ec2:DescribeRegions", steps)
	}
}

// scrubAWSEnv removes every AWS_* variable and points the shared files at nothing, so the
// developer's credentials and this machine's metadata endpoint stay out of the test.
func scrubAWSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestNoCredentialsIsOneSkippedStep(t *testing.T) {
	scrubAWSEnv(t)
	f := awstest.New(t, world())
	start := time.Now()
	steps := New(Options{Regions: []string{"us-east-1"}, Endpoint: f.URL}).Steps(t.Context(), query(t, "203.0.113.10", "0.0.0.0/0", 8282))
	if d := time.Since(start); d > credentialTimeout+time.Second {
		t.Errorf("took %v to find there are no credentials", d)
	}
	if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, "AWS_ACCESS_KEY_ID") {
		t.Fatalf("steps %+v; want one skipped step saying how to give credentials", steps)
	}
	if n := len(f.Actions()); n != 0 {
		t.Errorf("%d calls without credentials", n)
	}
	steps = New(Options{Profile: "nosuch", Endpoint: f.URL}).Steps(t.Context(), query(t, "203.0.113.10", "0.0.0.0/0", 8282))
	if len(steps) != 1 || steps[0].Decision != report.Skipped || !strings.Contains(steps[0].Detail, "nosuch") {
		t.Errorf("steps %+v; want a skipped step naming the missing profile", steps)
	}
}

func TestDefaultChainFromEnv(t *testing.T) {
	scrubAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	f := awstest.New(t, world())
	steps := New(Options{Regions: []string{"us-east-1"}, Endpoint: f.URL}).Steps(t.Context(), query(t, "203.0.113.10", "0.0.0.0/0", 8282))
	if s := stepOf(steps, "aws.security-group"); s == nil || s.Decision != report.Allow {
		t.Fatalf("steps %+v; want the security group evaluated through the default chain", steps)
	}
}

// TestEveryOwnerEvaluated: a private address can belong to an instance in each of two
// regions; both are evaluated, each step naming its address.
func TestEveryOwnerEvaluated(t *testing.T) {
	w := world()
	eu := *w["us-east-1"]
	eu.LS = nil
	eu.Instances = []awstest.Instance{{ID: "i-0twin", Name: "twin", State: "stopped", ENIs: []awstest.ENI{{ID: "eni-t", Subnet: "subnet-a", VPC: "vpc-1", Private: "10.0.1.10"}}}}
	w["eu-west-1"] = &eu
	f := awstest.New(t, w)
	steps := provider(f, "us-east-1", "eu-west-1").Steps(t.Context(), query(t, "10.0.1.10", "10.0.0.0/16", 8282))
	var insts []string
	for _, s := range steps {
		if s.Layer == "aws.instance" {
			insts = append(insts, string(s.Decision)+" "+s.Rule.ID)
		}
	}
	if strings.Join(insts, ", ") != "drop i-0twin, allow i-0web" {
		t.Errorf("instances %v; want i-0web evaluated and i-0twin reported stopped", insts)
	}
	if s := stepOf(steps, "aws.security-group"); s == nil || s.Address != "10.0.1.10" {
		t.Errorf("security-group step %+v; want it for 10.0.1.10", s)
	}
	if steps := provider(f, "us-east-1").Steps(t.Context(), providers.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Port: 1}); len(steps) != 1 || steps[0].Decision != report.Skipped {
		t.Errorf("no address and no name: %+v; want one skipped step", steps)
	}
}
