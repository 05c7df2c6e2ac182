package tencent

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// TestPaging reads lists longer than one page: 130 CVM instances of one name (two
// DescribeInstances pages), 120 network ACLs in their VPC with their subnet's the last one
// (two pages), and a Lighthouse firewall of 230 rules whose accepting rule is on the third page.
func TestPaging(t *testing.T) {
	withKeys(t)
	allowAll := []fEntry{{Protocol: "ALL", Port: "ALL", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"}}
	r := &fRegion{SGs: map[string][]fPolicy{"sg-pool": {{PolicyIndex: 0, Protocol: "TCP", Port: "9999", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"}}}}
	for i := range 130 {
		r.CVM = append(r.CVM, fInstance{ID: fmt.Sprintf("ins-p%03d", i), Name: "pool", State: "RUNNING",
			Private: []string{fmt.Sprintf("10.50.0.%d", i+1)}, VPC: "vpc-pool", Subnet: "subnet-pool", Groups: []string{"sg-pool"}})
	}
	for i := range 120 {
		a := fACL{ID: fmt.Sprintf("acl-%03d", i), VPC: "vpc-pool", Subnets: []string{fmt.Sprintf("subnet-o%d", i)}}
		if i == 119 {
			a.Subnets, a.In, a.Out = []string{"subnet-pool"}, allowAll, allowAll
		}
		r.ACLs = append(r.ACLs, a)
	}
	var fw []fFirewall
	for i := range 229 {
		fw = append(fw, fFirewall{Protocol: "TCP", Port: strconv.Itoa(1000 + i), CidrBlock: "0.0.0.0/0", Action: "DROP"})
	}
	fw = append(fw, fFirewall{Protocol: "TCP", Port: "9999", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"})
	r.LH = []fLighthouse{{ID: "lhins-many", Name: "many", State: "RUNNING", Public: []string{"203.0.113.77"}, Firewall: fw}}
	f := newFake(t, map[string]*fRegion{region: r})
	readOnly(t, f)
	p := f.provider(region)
	calls := func(from int, action string) int {
		n := 0
		for _, a := range f.actions()[from:] {
			if a == action {
				n++
			}
		}
		return n
	}

	q := providers.Query{Name: "pool", Source: netip.MustParsePrefix("0.0.0.0/0"), Proto: "tcp", Port: 9999}
	steps := p.Steps(context.Background(), q)
	count := map[string]int{}
	for _, st := range steps {
		count[st.Layer]++
		if st.Decision != report.Allow {
			t.Errorf("%s %s: %s (%s); want allow", st.Layer, st.Address, st.Decision, st.Detail)
		}
	}
	for _, l := range []string{"tencent.instance", "tencent.network-acl", "tencent.security-group"} {
		if count[l] != 130 {
			t.Errorf("%d %s steps; want 130 (one per instance)", count[l], l)
		}
	}
	if n := calls(0, "cvm:DescribeInstances"); n != 2 {
		t.Errorf("%d cvm:DescribeInstances calls for 130 instances; want 2 pages", n)
	}

	before := len(f.actions())
	(want{layer: "tencent.lighthouse-firewall", decision: report.Allow, rule: "lhins-many#229"}).check(t,
		p.Steps(context.Background(), query("203.0.113.77", "0.0.0.0/0", "tcp", 9999)))
	if n := calls(before, "lighthouse:DescribeFirewallRules"); n != 3 {
		t.Errorf("%d lighthouse:DescribeFirewallRules calls for 230 rules; want 3 pages", n)
	}
}
