package nftables

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Generate writes a synthetic `nft -j list ruleset` of about the given number of rules,
// shaped like a large hand-kept server ruleset: an inet filter table whose input chain
// drops a big blocklist set, accepts per-source service rules, and dispatches by port
// through a verdict map to one chain per service; a forward chain and an ip nat table
// publishing container ports. The same seed gives the same ruleset.
func Generate(w io.Writer, rules int, seed int64) error {
	if rules < 50 {
		rules = 50
	}
	g := &gen{w: bufio.NewWriter(w), rnd: rand.New(rand.NewPCG(uint64(seed), 0x6e6674))}
	g.ruleset(rules)
	return g.w.Flush()
}

type gen struct {
	w      *bufio.Writer
	rnd    *rand.Rand
	n      int // objects written
	handle int
}

func (g *gen) obj(format string, args ...any) {
	if g.n > 0 {
		g.w.WriteString(",\n")
	}
	g.n++
	fmt.Fprintf(g.w, format, args...)
}

func (g *gen) nextHandle() int { g.handle++; return g.handle }

func (g *gen) rule(family, table, chain string, exprs ...string) {
	g.obj(`{"rule":{"family":%q,"table":%q,"chain":%q,"handle":%d,"expr":[%s]}}`, family, table, chain, g.nextHandle(), strings.Join(exprs, ","))
}

func match(left, op, right string) string {
	return fmt.Sprintf(`{"match":{"op":%q,"left":%s,"right":%s}}`, op, left, right)
}

const (
	jSaddr  = `{"payload":{"protocol":"ip","field":"saddr"}}`
	jDaddr  = `{"payload":{"protocol":"ip","field":"daddr"}}`
	j6Saddr = `{"payload":{"protocol":"ip6","field":"saddr"}}`
	jTCPDp  = `{"payload":{"protocol":"tcp","field":"dport"}}`
	jUDPDp  = `{"payload":{"protocol":"udp","field":"dport"}}`
	jCtSt   = `{"ct":{"key":"state"}}`
	jAccept = `{"accept":null}`
	jDrop   = `{"drop":null}`
	jCount  = `{"counter":{"packets":0,"bytes":0}}`
)

// addr returns a random IPv4 source as a JSON value: an address or a /24../28 prefix.
func (g *gen) addr() string {
	a := netip.AddrFrom4([4]byte{byte(11 + g.rnd.IntN(200)), byte(g.rnd.IntN(256)), byte(g.rnd.IntN(256)), byte(1 + g.rnd.IntN(254))})
	if g.rnd.IntN(3) == 0 {
		bits := 24 + g.rnd.IntN(5)
		p := netip.PrefixFrom(a, bits).Masked()
		return fmt.Sprintf(`{"prefix":{"addr":%q,"len":%d}}`, p.Addr(), bits)
	}
	return fmt.Sprintf("%q", a)
}

func (g *gen) ruleset(rules int) {
	g.w.WriteString(`{"nftables":[` + "\n")
	g.obj(`{"metainfo":{"version":"1.0.6","release_name":"Lester Gooch #5","json_schema_version":1}}`)

	// services: a few well-known ports, then random ones
	nsvc := min(200, max(4, rules/100))
	ports := []int{22, 80, 443, 8080, 5432, 3306, 6379, 9090, 25, 53}
	seen := map[int]bool{}
	for _, p := range ports {
		seen[p] = true
	}
	for len(ports) < nsvc {
		p := 1024 + g.rnd.IntN(60000)
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	ports = ports[:nsvc]
	published := min(20, nsvc/4+1) // container ports in the nat table

	const fam, tbl = "inet", "filter"
	g.obj(`{"table":{"family":%q,"name":%q,"handle":%d}}`, fam, tbl, g.nextHandle())

	// a big blocklist and an allow set of address . port pairs
	nblock := min(1000, max(10, rules/20))
	elems := make([]string, nblock)
	for i := range elems {
		elems[i] = g.addr()
	}
	g.obj(`{"set":{"family":%q,"name":"blocklist4","table":%q,"type":"ipv4_addr","handle":%d,"flags":["interval"],"elem":[%s]}}`,
		fam, tbl, g.nextHandle(), strings.Join(elems, ","))
	pairs := make([]string, min(500, max(5, rules/40)))
	for i := range pairs {
		pairs[i] = fmt.Sprintf(`{"concat":[%s,%d]}`, g.addr(), ports[g.rnd.IntN(len(ports))])
	}
	g.obj(`{"set":{"family":%q,"name":"svc_allow","table":%q,"type":["ipv4_addr","inet_service"],"handle":%d,"flags":["interval"],"elem":[%s]}}`,
		fam, tbl, g.nextHandle(), strings.Join(pairs, ","))
	vm := make([]string, len(ports))
	for i, p := range ports {
		vm[i] = fmt.Sprintf(`[%d,{"jump":{"target":"svc_%d"}}]`, p, p)
	}
	g.obj(`{"map":{"family":%q,"name":"svcmap","table":%q,"type":"inet_service","handle":%d,"map":"verdict","elem":[%s]}}`,
		fam, tbl, g.nextHandle(), strings.Join(vm, ","))

	g.obj(`{"chain":{"family":%q,"table":%q,"name":"input","handle":%d,"type":"filter","hook":"input","prio":0,"policy":"drop"}}`, fam, tbl, g.nextHandle())
	g.obj(`{"chain":{"family":%q,"table":%q,"name":"forward","handle":%d,"type":"filter","hook":"forward","prio":0,"policy":"drop"}}`, fam, tbl, g.nextHandle())
	for _, p := range ports {
		g.obj(`{"chain":{"family":%q,"table":%q,"name":"svc_%d","handle":%d}}`, fam, tbl, p, g.nextHandle())
	}

	add := func(chain string, exprs ...string) { g.rule(fam, tbl, chain, exprs...) }
	// input: state, loopback, blocklist, ICMP, the allow set
	add("input", `{"vmap":{"key":{"ct":{"key":"state"}},"data":{"set":[["invalid",{"drop":null}],["established",{"accept":null}],["related",{"accept":null}]]}}}`)
	add("input", match(`{"meta":{"key":"iif"}}`, "==", `"lo"`), jAccept)
	add("input", match(jSaddr, "==", `"@blocklist4"`), jCount, jDrop)
	add("input", match(`{"meta":{"key":"l4proto"}}`, "==", `{"set":["icmp","ipv6-icmp"]}`), `{"limit":{"rate":10,"burst":5,"per":"second"}}`, jAccept)
	add("input", match(`{"concat":[`+jSaddr+`,`+jTCPDp+`]}`, "==", `"@svc_allow"`), jAccept)

	// the rest of the budget: the flat section, one chain per service, forward and nat
	const fixed = 5 + 3 + 2 // input head and tail, forward head
	linear := rules / 5
	svcRules := max(len(ports), rules-fixed-linear-2*published)
	perSvc, extra := svcRules/len(ports), svcRules%len(ports)
	// a flat section of per-source rules
	for i := 0; i < linear; i++ {
		p := ports[g.rnd.IntN(len(ports))]
		switch g.rnd.IntN(6) {
		case 0:
			add("input", match(jSaddr, "==", g.addr()), match(jTCPDp, "==", fmt.Sprint(p)), jCount, jDrop)
		case 1:
			add("input", match(jUDPDp, "==", fmt.Sprint(p)), match(jSaddr, "==", g.addr()), jAccept)
		case 2:
			add("input", match(j6Saddr, "==", fmt.Sprintf(`{"prefix":{"addr":"2001:db8:%x::","len":48}}`, g.rnd.IntN(65536))), match(jTCPDp, "==", fmt.Sprint(p)), jAccept)
		default:
			add("input", match(jSaddr, "==", g.addr()), match(jTCPDp, "==", fmt.Sprint(p)), jCount, jAccept)
		}
	}
	add("input", `{"vmap":{"key":`+jTCPDp+`,"data":"@svcmap"}}`)
	add("input", `{"limit":{"rate":5,"burst":5,"per":"minute"}}`, `{"log":{"prefix":"input drop: "}}`)
	add("input", `{"reject":{"type":"icmpx","expr":"admin-prohibited"}}`)

	// one chain per service
	for k, p := range ports {
		chain := fmt.Sprintf("svc_%d", p)
		n := perSvc
		if k < extra {
			n++
		}
		for i := 0; i < n; i++ {
			switch g.rnd.IntN(8) {
			case 0:
				add(chain, match(jSaddr, "==", g.addr()), jCount, jDrop)
			case 1:
				add(chain, match(jSaddr, "==", g.addr()), match(jCtSt, "in", `"new"`), `{"limit":{"rate":20,"burst":5,"per":"second"}}`, jAccept)
			case 2:
				add(chain, match(j6Saddr, "==", fmt.Sprintf(`{"prefix":{"addr":"2001:db8:%x::","len":48}}`, g.rnd.IntN(65536))), jAccept)
			case 3:
				add(chain, match(`{"meta":{"key":"iifname"}}`, "==", fmt.Sprintf(`"eth%d"`, g.rnd.IntN(3))), match(jSaddr, "==", g.addr()), jAccept)
			default:
				add(chain, match(jSaddr, "==", g.addr()), jCount, jAccept)
			}
		}
	}

	// published container ports: nat prerouting dnat, forward accept
	add("forward", match(jCtSt, "in", `["established","related"]`), jAccept)
	add("forward", match(jSaddr, "==", `"@blocklist4"`), jDrop)
	g.obj(`{"table":{"family":"ip","name":"nat","handle":%d}}`, g.nextHandle())
	g.obj(`{"chain":{"family":"ip","table":"nat","name":"prerouting","handle":%d,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}}`, g.nextHandle())
	for i := 0; i < published; i++ {
		port := 30000 + i
		ctr := fmt.Sprintf("172.17.%d.%d", i/200, 2+i%200)
		g.rule("ip", "nat", "prerouting", match(`{"fib":{"result":"type","flags":["daddr"]}}`, "==", `"local"`),
			match(jTCPDp, "==", fmt.Sprint(port)), fmt.Sprintf(`{"dnat":{"addr":%q,"port":80}}`, ctr))
		add("forward", match(jDaddr, "==", fmt.Sprintf("%q", ctr)), match(jTCPDp, "==", "80"), jAccept)
	}
	g.w.WriteString("\n]}\n")
}
