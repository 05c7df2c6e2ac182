package netfilter

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// chain builds a base chain whose walk is fn.
func chain(name string, hook Hook, prio int, fn func(e *Eval) Result) BaseChain {
	return BaseChain{Origin: "nftables", Family: "inet", Table: "t", Chain: name, Type: "filter", Hook: hook, Priority: prio, Run: fn}
}

func verdict(v Verdict, id string) func(*Eval) Result {
	return func(*Eval) Result { return Result{Verdict: v, Rule: &report.Rule{ID: id, Position: 1}} }
}

var (
	dst = netip.MustParseAddr("10.99.0.2")
	env = &Env{LocalAddrs: []netip.Addr{dst}, IPForward: true}
)

func pkt() Packet {
	return Packet{Family: IPv4, Proto: "tcp", Src: netip.MustParseAddr("198.51.100.7"), Dst: dst, DPort: 8282}
}

func TestSimulateBaseChainOrder(t *testing.T) {
	tests := []struct {
		name     string
		chains   []BaseChain
		want     Verdict
		wantRule string
	}{
		{"accept then drop: accept ends only its chain", []BaseChain{
			chain("b", Input, 0, verdict(Drop, "b1")), chain("a", Input, -10, verdict(Accept, "a1")),
		}, Drop, "b1"},
		{"drop first is final", []BaseChain{
			chain("a", Input, -10, verdict(Drop, "a1")), chain("b", Input, 0, verdict(Accept, "b1")),
		}, Drop, "a1"},
		{"both accept", []BaseChain{
			chain("a", Input, -10, verdict(Accept, "a1")), chain("b", Input, 0, verdict(Accept, "b1")),
		}, Accept, "b1"},
		{"undecided then accept stays undecided", []BaseChain{
			chain("a", Input, -10, func(*Eval) Result { return Result{Verdict: Undecided, Reason: "xt"} }),
			chain("b", Input, 0, verdict(Accept, "b1")),
		}, Undecided, "b1"},
		{"undecided then drop is drop", []BaseChain{
			chain("a", Input, -10, func(*Eval) Result { return Result{Verdict: Undecided, Reason: "xt"} }),
			chain("b", Input, 0, verdict(Reject, "b1")),
		}, Reject, "b1"},
		{"an unreadable rewrite makes a later drop undecided", []BaseChain{
			{Origin: "nftables", Family: "inet", Table: "t", Chain: "nat", Type: "nat", Hook: Prerouting, Priority: -100,
				Run: func(*Eval) Result { return Result{Verdict: Undecided, Reason: "xt DNAT"} }},
			chain("b", Input, 0, verdict(Drop, "b1")),
		}, Undecided, "b1"},
		{"forward chains do not see local traffic", []BaseChain{
			chain("f", Forward, 0, verdict(Drop, "f1")),
		}, Accept, ""},
		{"no chains", nil, Accept, ""},
		{"equal priority, different ends: the registration order decides", []BaseChain{
			chain("a", Input, 0, verdict(Drop, "a1")), chain("b", Input, 0, verdict(Reject, "b1")),
		}, Undecided, "a1"},
		{"equal priority, same end", []BaseChain{
			chain("a", Input, 0, verdict(Drop, "a1")), chain("b", Input, 0, verdict(Drop, "b1")),
		}, Drop, "a1"},
		{"equal priority, accept and drop: drop either way", []BaseChain{
			chain("a", Input, 0, verdict(Accept, "a1")), chain("b", Input, 0, verdict(Drop, "b1")),
		}, Drop, "b1"},
		{"equal priority, drop before an accept", []BaseChain{
			chain("a", Input, 0, verdict(Drop, "a1")), chain("b", Input, 0, verdict(Accept, "b1")),
		}, Drop, "a1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Simulate(tt.chains, pkt(), env)
			if tr.Final != tt.want {
				t.Fatalf("final = %v; want %v", tr.Final, tt.want)
			}
			got := ""
			if tr.Decider != nil && tr.Decider.Result.Rule != nil {
				got = tr.Decider.Result.Rule.ID
			}
			if got != tt.wantRule {
				t.Errorf("decider = %q; want %q", got, tt.wantRule)
			}
		})
	}
}

func TestSimulateEqualPriorityNAT(t *testing.T) {
	dnat := func(to string) func(*Eval) Result {
		return func(*Eval) Result {
			return Result{Verdict: Accept, NAT: &NAT{Addr: netip.MustParseAddr(to), Text: "DNAT to " + to}}
		}
	}
	natChain := func(name string, prio int, fn func(*Eval) Result) BaseChain {
		c := chain(name, Prerouting, prio, fn)
		c.Type = "nat"
		return c
	}
	for _, tt := range []struct {
		name string
		b    func(*Eval) Result
		want Verdict
	}{
		{"another rewrite at the same priority", dnat("10.98.0.3"), Undecided},
		{"the same rewrite", dnat("10.98.0.2"), Accept},
		{"no rewrite", verdict(Accept, "b1"), Accept},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chains := []BaseChain{natChain("a", -100, dnat("10.98.0.2")), natChain("b", -100, tt.b)}
			if tr := Simulate(chains, pkt(), env); tr.Final != tt.want {
				t.Errorf("final = %v (%s); want %v", tr.Final, tr.Reason, tt.want)
			}
		})
	}
}

func TestSimulateRedirectToArrivalAddress(t *testing.T) {
	redirect := BaseChain{Origin: "iptables-nft", Family: "ip6", Table: "nat", Chain: "PREROUTING", Type: "nat", Hook: Prerouting, Priority: -100,
		Run: func(*Eval) Result {
			return Result{Verdict: Accept, NAT: &NAT{Port: 8001, Redirect: true, Text: "REDIRECT to port 8001"}}
		}}
	byDst := chain("in", Input, 0, func(e *Eval) Result {
		if e.Pkt.Dst == netip.MustParseAddr("fd99::2") && e.Pkt.DPort == 8001 {
			return Result{Verdict: Drop, Rule: &report.Rule{ID: "in1", Position: 1}}
		}
		return Result{Verdict: Accept}
	})
	p := Packet{Family: IPv6, Proto: "udp", Src: netip.MustParseAddr("fd99::1"), Dst: netip.MustParseAddr("fd98::1"), DPort: 8082, InIface: "eth0"}
	e := &Env{LocalAddrs: []netip.Addr{netip.MustParseAddr("fd98::1"), netip.MustParseAddr("fd99::2")},
		IfaceAddrs: func(string) []netip.Addr {
			return []netip.Addr{netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fd99::2")}
		}}
	if tr := Simulate([]BaseChain{redirect, byDst}, p, e); tr.Final != Drop || tr.Packet.Dst != netip.MustParseAddr("fd99::2") {
		t.Errorf("final %v, destination %s; want drop at fd99::2", tr.Final, tr.Packet.Dst)
	}
	e.IfaceAddrs = nil // unknown: the address stays
	if tr := Simulate([]BaseChain{redirect, byDst}, p, e); tr.Packet.Dst != p.Dst {
		t.Errorf("destination %s without interface addresses; want %s kept", tr.Packet.Dst, p.Dst)
	}
}

func TestSimulateDNAT(t *testing.T) {
	dnat := func(to string, port uint16) BaseChain {
		c := chain("pre", Prerouting, -100, func(e *Eval) Result {
			if e.Pkt.DPort != 8080 {
				return Result{}
			}
			return Result{Verdict: Accept, NAT: &NAT{Addr: netip.MustParseAddr(to), Port: port, Text: "dnat to " + to}}
		})
		c.Type = "nat"
		return c
	}
	input := chain("in", Input, 0, verdict(Drop, "in1"))
	fwd := chain("fwd", Forward, 0, func(e *Eval) Result {
		if e.Pkt.DPort == 80 && e.Pkt.DNATed && e.Pkt.OrigDPort == 8080 {
			return Result{Verdict: Accept}
		}
		return Result{Verdict: Drop}
	})
	p := pkt()
	p.DPort = 8080

	tr := Simulate([]BaseChain{dnat("172.17.0.2", 80), input, fwd}, p, env)
	if tr.Final != Accept || tr.Path != Forward || tr.Packet.Dst.String() != "172.17.0.2" {
		t.Errorf("docker-style dnat: final=%v path=%v dst=%v; want accept via forward to 172.17.0.2", tr.Final, tr.Path, tr.Packet.Dst)
	}
	tr = Simulate([]BaseChain{dnat("127.0.0.1", 80), fwd}, p, env)
	if tr.Final != Drop || tr.Decider != nil || tr.Reason == "" {
		t.Errorf("dnat to loopback: final=%v reason=%q; want a martian drop", tr.Final, tr.Reason)
	}
	noFwd := &Env{LocalAddrs: env.LocalAddrs}
	tr = Simulate([]BaseChain{dnat("172.17.0.2", 80), fwd}, p, noFwd)
	if tr.Final != Drop || tr.Reason == "" {
		t.Errorf("dnat without forwarding: final=%v; want drop", tr.Final)
	}
	redirect := chain("pre", Prerouting, -100, func(e *Eval) Result {
		return Result{Verdict: Accept, NAT: &NAT{Port: 80, Text: "redirect to :80"}}
	})
	redirect.Type = "nat"
	p2 := p
	p2.Dst = netip.MustParseAddr("198.51.100.99") // transparent proxying: not an address of this host
	tr = Simulate([]BaseChain{redirect, input}, p2, noFwd)
	if tr.Path != Input || tr.Final != Drop || tr.Decider == nil {
		t.Errorf("redirect of foreign traffic: path=%v final=%v; want the input path", tr.Path, tr.Final)
	}
	// a second nat chain does not run once the first has mapped the flow
	tr = Simulate([]BaseChain{dnat("172.17.0.2", 80), dnat("172.17.0.3", 81), fwd}, p, env)
	if tr.Packet.Dst.String() != "172.17.0.2" {
		t.Errorf("second nat chain rewrote the flow again: dst %v", tr.Packet.Dst)
	}
}

func TestClassesSplitSourceSet(t *testing.T) {
	lab := report.RangeOf(netip.MustParsePrefix("203.0.113.0/24"))
	bad := report.SingleAddr(netip.MustParseAddr("203.0.113.66"))
	c := chain("in", Input, 0, func(e *Eval) Result {
		if e.SrcIn(bad) {
			return Result{Verdict: Reject, RejectWith: "tcp reset", Rule: &report.Rule{ID: "r1", Position: 1}}
		}
		if e.SrcIn(lab) {
			return Result{Verdict: Accept, Rule: &report.Rule{ID: "r2", Position: 2}}
		}
		return Result{Verdict: Drop, Rule: &report.Rule{ID: "policy", Text: "policy drop"}}
	})
	q := Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: dst, Proto: "tcp", Port: 8282}
	classes := Classes([]BaseChain{c}, q, env)
	var accepted []string
	for _, cl := range classes {
		if cl.Trace.Final == Accept {
			accepted = append(accepted, cl.Range.String())
		}
		if cl.Range.Contains(netip.MustParseAddr("127.0.0.1")) {
			t.Errorf("loopback sources must be left out for a non-loopback destination: %v", cl.Range)
		}
	}
	want := []string{"203.0.113.0/26, 203.0.113.64/31", "203.0.113.67/32, 203.0.113.68/30, 203.0.113.72/29, 203.0.113.80/28, 203.0.113.96/27, 203.0.113.128/25"}
	if !slices.Equal(accepted, want) {
		t.Fatalf("accepted classes = %q; want %q", accepted, want)
	}
	st := Step(classes, q, nil)
	if st.Decision != report.Allow || len(st.AllowedFrom) != 8 {
		t.Errorf("step = %v allowed_from=%v; want allow with the /24 minus .66", st.Decision, st.AllowedFrom)
	}

	q.Source = netip.MustParsePrefix("198.51.100.0/24")
	st = Step(Classes([]BaseChain{c}, q, env), q, func(r *report.Rule, origin string, q Query) []string {
		return []string{"fix " + r.ID + " " + q.Source.String()}
	})
	if st.Decision != report.Drop || st.Symptom != report.Timeout || st.Cause != report.CauseHostFirewallDrop || st.Rule.ID != "policy" {
		t.Errorf("outside source: %+v; want drop by policy with timeout", st)
	}
	if len(st.Fix) != 1 || st.Fix[0] != "fix policy 198.51.100.0/24" {
		t.Errorf("fix = %q", st.Fix)
	}

	q.Source = netip.MustParsePrefix("203.0.113.66/32")
	st = Step(Classes([]BaseChain{c}, q, env), q, nil)
	if st.Decision != report.Reject || st.Symptom != report.Refused || st.Cause != report.CauseHostFirewallReject {
		t.Errorf("rejected source: %+v; want reject → refused", st)
	}
}

func TestForkJoinsOnlyEqualOutcomes(t *testing.T) {
	a := Result{Verdict: Accept, Conditions: []string{"x"}}
	if got := Fork(a, Result{Verdict: Accept, Conditions: []string{"y"}}, "r"); got.Verdict != Accept || len(got.Conditions) != 2 {
		t.Errorf("equal outcomes: %+v", got)
	}
	if got := Fork(a, Result{Verdict: Drop}, "set members unknown"); got.Verdict != Undecided || got.Reason != "set members unknown" {
		t.Errorf("different outcomes: %+v", got)
	}
	if got := Fork(Result{Verdict: Reject, RejectWith: "tcp reset"}, Result{Verdict: Reject, RejectWith: "icmp port-unreachable"}, "r"); got.Verdict != Undecided {
		t.Errorf("different reject types must not join: %+v", got)
	}
}

// TestSymptomOf follows the measured table (DESIGN.md, research §7).
func TestSymptomOf(t *testing.T) {
	tests := []struct {
		fam   Family
		proto string
		v     Verdict
		rej   string
		want  report.Symptom
	}{
		{IPv4, "tcp", Drop, "", report.Timeout},
		{IPv4, "udp", Drop, "", report.Timeout},
		{IPv4, "tcp", Reject, "icmp port-unreachable", report.Refused},
		{IPv4, "tcp", Reject, "tcp reset", report.Refused},
		{IPv4, "tcp", Reject, "icmp host-prohibited", report.NoRoute},
		{IPv4, "udp", Reject, "icmp host-prohibited", report.NoRoute},
		{IPv4, "tcp", Reject, "icmp admin-prohibited", report.NoRoute},
		{IPv4, "tcp", Reject, "icmp net-unreachable", report.NoRoute},
		{IPv4, "udp", Reject, "icmp net-unreachable", report.Timeout},
		{IPv4, "udp", Reject, "icmp host-unreachable", report.Timeout},
		{IPv6, "tcp", Reject, "icmpv6 admin-prohibited", report.PermissionDenied},
		{IPv6, "tcp", Reject, "icmpx admin-prohibited", report.PermissionDenied},
		{IPv4, "tcp", Reject, "icmpx admin-prohibited", report.NoRoute},
		{IPv6, "tcp", Reject, "icmpv6 no-route", report.NoRoute},
		{IPv6, "udp", Reject, "icmpv6 no-route", report.Timeout},
		{IPv6, "tcp", Reject, "icmpx port-unreachable", report.Refused},
		{IPv6, "udp", Reject, "icmpv6 addr-unreachable", report.Timeout},
		{IPv4, "tcp", Accept, "", ""},
	}
	for _, tt := range tests {
		if got := SymptomOf(tt.fam, tt.proto, tt.v, tt.rej); got != tt.want {
			t.Errorf("SymptomOf(%s, %s, %v, %q) = %q; want %q", tt.fam, tt.proto, tt.v, tt.rej, got, tt.want)
		}
	}
	for name := range iptablesRejects {
		if _, ok := CanonicalIPTablesReject(IPv4, name); !ok {
			t.Errorf("reject name %q not canonical", name)
		}
	}
}

func TestInIfaceUnknown(t *testing.T) {
	e := &Eval{Pkt: &Packet{}}
	for pat, want := range map[string]Tri{"lo": No, "docker0": No, "br-+": No, "eth0": Maybe, "ens+": Maybe} {
		if got := e.InIface(pat); got != want {
			t.Errorf("InIface(%q) with unknown iif = %v; want %v", pat, got, want)
		}
	}
	e.Pkt.InIface = "eth0"
	if e.InIface("eth+") != Yes || e.InIface("eth1") != No || e.InIface("eth*") != Yes {
		t.Error("known iif must match patterns exactly")
	}
}

// TestSimulateLoadBalancedDNAT follows every endpoint of a load-balancing rewrite.
func TestSimulateLoadBalancedDNAT(t *testing.T) {
	ep := func(a string) Result {
		return Result{Verdict: Accept, NAT: &NAT{Addr: netip.MustParseAddr(a), Port: 80, Text: "DNAT to " + a + ":80"}}
	}
	lb := chain("svc", Prerouting, -100, func(e *Eval) Result {
		return Fork(ep("10.244.1.5"), Fork(ep("10.244.2.7"), ep("10.244.3.9"), "statistic"), "statistic")
	})
	lb.Type = "nat"
	fwd := func(bad string) BaseChain {
		return chain("fwd", Forward, 0, func(e *Eval) Result {
			if e.Pkt.Dst.String() == bad {
				return Result{Verdict: Drop, Rule: &report.Rule{ID: "fwd#1", Position: 1}}
			}
			return Result{Verdict: Accept, Rule: &report.Rule{ID: "fwd#2", Position: 2}}
		})
	}
	tr := Simulate([]BaseChain{lb, fwd("none")}, pkt(), env)
	if tr.Final != Accept || tr.Path != Forward || tr.NAT == nil || len(tr.NAT.OneOf) != 3 {
		t.Fatalf("all endpoints accepted: final=%v path=%v nat=%+v; want accept through forward with 3 endpoints", tr.Final, tr.Path, tr.NAT)
	}
	tr = Simulate([]BaseChain{lb, fwd("10.244.2.7")}, pkt(), env)
	if tr.Final != Undecided || !strings.Contains(tr.Reason, "10.244.2.7:80 → drop") {
		t.Errorf("one endpoint dropped: final=%v reason=%q; want undecided naming it", tr.Final, tr.Reason)
	}
	// one branch rewrites and the other does not: that stays undecided
	if r := Fork(ep("10.244.1.5"), Result{Verdict: Accept}, "statistic"); r.Verdict != Undecided {
		t.Errorf("rewrite vs no rewrite joined as %v", r.Verdict)
	}
}
