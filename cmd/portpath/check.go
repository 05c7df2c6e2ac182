package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// hostReadTimeout bounds reading this host's rules and sockets; it is longer than any
// probe timeout because a large ruleset takes a second or two to dump.
const hostReadTimeout = 60 * time.Second

// checkOptions is everything `portpath check` needs, after flags, env and config are merged.
type checkOptions struct {
	Target  string
	From    netip.Prefix
	Timeout time.Duration
	NoProbe bool
	// Local reads this host's firewall and sockets even when the target is not one of its addresses.
	Local  bool
	Host   firewall.Options
	Format report.Format
	Color  bool
	Out    io.Writer
	// Cloud says which cloud providers to ask and how to find the instance.
	Cloud cloudOptions
	// Client holds the settings of the DNS, CDN and client.* steps (client.go).
	Client clientOptions

	// Resolver and Prober are seams for tests; nil means the real ones.
	Resolver probe.Resolver
	Prober   *probe.Prober
}

func newCheckCmd(g *globalOptions, runF func(context.Context, *checkOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check TARGET",
		Short: "Check whether a client can reach TARGET, and which layer blocks it",
		Long: `Check whether a client can reach TARGET, name the layer and the rule that blocks it,
predict the error the client sees, and print the fix.

TARGET is host:port, [v6]:port, or a URL: ws://, wss://, http://, https:// (the default
port comes from the scheme), tcp://host:port, udp://host:port.

From the client side portpath resolves TARGET (the dns step follows the CNAME chain; the
cdn step sees a CDN in front), looks at this machine (client.proxy, client.route for a
private address, client.ports for exhausted local ports), connects to every address (the
probe) and, after a connection, sends one handshake to see what the server speaks
(app.protocol: TLS, HTTP, WebSocket).

On the server — with --local, or automatically when TARGET is an address of this host — it
also evaluates the live firewall (iptables, ip6tables, legacy tables, nftables; as root),
names the deciding rule the way ufw, firewalld or the BT panel wrote it (host.ufw,
host.firewalld, host.btpanel, with drift between the tool and the kernel), and reads the
listening sockets. Files copied from another server work anywhere: --iptables-save,
--ip6tables-save, --nft-json, --proc-net, --ufw-dir, --firewalld-dir, --btpanel-db.

The firewall is evaluated for every client address in --from (default 0.0.0.0/0, the whole
internet; ::/0 for IPv6 targets), and the step says which part of it gets through.

With cloud credentials portpath also finds the instance that owns TARGET's address (or the
one given by --instance / --name), in every region at once, and evaluates its cloud layers
with read-only API calls: on AWS the route and public IP, the subnet's network ACL, the
security groups or the Lightsail firewall; on Alibaba Cloud the merged security groups, the
vSwitch ACL or the SWAS firewall; on Tencent Cloud the security groups in order, the subnet
ACL or the Lighthouse firewall. Credentials come from each SDK's usual places (environment,
CLI profiles, an instance role); --region limits the search, --provider picks the clouds,
--aws-endpoint, --aliyun-endpoint and --tencent-endpoint point at other endpoints. Without
credentials a cloud's step is skipped and says how to provide them.

` + exitCodesHelp,
		Example: `  portpath check ws://example.com:8282
  sudo portpath check --local 203.0.113.10:8282 --from 198.51.100.0/24
  portpath check 10.0.0.5:8080 --no-probe --iptables-save rules.txt --proc-net ./net -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("check needs exactly one TARGET (host:port, [v6]:port or a URL), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := checkOptionsFrom(g, cmd, args[0])
			if err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return checkRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.String("from", "0.0.0.0/0", "source address or CIDR the question is asked for")
	f.Duration("timeout", probe.DefaultTimeout, "how long the check waits for the network: the DNS lookup, the connections and the handshakes share it")
	f.Bool("no-probe", false, "do not connect to the target; evaluate the evidence only")
	f.Bool("local", false, "also read this host's firewall and sockets (run it on the server)")
	addEvidenceFlags(f)
	addProviderFlags(f)
	addClientFlags(f)
	return cmd
}

// checkOptionsFrom reads every setting through viper, so flag > env > config file > default.
func checkOptionsFrom(g *globalOptions, cmd *cobra.Command, target string) (*checkOptions, error) {
	v := g.v
	o := &checkOptions{Target: target, Out: cmd.OutOrStdout()}
	from, err := report.ParsePrefixOrAddr(v.GetString("from"))
	if err != nil {
		return nil, usagef("--from: %v (want an address or CIDR, e.g. 203.0.113.0/24)", err)
	}
	o.From = from
	t, err := time.ParseDuration(v.GetString("timeout"))
	if err != nil || t <= 0 {
		return nil, usagef("--timeout: %q is not a positive duration (e.g. 3s, 500ms)", v.GetString("timeout"))
	}
	o.Timeout = t
	o.NoProbe, o.Local = v.GetBool("no-probe"), v.GetBool("local")
	o.Host = evidenceOptions(v)
	if o.Cloud, err = cloudOptionsFrom(v); err != nil {
		return nil, err
	}
	if o.Client, err = clientOptionsFrom(v); err != nil {
		return nil, err
	}
	if o.Format, err = report.ParseFormat(v.GetString("output")); err != nil {
		return nil, usagef("--output: %v", err)
	}
	o.Color = o.Format == report.FormatText && !v.GetBool("no-color") && os.Getenv("NO_COLOR") == "" && isTerminal(o.Out)
	return o, nil
}

// isTerminal reports whether w is a character device (a terminal), the only place colour goes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// checkRun answers the question and writes the report; the verdict comes back as a *verdictError.
func checkRun(ctx context.Context, o *checkOptions) error {
	r, err := buildReport(ctx, o)
	if err != nil {
		return err
	}
	if err := report.Write(o.Out, r, o.Format, o.Color); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return &verdictError{r.Verdict}
}

func buildReport(ctx context.Context, o *checkOptions) (report.Report, error) {
	tgt, err := probe.ParseTarget(o.Target)
	if err != nil {
		return report.Report{}, err
	}
	r := report.Report{Target: tgt, Source: sourceOf(o.From)}

	// --timeout is the one budget of everything that waits for the network: the DNS lookup,
	// the connections, the handshakes and the client steps all end by this deadline.
	timeout := cmpOr(o.Timeout, probe.DefaultTimeout)
	deadline := time.Now().Add(timeout)
	clientSteps, stopClient := startClient(ctx, o, tgt, deadline) // the client.* steps run from here on (client.go)
	defer stopClient()
	// Evidence files are read while DNS is asked, and rejected when broken before the probe
	// goes on the wire; the host's live state is read while the probe runs.
	hctx, cancel := context.WithTimeout(ctx, hostReadTimeout)
	defer cancel()
	var host *firewall.Host
	filesRead := make(chan error, 1)
	go func() {
		var err error
		host, err = firewall.LoadFiles(hctx, o.Host)
		filesRead <- err
	}()
	res := resolveTarget(ctx, o, tgt, deadline) // the dns and cdn steps (client.go)
	if err := <-filesRead; err != nil {
		return r, err
	}
	r.Steps = append(r.Steps, res.Steps...)
	if res.Failed {
		return report.Merge(r), nil
	}
	addrs, pathAddrs := res.Addrs, res.Path // pathAddrs: --origin behind a CDN, else addrs
	// What the lookup left of the budget is the connections' and handshakes' time.
	if left := time.Until(deadline); !o.NoProbe && left < timeout/2 {
		took := timeout - left
		r.Notes = append(r.Notes, fmt.Sprintf("the DNS lookup took %s of --timeout %s, which left the connections %s: a slow server may look like a drop; run again with a longer --timeout",
			took.Round(time.Millisecond), timeout, max(left, 0).Round(time.Millisecond)))
	}
	for _, a := range addrs {
		r.Target.Addresses = append(r.Target.Addresses, a.String())
	}

	// The server view: asked for, automatic for a local target, or from files.
	local := o.Local
	for _, a := range pathAddrs {
		local = local || firewall.IsLocal(a)
	}
	hostOpts := o.Host
	hostOpts.Live = local
	loaded := make(chan struct{})
	go func() {
		host.LoadRest(hctx, hostOpts)
		close(loaded)
	}()
	cloudSteps := startCloud(ctx, o.Cloud, r.Target, pathAddrs, o.From) // the clouds are asked while the probe runs
	appSteps := startApp(ctx, o, tgt, addrs, deadline)                  // the protocol handshake too (app.go)
	var wg sync.WaitGroup
	var probeSteps []report.Step
	if !o.NoProbe {
		p := o.Prober
		if p == nil {
			p = &probe.Prober{}
		}
		p.Timeout, p.Deadline = timeout, deadline
		wg.Go(func() { probeSteps = p.Probe(ctx, tgt, addrs) })
	} else {
		r.Steps = append(r.Steps, report.Step{Layer: "probe." + tgt.Transport, Decision: report.Skipped, Detail: "not probed (--no-probe)"})
	}
	<-loaded
	for _, a := range pathAddrs {
		if !local && !hostOpts.Offline() {
			break
		}
		if local && !firewall.IsLocal(a) && !hostOpts.Offline() {
			r.Notes = append(r.Notes, fmt.Sprintf("%s is not an address of this host; its firewall was evaluated as if the packet arrived here (as with a cloud's 1:1 NAT)", a))
		}
		r.Steps = append(r.Steps, host.Steps(tgt.Transport, a, uint16(tgt.Port), o.From)...)
	}
	if src := host.RuleSources(); len(src) > 0 {
		r.Notes = append(r.Notes, "firewall rules read from: "+strings.Join(src, ", "))
	}
	if !local && !hostOpts.Offline() {
		r.Steps = append(r.Steps,
			report.Step{Layer: "host.iptables", Decision: report.Skipped, Detail: "the target is not on this host: run portpath with --local on the server, or give --iptables-save / --nft-json"},
			report.Step{Layer: "host.socket", Decision: report.Skipped, Detail: "the target is not on this host: run portpath with --local on the server, or give --proc-net"})
	}
	wg.Wait()
	r.Steps = append(r.Steps, probeSteps...)
	cloud := cloudSteps()
	r.Steps = append(r.Steps, cloud...)
	r.Steps = append(r.Steps, appSteps(cloud)...)
	r.Steps = append(r.Steps, clientSteps(addrs)...)
	finishClient(&r, o, res, probeSteps, cloud)
	return report.Merge(r), nil
}

// sourceOf names the source set for people.
func sourceOf(p netip.Prefix) report.Source {
	switch {
	case p.Bits() == 0:
		return report.Source{CIDR: p.String(), Label: "internet"}
	case p.IsSingleIP():
		return report.Source{CIDR: p.String(), Label: p.Addr().String()}
	}
	return report.Source{CIDR: p.String(), Label: p.String()}
}
