package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/portpath/portpath/report"
)

// DNS client facts the answers are quoted with.
const (
	// DNSLibrary names the DNS client that asks the servers itself.
	DNSLibrary = "github.com/miekg/dns v1.1.73"
	// DefaultResolvConf is where the system's DNS servers are configured.
	DefaultResolvConf = "/etc/resolv.conf"
	// DefaultHostsFile is the static table the system resolver reads before DNS.
	DefaultHostsFile = "/etc/hosts"
	// maxCNAMEs bounds the CNAME chain followed; resolvers stop around the same length.
	maxCNAMEs = 16
	// DefaultDNSTimeout bounds one question to one server when DNSLookup.Timeout is zero.
	DefaultDNSTimeout = 2 * time.Second
)

// SystemResolverName is DNSAnswer.Via when the operating system's resolver answered.
const SystemResolverName = "system resolver"

// DNSAnswer is what the DNS says about the target's host.
type DNSAnswer struct {
	// Host is the name asked for.
	Host string
	// Chain is the CNAME chain from Host, in order, without trailing dots; empty when Host has no CNAME
	// or the system resolver answered (it does not show the chain).
	Chain []string
	// Addrs are the A then the AAAA answers of the chain's last name, without duplicates.
	Addrs []netip.Addr
	// Via names the resolver: DNSLibrary, SystemResolverName or "hosts file".
	Via string
	// Server is the DNS server that answered ("127.0.0.53:53"); empty when Via is not DNSLibrary.
	Server string
	// Rcode is the DNS answer code ("NOERROR"); empty when no DNS message was read.
	Rcode string
	// Fallback says why the system resolver answered instead of DNSLibrary; empty when it did not.
	Fallback string
}

// DNSLookup asks DNS servers for a host's CNAME chain and A/AAAA records.
type DNSLookup struct {
	// Servers are "host:port" DNS servers asked in order; empty means those of ResolvConf.
	Servers []string
	// ResolvConf is the resolver configuration read when Servers is empty; "" means DefaultResolvConf.
	ResolvConf string
	// HostsFile is read first when Servers is empty; "" means DefaultHostsFile.
	HostsFile string
	// Timeout bounds each question to one server; zero means DefaultDNSTimeout.
	Timeout time.Duration
	// System answers when ResolvConf gives no usable server or none of them answers; nil means net.DefaultResolver.
	System Resolver
}

// Lookup resolves host. An IP literal is its own answer. Names without a dot (search
// domains apply to them) go to the system resolver, and so do all names when the
// configured servers cannot be asked. A failed lookup is a *ResolveError with the answer code.
func (l *DNSLookup) Lookup(ctx context.Context, host string) (DNSAnswer, error) {
	ans := DNSAnswer{Host: host}
	if a, err := netip.ParseAddr(host); err == nil {
		ans.Addrs, ans.Via = []netip.Addr{a.Unmap()}, "address literal"
		return ans, nil
	}
	servers := l.Servers
	if len(servers) == 0 {
		if addrs := l.fromHosts(host); len(addrs) > 0 {
			ans.Addrs, ans.Via = addrs, "hosts file "+l.hostsFile()
			return ans, nil
		}
		name := strings.ToLower(strings.TrimSuffix(host, "."))
		if !strings.Contains(name, ".") {
			return l.system(ctx, host, "a name without a dot goes through the search domains")
		}
		switch {
		case strings.HasSuffix(name, ".localhost"):
			return l.system(ctx, host, "names under .localhost are this machine's (RFC 6761)")
		case strings.HasSuffix(name, ".local"):
			return l.system(ctx, host, "names under .local are answered by multicast DNS (RFC 6762)")
		}
		conf := l.ResolvConf
		if conf == "" {
			conf = DefaultResolvConf
		}
		cc, err := dns.ClientConfigFromFile(conf)
		switch {
		case err != nil:
			return l.system(ctx, host, fmt.Sprintf("%s cannot be read (%v)", conf, err))
		case len(cc.Servers) == 0:
			return l.system(ctx, host, conf+" names no nameserver")
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		ans, err = l.ask(ctx, host, servers)
		var re *ResolveError
		if err != nil && errors.As(err, &re) && re.Rcode == "" && ctx.Err() == nil {
			return l.system(ctx, host, fmt.Sprintf("no server of %s answered (%v)", conf, re.Err))
		}
		return ans, err
	}
	return l.ask(ctx, host, servers)
}

func (l *DNSLookup) hostsFile() string {
	if l.HostsFile == "" {
		return DefaultHostsFile
	}
	return l.HostsFile
}

func (l *DNSLookup) fromHosts(host string) []netip.Addr {
	f, err := os.Open(l.hostsFile())
	if err != nil {
		return nil
	}
	defer f.Close()
	return LookupHosts(f, host)
}

// LookupHosts returns the addresses a hosts(5) table gives name, in file order, IPv4 first.
// Lines that do not parse are ignored, as the system resolver ignores them.
func LookupHosts(r io.Reader, name string) []netip.Addr {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	var v4, v6 []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		a = a.Unmap()
		for _, n := range f[1:] {
			if strings.ToLower(strings.TrimSuffix(n, ".")) != name {
				continue
			}
			if a.Is4() && !slices.Contains(v4, a) {
				v4 = append(v4, a)
			} else if a.Is6() && !slices.Contains(v6, a) {
				v6 = append(v6, a)
			}
		}
	}
	return append(v4, v6...)
}

func (l *DNSLookup) system(ctx context.Context, host, why string) (DNSAnswer, error) {
	ans := DNSAnswer{Host: host, Via: SystemResolverName, Fallback: why}
	addrs, err := Resolve(ctx, l.System, host)
	ans.Addrs = addrs
	return ans, err
}

// ask asks each server in turn until one answers with NOERROR or NXDOMAIN.
func (l *DNSLookup) ask(ctx context.Context, host string, servers []string) (DNSAnswer, error) {
	var last error
	lastAns := DNSAnswer{Host: host, Via: DNSLibrary}
	for _, s := range servers {
		ans, err := l.askOne(ctx, host, s)
		if err == nil {
			return ans, nil
		}
		last, lastAns = err, ans
		var re *ResolveError
		if ctx.Err() != nil || errors.As(err, &re) && re.Kind == ResolveNotFound {
			break
		}
	}
	return lastAns, last
}

// askOne follows host's CNAME chain on one server and collects the A and AAAA records.
func (l *DNSLookup) askOne(ctx context.Context, host, server string) (DNSAnswer, error) {
	ans := DNSAnswer{Host: host, Via: DNSLibrary, Server: server}
	var v4, v6 answer
	var wg sync.WaitGroup
	wg.Go(func() { v4 = l.follow(ctx, host, server, dns.TypeA) })
	wg.Go(func() { v6 = l.follow(ctx, host, server, dns.TypeAAAA) })
	wg.Wait()
	// The A question decides the answer code and the chain; AAAA fills in what A lacks.
	first, second := v4, v6
	if first.err != nil && second.err == nil {
		first, second = v6, v4
	}
	ans.Rcode = first.rcode
	if first.err != nil {
		return ans, first.err
	}
	ans.Chain = first.chain
	if len(ans.Chain) == 0 {
		ans.Chain = second.chain
	}
	for _, a := range append(v4.addrs, v6.addrs...) {
		if !slices.Contains(ans.Addrs, a) {
			ans.Addrs = append(ans.Addrs, a)
		}
	}
	if len(ans.Addrs) == 0 {
		return ans, &ResolveError{Host: host, Kind: ResolveNotFound, Rcode: ans.Rcode,
			Err: fmt.Errorf("%s answered %s with no A or AAAA record", server, ans.Rcode)}
	}
	return ans, nil
}

// answer is the outcome of one question type.
type answer struct {
	chain []string
	addrs []netip.Addr
	rcode string
	err   error
}

// follow asks for qtype at host and asks again at the end of the chain when the server
// returned only CNAMEs (a forwarder may not chase them).
func (l *DNSLookup) follow(ctx context.Context, host, server string, qtype uint16) answer {
	var out answer
	name := dns.Fqdn(host)
	for range maxCNAMEs {
		msg, err := l.exchange(ctx, name, server, qtype)
		if err != nil {
			out.err = &ResolveError{Host: host, Kind: resolveKind(err), Err: fmt.Errorf("%s: %w", server, err)}
			return out
		}
		out.rcode = dns.RcodeToString[msg.Rcode]
		switch msg.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			out.err = &ResolveError{Host: host, Kind: ResolveNotFound, Rcode: out.rcode,
				Err: fmt.Errorf("%s answered NXDOMAIN for %s", server, strings.TrimSuffix(name, "."))}
			return out
		default:
			out.err = &ResolveError{Host: host, Kind: ResolveServerFailure, Rcode: out.rcode,
				Err: fmt.Errorf("%s answered %s for %s", server, out.rcode, strings.TrimSuffix(name, "."))}
			return out
		}
		chain, addrs, end := ReadAnswer(msg, name, qtype)
		out.chain = append(out.chain, chain...)
		out.addrs = append(out.addrs, addrs...)
		if len(addrs) > 0 || len(chain) == 0 || len(out.chain) >= maxCNAMEs {
			return out
		}
		name = end
	}
	return out
}

// ReadAnswer reads a DNS answer for name: the CNAME chain it gives (names without the
// trailing dot), the records of qtype owned by the chain's last name, and that name (fully qualified).
// A CNAME loop ends the chain.
func ReadAnswer(msg *dns.Msg, name string, qtype uint16) (chain []string, addrs []netip.Addr, end string) {
	cnames := map[string]string{}
	for _, rr := range msg.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			cnames[strings.ToLower(c.Hdr.Name)] = c.Target
		}
	}
	end = name
	seen := map[string]bool{strings.ToLower(end): true}
	for len(chain) < maxCNAMEs {
		next, ok := cnames[strings.ToLower(end)]
		if !ok || seen[strings.ToLower(next)] {
			break
		}
		seen[strings.ToLower(next)] = true
		chain = append(chain, strings.TrimSuffix(next, "."))
		end = next
	}
	for _, rr := range msg.Answer {
		if !strings.EqualFold(rr.Header().Name, end) {
			continue
		}
		var a netip.Addr
		switch r := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				a, _ = netip.AddrFromSlice(r.A.To4())
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				a, _ = netip.AddrFromSlice(r.AAAA.To16())
			}
		}
		if a.IsValid() && !slices.Contains(addrs, a.Unmap()) {
			addrs = append(addrs, a.Unmap())
		}
	}
	return chain, addrs, end
}

// exchange asks one question over UDP, and again over TCP when the answer is truncated.
func (l *DNSLookup) exchange(ctx context.Context, name, server string, qtype uint16) (*dns.Msg, error) {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: timeout}
	r, _, err := c.ExchangeContext(qctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(qctx, m, server)
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %v", ctx.Err(), err)
	case qctx.Err() != nil:
		return nil, fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	default:
		return nil, err
	}
	return r, nil
}

// DNSStep is the "dns" step for a lookup: allow with the chain and the answers, reject with
// DNS_FAILURE and the answer code, or reject with DNS_WRONG_IP when expected addresses
// (--expect-ip, or where a cloud provider found the instance) are given and some answer
// is not one of them. behindCDN turns the address comparison off: a CDN answers with its edges.
func DNSStep(ans DNSAnswer, err error, expected []netip.Addr, behindCDN bool) report.Step {
	st := report.Step{Layer: "dns"}
	via := ans.Via
	if ans.Server != "" {
		via += " asking " + ans.Server
	}
	if ans.Fallback != "" {
		via += "; " + ans.Fallback
	}
	if err != nil {
		st.Decision, st.Cause, st.Symptom = report.Reject, report.CauseDNSFailure, report.DNSFailure
		st.Detail = fmt.Sprintf("%s does not resolve: %v (%s)", ans.Host, err, via)
		var re *ResolveError
		if errors.As(err, &re) && re.Kind == ResolveNotFound {
			st.Fix = []string{fmt.Sprintf("add an A (or AAAA) record for %s at its DNS provider, then check it with: dig +short %s A", ans.Host, ans.Host)}
		} else {
			st.Fix = []string{fmt.Sprintf("dig %s A  # ask another DNS server (e.g. @1.1.1.1) to tell a broken resolver from a broken zone", ans.Host)}
		}
		return st
	}
	st.Decision = report.Allow
	path := ans.Host
	for _, c := range ans.Chain {
		path += " → CNAME " + c
	}
	st.Detail = fmt.Sprintf("%s → %s", path, joinAddrs(ans.Addrs))
	if ans.Rcode != "" {
		st.Detail += " (" + ans.Rcode + ")"
	}
	st.Detail += " via " + via
	if len(expected) == 0 || behindCDN {
		return st
	}
	// An answer of a family no expected address has says nothing, unless it is all there is.
	judged := slices.DeleteFunc(slices.Clone(ans.Addrs), func(a netip.Addr) bool {
		return !slices.ContainsFunc(expected, func(e netip.Addr) bool { return e.Is4() == a.Is4() })
	})
	if len(judged) == 0 {
		judged = ans.Addrs
	}
	var wrong []netip.Addr
	for _, a := range judged {
		if !slices.Contains(expected, a.Unmap()) {
			wrong = append(wrong, a)
		}
	}
	if len(wrong) == 0 {
		return st
	}
	st.Decision, st.Cause = report.Reject, report.CauseDNSWrongIP
	if len(wrong) == len(judged) {
		st.Detail += fmt.Sprintf("; none of these is the server's address (%s): clients reach another machine", joinAddrs(expected))
	} else {
		st.Detail += fmt.Sprintf("; %s %s not the server's address (%s): clients that pick it reach another machine",
			joinAddrs(wrong), map[bool]string{true: "is", false: "are"}[len(wrong) == 1], joinAddrs(expected))
	}
	rr := "A"
	if expected[0].Is6() {
		rr = "AAAA"
	}
	st.Fix = []string{fmt.Sprintf("point the %s record of %s at %s at its DNS provider (remove %s), then check with: dig +short %s %s",
		rr, ans.Host, expected[0], joinAddrs(wrong), ans.Host, rr)}
	return st
}
