package main

import (
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/frontend"
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
var frontendTools = []frontendTool{}

// addFrontendFlags registers each tool's option for offline evidence.
func addFrontendFlags(f *pflag.FlagSet) {
	for _, t := range frontendTools {
		f.String(t.flag, "", t.help)
	}
}

// frontendSources turns the tools' options into the evidence sources of the server view.
func frontendSources(v *viper.Viper) []firewall.FrontendSource {
	var out []firewall.FrontendSource
	for _, t := range frontendTools {
		out = append(out, firewall.FrontendSource{Layer: t.layer, Path: v.GetString(t.flag), Flag: "--" + t.flag, Open: t.open})
	}
	return out
}
