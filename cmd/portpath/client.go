package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// clientOptions are the settings of the client-side steps: DNS, CDN, proxy, routes, ports.
type clientOptions struct {
	// ExpectIP are the server's real addresses; DNS answers outside them are DNS_WRONG_IP. Empty: not compared.
	ExpectIP []netip.Addr
	// Origin is the server's own address behind a CDN or proxy; the cloud and host layers are
	// evaluated for it instead of the answers. Empty: the answers are.
	Origin []netip.Addr
	// DNSServers are host:port servers asked instead of those of /etc/resolv.conf. Empty: the system's.
	DNSServers []string

	// Getenv and ProcRoot are seams for tests; nil and "" mean this process's environment and /proc.
	Getenv   func(string) string
	ProcRoot string
}

// addClientFlags registers the options of the client-side steps.
func addClientFlags(f *pflag.FlagSet) {
	f.StringSlice("expect-ip", nil, "the server's real `ADDRESS` (repeatable): DNS answers that are not one of them are DNS_WRONG_IP")
	f.StringSlice("origin", nil, "the server's own `ADDRESS` behind a CDN or proxy (repeatable): the cloud and host layers are evaluated for it, not for the CDN's edge")
	f.StringSlice("dns-server", nil, "DNS server `HOST[:PORT]` to ask instead of those in /etc/resolv.conf (repeatable)")
}

// clientOptionsFrom reads the client settings; a malformed address is a usage error.
func clientOptionsFrom(v *viper.Viper) (clientOptions, error) {
	var o clientOptions
	var err error
	if o.ExpectIP, err = addrList(v, "expect-ip"); err != nil {
		return o, err
	}
	if o.Origin, err = addrList(v, "origin"); err != nil {
		return o, err
	}
	for _, s := range list(v, "dns-server") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
		}
		host, port, _ := net.SplitHostPort(s)
		if host == "" || port == "" {
			return o, usagef("--dns-server: %q is not HOST[:PORT] (e.g. 127.0.0.53 or [2001:db8::53]:53)", s)
		}
		o.DNSServers = append(o.DNSServers, s)
	}
	return o, nil
}

func addrList(v *viper.Viper, key string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range list(v, key) {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			return nil, usagef("--%s: %q is not an IP address (e.g. 203.0.113.10 or 2001:db8::10)", key, s)
		}
		if a = a.Unmap(); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// resolution is the target's DNS answer and what each part of the path is evaluated for.
type resolution struct {
	// Addrs are the answers: the addresses the client (and the probe) connects to.
	Addrs []netip.Addr
	// Path are the addresses the cloud and host layers are evaluated for: Addrs, or --origin.
	Path []netip.Addr
	// Steps are the dns and cdn steps.
	Steps []report.Step
	// Failed is true when the name does not resolve; Steps then say why.
	Failed bool
	// BehindCDN is true when a known CDN answers for the name.
	BehindCDN bool
}

// resolveTarget looks the target's host up (github.com/miekg/dns against the system's
// servers, or --dns-server; the Resolver seam when a test sets one) and judges the answer:
// DNS_FAILURE, DNS_WRONG_IP against --expect-ip, CDN_IN_PATH / CDN_PORT_UNSUPPORTED.
func resolveTarget(ctx context.Context, o *checkOptions, tgt report.Target, deadline time.Time) resolution {
	var res resolution
	var ans probe.DNSAnswer
	var err error
	// One deadline for the whole lookup, however many servers are asked: the check's.
	dctx, cancel := context.WithDeadline(ctx, deadline)
	if o.Resolver != nil {
		ans = probe.DNSAnswer{Host: tgt.Host, Via: probe.SystemResolverName}
		ans.Addrs, err = probe.Resolve(dctx, o.Resolver, tgt.Host)
	} else {
		l := &probe.DNSLookup{Servers: o.Client.DNSServers, Timeout: min(time.Until(deadline), probe.DefaultDNSTimeout)}
		ans, err = l.Lookup(dctx, tgt.Host)
	}
	cancel()
	_, perr := netip.ParseAddr(tgt.Host)
	literal := perr == nil
	cdn := probe.CDNStep(probe.KnownCDNs(), tgt, ans.Chain, ans.Addrs, o.Client.Origin)
	res.BehindCDN = cdn.Cause != ""
	if !literal || err != nil {
		res.Steps = append(res.Steps, probe.DNSStep(ans, err, o.Client.ExpectIP, res.BehindCDN || len(o.Client.Origin) > 0))
	} else if len(o.Client.ExpectIP) > 0 && !slices.Contains(o.Client.ExpectIP, ans.Addrs[0]) {
		res.Steps = append(res.Steps, report.Step{Layer: "dns", Decision: report.Reject, Cause: report.CauseDNSWrongIP,
			Detail: fmt.Sprintf("the target %s is not the server's address (%s)", tgt.Host, joinAddrs(o.Client.ExpectIP))})
	}
	if err != nil {
		res.Failed = true
		return res
	}
	res.Addrs = ans.Addrs
	if !literal || res.BehindCDN || len(o.Client.Origin) > 0 {
		res.Steps = append(res.Steps, cdn)
	}
	res.Path = res.Addrs
	if len(o.Client.Origin) > 0 {
		res.Path = o.Client.Origin
	}
	return res
}

// startClient begins the client.* steps before the name is resolved (what needs no address
// runs while DNS is asked), within the check's deadline; wait judges the addresses once they
// are known and returns the steps, stop ends what is still running. The steps describe this
// machine, so they run only when it is the client (not with --no-probe); fake-IP answers
// are always judged.
func startClient(ctx context.Context, o *checkOptions, tgt report.Target, deadline time.Time) (wait func(addrs []netip.Addr) []report.Step, stop func()) {
	if o.NoProbe {
		return func(addrs []netip.Addr) []report.Step { return probe.FakeIPSteps(tgt, addrs) }, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	co := probe.ClientOptions{Getenv: o.Client.Getenv, ProcRoot: o.Client.ProcRoot, Timeout: o.Timeout, Deadline: deadline}
	judge := probe.StartClient(ctx, co, tgt)
	return func(addrs []netip.Addr) []report.Step {
		defer cancel()
		// A private address of this very host needs no route: drop its client.route step.
		return slices.DeleteFunc(judge(addrs), func(s report.Step) bool {
			a, err := netip.ParseAddr(s.Address)
			return s.Layer == "client.route" && err == nil && firewall.IsLocal(a)
		})
	}, cancel
}

// finishClient adds what only the probe and the providers can tell the DNS step: answers
// that disagree on openness, and an instance a provider found at other addresses.
func finishClient(r *report.Report, o *checkOptions, res resolution, probeSteps, cloudSteps []report.Step) {
	if res.BehindCDN || len(o.Client.Origin) > 0 {
		return
	}
	var ok, bad []string
	for _, s := range probeSteps {
		switch {
		case s.Address == "" || s.Decision == report.Skipped:
		case s.Symptom == report.Connected:
			ok = append(ok, s.Address)
		case s.Decision.Blocks():
			bad = append(bad, fmt.Sprintf("%s (%s)", s.Address, s.Symptom))
		}
	}
	if len(ok) > 0 && len(bad) > 0 {
		r.Steps = append(r.Steps, report.Step{Layer: "dns", Decision: report.Unknown, Cause: report.CauseDNSWrongIP,
			Detail: fmt.Sprintf("the answers for %s disagree: %s connected, %s did not; clients that pick a failing address fail (browsers try the next one, most programs do not), which is what a stale record pointing at an old server looks like",
				r.Target.Host, strings.Join(ok, ", "), strings.Join(bad, ", ")),
			Fix: []string{fmt.Sprintf("remove the failing address from the records of %s at its DNS provider, or make it serve port %d too", r.Target.Host, r.Target.Port)}})
	}
	// Where the providers found the instance: with --instance/--name it may be elsewhere.
	var found []netip.Addr
	for _, s := range cloudSteps {
		if a, err := netip.ParseAddr(s.Address); err == nil && s.Decision != report.Skipped && !slices.Contains(found, a.Unmap()) {
			found = append(found, a.Unmap())
		}
	}
	if len(found) == 0 || len(o.Client.ExpectIP) > 0 {
		return
	}
	// The public addresses first: they are what a DNS record should point at.
	slices.SortStableFunc(found, func(a, b netip.Addr) int {
		return boolRank(probe.IsPrivateAddress(a)) - boolRank(probe.IsPrivateAddress(b))
	})
	for _, a := range res.Addrs {
		if slices.Contains(found, a) {
			return
		}
	}
	st := probe.DNSStep(probe.DNSAnswer{Host: r.Target.Host, Addrs: res.Addrs, Via: "the answer above"}, nil, found, false)
	if st.Cause == report.CauseDNSWrongIP {
		st.Detail = "the cloud provider found the instance at other addresses: " + st.Detail
		r.Steps = append(r.Steps, st)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cmpOr is d, or def when d is not positive.
func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
