package main

import (
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/btpanel"
	"github.com/portpath/portpath/firewall/firewalld"
	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/ufw"
)

// frontendTool is one firewall tool people configure the kernel's rules with.
type frontendTool struct {
	// flag names the option for a copy of the tool's configuration ("ufw-dir").
	flag string
	// help is the option's help text; a `WORD` in back quotes names its argument.
	help  string
	layer string
	open  frontend.Opener
}

// frontendTools are the firewall tools portpath reads, in path order (the panel's
// intent before the tools it drives). A new tool is one package and one line here.
var frontendTools = []frontendTool{
	{flag: "btpanel-db", help: "a copy of the BT panel's firewall `FILE` (…/data/db/firewall.db or data/default.db)", layer: "host.btpanel", open: btpanel.Open},
	{flag: "ufw-dir", help: "a copy of the server's /etc/ufw `DIR` (with /etc/default/ufw as DIR/default-ufw or DIR/../default/ufw)", layer: "host.ufw", open: ufw.Open},
	{flag: "firewalld-dir", help: "the server's firewalld configuration: a copy of /etc/firewalld (a `DIR`, or a copied root holding etc/firewalld and usr/lib/firewalld), or a file holding the output of firewall-cmd --list-all-zones", layer: "host.firewalld", open: firewalld.Open},
}

// addEvidenceFlags registers the options naming evidence copied off a server: the
// kernel's rules, the socket table, and each firewall tool's configuration.
func addEvidenceFlags(f *pflag.FlagSet) {
	f.String("iptables-save", "", "iptables-save output `FILE` from the server")
	f.String("ip6tables-save", "", "ip6tables-save output `FILE` from the server")
	f.String("nft-json", "", "`FILE` with the output of nft -j list ruleset from the server")
	f.String("proc-net", "", "a copy of the server's /proc/net `DIR` (tcp, tcp6, udp, udp6)")
	f.String("in-iface", "", "interface client traffic arrives on at the server (default: from the routing table, or unknown)")
	for _, t := range frontendTools {
		f.String(t.flag, "", t.help)
	}
}

// evidenceOptions reads the evidence options into the server view's sources.
func evidenceOptions(v *viper.Viper) firewall.Options {
	o := firewall.Options{
		IPTablesSave:  v.GetString("iptables-save"),
		IP6TablesSave: v.GetString("ip6tables-save"),
		NftJSON:       v.GetString("nft-json"),
		ProcNet:       v.GetString("proc-net"),
		InIface:       v.GetString("in-iface"),
	}
	for _, t := range frontendTools {
		o.Frontends = append(o.Frontends, firewall.FrontendSource{Layer: t.layer, Path: v.GetString(t.flag), Flag: "--" + t.flag, Open: t.open})
	}
	return o
}
