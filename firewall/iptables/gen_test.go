package iptables

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
)

var node = netip.MustParseAddr("10.0.0.10")

func nodeEnv() *netfilter.Env {
	return &netfilter.Env{LocalAddrs: []netip.Addr{node}, IPForward: true}
}

func generate(t testing.TB, rules int, seed int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := GenerateKubeProxy(&buf, rules, seed); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGenerateKubeProxy(t *testing.T) {
	for _, n := range []int{31, 100, 5000} {
		src := generate(t, n, 7)
		if !bytes.Equal(src, generate(t, n, 7)) {
			t.Fatal("the same seed must give the same dump")
		}
		d, err := Parse(bytes.NewReader(src), "gen")
		if err != nil {
			t.Fatal(err)
		}
		if d.Rules() != n || bytes.Count(src, []byte("\n-A ")) != n {
			t.Errorf("%d rules asked, %d generated", n, d.Rules())
		}
		chains, err := BaseChains(d, "iptables-nft", netfilter.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		pkt := netfilter.Packet{Family: netfilter.IPv4, Proto: "tcp", Src: netip.MustParseAddr("198.51.100.7"), Dst: node, DPort: KubeNodePort}
		tr := netfilter.Simulate(chains, pkt, nodeEnv())
		if tr.Final != netfilter.Accept || tr.Path != netfilter.Forward || tr.NAT == nil || !strings.HasPrefix(tr.NAT.Text, "DNAT to 10.244.") {
			t.Errorf("%d rules: node port: final %v path %v nat %+v reason %q", n, tr.Final, tr.Path, tr.NAT, tr.Reason)
		}
		if !ruleOnPath(tr, "filter/KUBE-FORWARD#2") {
			t.Errorf("%d rules: the masquerade mark must be what KUBE-FORWARD accepts", n)
		}
	}
	if err := GenerateKubeProxy(&bytes.Buffer{}, 10, 1); err == nil {
		t.Error("too few rules must be an error")
	}
}

// BenchmarkParseAndEvaluate100k parses a kube-proxy-like dump of 100,000 rules, compiles it
// and answers one node-port query for the whole IPv4 internet.
func BenchmarkParseAndEvaluate100k(b *testing.B) {
	src := generate(b, 100000, 1)
	q := netfilter.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: node, Proto: "tcp", Port: KubeNodePort}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(bytes.NewReader(src), "kube")
		if err != nil {
			b.Fatal(err)
		}
		chains, err := BaseChains(d, "iptables-nft", netfilter.IPv4)
		if err != nil {
			b.Fatal(err)
		}
		classes := netfilter.Classes(chains, q, nodeEnv())
		if m := netfilter.Main(classes); m == nil || m.Trace.Final != netfilter.Accept {
			b.Fatal("node port not accepted")
		}
	}
}

func BenchmarkParse100k(b *testing.B) {
	src := generate(b, 100000, 1)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(src), "kube"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate100k is one Simulate over compiled chains: the cost of a query alone.
func BenchmarkEvaluate100k(b *testing.B) {
	d, err := Parse(bytes.NewReader(generate(b, 100000, 1)), "kube")
	if err != nil {
		b.Fatal(err)
	}
	chains, err := BaseChains(d, "iptables-nft", netfilter.IPv4)
	if err != nil {
		b.Fatal(err)
	}
	pkt := netfilter.Packet{Family: netfilter.IPv4, Proto: "tcp", Src: netip.MustParseAddr("198.51.100.7"), Dst: node, DPort: KubeNodePort}
	env := nodeEnv()
	b.ReportAllocs()
	for b.Loop() {
		if tr := netfilter.Simulate(chains, pkt, env); tr.Final != netfilter.Accept {
			b.Fatal(tr.Final)
		}
	}
}

// TestCompileInPartsAgrees checks that compiling a large table on several cores decides every
// query as a single compiler does, and reports the same first error.
func TestCompileInPartsAgrees(t *testing.T) {
	src := generate(t, 3*parallelRules, 11)
	d, err := Parse(bytes.NewReader(src), "gen")
	if err != nil {
		t.Fatal(err)
	}
	one, err := baseChains(d, "iptables-nft", netfilter.IPv4, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{2, 5} {
		nat, total := d.Table("nat"), 0
		for _, ch := range nat.Chains {
			total += len(ch.Rules)
		}
		if parts := cutChains(nat.Chains, total, workers); len(parts) != workers {
			t.Fatalf("%d workers: the nat table was cut in %d parts", workers, len(parts))
		}
		many, err := baseChains(d, "iptables-nft", netfilter.IPv4, workers)
		if err != nil {
			t.Fatal(err)
		}
		for _, port := range []uint16{KubeNodePort, KubeNodePort + 1, 22, 30500, 31999} {
			for _, src := range []string{"0.0.0.0/0", "203.0.113.0/24", "10.0.0.0/8"} {
				q := netfilter.Query{Source: netip.MustParsePrefix(src), Dst: node, Proto: "tcp", Port: port}
				a := netfilter.Step(netfilter.Classes(one, q, nodeEnv()), q, nil)
				b := netfilter.Step(netfilter.Classes(many, q, nodeEnv()), q, nil)
				if a.Decision != b.Decision || a.Detail != b.Detail || !slices.Equal(a.AllowedFrom, b.AllowedFrom) {
					t.Errorf("%d workers, %d from %s: %s %q, single compiler %s %q", workers, port, src, b.Decision, b.Detail, a.Decision, a.Detail)
				}
			}
		}
	}

	// a bad value late in the dump: the same error, naming the same line
	lines := strings.Split(string(src), "\n")
	at := 0
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "--to-destination") {
			at = i
			break
		}
	}
	lines[at] = lines[at][:strings.Index(lines[at], "--to-destination")] + "--to-destination [fd00::1]:80"
	bad, err := Parse(strings.NewReader(strings.Join(lines, "\n")), "gen")
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := baseChains(bad, "iptables-nft", netfilter.IPv4, 1)
	_, err4 := baseChains(bad, "iptables-nft", netfilter.IPv4, 4)
	if err1 == nil || err4 == nil || err1.Error() != err4.Error() || !strings.Contains(err1.Error(), fmt.Sprintf("gen:%d:", at+1)) {
		t.Errorf("bad DNAT at line %d: single compiler %v, in parts %v", at+1, err1, err4)
	}
}
