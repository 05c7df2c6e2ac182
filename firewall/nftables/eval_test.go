package nftables

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

var (
	srv4 = netip.MustParseAddr("10.99.0.2")
	srv6 = netip.MustParseAddr("fd99::2")
)

func chainsOf(t testing.TB, file string, skipIPTables bool) []netfilter.BaseChain {
	t.Helper()
	cs, err := BaseChains(mustParse(t, file), skipIPTables)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func chainsOfJSON(t testing.TB, doc string) []netfilter.BaseChain {
	t.Helper()
	rs, err := Parse(strings.NewReader(doc), "inline.json")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := BaseChains(rs, false)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func testEnv() *netfilter.Env {
	return &netfilter.Env{LocalAddrs: []netip.Addr{srv4, srv6, netip.MustParseAddr("10.98.0.1")}, IPForward: true}
}

// evalCase is one packet and what the rules must decide for it.
type evalCase struct {
	name  string
	proto string
	src   string
	dst   string // default: srv4 or srv6 by the family of src
	port  uint16
	iface string
	want  netfilter.Verdict
	// rule is the ID of the deciding rule; reject the canonical reject type
	rule, reject string
	// reason and cond are substrings of the trace's reason and conditions
	reason, cond string
}

func (c evalCase) packet() netfilter.Packet {
	src := netip.MustParseAddr(c.src)
	dst := srv4
	if src.Is6() {
		dst = srv6
	}
	if c.dst != "" {
		dst = netip.MustParseAddr(c.dst)
	}
	proto := c.proto
	if proto == "" {
		proto = "tcp"
	}
	return netfilter.Packet{Family: netfilter.FamilyOf(dst), Proto: proto, Src: src, Dst: dst, DPort: c.port, InIface: c.iface}
}

func deciderID(tr netfilter.Trace) string {
	if tr.Decider == nil || tr.Decider.Result.Rule == nil {
		return ""
	}
	return tr.Decider.Result.Rule.ID
}

func runCases(t *testing.T, chains []netfilter.BaseChain, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := netfilter.Simulate(chains, c.packet(), testEnv())
			if tr.Final != c.want {
				t.Fatalf("final = %v (rule %q, reason %q); want %v", tr.Final, deciderID(tr), tr.Reason, c.want)
			}
			if c.rule != "" && deciderID(tr) != c.rule {
				t.Errorf("decided by %q; want %q", deciderID(tr), c.rule)
			}
			if c.reject != "" && (tr.Decider == nil || tr.Decider.Result.RejectWith != c.reject) {
				t.Errorf("reject with %q; want %q", tr.Decider.Result.RejectWith, c.reject)
			}
			if !strings.Contains(tr.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", tr.Reason, c.reason)
			}
			if c.cond != "" && !slices.ContainsFunc(tr.Conditions, func(s string) bool { return strings.Contains(s, c.cond) }) {
				t.Errorf("conditions %q do not contain %q", tr.Conditions, c.cond)
			}
		})
	}
}

func TestNativeSample(t *testing.T) {
	chains := chainsOf(t, "sample-native-nft.json", false)
	const out = "198.51.100.7"
	runCases(t, chains, []evalCase{
		{name: "tcp/8001 accepted by the port map", src: out, port: 8001, want: netfilter.Accept, rule: "inet filt input handle 16"},
		{name: "tcp/8006 dropped by the port map", src: out, port: 8006, want: netfilter.Drop, rule: "inet filt input handle 16"},
		{name: "udp/8001 is not in a tcp dport map", proto: "udp", src: out, port: 8001, want: netfilter.Reject, rule: "inet filt input handle 21", reject: "icmpx admin-prohibited"},
		{name: "ssh from outside @allowed4 gets a reset", src: out, port: 22, want: netfilter.Reject, rule: "inet filt input handle 15", reject: "tcp reset"},
		{name: "ssh from inside @allowed4 reaches the last rule", src: "10.99.0.5", port: 22, want: netfilter.Reject, rule: "inet filt input handle 21", reject: "icmpx admin-prohibited"},
		{name: "ssh from the single address of @allowed4", src: "192.168.1.10", port: 22, want: netfilter.Reject, rule: "inet filt input handle 21"},
		{name: "ip saddr != @allowed4 does not apply to IPv6", src: "2001:db8::1", port: 22, want: netfilter.Reject, rule: "inet filt input handle 21", reject: "icmpx admin-prohibited"},
		{name: "udp/9001 from 10.99.0.1 returns from udpchk", proto: "udp", src: "10.99.0.1", port: 9001, want: netfilter.Reject, rule: "inet filt input handle 21", reject: "icmpx admin-prohibited"},
		{name: "udp/9001 from elsewhere accepted in udpchk", proto: "udp", src: "10.99.0.7", port: 9001, want: netfilter.Accept, rule: "inet filt udpchk handle 23"},
		{name: "tcp/80 accepted under a rate limit", src: out, port: 80, want: netfilter.Accept, rule: "inet filt input handle 18", cond: "inet filt input handle 18: limit rate 10/second"},
		{name: "tcp/8004 from the svc concatenation", src: "10.99.0.1", port: 8004, want: netfilter.Accept, rule: "inet filt input handle 14"},
		{name: "udp/8004 is not in svc", proto: "udp", src: "10.99.0.1", port: 8004, want: netfilter.Reject, rule: "inet filt input handle 21"},
		{name: "goto sshchk accepts @allowed4", src: "10.99.0.3", port: 2222, want: netfilter.Accept, rule: "inet filt sshchk handle 24"},
		{name: "goto sshchk drops the rest", src: out, port: 2222, want: netfilter.Drop, rule: "inet filt sshchk handle 25"},
		{name: "blocked IPv6 source", src: "fd99::66", port: 8001, want: netfilter.Drop, rule: "inet filt input handle 11"},
		{name: "loopback accepted", src: "127.0.0.1", dst: "127.0.0.1", port: 9999, iface: "lo", want: netfilter.Accept, rule: "inet filt input handle 10"},
		{name: "default", src: out, port: 9999, want: netfilter.Reject, rule: "inet filt input handle 21", reject: "icmpx admin-prohibited"},
	})
}

func TestFirewalldLab(t *testing.T) {
	chains := chainsOf(t, "fwd-lab-ruleset.json", false)
	const pub = "203.0.113.9"
	runCases(t, chains, []evalCase{
		{name: "lab zone allows http", src: "10.99.0.5", port: 80, want: netfilter.Accept, rule: "inet firewalld filter_IN_lab_allow handle 73"},
		{name: "lab zone drops what it does not allow", src: "10.99.0.5", port: 8002, want: netfilter.Drop, rule: "inet firewalld filter_IN_lab handle 72"},
		{name: "lab zone allows udp/9001", proto: "udp", src: "10.99.0.5", port: 9001, want: netfilter.Accept, rule: "inet firewalld filter_IN_lab_allow handle 75"},
		{name: "lab rich rule priority -10 drops 8001 from 10.99.0.1", src: "10.99.0.1", port: 8001, want: netfilter.Drop, rule: "inet firewalld filter_IN_lab_pre handle 79"},
		{name: "lab rich rule rejects 8006 from 10.99.0.1", src: "10.99.0.1", port: 8006, want: netfilter.Reject, rule: "inet firewalld filter_IN_lab_deny handle 77", reject: "tcp reset"},
		{name: "lab rich rule rejects 8004 from 10.99.0.1", src: "10.99.0.1", port: 8004, want: netfilter.Reject, rule: "inet firewalld filter_IN_lab_deny handle 76", reject: "icmp port-unreachable"},
		{name: "lab 8006 from others", src: "10.99.0.9", port: 8006, want: netfilter.Accept, rule: "inet firewalld filter_IN_lab_allow handle 256"},
		{name: "public zone allows ssh", src: pub, port: 22, want: netfilter.Accept, rule: "inet firewalld filter_IN_public_allow handle 152"},
		{name: "public zone rejects http", src: pub, port: 80, want: netfilter.Reject, rule: "inet firewalld filter_IN_public handle 151", reject: "icmpx admin-prohibited"},
		{name: "public forward-port is accepted as dnat", src: pub, port: 8080, want: netfilter.Accept, rule: "inet firewalld filter_INPUT handle 27"},
		{name: "IPv6 passes the reverse path check", src: "2001:db8::1", port: 22, want: netfilter.Accept, rule: "inet firewalld filter_IN_public_allow handle 152"},
		{name: "IPv6 rejected by the public zone", src: "2001:db8::1", port: 8080, want: netfilter.Reject, rule: "inet firewalld filter_IN_public handle 151"},
	})
	tr := netfilter.Simulate(chains, evalCase{src: pub, port: 8080}.packet(), testEnv())
	if tr.NAT == nil || tr.NAT.Text != "redirect to :8001" || tr.Packet.DPort != 8001 || tr.NAT.Addr.IsValid() {
		t.Errorf("forward-port: NAT %+v, packet port %d; want redirect to :8001", tr.NAT, tr.Packet.DPort)
	}
	if got := netfilter.SymptomOf(netfilter.IPv6, "tcp", netfilter.Reject, "icmpx admin-prohibited"); got != report.PermissionDenied {
		t.Errorf("IPv6 symptom = %v", got)
	}
}

func TestTwoBaseChainsOnInput(t *testing.T) {
	runCases(t, chainsOf(t, "two-base-chains.json", false), []evalCase{
		{name: "accept at -10 does not stop the drop at 0", src: "198.51.100.7", port: 8282, want: netfilter.Drop, rule: "inet late input handle 2"},
		{name: "other ports", src: "198.51.100.7", port: 8283, want: netfilter.Accept},
	})
}

func TestNATThenFilter(t *testing.T) {
	chains := chainsOf(t, "nat-forward.json", false)
	runCases(t, chains, []evalCase{
		{name: "dnat to a container goes through forward", src: "203.0.113.5", port: 8080, want: netfilter.Accept, rule: "inet filt forward handle 7"},
		{name: "forward drops a source", src: "198.51.100.5", port: 8080, want: netfilter.Drop, rule: "inet filt forward handle 6"},
		{name: "redirect: input sees the new port", src: "203.0.113.5", port: 8082, want: netfilter.Accept, rule: "inet filt input handle 5"},
		{name: "no nat: input policy", src: "203.0.113.5", port: 8083, want: netfilter.Drop, rule: "inet filt input policy"},
	})
	tr := netfilter.Simulate(chains, evalCase{src: "203.0.113.5", port: 8080}.packet(), testEnv())
	if tr.Path != netfilter.Forward || tr.NAT == nil || tr.NAT.Text != "dnat to 172.17.0.2:80" || tr.Packet.Dst != netip.MustParseAddr("172.17.0.2") || tr.Packet.DPort != 80 {
		t.Errorf("path %v NAT %+v packet %v:%d", tr.Path, tr.NAT, tr.Packet.Dst, tr.Packet.DPort)
	}
	if tr.Decider.Result.Rule.Position != 2 || tr.Decider.Result.Rule.Table != "inet filt" || tr.Decider.Result.Rule.Chain != "forward" {
		t.Errorf("rule = %+v", tr.Decider.Result.Rule)
	}
}

func TestXTMatches(t *testing.T) {
	chains := chainsOf(t, "xt-mixed.json", false)
	const src = "198.51.100.7"
	runCases(t, chains, []evalCase{
		{name: "branches agree: drop either way", src: src, port: 9000, want: netfilter.Drop, rule: "ip filter INPUT handle 3"},
		{name: "branches disagree: undecided", src: src, port: 9100, want: netfilter.Undecided, reason: "ip filter INPUT handle 5: xt match conntrack cannot be evaluated"},
		{name: "xt comment always matches", src: src, port: 9200, want: netfilter.Accept},
		{name: "iptables accept, native reject later", src: src, port: 9300, want: netfilter.Reject, rule: "inet mine input handle 2", reject: "tcp reset"},
		{name: "xt LOG goes on", src: src, port: 9400, want: netfilter.Accept},
		{name: "xt DNAT hides its target", src: src, port: 9500, want: netfilter.Undecided, rule: "ip filter INPUT policy"},
		{name: "policy", src: src, port: 9600, want: netfilter.Drop, rule: "ip filter INPUT policy"},
	})
	tr := netfilter.Simulate(chains, evalCase{src: src, port: 9500}.packet(), testEnv())
	if h := tr.Hops[0]; h.Chain.Table != "ip nat" || h.Result.Verdict != netfilter.Undecided || !strings.Contains(h.Result.Reason, "ip nat PREROUTING handle 2: xt target DNAT") {
		t.Errorf("nat hop %s: %v %q", h.Chain.Where(), h.Result.Verdict, h.Result.Reason)
	}
	// without the iptables-nft tables (read from iptables-save instead), only inet mine is left
	skipped := chainsOf(t, "xt-mixed.json", true)
	if len(skipped) != 1 || skipped[0].Table != "inet mine" {
		t.Fatalf("chains = %v", skipped)
	}
	runCases(t, skipped, []evalCase{
		{name: "skipped: 9000 accepted", src: src, port: 9000, want: netfilter.Accept},
		{name: "skipped: 9300 rejected", src: src, port: 9300, want: netfilter.Reject, reject: "tcp reset"},
	})
}

func TestBaseChainsFields(t *testing.T) {
	cs := chainsOf(t, "constructs.json", false)
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s %s %s %s %s %d %s", c.Origin, c.Family, c.Table, c.Chain, c.Type, c.Priority, c.Hook))
	}
	want := []string{
		"nftables inet inet t in filter 0 input",
		"nftables inet inet t pre nat -100 prerouting",
		"nftables inet inet t post nat 100 postrouting",
		"nftables ip ip t4 pre nat -100 prerouting",
		"nftables ip ip t4 in filter 0 input",
		"nftables ip6 ip6 t6 in filter 0 input",
	}
	if !slices.Equal(got, want) {
		t.Errorf("base chains:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDefaultRejectByFamily(t *testing.T) {
	doc := ruleset(
		`{"table":{"family":"ip","name":"a","handle":1}}`,
		`{"chain":{"family":"ip","table":"a","name":"in","handle":1,"type":"filter","hook":"input","prio":-10,"policy":"accept"}}`,
		`{"rule":{"family":"ip","table":"a","chain":"in","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":1}},{"reject":null}]}}`,
		`{"table":{"family":"ip6","name":"b","handle":2}}`,
		`{"chain":{"family":"ip6","table":"b","name":"in","handle":1,"type":"filter","hook":"input","prio":-10,"policy":"accept"}}`,
		`{"rule":{"family":"ip6","table":"b","chain":"in","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":1}},{"reject":null}]}}`,
		tblFilt, chainIn,
		rule("input", 3, `{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":2}}`, `{"reject":null}`),
		rule("input", 4, `{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":3}}`, `{"reject":{"type":"tcp reset"}}`),
		rule("input", 5, `{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":4}}`, `{"reject":{"type":"icmp","expr":"host-prohibited"}}`),
		rule("input", 6, `{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":5}}`, `{"reject":{"type":"icmpv6","expr":1}}`),
	)
	runCases(t, chainsOfJSON(t, doc), []evalCase{
		{name: "ip", src: "198.51.100.7", port: 1, want: netfilter.Reject, reject: "icmp port-unreachable"},
		{name: "ip6", src: "2001:db8::7", port: 1, want: netfilter.Reject, reject: "icmpv6 port-unreachable"},
		{name: "inet", src: "198.51.100.7", port: 2, want: netfilter.Reject, reject: "icmpx port-unreachable"},
		{name: "tcp reset for udp sends nothing", proto: "udp", src: "198.51.100.7", port: 3, want: netfilter.Drop, rule: "inet filt input handle 4"},
		{name: "icmp host-prohibited", src: "198.51.100.7", port: 4, want: netfilter.Reject, reject: "icmp host-prohibited"},
		{name: "numeric code", src: "2001:db8::7", port: 5, want: netfilter.Reject, reject: "icmpv6 admin-prohibited"},
	})
}

const (
	tcpDport = `{"payload":{"protocol":"tcp","field":"dport"}}`
	tcpSport = `{"payload":{"protocol":"tcp","field":"sport"}}`
	ipSaddr  = `{"payload":{"protocol":"ip","field":"saddr"}}`
	metaMark = `{"meta":{"key":"mark"}}`
	accept   = `{"accept":null}`
	drop     = `{"drop":null}`
)

// TestWalk covers verdicts, jumps, marks and three-valued matches on small rulesets.
func TestWalk(t *testing.T) {
	const src = "198.51.100.7"
	tests := []struct {
		name  string
		rules []string
		cases []evalCase
	}{
		{"goto returns to the caller of the caller", []string{
			`{"chain":{"family":"inet","table":"filt","name":"a","handle":3}}`,
			`{"chain":{"family":"inet","table":"filt","name":"b","handle":4}}`,
			rule("input", 10, `{"jump":{"target":"a"}}`),
			rule("input", 11, accept),
			rule("a", 12, `{"goto":{"target":"b"}}`),
			rule("a", 13, drop),
			rule("b", 14, `{"return":null}`),
		}, []evalCase{{name: "accepted after the return", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 11"}}},
		{"ct state before conntrack", []string{
			`{"chain":{"family":"inet","table":"filt","name":"raw","handle":5,"type":"filter","hook":"prerouting","prio":-300,"policy":"accept"}}`,
			rule("raw", 10, match(`{"ct":{"key":"state"}}`, "in", `"new"`), match(tcpDport, "==", "1"), drop),
			rule("raw", 11, match(`{"ct":{"key":"state"}}`, "in", `"invalid"`), match(tcpDport, "==", "2"), drop),
			rule("input", 12, accept),
		}, []evalCase{
			{name: "not new yet", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"},
			{name: "invalid", src: src, port: 2, want: netfilter.Drop, rule: "inet filt raw handle 11"},
		}},
		{"goto from the base chain: its policy ends the walk", []string{
			chainUser,
			rule("input", 10, match(tcpDport, "==", "1"), `{"goto":{"target":"user"}}`),
			rule("input", 11, accept),
			rule("user", 12, match(tcpDport, "==", "2"), drop),
		}, []evalCase{
			{name: "the goto'd chain runs off its end", src: src, port: 1, want: netfilter.Drop, rule: "inet filt input policy"},
			{name: "no goto", src: src, port: 3, want: netfilter.Accept, rule: "inet filt input handle 11"},
		}},
		{"continue and end of a regular chain", []string{
			chainUser,
			rule("input", 10, `{"continue":null}`),
			rule("input", 11, `{"jump":{"target":"user"}}`),
			rule("input", 12, match(tcpDport, "==", "1"), accept),
			rule("user", 13, match(tcpDport, "==", "2"), drop),
		}, []evalCase{
			{name: "user chain ends: back to input", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"},
			{name: "drop in the user chain", src: src, port: 2, want: netfilter.Drop, rule: "inet filt user handle 13"},
			{name: "policy", src: src, port: 3, want: netfilter.Drop, rule: "inet filt input policy"},
		}},
		{"jump loop", []string{
			`{"chain":{"family":"inet","table":"filt","name":"a","handle":3}}`,
			`{"chain":{"family":"inet","table":"filt","name":"b","handle":4}}`,
			rule("input", 10, `{"jump":{"target":"a"}}`),
			rule("a", 11, `{"jump":{"target":"b"}}`),
			rule("b", 12, `{"jump":{"target":"a"}}`),
		}, []evalCase{{name: "undecided", src: src, port: 1, want: netfilter.Undecided, reason: "jumps nest deeper"}}},
		{"goto loop", []string{
			`{"chain":{"family":"inet","table":"filt","name":"a","handle":3}}`,
			rule("input", 10, `{"goto":{"target":"a"}}`),
			rule("a", 11, `{"goto":{"target":"a"}}`),
		}, []evalCase{{name: "undecided", src: src, port: 1, want: netfilter.Undecided, reason: "the chains loop"}}},
		{"mark set then matched", []string{
			rule("input", 10, `{"mangle":{"key":`+metaMark+`,"value":16}}`),
			rule("input", 11, `{"mangle":{"key":`+metaMark+`,"value":{"|":[`+metaMark+`,256]}}}`),
			rule("input", 12, match(`{"&":[`+metaMark+`,255]}`, "==", "16"), match(metaMark, "==", `"0x00000110"`), accept),
		}, []evalCase{{name: "mark 0x110", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"}}},
		{"mark of unknown value", []string{
			rule("input", 10, `{"mangle":{"key":`+metaMark+`,"value":{"numgen":{"mode":"random","mod":2}}}}`),
			rule("input", 11, match(metaMark, "==", "1"), accept),
		}, []evalCase{{name: "undecided", src: src, port: 1, want: netfilter.Undecided, reason: "meta mark 0x00000001 cannot be evaluated (an earlier rule set the mark"}}},
		{"source ports", []string{
			rule("input", 10, match(tcpSport, "<", "1024"), drop),
			rule("input", 11, match(tcpDport, "==", "1"), match(tcpSport, "==", `{"range":[1024,65535]}`), accept),
			rule("input", 12, match(tcpDport, "==", "2"), match(tcpSport, "==", "40000"), accept),
			rule("input", 13, match(tcpDport, "==", "3"), match(tcpSport, "!=", "53"), accept),
		}, []evalCase{
			{name: "every unprivileged port", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 11"},
			{name: "one source port", src: src, port: 2, want: netfilter.Undecided, reason: "tcp sport 40000 cannot be evaluated"},
			{name: "not a privileged port", src: src, port: 3, want: netfilter.Accept, rule: "inet filt input handle 13"},
		}},
		{"conntrack", []string{
			rule("input", 10, match(`{"ct":{"key":"state"}}`, "in", `["established","related"]`), drop),
			rule("input", 11, match(`{"ct":{"key":"state"}}`, "!=", `"new"`), drop),
			rule("input", 12, match(`{"ct":{"key":"state"}}`, "==", `{"set":["new","untracked"]}`), match(`{"payload":{"protocol":"th","field":"dport"}}`, "==", "1"), accept),
			rule("input", 13, match(`{"ct":{"key":"status"}}`, "in", `"dnat"`), accept),
			rule("input", 14, match(`{"ct":{"key":"proto-dst","dir":"original"}}`, "==", "2"), accept),
		}, []evalCase{
			// UDP: a TCP connection would need the handshake's next packet, which rule 10 drops
			{name: "new", proto: "udp", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"},
			{name: "no dnat", proto: "udp", src: src, port: 2, want: netfilter.Accept, rule: "inet filt input handle 14"},
			{name: "tcp: the handshake's next packet is dropped", src: src, port: 1, want: netfilter.Undecided, reason: "handshake's next packet"},
			{name: "policy", src: src, port: 3, want: netfilter.Drop},
		}},
		{"interfaces", []string{
			rule("input", 10, match(`{"meta":{"key":"oifname"}}`, "!=", `"lo"`), drop),
			rule("input", 11, match(`{"meta":{"key":"iifname"}}`, "==", `"docker0"`), drop),
			rule("input", 12, match(`{"meta":{"key":"iifname"}}`, "!=", `"br-*"`), match(tcpDport, "==", "1"), accept),
			rule("input", 13, match(`{"meta":{"key":"iifname"}}`, "==", `"eth*"`), match(tcpDport, "==", "2"), accept),
			rule("input", 14, match(`{"meta":{"key":"iif"}}`, "==", "3"), match(tcpDport, "==", "3"), accept),
		}, []evalCase{
			{name: "no output interface on input; not from an internal bridge", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"},
			{name: "unknown arrival interface", src: src, port: 2, want: netfilter.Undecided, reason: `iifname "eth*" cannot be evaluated`},
			{name: "known arrival interface", src: src, port: 2, iface: "eth0", want: netfilter.Accept, rule: "inet filt input handle 13"},
			{name: "other interface", src: src, port: 2, iface: "wlan0", want: netfilter.Drop},
			{name: "interface index", src: src, port: 3, iface: "eth0", want: netfilter.Undecided, reason: "iif 3"},
		}},
		{"headers the packet does not have", []string{
			rule("input", 10, match(`{"payload":{"protocol":"icmp","field":"type"}}`, "!=", `"echo-request"`), drop),
			rule("input", 11, match(`{"payload":{"protocol":"udp","field":"dport"}}`, "!=", "53"), drop),
			rule("input", 12, match(`{"payload":{"protocol":"ip6","field":"saddr"}}`, "!=", `"::1"`), drop),
			rule("input", 13, match(`{"payload":{"protocol":"ip","field":"ttl"}}`, "==", "64"), match(tcpDport, "==", "1"), accept),
			rule("input", 14, match(`{"meta":{"key":"l4proto"}}`, "==", "6"), match(`{"meta":{"key":"nfproto"}}`, "==", `"ipv4"`), match(`{"meta":{"key":"pkttype"}}`, "==", `"host"`), accept),
		}, []evalCase{
			{name: "unknown field forks and both ways accept", src: src, port: 1, want: netfilter.Accept},
			{name: "known meta keys", src: src, port: 2, want: netfilter.Accept, rule: "inet filt input handle 14"},
			{name: "udp hits the udp rule", proto: "udp", src: src, port: 2, want: netfilter.Drop, rule: "inet filt input handle 11"},
		}},
		{"tcp flags and fib", []string{
			rule("input", 10, match(`{"&":[{"payload":{"protocol":"tcp","field":"flags"}},["fin","syn","rst","ack"]]}`, "!=", `"syn"`), drop),
			rule("input", 11, match(`{"fib":{"result":"oif","flags":["saddr","iif"]}}`, "==", "false"), drop),
			rule("input", 12, match(`{"fib":{"result":"type","flags":["daddr"]}}`, "==", `"local"`), match(tcpDport, "==", "1"), accept),
		}, []evalCase{
			{name: "a SYN, with a route back, to a local address", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 12"},
		}},
		{"concatenated verdict map with a source address", []string{
			`{"map":{"family":"inet","name":"vm","table":"filt","type":["ipv4_addr","inet_proto","inet_service"],"handle":9,"map":"verdict","elem":[[{"concat":[{"prefix":{"addr":"10.0.0.0","len":8}},"tcp",22]},{"accept":null}],[{"concat":["10.0.0.2","udp",53]},{"goto":{"target":"user"}}]]}}`,
			chainUser,
			rule("input", 10, `{"vmap":{"key":{"concat":[`+ipSaddr+`,{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@vm"}}`),
			rule("user", 11, accept),
		}, []evalCase{
			{name: "first element", src: "10.1.2.3", port: 22, want: netfilter.Accept, rule: "inet filt input handle 10"},
			{name: "goto element", proto: "udp", src: "10.0.0.2", port: 53, want: netfilter.Accept, rule: "inet filt user handle 11"},
			{name: "no element", src: src, port: 22, want: netfilter.Drop, rule: "inet filt input policy"},
		}},
		{"verdict map on an unknown key", []string{
			rule("input", 10, match(tcpDport, "==", "1"), `{"vmap":{"key":{"numgen":{"mode":"random","mod":2}},"data":{"set":[[0,{"accept":null}],[1,{"accept":null}]]}}}`),
			rule("input", 11, match(tcpDport, "==", "1"), accept),
			rule("input", 12, match(tcpDport, "==", "2"), `{"vmap":{"key":{"numgen":{"mode":"random","mod":2}},"data":{"set":[[0,{"accept":null}],[1,{"drop":null}]]}}}`),
		}, []evalCase{
			{name: "every branch accepts", src: src, port: 1, want: netfilter.Accept},
			{name: "branches differ", src: src, port: 2, want: netfilter.Undecided, reason: "the key of numgen random vmap"},
		}},
		{"stateful statements", []string{
			rule("input", 10, `{"limit":{"rate":10,"burst":5,"per":"second","inv":true}}`, drop),
			rule("input", 11, match(tcpDport, "==", "1"), `{"ct count":{"val":10}}`, accept),
			rule("input", 12, match(tcpDport, "==", "2"), `{"queue":{"num":2}}`),
			rule("input", 13, match(tcpDport, "==", "3"), `{"quota":{"val":10,"val_unit":"mbytes"}}`, accept),
		}, []evalCase{
			{name: "connection limit", src: src, port: 1, want: netfilter.Accept, rule: "inet filt input handle 11", cond: "ct count 10"},
			{name: "rate over is not reached", src: src, port: 1, want: netfilter.Accept, cond: "limit rate over 10/second"},
			{name: "queue", src: src, port: 2, want: netfilter.Undecided, reason: "queue num 2: a userspace program decides"},
			{name: "quota", src: src, port: 3, want: netfilter.Accept, cond: "quota 10 mbytes assumed not used up"},
		}},
		{"unknown statement", []string{
			rule("input", 10, match(tcpDport, "==", "1"), `{"foo":{"bar":1}}`, accept),
			rule("input", 11, match(tcpDport, "==", "2"), `{"foo":{"bar":1}}`, drop),
			rule("input", 12, match(tcpDport, "==", "2"), drop),
		}, []evalCase{
			{name: "disagree", src: src, port: 1, want: netfilter.Undecided, reason: `inet filt input handle 10: unknown statement "foo"`},
			{name: "agree", src: src, port: 2, want: netfilter.Drop, rule: "inet filt input handle 11"},
		}},
		{"daddr and comparisons", []string{
			rule("input", 10, match(`{"payload":{"protocol":"ip","field":"daddr"}}`, "!=", `{"prefix":{"addr":"10.99.0.0","len":24}}`), drop),
			rule("input", 11, match(tcpDport, ">=", "1000"), match(tcpDport, "<", "2000"), accept),
			rule("input", 12, match(tcpDport, "==", `{"set":[1,{"range":[10,20]}]}`), accept),
		}, []evalCase{
			{name: "in range", src: src, port: 1500, want: netfilter.Accept, rule: "inet filt input handle 11"},
			{name: "in set range", src: src, port: 15, want: netfilter.Accept, rule: "inet filt input handle 12"},
			{name: "outside", src: src, port: 2000, want: netfilter.Drop, rule: "inet filt input policy"},
			{name: "other destination", src: src, dst: "10.98.0.1", port: 1500, want: netfilter.Drop, rule: "inet filt input handle 10"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := ruleset(append([]string{tblFilt, chainIn}, tt.rules...)...)
			runCases(t, chainsOfJSON(t, doc), tt.cases)
		})
	}
}

func TestForkLimit(t *testing.T) {
	rules := []string{tblFilt, chainIn}
	for i := range 80 {
		v := accept
		if i%2 == 1 {
			v = drop
		}
		rules = append(rules, rule("input", 10+i, `{"xt":{"type":"match","name":"recent"}}`, v))
	}
	runCases(t, chainsOfJSON(t, ruleset(rules...)), []evalCase{
		{name: "too many paths", src: "198.51.100.7", port: 1, want: netfilter.Undecided, reason: "xt match recent"},
	})
}

func TestNATStatements(t *testing.T) {
	chains := chainsOf(t, "constructs.json", false)
	env := testEnv()
	tests := []struct {
		port  uint16
		proto string
		text  string
		dst   string
		dport uint16
	}{
		{8080, "tcp", "dnat to 172.17.0.2:80", "172.17.0.2", 80},
		{8081, "tcp", "dnat to 172.17.0.3", "172.17.0.3", 8081},
		{8082, "tcp", "redirect to :8001", "10.99.0.2", 8001},
		{9090, "tcp", "dnat to 172.17.0.9:90", "172.17.0.9", 90},
		{8084, "tcp", "dnat to 172.17.0.2:80", "172.17.0.2", 80},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			tr := netfilter.Simulate(chains, evalCase{proto: tt.proto, src: "198.51.100.7", port: tt.port}.packet(), env)
			if tr.NAT == nil || tr.NAT.Text != tt.text || tr.Packet.Dst != netip.MustParseAddr(tt.dst) || tr.Packet.DPort != tt.dport {
				t.Errorf("NAT %+v, packet %v:%d; want %s", tr.NAT, tr.Packet.Dst, tr.Packet.DPort, tt.text)
			}
		})
	}
	// a udp packet does not look up the tcp dport map
	tr := netfilter.Simulate(chains, evalCase{proto: "udp", src: "198.51.100.7", port: 8080}.packet(), env)
	if tr.NAT != nil {
		t.Errorf("udp/8080 NAT %+v", tr.NAT)
	}
}

// classesOf returns the source ranges (adjacent ones merged) by outcome: "drop",
// "reject tcp reset"…
func classesOf(chains []netfilter.BaseChain, src string, port uint16) map[string][]report.AddrRange {
	q := netfilter.Query{Source: netip.MustParsePrefix(src), Dst: srv4, Proto: "tcp", Port: port}
	out := map[string][]report.AddrRange{}
	for _, c := range netfilter.Classes(chains, q, testEnv()) {
		key := c.Trace.Final.String()
		if c.Trace.Final == netfilter.Reject {
			key += " " + c.Trace.Decider.Result.RejectWith
		}
		rs := out[key]
		if n := len(rs); n > 0 && rs[n-1].To.Next() == c.Range.From {
			rs[n-1].To = c.Range.To
		} else {
			rs = append(rs, c.Range)
		}
		out[key] = rs
	}
	return out
}

func rangeStrings(rs []report.AddrRange) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func TestClassesSplitSource(t *testing.T) {
	got := classesOf(chainsOf(t, "saddr-split.json", false), "0.0.0.0/0", 22)
	if acc := rangeStrings(got["accept"]); !slices.Equal(acc, []string{"203.0.113.0/24"}) {
		t.Errorf("accepted from %v; want 203.0.113.0/24", acc)
	}
	// the rest, but for 127.0.0.0/8 which Classes leaves out
	wantDrop := []string{"0.0.0.0/2, 64.0.0.0/3, 96.0.0.0/4, 112.0.0.0/5, 120.0.0.0/6, 124.0.0.0/7, 126.0.0.0/8", "128.0.0.0/2, 192.0.0.0/5, 200.0.0.0/7, 202.0.0.0/8, 203.0.0.0/18, 203.0.64.0/19, 203.0.96.0/20, 203.0.112.0/24", "203.0.114.0/23, 203.0.116.0/22, 203.0.120.0/21, 203.0.128.0/17, 203.1.0.0/16, 203.2.0.0/15, 203.4.0.0/14, 203.8.0.0/13, 203.16.0.0/12, 203.32.0.0/11, 203.64.0.0/10, 203.128.0.0/9, 204.0.0.0/6, 208.0.0.0/4, 224.0.0.0/3"}
	if d := rangeStrings(got["drop"]); !slices.Equal(d, wantDrop) || len(got) != 2 {
		t.Errorf("dropped %q (classes %v)", d, got)
	}
	// the ssh rule of the native sample splits at the members of @allowed4
	got = classesOf(chainsOf(t, "sample-native-nft.json", false), "10.0.0.0/8", 22)
	if in := rangeStrings(got["reject icmpx admin-prohibited"]); !slices.Equal(in, []string{"10.99.0.0/28"}) {
		t.Errorf("admin-prohibited for %v", in)
	}
	if out := rangeStrings(got["reject tcp reset"]); len(out) != 2 || len(got) != 2 {
		t.Errorf("classes %v", got)
	}
	got = classesOf(chainsOf(t, "sample-native-nft.json", false), "192.168.1.0/24", 22)
	if in := rangeStrings(got["reject icmpx admin-prohibited"]); !slices.Equal(in, []string{"192.168.1.10/32"}) {
		t.Errorf("admin-prohibited for %v", in)
	}
}

// TestClassesLargeSet checks that a set larger than the window handed to SrcIn still
// splits the source set exactly at its members.
func TestClassesLargeSet(t *testing.T) {
	var elems, want []string
	for i := range 200 {
		a := fmt.Sprintf("198.%d.%d.0", 18+i%2, i)
		elems = append(elems, `{"prefix":{"addr":"`+a+`","len":24}}`)
		want = append(want, a+"/24")
	}
	elems = append(elems, `"203.0.113.7"`, `{"range":["203.0.113.20","203.0.113.40"]}`)
	doc := ruleset(tblFilt,
		`{"chain":{"family":"inet","table":"filt","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"accept"}}`,
		`{"set":{"family":"inet","name":"block","table":"filt","type":"ipv4_addr","handle":3,"flags":["interval"],"elem":[`+strings.Join(elems, ",")+`]}}`,
		rule("input", 10, match(ipSaddr, "==", `"@block"`), drop),
	)
	got := classesOf(chainsOfJSON(t, doc), "0.0.0.0/0", 443)
	var dropped []netip.Prefix
	for _, r := range got["drop"] {
		dropped = append(dropped, r.Prefixes()...)
	}
	var wantP []netip.Prefix
	for _, s := range want {
		wantP = append(wantP, netip.MustParsePrefix(s))
	}
	wantP = append(wantP, netip.MustParsePrefix("203.0.113.7/32"))
	wantP = append(wantP, report.AddrRange{From: netip.MustParseAddr("203.0.113.20"), To: netip.MustParseAddr("203.0.113.40")}.Prefixes()...)
	slices.SortFunc(wantP, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	// adjacent /24s merge into larger prefixes; compare address by address coverage instead
	cover := func(ps []netip.Prefix) float64 {
		n := 0.0
		for _, p := range ps {
			n += report.RangeOf(p).Size()
		}
		return n
	}
	if cover(dropped) != cover(wantP) {
		t.Errorf("dropped %v addresses; want %v", cover(dropped), cover(wantP))
	}
	for _, p := range wantP {
		tr := netfilter.Simulate(chainsOfJSON(t, doc), netfilter.Packet{Family: netfilter.IPv4, Proto: "tcp", Src: p.Addr(), Dst: srv4, DPort: 443}, testEnv())
		if tr.Final != netfilter.Drop {
			t.Errorf("%s: %v", p, tr.Final)
		}
	}
	if len(got["accept"]) == 0 {
		t.Error("nothing accepted")
	}
}
