package nftables

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

// benchQuery is the question bench/bench.sh asks of the generated ruleset.
var benchQuery = netfilter.Query{
	Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParseAddr("10.0.0.10"), Proto: "tcp", Port: 8080,
}

func generated(b testing.TB, rules int) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := Generate(&buf, rules, 1); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseAndEvaluate20k parses a generated 20,000-rule ruleset, compiles its base
// chains and answers one query over the whole IPv4 source set, as `portpath check` does.
func BenchmarkParseAndEvaluate20k(b *testing.B) {
	data := generated(b, 20000)
	env := &netfilter.Env{LocalAddrs: []netip.Addr{benchQuery.Dst}, IPForward: true}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		rs, err := ParseBytes(data, "generated.json")
		if err != nil {
			b.Fatal(err)
		}
		chains, err := BaseChains(rs, false)
		if err != nil {
			b.Fatal(err)
		}
		if cl := netfilter.Classes(chains, benchQuery, env); len(cl) == 0 {
			b.Fatal("no classes")
		}
	}
}

func BenchmarkParse20k(b *testing.B) {
	data := generated(b, 20000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseBytes(data, "generated.json"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile20k(b *testing.B) {
	rs, err := ParseBytes(generated(b, 20000), "generated.json")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := BaseChains(rs, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClasses20k(b *testing.B) {
	rs, err := ParseBytes(generated(b, 20000), "generated.json")
	if err != nil {
		b.Fatal(err)
	}
	chains, err := BaseChains(rs, false)
	if err != nil {
		b.Fatal(err)
	}
	env := &netfilter.Env{LocalAddrs: []netip.Addr{benchQuery.Dst}, IPForward: true}
	for b.Loop() {
		netfilter.Classes(chains, benchQuery, env)
	}
}
