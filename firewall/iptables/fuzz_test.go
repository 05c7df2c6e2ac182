package iptables

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

// FuzzParse feeds arbitrary text to the parser and, when it parses, to the walk: neither
// may panic, and every parse error must name the input.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/sample-iptables-save-c.txt", "testdata/ufw/ufw-iptables-save.txt", "testdata/ufw/ufw-ip6tables-save.txt"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(dockerDump)
	f.Add(filterHead + ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -g B\n-A B -m set --match-set s src -j RETURN\n-A B -j A\nCOMMIT\n")
	f.Add("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 1:2 -j DNAT --to-destination [fd00::1]:80-81\nCOMMIT\n")
	f.Add("*filter\n:INPUT ACCEPT [1:2]\n[3:4] -A INPUT -m comment --comment \"a \\\" b\" ! -s 10.0.0.0/255.0.255.0 -j MARK --set-xmark 0x1/0x3\nCOMMIT\n")
	f.Fuzz(func(t *testing.T, src string) {
		d, err := Parse(strings.NewReader(src), "fuzz.rules")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.rules:") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		for _, fam := range []netfilter.Family{netfilter.IPv4, netfilter.IPv6} {
			chains, err := BaseChains(d, "iptables-nft", fam)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.rules") {
					t.Fatalf("error does not name the input: %v", err)
				}
				continue
			}
			src, dst := netip.MustParseAddr("198.51.100.7"), host
			if fam == netfilter.IPv6 {
				src, dst = netip.MustParseAddr("2001:db8::7"), host6
			}
			q := netfilter.Query{Source: netip.PrefixFrom(src, 24).Masked(), Dst: dst, Proto: "tcp", Port: 80}
			netfilter.Classes(chains, q, testEnv())
		}
	})
}
