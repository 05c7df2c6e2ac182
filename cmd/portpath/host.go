package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/firewall/sockets"
	"github.com/portpath/portpath/report"
)

// hostOptions is everything `portpath host` needs, after flags, env and config are merged.
type hostOptions struct {
	From netip.Prefix
	// Addresses are the host addresses wildcard listeners are evaluated at; empty means
	// this host's external addresses (live) or the addresses bound in the socket table (files).
	Addresses []netip.Addr
	Host      firewall.Options
	Format    report.Format
	Color     bool
	Out       io.Writer
}

func newHostCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "List every listening port of this server and who can reach it",
		Long: `List every listening socket of a server — port, bind address, program — and whether
clients in --from (default 0.0.0.0/0, the whole internet) reach it through the firewall:
"yes", "only from …", "no (timeout)", "this host only" (bound to loopback), "unknown" with
the reason, or "not checked" when the firewall could not be read. The rule that decides is
named in the tool it was written with (ufw, firewalld, the BT panel, iptables, nftables),
and the ports that are closed get the commands that would open them.

Run it on the server (as root: the firewall rules need CAP_NET_ADMIN). A socket bound to a
wildcard address (0.0.0.0, [::]) is evaluated at each external address of the host, or at
the addresses given with --address. Files copied from another server work anywhere:
--proc-net (needed), --iptables-save, --ip6tables-save, --nft-json, and the tools' copies.

It lists; it does not judge: the exit code is 0 whenever the listing was made, 1 when
portpath failed, 2 for bad input.`,
		Example: `  sudo portpath host
  sudo portpath host --from 198.51.100.0/24 -o json
  portpath host --proc-net ./net --iptables-save rules.v4 --address 203.0.113.10`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("host takes no arguments, got %q (to check one target, use portpath check)", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := hostOptionsFrom(g, cmd)
			if err != nil {
				return err
			}
			return hostRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.String("from", "0.0.0.0/0", "source address or CIDR the question is asked for")
	f.StringSlice("address", nil, "host `ADDRESS` to evaluate wildcard listeners at (repeatable; default: the host's external addresses)")
	addEvidenceFlags(f)
	return cmd
}

func hostOptionsFrom(g *globalOptions, cmd *cobra.Command) (*hostOptions, error) {
	v := g.v
	o := &hostOptions{Out: cmd.OutOrStdout(), Host: evidenceOptions(v)}
	from, err := report.ParsePrefixOrAddr(v.GetString("from"))
	if err != nil {
		return nil, usagef("--from: %v (want an address or CIDR, e.g. 203.0.113.0/24)", err)
	}
	o.From = from
	for _, s := range v.GetStringSlice("address") {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			return nil, usagef("--address: %q is not an IP address", s)
		}
		o.Addresses = append(o.Addresses, a.Unmap())
	}
	if o.Host.Offline() && o.Host.ProcNet == "" {
		return nil, usagef("host needs the server's socket table: give --proc-net DIR with the evidence files, or run it on the server without them")
	}
	if o.Format, err = report.ParseFormat(v.GetString("output")); err != nil {
		return nil, usagef("--output: %v", err)
	}
	o.Color = o.Format == report.FormatText && !v.GetBool("no-color") && os.Getenv("NO_COLOR") == "" && isTerminal(o.Out)
	return o, nil
}

func hostRun(ctx context.Context, o *hostOptions) error {
	r, err := buildHostReport(ctx, o)
	if err != nil {
		return err
	}
	if err := report.WriteHost(o.Out, r, o.Format, o.Color); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func buildHostReport(ctx context.Context, o *hostOptions) (report.HostReport, error) {
	r := report.HostReport{SchemaVersion: report.SchemaVersion, Source: sourceOf(o.From)}
	ho := o.Host
	ho.Live = !ho.Offline()
	hctx, cancel := context.WithTimeout(ctx, hostReadTimeout)
	defer cancel()
	h, err := firewall.Load(hctx, ho)
	if err != nil {
		return r, err
	}
	addrs := o.Addresses
	if len(addrs) == 0 && ho.Live {
		if addrs, err = firewall.ExternalAddrs(); err != nil {
			return r, err
		}
	}
	// a source set of one family does not reach addresses of the other
	otherFamily := func(a netip.Addr) bool { _, ok := netfilter.SourceFor(o.From, a); return !ok }
	addrs = slices.DeleteFunc(addrs, otherFamily)
	ls, err := h.Listeners(addrs)
	if err != nil {
		return r, err
	}
	if len(addrs) == 0 && !ho.Live {
		// offline, the addresses the server's sockets are bound to are the ones known
		for _, l := range ls {
			for _, a := range l.Addrs {
				if !slices.Contains(addrs, a) {
					addrs = append(addrs, a)
				}
			}
		}
		addrs = slices.DeleteFunc(addrs, otherFamily)
		if ls, err = h.Listeners(addrs); err != nil {
			return r, err
		}
	}
	for _, a := range addrs {
		r.Addresses = append(r.Addresses, a.String())
	}
	for _, l := range ls {
		s := l.Socket
		base := report.Exposure{Proto: s.Proto, Port: int(s.Local.Port()), Bind: bindText(s)}
		if len(s.Procs) > 0 {
			base.Program = sockets.Owner(s.Procs)
		}
		switch {
		case l.Loopback:
			base.Reach = report.LocalOnly
			base.Detail = "bound to a loopback address: only programs on this host can connect"
			r.Ports = append(r.Ports, base)
			continue
		case len(l.Addrs) == 0:
			base.Reach = report.NotChecked
			base.Detail = "no host address of this family to evaluate it at (or the source set is of the other family): give --address"
			r.Ports = append(r.Ports, base)
			continue
		}
		for _, a := range l.Addrs {
			e := base
			e.Address = a.String()
			tgt := report.Target{Input: netip.AddrPortFrom(a, s.Local.Port()).String(), Host: a.String(), Port: e.Port, Transport: s.Proto, Addresses: []string{a.String()}}
			merged := report.Merge(report.Report{Target: tgt, Source: r.Source, Steps: h.Steps(s.Proto, a, s.Local.Port(), o.From)})
			r.Ports = append(r.Ports, report.ExposureOf(e, merged))
		}
	}
	if src := h.RuleSources(); len(src) > 0 {
		r.Notes = append(r.Notes, "firewall rules read from: "+strings.Join(src, ", "))
	}
	return r, nil
}

// bindText is the bound address as ss prints it, with the device: "0.0.0.0", "[::]", "10.0.0.5%eth0".
func bindText(s sockets.Socket) string {
	a := s.Local.Addr()
	t := a.String()
	if a.Is6() && !a.Is4In6() {
		t = "[" + t + "]"
	} else if a.Is4In6() {
		t = a.Unmap().String()
	}
	if s.Iface != "" {
		t += "%" + s.Iface
	}
	return t
}
