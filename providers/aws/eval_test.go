package aws

import (
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	lstypes "github.com/aws/aws-sdk-go-v2/service/lightsail/types"

	"github.com/portpath/portpath/report"
)

func TestTimeoutOrder(t *testing.T) {
	if !(credentialTimeout < callTimeout && maxBackoff < callTimeout && maxAttempts >= 2) {
		t.Errorf("credential %v, call %v, backoff %v, attempts %d: finding credentials must be quicker than one call, a backoff shorter than a call, and calls retried", credentialTimeout, callTimeout, maxBackoff, maxAttempts)
	}
}

func entry(n int32, egress, allow bool, proto, cidr string, ports ...int32) ec2types.NetworkAclEntry {
	e := ec2types.NetworkAclEntry{RuleNumber: aws.Int32(n), Egress: aws.Bool(egress), Protocol: aws.String(proto), RuleAction: ec2types.RuleActionDeny}
	if allow {
		e.RuleAction = ec2types.RuleActionAllow
	}
	if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is6() {
		e.Ipv6CidrBlock = aws.String(cidr)
	} else {
		e.CidrBlock = aws.String(cidr)
	}
	if len(ports) == 2 {
		e.PortRange = &ec2types.PortRange{From: aws.Int32(ports[0]), To: aws.Int32(ports[1])}
	}
	return e
}

func TestEvalNetworkACL(t *testing.T) {
	c := check{Region: "r", Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParseAddr("203.0.113.1"), Proto: "tcp", Port: 8282}
	tests := []struct {
		name     string
		entries  []ec2types.NetworkAclEntry
		decision report.Decision
		rule     string
		cond     bool
		allowed  int // len(AllowedFrom)
	}{
		{"rule order, not list order", []ec2types.NetworkAclEntry{
			entry(200, false, true, "-1", "0.0.0.0/0"), entry(100, false, false, "6", "0.0.0.0/0", 8000, 9000),
			entry(100, true, true, "-1", "0.0.0.0/0")}, report.Drop, "r#100", false, 0},
		{"deny for another port does not matter", []ec2types.NetworkAclEntry{
			entry(50, false, false, "6", "0.0.0.0/0", 22, 22), entry(100, false, true, "6", "0.0.0.0/0", 8282, 8282),
			entry(100, true, true, "6", "0.0.0.0/0", 1024, 65535)}, report.Allow, "r#100", false, 0},
		{"udp entry does not match tcp", []ec2types.NetworkAclEntry{
			entry(100, false, true, "17", "0.0.0.0/0"), entry(100, true, true, "-1", "0.0.0.0/0")}, report.Drop, "r#implicit", false, 0},
		{"IPv6 entries do not count for IPv4", []ec2types.NetworkAclEntry{
			entry(100, false, true, "-1", "::/0"), entry(101, true, true, "-1", "::/0")}, report.Drop, "r#implicit", false, 0},
		{"egress only to 1024-32767 drops", []ec2types.NetworkAclEntry{
			entry(100, false, true, "-1", "0.0.0.0/0"), entry(100, true, true, "6", "0.0.0.0/0", 1024, 32767)}, report.Drop, "r#implicit", false, 0},
		{"egress denying low ephemeral ports is conditional", []ec2types.NetworkAclEntry{
			entry(100, false, true, "-1", "0.0.0.0/0"), entry(90, true, false, "6", "0.0.0.0/0", 1024, 2047), entry(100, true, true, "-1", "0.0.0.0/0")}, report.Allow, "r#100", true, 0},
		{"egress to half the internet", []ec2types.NetworkAclEntry{
			entry(100, false, true, "-1", "0.0.0.0/0"), entry(100, true, true, "-1", "128.0.0.0/1")}, report.Allow, "r#100", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := evalNetworkACL(c, "subnet", ec2types.NetworkAcl{NetworkAclId: aws.String("r"), Entries: tt.entries})
			if st.Decision != tt.decision || st.Rule == nil || st.Rule.ID != tt.rule || (st.Conditional != "") != tt.cond || len(st.AllowedFrom) != tt.allowed {
				t.Errorf("%s rule %+v cond %q allowed %v; want %s %s cond=%v %d (%s)", st.Decision, st.Rule, st.Conditional, st.AllowedFrom, tt.decision, tt.rule, tt.cond, tt.allowed, st.Detail)
			}
		})
	}
}

func TestProtoAndPorts(t *testing.T) {
	tests := []struct {
		rule, proto string
		want        bool
	}{
		{"tcp", "tcp", true}, {"6", "tcp", true}, {"TCP", "tcp", true}, {"-1", "udp", true}, {"all", "tcp", true},
		{"udp", "tcp", false}, {"17", "udp", true}, {"icmp", "tcp", false}, {"50", "tcp", false}, {"", "tcp", false},
	}
	for _, tt := range tests {
		if got := protoMatches(tt.rule, tt.proto); got != tt.want {
			t.Errorf("protoMatches(%q, %q) = %v", tt.rule, tt.proto, got)
		}
	}
	if p := portsOf(aws.Int32(-1), aws.Int32(-1)); p != report.AllPorts {
		t.Errorf("-1/-1 = %v; want all ports", p)
	}
	if p := portsOf(aws.Int32(90), aws.Int32(80)); p.Contains(85) {
		t.Errorf("a backwards range %v matches", p)
	}
}

// FuzzEvaluate feeds arbitrary rule values, as an API could return them, to every
// evaluator: they must never panic, and an allow must never come from a rule set that
// holds no allow for the protocol.
func FuzzEvaluate(f *testing.F) {
	f.Add("tcp", "0.0.0.0/0", int32(8282), int32(8282), int32(100), "203.0.113.0/24", uint16(8282))
	f.Add("-1", "::/0", int32(-1), int32(-1), int32(32767), "::/0", uint16(1))
	f.Add("6", "10.0.0.0/8", int32(70000), int32(-5), int32(0), "10.1.2.3/32", uint16(65535))
	f.Fuzz(func(t *testing.T, proto, cidr string, from, to, num int32, src string, port uint16) {
		s, err := report.ParsePrefixOrAddr(src)
		if err != nil {
			return
		}
		dst := netip.MustParseAddr("203.0.113.9")
		if s.Addr().Is6() {
			dst = netip.MustParseAddr("2001:db8::9")
		}
		c := check{Region: "r", Source: s, Dst: dst, Proto: "tcp", Port: port}
		sg := ec2types.SecurityGroup{GroupId: aws.String("sg-f"), IpPermissions: []ec2types.IpPermission{{
			IpProtocol: aws.String(proto), FromPort: aws.Int32(from), ToPort: aws.Int32(to),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String(cidr)}}, Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String(cidr)}},
			PrefixListIds: []ec2types.PrefixListId{{PrefixListId: aws.String(cidr)}}}}}
		st := evalSecurityGroups(c, "eni", []string{"sg-f"}, []ec2types.SecurityGroup{sg}, map[string][]netip.Prefix{})
		if st.Decision == report.Allow && !protoMatches(proto, "tcp") {
			t.Errorf("allowed by a %q rule", proto)
		}
		acl := ec2types.NetworkAcl{NetworkAclId: aws.String("acl-f"), Entries: []ec2types.NetworkAclEntry{
			{RuleNumber: aws.Int32(num), Protocol: aws.String(proto), RuleAction: ec2types.RuleActionAllow, Egress: aws.Bool(false),
				CidrBlock: aws.String(cidr), Ipv6CidrBlock: aws.String(cidr), PortRange: &ec2types.PortRange{From: aws.Int32(from), To: aws.Int32(to)}},
			{RuleNumber: aws.Int32(num), Protocol: aws.String(proto), RuleAction: ec2types.RuleActionAllow, Egress: aws.Bool(true),
				CidrBlock: aws.String(cidr), Ipv6CidrBlock: aws.String(cidr)},
		}}
		if st := evalNetworkACL(c, "subnet", acl); st.Decision == report.Allow && !protoMatches(proto, "tcp") {
			t.Errorf("ACL allowed by a %q entry", proto)
		}
		rt := ec2types.RouteTable{RouteTableId: aws.String("rtb-f"), Routes: []ec2types.Route{{DestinationCidrBlock: aws.String(cidr), DestinationIpv6CidrBlock: aws.String(cidr), GatewayId: aws.String(proto)}}}
		_ = evalRoute(c, routeView{ENI: "eni", DstPublic: true, PublicIP: "203.0.113.9", Table: &rt})
		ls := []lstypes.InstancePortState{{FromPort: from, ToPort: to, Protocol: lstypes.NetworkProtocol(proto), State: lstypes.PortStateOpen, Cidrs: []string{cidr}, Ipv6Cidrs: []string{cidr}}}
		if st := evalLightsail(c, "n", ls); st.Decision == report.Allow && !protoMatches(proto, "tcp") {
			t.Errorf("Lightsail allowed by a %q entry", proto)
		}
	})
}
