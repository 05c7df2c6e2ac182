package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/portpath/portpath/report"
)

// DefaultProcRoot is where the client's kernel state is read: routes, sysctls, sockets.
const DefaultProcRoot = "/proc"

// ClientOptions say where the client steps read this machine's state.
type ClientOptions struct {
	// Getenv reads the environment (the proxy variables); nil means os.Getenv.
	Getenv func(string) string
	// ProcRoot is the proc file system to read; "" means DefaultProcRoot.
	ProcRoot string
	// Timeout bounds connecting to a configured proxy; zero means DefaultTimeout.
	Timeout time.Duration
	// Deadline, when set, ends that connection attempt however much of Timeout is left.
	Deadline time.Time
	// Dial connects to the proxy; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

func (o ClientOptions) procRoot() string {
	if o.ProcRoot == "" {
		return DefaultProcRoot
	}
	return o.ProcRoot
}

// ClientSteps are the "client.*" steps: proxy settings and fake-IP answers (client.proxy),
// whether a private target is on a local network (client.route), and the free ephemeral
// ports towards the target (client.ports). They run at the same time, within ctx.
func ClientSteps(ctx context.Context, o ClientOptions, t report.Target, addrs []netip.Addr) []report.Step {
	return StartClient(ctx, o, t)(addrs)
}

// StartClient begins at once the client steps that need no address — the proxy variables
// (with a connection to the proxy) and the ephemeral-port state, whose socket table takes
// the kernel a while to list — so that they run while the target's name is resolved. judge
// waits for them and judges the addresses: fake-IP answers, routes, free ports.
func StartClient(ctx context.Context, o ClientOptions, t report.Target) (judge func(addrs []netip.Addr) []report.Step) {
	var proxy []report.Step
	var state EphemeralState
	var stateErr error
	proto := portProto(t)
	var wg sync.WaitGroup
	wg.Go(func() { proxy = proxySteps(ctx, o, t) })
	wg.Go(func() { state, stateErr = readEphemeral(ctx, o.procRoot(), proto) })
	return func(addrs []netip.Addr) []report.Step {
		route := routeSteps(o, addrs)
		wg.Wait()
		out := slices.Concat(proxy, FakeIPSteps(t, addrs), route)
		return append(out, portSteps(state, stateErr, proto, t, addrs)...)
	}
}

// fakeIPRange is where proxy software in fake-ip mode (Clash, Mihomo, Surge, sing-box)
// hands out placeholder answers: the benchmarking range of RFC 2544, never routed publicly.
var fakeIPRange = netip.MustParsePrefix("198.18.0.0/15")

// FakeIPSteps are client.proxy steps for answers in 198.18.0.0/15: the name resolved through
// proxy software in fake-ip mode, so a connection reaches the proxy, not the server.
func FakeIPSteps(t report.Target, addrs []netip.Addr) []report.Step {
	var out []report.Step
	for _, a := range addrs {
		if !fakeIPRange.Contains(a.Unmap()) {
			continue
		}
		what := fmt.Sprintf("%s resolves to %s", t.Host, a)
		if _, err := netip.ParseAddr(t.Host); err == nil {
			what = fmt.Sprintf("the target %s", a)
		}
		out = append(out, report.Step{Layer: "client.proxy", Decision: report.Unknown, Address: a.String(),
			Cause:  report.CauseClientProxy,
			Detail: fmt.Sprintf("%s, in %s: the fake-IP answer of proxy software (Clash, Mihomo, Surge, sing-box in fake-ip mode); connections go to the proxy, which decides where they end, so a probe result is the proxy's, not the server's", what, fakeIPRange),
			Fix: []string{
				fmt.Sprintf("add %s to the proxy's fake-ip-filter (or a DIRECT rule), or turn the proxy off, then run the check again", t.Host),
			}})
	}
	return out
}

// ProxyUse is the proxy a client that honours the proxy variables uses for the target.
type ProxyUse struct {
	// Var names the variable that applies ("HTTPS_PROXY"); empty when none is set.
	Var string
	// Proxy is the proxy's host:port; empty when no proxy applies.
	Proxy string
	// Scheme is the proxy's URL scheme ("http", "socks5").
	Scheme string
	// Excluded is true when a proxy is set but NO_PROXY (or a loopback target) bypasses it.
	Excluded bool
	// Bad says the variable is set but is not a usable URL; its value is not repeated (it may hold a password).
	Bad string
}

// ProxyFor reads the proxy variables the way Go and curl do: HTTPS_PROXY for https and wss,
// HTTP_PROXY for http and ws, ALL_PROXY for those without their own and for raw TCP, and
// NO_PROXY (Go's rules: loopback targets are never proxied). Lower case wins over upper case.
func ProxyFor(getenv func(string) string, t report.Target) ProxyUse {
	get := func(name string) (string, string) {
		for _, n := range []string{strings.ToLower(name), name} {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return n, v
			}
		}
		return "", ""
	}
	var names []string
	switch t.Scheme {
	case "https", "wss":
		names = []string{"HTTPS_PROXY", "ALL_PROXY"}
	case "http", "ws":
		names = []string{"HTTP_PROXY", "ALL_PROXY"}
	default:
		if t.Transport == "udp" {
			return ProxyUse{}
		}
		names = []string{"ALL_PROXY"}
	}
	var u ProxyUse
	var val string
	for _, n := range names {
		if u.Var, val = get(n); val != "" {
			break
		}
	}
	if val == "" {
		return ProxyUse{}
	}
	raw := val
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	if pu, err := url.Parse(raw); err != nil || pu.Hostname() == "" {
		u.Bad = fmt.Sprintf("%s is set but is not a proxy URL (want e.g. http://proxy.example:3128)", u.Var)
		return u
	}
	_, noProxy := get("NO_PROXY")
	// httpproxy applies NO_PROXY exactly as Go's HTTP client does.
	cfg := httpproxy.Config{HTTPProxy: val, NoProxy: noProxy}
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	pu, err := cfg.ProxyFunc()(&url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", host, t.Port)})
	switch {
	case err != nil:
		u.Bad = fmt.Sprintf("%s is set but is not a proxy URL (want e.g. http://proxy.example:3128)", u.Var)
		return u
	case pu == nil:
		u.Excluded = true
		return u
	}
	u.Scheme = strings.ToLower(pu.Scheme)
	port := pu.Port()
	if port == "" {
		port = map[string]string{"https": "443", "socks5": "1080", "socks5h": "1080", "socks4": "1080", "socks4a": "1080", "socks": "1080"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	u.Proxy = net.JoinHostPort(pu.Hostname(), port)
	return u
}

// proxySteps is the client.proxy step for the proxy variables; it connects to the proxy.
func proxySteps(ctx context.Context, o ClientOptions, t report.Target) []report.Step {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	u := ProxyFor(getenv, t)
	switch {
	case u.Var == "":
		return nil
	case u.Bad != "":
		return []report.Step{{Layer: "client.proxy", Decision: report.Unknown, Cause: report.CauseClientProxy,
			Detail: u.Bad + ": programs that read it may fail before they connect",
			Fix:    []string{"unset " + u.Var + "  # or set it to a valid proxy URL"}}}
	case u.Excluded:
		return []report.Step{{Layer: "client.proxy", Decision: report.Allow,
			Detail: fmt.Sprintf("%s is set, but NO_PROXY (or a loopback target) makes programs connect to %s directly", u.Var, t.Host)}}
	}
	p := &Prober{Timeout: o.Timeout, Deadline: o.Deadline, Dial: o.Dial}
	ps := proxyProbe(ctx, p, u.Proxy)
	bypass := fmt.Sprintf("export NO_PROXY=%s  # connect to %s without the proxy (or: unset %s)", t.Host, t.Host, u.Var)
	st := report.Step{Layer: "client.proxy", Cause: report.CauseClientProxy}
	if ps.Symptom == report.Connected {
		st.Decision = report.Unknown
		st.Detail = fmt.Sprintf("%s sends programs that honour it (curl, browsers, most SDKs) through the %s proxy %s, which accepts connections; the probe connected directly, and what the proxy does with %s:%d is not seen from here",
			u.Var, u.Scheme, u.Proxy, t.Host, t.Port)
		st.Fix = []string{bypass, fmt.Sprintf("curl -v -x %s://%s %s  # ask through the proxy and read its answer", u.Scheme, u.Proxy, curlURL(t))}
		return []report.Step{st}
	}
	st.Decision, st.Symptom, st.Error = report.Reject, ps.Symptom, ps.Error
	if ps.Symptom == report.Timeout {
		st.Decision = report.Drop
	}
	st.Detail = fmt.Sprintf("%s sends programs that honour it through the %s proxy %s, which cannot be reached (%s): they fail before the server is asked",
		u.Var, u.Scheme, u.Proxy, orWord(string(ps.Symptom), "unknown error"))
	switch t.Scheme {
	case "http", "https", "ws", "wss": // browsers, curl and HTTP libraries honour the variables
	default:
		if ps.Symptom != "" {
			st.Detail += "; curl honours ALL_PROXY for any URL, most raw TCP clients ignore it"
		}
		st.Decision = report.Unknown
	}
	if ps.Symptom == "" {
		st.Decision = report.Unknown
	}
	st.Fix = []string{bypass, fmt.Sprintf("start the proxy at %s, or fix %s", u.Proxy, u.Var)}
	return []report.Step{st}
}

// proxyProbe connects to the proxy's host:port (a name is resolved by the system).
func proxyProbe(ctx context.Context, p *Prober, hostport string) report.Step {
	host, port, _ := net.SplitHostPort(hostport)
	rctx := ctx
	if !p.Deadline.IsZero() {
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, p.Deadline)
		defer cancel()
	}
	addrs, err := Resolve(rctx, nil, host)
	if err != nil {
		return report.Step{Symptom: report.DNSFailure, Error: err.Error()}
	}
	var n int
	fmt.Sscan(port, &n)
	steps := p.Probe(ctx, report.Target{Host: host, Port: n, Transport: "tcp"}, addrs[:1])
	return steps[0]
}

func curlURL(t report.Target) string {
	scheme := t.Scheme
	switch scheme {
	case "ws":
		scheme = "http"
	case "wss":
		scheme = "https"
	case "", "tcp":
		scheme = "telnet"
	}
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d/", scheme, host, t.Port)
}

func orWord(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
