package nftables

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/portpath/portpath/firewall/netfilter"
)

func TestPerfSmoke(t *testing.T) {
	var buf bytes.Buffer
	if err := Generate(&buf, 20000, 1); err != nil {
		t.Fatal(err)
	}
	fmt.Println("bytes", buf.Len())
	t0 := time.Now()
	rs, err := ParseBytes(buf.Bytes(), "gen.json")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	cs, _ := BaseChains(rs, false)
	t2 := time.Now()
	dst := netip.MustParseAddr("10.0.0.10")
	env := &netfilter.Env{LocalAddrs: []netip.Addr{dst}, IPForward: true}
	q := netfilter.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: dst, Proto: "tcp", Port: 8080}
	cl := netfilter.Classes(cs, q, env)
	t3 := time.Now()
	fmt.Println("rules", rs.Rules(), "parse", t1.Sub(t0), "compile", t2.Sub(t1), "classes", len(cl), t3.Sub(t2))
	st := netfilter.Step(cl, q, nil)
	fmt.Println(st.Decision, st.Detail[:min(300, len(st.Detail))])
}
