package iptables

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

var (
	host  = netip.MustParseAddr("10.99.0.2")
	host6 = netip.MustParseAddr("fd99::2")
)

func testEnv() *netfilter.Env {
	return &netfilter.Env{LocalAddrs: []netip.Addr{host, host6}, IPForward: true}
}

// chainsOf parses an inline dump (or a testdata file when src names one) into base chains.
func chainsOf(t testing.TB, src string, fam netfilter.Family) []netfilter.BaseChain {
	t.Helper()
	var d *Dump
	var err error
	if strings.HasPrefix(src, "testdata/") {
		d, err = ParseFile(src)
	} else {
		d, err = Parse(strings.NewReader(src), "inline")
	}
	if err != nil {
		t.Fatal(err)
	}
	cs, err := BaseChains(d, "iptables-nft", fam)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

type query struct {
	src   string
	proto string
	port  uint16
	iif   string
}

func (q query) packet() netfilter.Packet {
	src := netip.MustParseAddr(q.src)
	dst := host
	if src.Is6() {
		dst = host6
	}
	proto := q.proto
	if proto == "" {
		proto = "tcp"
	}
	return netfilter.Packet{Family: netfilter.FamilyOf(src), Proto: proto, Src: src, Dst: dst, DPort: q.port, InIface: q.iif}
}

func ruleOnPath(tr netfilter.Trace, id string) bool {
	for _, h := range tr.Hops {
		if h.Result.Rule != nil && h.Result.Rule.ID == id {
			return true
		}
	}
	return false
}

func deciderID(tr netfilter.Trace) string {
	if tr.Decider == nil || tr.Decider.Result.Rule == nil {
		return ""
	}
	return tr.Decider.Result.Rule.ID
}

const (
	filterHead = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	filterDrop = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
)

const dockerDump = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 8080 -j DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -s 198.51.100.0/24 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
`

func TestSimulate(t *testing.T) {
	routeDocker := func(e *netfilter.Env) {
		e.RouteIface = func(a netip.Addr) string {
			if netip.MustParsePrefix("172.17.0.0/16").Contains(a) {
				return "docker0"
			}
			return "eth0"
		}
	}
	tests := []struct {
		name   string
		dump   string
		q      query
		env    func(*netfilter.Env)
		want   netfilter.Verdict
		reject string
		rule   string
		nat    string
		reason string // part of Trace.Reason
		cond   string // part of a condition
	}{
		{name: "drop", dump: filterHead + "-A INPUT -p tcp -m tcp --dport 8282 -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8282}, want: netfilter.Drop, rule: "filter/INPUT#1"},
		{name: "implicit tcp match after -p", dump: filterHead + "-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 22}, want: netfilter.Drop, rule: "filter/INPUT#1"},
		{name: "implicit tcp match misses other ports", dump: filterHead + "-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 23}, want: netfilter.Accept, rule: "filter/INPUT policy"},
		{name: "reject default", dump: filterHead + "-A INPUT -p udp -j ACCEPT\n-A INPUT -p tcp -j REJECT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 1}, want: netfilter.Reject, reject: "icmp port-unreachable", rule: "filter/INPUT#2"},
		{name: "reject default ipv6", dump: filterHead + "-A INPUT -p tcp -j REJECT\nCOMMIT\n",
			q: query{src: "fd99::1", port: 1}, want: netfilter.Reject, reject: "icmpv6 port-unreachable", rule: "filter/INPUT#1"},
		{name: "reject tcp-reset", dump: filterHead + "-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 9000}, want: netfilter.Reject, reject: "tcp reset", rule: "filter/INPUT#1"},
		{name: "reject host-prohibited", dump: filterHead + "-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 9000}, want: netfilter.Reject, reject: "icmp host-prohibited", rule: "filter/INPUT#1"},
		{name: "reject with an unknown type falls back to the default", dump: filterHead + "-A INPUT -j REJECT --reject-with icmp-bogus\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 9000}, want: netfilter.Reject, reject: "icmp port-unreachable", rule: "filter/INPUT#1"},
		{name: "policy drop", dump: filterDrop + "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8282}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "accept in a user chain ends the base chain",
			dump: filterHead + ":USER - [0:0]\n-A INPUT -j USER\n-A INPUT -j DROP\n-A USER -p tcp -j ACCEPT\nCOMMIT\n",
			q:    query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/USER#1"},
		{name: "return goes back to the caller",
			dump: filterHead + ":USER - [0:0]\n-A INPUT -j USER\n-A INPUT -j REJECT\n-A USER -p tcp -j RETURN\n-A USER -j ACCEPT\nCOMMIT\n",
			q:    query{src: "198.51.100.7", port: 80}, want: netfilter.Reject, reject: "icmp port-unreachable", rule: "filter/INPUT#2"},
		{name: "end of a user chain returns",
			dump: filterHead + ":USER - [0:0]\n-A INPUT -j USER\n-A INPUT -j DROP\n-A USER -p udp -j ACCEPT\nCOMMIT\n",
			q:    query{src: "198.51.100.7", port: 80}, want: netfilter.Drop, rule: "filter/INPUT#2"},
		{name: "return from a goto'd chain skips the rest of the chain that went there",
			dump: filterHead + ":B - [0:0]\n:C - [0:0]\n-A INPUT -j B\n-A INPUT -j REJECT --reject-with tcp-reset\n-A B -g C\n-A B -j DROP\n-A C -j RETURN\nCOMMIT\n",
			q:    query{src: "198.51.100.7", port: 80}, want: netfilter.Reject, reject: "tcp reset", rule: "filter/INPUT#2"},
		{name: "goto from the base chain and return is the policy",
			dump: filterHead + ":C - [0:0]\n-A INPUT -g C\n-A INPUT -j DROP\n-A C -j RETURN\nCOMMIT\n",
			q:    query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT policy"},
		{name: "multiport range", dump: filterHead + "-A INPUT -p tcp -m multiport --dports 80,443,8000:8010 -j REJECT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8005}, want: netfilter.Reject, rule: "filter/INPUT#1", reject: "icmp port-unreachable"},
		{name: "multiport miss", dump: filterHead + "-A INPUT -p tcp -m multiport --dports 80,443,8000:8010 -j REJECT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8011}, want: netfilter.Accept, rule: "filter/INPUT policy"},
		{name: "negated source matches outside", dump: filterHead + "-A INPUT ! -s 10.0.0.0/8 -p tcp -j DROP\nCOMMIT\n",
			q: query{src: "203.0.113.5", port: 80}, want: netfilter.Drop, rule: "filter/INPUT#1"},
		{name: "negated source does not match inside", dump: filterHead + "-A INPUT ! -s 10.0.0.0/8 -p tcp -j DROP\nCOMMIT\n",
			q: query{src: "10.1.2.3", port: 80}, want: netfilter.Accept, rule: "filter/INPUT policy"},
		{name: "iprange inside", dump: filterDrop + "-A INPUT -m iprange --src-range 198.51.100.10-198.51.100.20 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.15", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#1"},
		{name: "iprange outside", dump: filterDrop + "-A INPUT -m iprange --src-range 198.51.100.10-198.51.100.20 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.21", port: 80}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "established only does not admit a first packet", dump: filterDrop + "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "ct state new", dump: filterDrop + "-A INPUT -m state --state INVALID -j DROP\n-A INPUT -p tcp -m conntrack --ctstate NEW -j ACCEPT\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#2"},
		{name: "new accepted, the handshake's next packet dropped", dump: filterDrop + "-A INPUT -p tcp -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Undecided, rule: "filter/INPUT#1"},
		{name: "raw runs before conntrack", dump: "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -m conntrack --ctstate NEW -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "raw/PREROUTING policy"},
		{name: "syn flags", dump: filterDrop + "-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#1"},
		{name: "not syn", dump: filterDrop + "-A INPUT -p tcp -m tcp ! --syn -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "icmp match never takes tcp", dump: filterHead + "-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP\n-A INPUT -m icmp ! --icmp-type 8 -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT policy"},
		{name: "output interface on input never matches", dump: filterHead + "-A INPUT -o eth0 -j DROP\n-A INPUT ! -o eth0 -j REJECT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Reject, rule: "filter/INPUT#2", reject: "icmp port-unreachable"},
		{name: "source port: privileged only", dump: filterHead + "-A INPUT -p tcp -m tcp --sport 0:1023 -j DROP\n-A INPUT -p tcp -m tcp --sport 1024:65535 -j REJECT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Reject, rule: "filter/INPUT#2", reject: "icmp port-unreachable"},
		{name: "addrtype local", dump: filterDrop + "-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#1"},
		{name: "mark set in mangle, matched in filter",
			dump: "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 8282 -j MARK --set-xmark 0x10/0xff\nCOMMIT\n" +
				filterDrop + "-A INPUT -m mark --mark 0x1 -j ACCEPT\n-A INPUT -m mark --mark 0x10/0xf0 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8282}, want: netfilter.Accept, rule: "filter/INPUT#2"},
		{name: "a new connection has connection mark 0", dump: filterDrop + "-A INPUT -m connmark --mark 0x1 -j DROP\n-A INPUT -m connmark --mark 0x0/0xff -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#2"},
		{name: "queue to userspace", dump: filterHead + "-A INPUT -p tcp -j NFQUEUE --queue-num 1\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Undecided, reason: "userspace"},
		{name: "jump loop", dump: filterHead + ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Undecided, reason: "deeper than"},
		{name: "goto loop", dump: filterHead + ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -g B\n-A B -g A\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Undecided, reason: "goto loop"},
		{name: "redirect: filter sees the translated port",
			dump: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 8082 -j REDIRECT --to-ports 8001\nCOMMIT\n" +
				filterDrop + "-A INPUT -p tcp -m tcp --dport 8082 -j REJECT\n-A INPUT -p tcp -m tcp --dport 8001 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8082}, want: netfilter.Accept, rule: "filter/INPUT#2", nat: "REDIRECT to port 8001"},
		{name: "ctorigdstport sees the port before the redirect",
			dump: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 8082 -j REDIRECT --to-ports 8001\nCOMMIT\n" +
				filterDrop + "-A INPUT -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8082 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 8082}, want: netfilter.Accept, rule: "filter/INPUT#1", nat: "REDIRECT to port 8001"},
		{name: "docker: DOCKER-USER drops before the container",
			dump: dockerDump, q: query{src: "198.51.100.7", port: 8080},
			want: netfilter.Drop, rule: "filter/DOCKER-USER#1", nat: "DNAT to 172.17.0.2:80"},
		{name: "docker: accepted for others when the route to the container is known",
			dump: dockerDump, q: query{src: "203.0.113.9", port: 8080}, env: routeDocker,
			want: netfilter.Accept, rule: "filter/DOCKER#1", nat: "DNAT to 172.17.0.2:80"},
		{name: "docker: output interface unknown leaves it open",
			dump: dockerDump, q: query{src: "203.0.113.9", port: 8080},
			want: netfilter.Undecided, reason: "-o docker0 (output interface unknown)", nat: "DNAT to 172.17.0.2:80"},
		{name: "docker: other ports stay on INPUT", dump: dockerDump, q: query{src: "203.0.113.9", port: 8081},
			want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "limit assumed not exceeded", dump: filterDrop + "-A INPUT -p tcp -m limit --limit 5/sec --limit-burst 10 -j ACCEPT\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT#1",
			cond: "filter/INPUT#1: assumes the rate limit is not exceeded (-m limit --limit 5/sec --limit-burst 10)"},
		{name: "hashlimit above assumed not reached", dump: filterHead + "-A INPUT -p tcp -m hashlimit --hashlimit-above 10/sec --hashlimit-name x -j DROP\nCOMMIT\n",
			q: query{src: "198.51.100.7", port: 80}, want: netfilter.Accept, rule: "filter/INPUT policy", cond: "stays under the rate limit"},
		// sample dump
		{name: "sample: recent list assumed empty for a first connection", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 22}, want: netfilter.Accept, rule: "filter/SSH-BRUTE#3",
			cond: "filter/SSH-BRUTE#2: assumes fewer than 4 recent connections from this source within 60 s"},
		{name: "sample: unknown set, both outcomes reject alike", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 8081}, want: netfilter.Reject, reject: "icmp port-unreachable", rule: "filter/INPUT#12",
			cond: "filter/INPUT#10: assumes this source has at most 20 open connections"},
		{name: "sample: unknown set decides", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 5432}, want: netfilter.Undecided,
			reason: "filter/INPUT#8: -m set --match-set allowed src (members unknown)"},
		{name: "sample: set members known", dump: "testdata/sample-iptables-save-c.txt",
			env: func(e *netfilter.Env) {
				e.IPSets = map[string][]report.AddrRange{"allowed": {report.RangeOf(netip.MustParsePrefix("198.51.100.0/28"))}}
			},
			q: query{src: "198.51.100.7", port: 5432}, want: netfilter.Accept, rule: "filter/MYCHAIN#1"},
		{name: "sample: docker publish goes through FORWARD", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 8080}, want: netfilter.Drop, rule: "filter/FORWARD policy", nat: "DNAT to 172.17.0.2:80"},
		{name: "sample: redirect 2222 to ssh", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 2222}, want: netfilter.Accept, rule: "filter/SSH-BRUTE#3", nat: "REDIRECT to port 22",
			cond: "filter/SSH-BRUTE#2"},
		{name: "sample: web ports rejected from outside 10/8", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", port: 443}, want: netfilter.Reject, reject: "icmp host-prohibited", rule: "filter/INPUT#5"},
		{name: "sample: web ports from the lab on vs", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "10.99.0.1", port: 443, iif: "vs"}, want: netfilter.Accept, rule: "filter/INPUT#6"},
		{name: "sample: udp range", dump: "testdata/sample-iptables-save-c.txt",
			q: query{src: "198.51.100.7", proto: "udp", port: 9050}, want: netfilter.Accept, rule: "filter/INPUT#9"},
		// ufw
		{name: "ufw: ssh allowed", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 22}, want: netfilter.Accept, rule: "filter/ufw-user-input#1"},
		{name: "ufw: other ports meet the policy", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 8080}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "ufw: deny rule", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 8006}, want: netfilter.Drop, rule: "filter/ufw-user-input#6"},
		{name: "ufw: deny for one client only", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "10.99.0.1", port: 8005}, want: netfilter.Drop, rule: "filter/ufw-user-input#10"},
		{name: "ufw: udp reject", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", proto: "udp", port: 9001}, want: netfilter.Reject, reject: "icmp port-unreachable", rule: "filter/ufw-user-input#7"},
		{name: "ufw: netbios skips to the policy", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 445}, want: netfilter.Drop, rule: "filter/ufw-skip-to-policy-input#1"},
		{name: "ufw: limit", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 2222}, want: netfilter.Accept, rule: "filter/ufw-user-limit-accept#1",
			cond: "filter/ufw-user-input#3: assumes fewer than 6 recent connections from this source within 30 s"},
		{name: "ufw: interface rule with the interface unknown", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 8004}, want: netfilter.Undecided, reason: "filter/ufw-user-input#8: -i vs (input interface unknown)"},
		{name: "ufw: interface rule on that interface", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 8004, iif: "vs"}, want: netfilter.Accept, rule: "filter/ufw-user-input#8"},
		{name: "ufw: interface rule on another interface", dump: "testdata/ufw/ufw-iptables-save.txt",
			q: query{src: "198.51.100.7", port: 8004, iif: "eth0"}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "ufw6: ssh allowed", dump: "testdata/ufw/ufw-ip6tables-save.txt",
			q: query{src: "2001:db8::7", port: 22}, want: netfilter.Accept, rule: "filter/ufw6-user-input#1"},
		{name: "ufw6: other ports meet the policy", dump: "testdata/ufw/ufw-ip6tables-save.txt",
			q: query{src: "2001:db8::7", port: 8080}, want: netfilter.Drop, rule: "filter/INPUT policy"},
		{name: "ufw6: udp reject", dump: "testdata/ufw/ufw-ip6tables-save.txt",
			q: query{src: "2001:db8::7", proto: "udp", port: 9001}, want: netfilter.Reject, reject: "icmpv6 port-unreachable", rule: "filter/ufw6-user-input#6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := tt.q.packet()
			chains := chainsOf(t, tt.dump, pkt.Family)
			env := testEnv()
			if tt.env != nil {
				tt.env(env)
			}
			tr := netfilter.Simulate(chains, pkt, env)
			if tr.Final != tt.want {
				t.Fatalf("final = %v (reason %q, decider %q); want %v", tr.Final, tr.Reason, deciderID(tr), tt.want)
			}
			// an accepted packet passes every base chain; the rule must be on its way
			if tt.rule != "" && deciderID(tr) != tt.rule && (tr.Final != netfilter.Accept || !ruleOnPath(tr, tt.rule)) {
				t.Errorf("decided by %q; want %q", deciderID(tr), tt.rule)
			}
			if tt.reject != "" && tr.Decider.Result.RejectWith != tt.reject {
				t.Errorf("reject with %q; want %q", tr.Decider.Result.RejectWith, tt.reject)
			}
			gotNAT := ""
			if tr.NAT != nil {
				gotNAT = tr.NAT.Text
			}
			if gotNAT != tt.nat {
				t.Errorf("NAT %q; want %q", gotNAT, tt.nat)
			}
			if !strings.Contains(tr.Reason, tt.reason) {
				t.Errorf("reason %q; want it to contain %q", tr.Reason, tt.reason)
			}
			if tt.cond != "" && !slices.ContainsFunc(tr.Conditions, func(c string) bool { return strings.Contains(c, tt.cond) }) {
				t.Errorf("conditions %q; want one containing %q", tr.Conditions, tt.cond)
			}
			if tt.cond == "" && len(tr.Conditions) > 0 {
				t.Errorf("unexpected conditions %q", tr.Conditions)
			}
		})
	}
}

func TestDecidingRuleQuoted(t *testing.T) {
	chains := chainsOf(t, "testdata/sample-iptables-save-c.txt", netfilter.IPv4)
	tr := netfilter.Simulate(chains, query{src: "198.51.100.7", port: 443}.packet(), testEnv())
	want := report.Rule{ID: "filter/INPUT#5", Text: "-A INPUT ! -s 10.0.0.0/8 -p tcp -m multiport --dports 80,443,8000:8010 -j REJECT --reject-with icmp-host-prohibited",
		Origin: "iptables-nft", Table: "filter", Chain: "INPUT", Position: 5}
	if got := *tr.Decider.Result.Rule; got != want {
		t.Errorf("rule = %+v;\nwant %+v", got, want)
	}
	tr = netfilter.Simulate(chains, query{src: "198.51.100.7", port: 8080}.packet(), testEnv())
	want = report.Rule{ID: "filter/FORWARD policy", Text: ":FORWARD DROP", Origin: "iptables-nft", Table: "filter", Chain: "FORWARD"}
	if got := *tr.Decider.Result.Rule; got != want {
		t.Errorf("policy rule = %+v;\nwant %+v", got, want)
	}
}

func TestBaseChainsPlaces(t *testing.T) {
	chains := chainsOf(t, "testdata/sample-iptables-save-c.txt", netfilter.IPv4)
	var got []string
	for _, c := range chains {
		got = append(got, strings.Join([]string{c.Origin, c.Family, c.Table, c.Chain, c.Type, string(c.Hook)}, " ")+" "+strconv.Itoa(c.Priority))
	}
	want := []string{
		"iptables-nft ip raw PREROUTING filter prerouting -300",
		"iptables-nft ip raw OUTPUT filter output -300",
		"iptables-nft ip filter INPUT filter input 0",
		"iptables-nft ip filter FORWARD filter forward 0",
		"iptables-nft ip filter OUTPUT filter output 0",
		"iptables-nft ip nat PREROUTING nat prerouting -100",
		"iptables-nft ip nat INPUT nat input 100",
		"iptables-nft ip nat OUTPUT nat output -100",
		"iptables-nft ip nat POSTROUTING nat postrouting 100",
	}
	if !slices.Equal(got, want) {
		t.Errorf("base chains:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := BaseChains(&Dump{}, "iptables-nft", "inet"); err == nil {
		t.Error("family inet must be refused")
	}
}

func TestBaseChainsFamilyMismatch(t *testing.T) {
	d, err := Parse(strings.NewReader(filterHead+"-A INPUT -s fd00::/8 -j DROP\nCOMMIT\n"), "v4.rules")
	if err != nil {
		t.Fatal(err)
	}
	_, err = BaseChains(d, "iptables-nft", netfilter.IPv4)
	if err == nil || !strings.Contains(err.Error(), "v4.rules:5: address fd00::/8 in an IPv4 (iptables) dump") {
		t.Errorf("error %v", err)
	}
}

func TestClassesSplitSourceSet(t *testing.T) {
	chains := chainsOf(t, filterDrop+"-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 8282 -j ACCEPT\nCOMMIT\n", netfilter.IPv4)
	q := netfilter.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: host, Proto: "tcp", Port: 8282}
	classes := netfilter.Classes(chains, q, testEnv())
	var accepted, dropped []string
	for _, c := range classes {
		switch c.Trace.Final {
		case netfilter.Accept:
			accepted = append(accepted, c.Range.String())
		case netfilter.Drop:
			dropped = append(dropped, c.Range.String())
			if deciderID(c.Trace) != "filter/INPUT policy" {
				t.Errorf("%s dropped by %q", c.Range, deciderID(c.Trace))
			}
		default:
			t.Errorf("%s: %v", c.Range, c.Trace.Final)
		}
	}
	if !slices.Equal(accepted, []string{"203.0.113.0/24"}) || len(dropped) == 0 {
		t.Errorf("accepted %q, dropped %q", accepted, dropped)
	}
	st := netfilter.Step(classes, q, nil)
	if st.Decision != report.Allow || !slices.Equal(st.AllowedFrom, []string{"203.0.113.0/24"}) {
		t.Errorf("step %+v", st)
	}
}

func TestClassesUfwSourceRule(t *testing.T) {
	chains := chainsOf(t, "testdata/ufw/ufw-iptables-save.txt", netfilter.IPv4)
	q := netfilter.Query{Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: host, Proto: "tcp", Port: 8001}
	st := netfilter.Step(netfilter.Classes(chains, q, testEnv()), q, nil)
	if st.Decision != report.Allow || !slices.Equal(st.AllowedFrom, []string{"10.99.0.0/24"}) {
		t.Errorf("step %+v", st)
	}
}

func TestClassesIPSetMembers(t *testing.T) {
	chains := chainsOf(t, "testdata/sample-iptables-save-c.txt", netfilter.IPv4)
	env := testEnv()
	env.IPSets = map[string][]report.AddrRange{"allowed": {report.RangeOf(netip.MustParsePrefix("198.51.100.0/28"))}}
	q := netfilter.Query{Source: netip.MustParsePrefix("198.51.100.0/24"), Dst: host, Proto: "tcp", Port: 5432}
	classes := netfilter.Classes(chains, q, env)
	for _, c := range classes {
		in := c.Range.From.Compare(netip.MustParseAddr("198.51.100.16")) < 0
		if want := map[bool]netfilter.Verdict{true: netfilter.Accept, false: netfilter.Reject}[in]; c.Trace.Final != want {
			t.Errorf("%s: %v; want %v", c.Range, c.Trace.Final, want)
		}
	}
	if len(classes) < 2 {
		t.Errorf("classes %d; want the set to split the source set", len(classes))
	}
}

func TestSourceTypeSplits(t *testing.T) {
	chains := chainsOf(t, filterDrop+"-A INPUT -m addrtype --src-type LOCAL -j ACCEPT\nCOMMIT\n", netfilter.IPv4)
	q := netfilter.Query{Source: netip.MustParsePrefix("10.99.0.0/24"), Dst: host, Proto: "tcp", Port: 80}
	for _, c := range netfilter.Classes(chains, q, testEnv()) {
		local := c.Range.Contains(host)
		if (c.Trace.Final == netfilter.Accept) != local {
			t.Errorf("%s: %v", c.Range, c.Trace.Final)
		}
	}
}

func TestForksAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(filterHead + ":A - [0:0]\n")
	for range 200 {
		b.WriteString("-A INPUT -m statistic --mode random --probability 0.5 -j A\n")
		b.WriteString("-A A -m statistic --mode random --probability 0.5 -j RETURN\n")
	}
	b.WriteString("COMMIT\n")
	chains := chainsOf(t, b.String(), netfilter.IPv4)
	start := time.Now()
	tr := netfilter.Simulate(chains, query{src: "198.51.100.7", port: 80}.packet(), testEnv())
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if tr.Final != netfilter.Undecided || !strings.Contains(tr.Reason, "cannot be evaluated") {
		t.Errorf("final %v reason %q", tr.Final, tr.Reason)
	}
	// a few unknown matches whose outcomes agree stay decided
	chains = chainsOf(t, filterHead+"-A INPUT -m statistic --mode random --probability 0.5 -j LOG\n-A INPUT -m socket -j ACCEPT\n-A INPUT -m string --algo bm --string x -j ACCEPT\nCOMMIT\n", netfilter.IPv4)
	if tr := netfilter.Simulate(chains, query{src: "198.51.100.7", port: 80}.packet(), testEnv()); tr.Final != netfilter.Accept {
		t.Errorf("agreeing outcomes: %v %q", tr.Final, tr.Reason)
	}
}

func TestDNATForms(t *testing.T) {
	tests := []struct {
		to   string
		fam  netfilter.Family
		addr string
		port uint16
	}{
		{"172.17.0.2:80", netfilter.IPv4, "172.17.0.2", 80},
		{"172.17.0.2", netfilter.IPv4, "172.17.0.2", 0},
		{"172.17.0.2-172.17.0.9:80-90", netfilter.IPv4, "172.17.0.2", 80},
		{":8080", netfilter.IPv4, "invalid IP", 8080},
		{"[fd00::2]:80", netfilter.IPv6, "fd00::2", 80},
		{"fd00::2", netfilter.IPv6, "fd00::2", 0},
	}
	for _, tt := range tests {
		src := "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DNAT --to-destination " + tt.to + "\nCOMMIT\n"
		q := query{src: "198.51.100.7", port: 1}
		if tt.fam == netfilter.IPv6 {
			q.src = "2001:db8::1"
		}
		pkt := q.packet()
		chains := chainsOf(t, src, tt.fam)
		res := chains[0].Run(&netfilter.Eval{Pkt: &pkt, Env: testEnv()})
		if res.NAT == nil || res.NAT.Addr.String() != tt.addr || res.NAT.Port != tt.port || res.NAT.Text != "DNAT to "+tt.to {
			t.Errorf("%s: %+v", tt.to, res.NAT)
		}
	}
}
