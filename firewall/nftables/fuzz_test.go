package nftables

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

// FuzzParse feeds the parser arbitrary input: it must not panic, its errors must name the
// file, and whatever it accepts must compile and evaluate without panicking.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(ruleset(tblFilt, chainIn, rule("input", 3, `{"vmap":{"key":{"concat":[{"payload":{"protocol":"ip","field":"saddr"}},{"meta":{"key":"iifname"}}]},"data":{"set":[[{"concat":["10.0.0.1","eth0"]},{"accept":null}]]}}}`))))
	f.Add([]byte(`{"nftables":[{"metainfo":{"json_schema_version":1}},{"table":{"family":"inet","name":"t"}}]}`))
	env := &netfilter.Env{LocalAddrs: []netip.Addr{srv4, srv6}, IPForward: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		chains, err := BaseChains(rs, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{"10.99.0.1", "fd99::66"} {
			for _, proto := range []string{"tcp", "udp"} {
				s := netip.MustParseAddr(src)
				d := srv4
				if s.Is6() {
					d = srv6
				}
				pkt := netfilter.Packet{Family: netfilter.FamilyOf(d), Proto: proto, Src: s, Dst: d, DPort: 8080, InIface: "eth0"}
				netfilter.Simulate(chains, pkt, env)
			}
		}
		for _, tb := range rs.Tables {
			for _, c := range tb.Chains {
				for _, r := range c.Rules {
					_ = r.Text()
				}
			}
		}
	})
}
