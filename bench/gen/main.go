// Command gen writes the synthetic rulesets the benchmarks use:
//
//	gen -kind iptables -rules 100000 > rules.txt   (kube-proxy-like iptables-save)
//	gen -kind nft -rules 20000 > ruleset.json      (nft -j list ruleset)
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/portpath/portpath/firewall/iptables"
	"github.com/portpath/portpath/firewall/nftables"
)

func main() {
	kind := flag.String("kind", "iptables", "iptables or nft")
	rules := flag.Int("rules", 100000, "number of rules")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	var err error
	switch *kind {
	case "iptables":
		err = iptables.GenerateKubeProxy(w, *rules, *seed)
	case "nft":
		err = nftables.Generate(w, *rules, *seed)
	default:
		err = fmt.Errorf("unknown kind %q", *kind)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
