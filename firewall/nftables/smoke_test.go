package nftables

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

func TestSmoke(t *testing.T) {
	for _, f := range []string{"sample-native-nft.json", "fwd-lab-ruleset.json", "sample-iptables-nft.json", "constructs.json", "xt-mixed.json", "nat-forward.json"} {
		rs, err := ParseFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := BaseChains(rs, false)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(f, len(cs), rs.Rules(), IPTablesOwned(rs))
		for _, tb := range rs.Tables {
			for _, c := range tb.Chains {
				for _, r := range c.Rules {
					_ = r
					if f == "constructs.json" || f == "sample-native-nft.json" {
						fmt.Println("  ", r.ID(), "|", r.Text())
					}
				}
			}
		}
		dst := netip.MustParseAddr("10.99.0.2")
		env := &netfilter.Env{LocalAddrs: []netip.Addr{dst}, IPForward: true}
		for _, port := range []uint16{22, 80, 8001, 8006, 8080, 9001} {
			for _, proto := range []string{"tcp", "udp"} {
				q := netfilter.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: dst, Proto: proto, Port: port}
				for _, c := range netfilter.Classes(cs, q, env) {
					r := ""
					if c.Trace.Decider != nil && c.Trace.Decider.Result.Rule != nil {
						r = c.Trace.Decider.Result.Rule.ID + " " + c.Trace.Decider.Result.RejectWith
					}
					fmt.Printf("   %s/%d %s: %v %s %s\n", proto, port, c.Range, c.Trace.Final, r, c.Trace.Reason)
				}
			}
		}
	}
}
