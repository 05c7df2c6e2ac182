// Package firewall gathers the server side of the path — netfilter rules and listening
// sockets, from this host or from files copied off another — and turns them into the
// host.* steps of a report. The rule languages and readers live in its subpackages.
package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/iptables"
	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/firewall/nftables"
	"github.com/portpath/portpath/firewall/sockets"
	"github.com/portpath/portpath/report"
)

// Options says where the server-side evidence comes from. Files name another machine's
// state; Live reads this host. Both may be given: files then replace the live source they name.
type Options struct {
	// Live reads this host's rules (iptables-save, nft -j) and sockets (/proc).
	Live bool
	// IPTablesSave and IP6TablesSave are iptables-save / ip6tables-save output files; empty means none.
	IPTablesSave  string
	IP6TablesSave string
	// NftJSON is an `nft -j list ruleset` file; empty means none.
	NftJSON string
	// ProcNet is a copy of /proc/net (tcp, tcp6, udp, udp6); empty means none.
	ProcNet string
	// InIface is the interface client traffic arrives on; empty means ask the routing table (live) or unknown.
	InIface string
	// Frontends are the firewall tools (ufw, firewalld, the BT panel) to read, in path order.
	Frontends []FrontendSource
}

// FrontendSource names one firewall tool and where its configuration comes from.
type FrontendSource struct {
	// Layer is the tool's step layer ("host.ufw").
	Layer string
	// Path is a copy of the tool's configuration (the --ufw-dir, --firewalld-dir, --btpanel-db
	// value); empty means this host's own, read only when Live.
	Path string
	// Flag names the option Path came from, for error messages.
	Flag string
	Open frontend.Opener
}

// Offline reports whether any evidence file was given.
func (o Options) Offline() bool {
	if o.IPTablesSave != "" || o.IP6TablesSave != "" || o.NftJSON != "" || o.ProcNet != "" {
		return true
	}
	return slices.ContainsFunc(o.Frontends, func(f FrontendSource) bool { return f.Path != "" })
}

// InputError is bad evidence: a file that cannot be read or parsed. The message names the file (and line).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Host is the server-side evidence, read once.
type Host struct {
	chains []netfilter.BaseChain
	env    netfilter.Env
	// rulesRead is true when at least one rule source was read; rulesErr says why rules are missing.
	rulesRead bool
	rulesErr  error
	// iptRead is true when iptables rules came from a file: the live iptables-nft tables are then not read again from nft.
	iptRead bool
	// origins lists the rule sources read, for the step detail.
	origins []string
	sockets *sockets.Table
	sockErr error
	offline bool
	inIface string
	// frontends are the tools read, in path order; a tool that could not be read has its error.
	frontends []openedFrontend
}

type openedFrontend struct {
	layer string
	fe    frontend.Frontend
	err   error
}

// Load reads the evidence. Only bad files are errors (*InputError); anything the live host
// does not let us read becomes an unknown step later, with the reason.
func Load(ctx context.Context, o Options) (*Host, error) {
	h, err := LoadFiles(ctx, o)
	if err != nil {
		return nil, err
	}
	h.LoadRest(ctx, o)
	return h, nil
}

// LoadFiles reads the evidence files of o, the part of Load that can fail: a caller checks
// them before it goes on, and reads the rest (LoadRest) while it does.
func LoadFiles(ctx context.Context, o Options) (*Host, error) {
	h := &Host{offline: o.Offline(), inIface: o.InIface}
	h.env.IPForward = true // a published container port needs forwarding; offline we assume the host has it on
	var iptRead bool
	for _, f := range []struct {
		path string
		fam  netfilter.Family
	}{{o.IPTablesSave, netfilter.IPv4}, {o.IP6TablesSave, netfilter.IPv6}} {
		if f.path == "" {
			continue
		}
		d, err := iptables.ParseFile(f.path)
		if err != nil {
			return nil, &InputError{err}
		}
		snap := iptables.Snapshot{Origin: d.Origin(), Family: f.fam, Dump: d}
		if snap.Origin == "" {
			snap.Origin = "iptables-nft" // no header: the default on current distributions
		}
		if fam, ok := d.HeaderFamily(); ok {
			snap.Family = fam // the header beats the flag the file came with
		}
		if err := h.addIPTables(snap); err != nil {
			return nil, &InputError{fmt.Errorf("%s: %w", f.path, err)}
		}
		iptRead = true
	}
	if o.NftJSON != "" {
		rs, err := nftables.ParseFile(o.NftJSON)
		if err != nil {
			return nil, &InputError{err}
		}
		if err := h.addNft(rs, iptRead); err != nil {
			return nil, &InputError{fmt.Errorf("%s: %w", o.NftJSON, err)}
		}
	}
	if o.ProcNet != "" {
		t, err := sockets.Read(ctx, o.ProcNet, "")
		if err != nil {
			return nil, &InputError{err}
		}
		h.sockets = t
		for _, s := range t.Listeners() {
			if a := s.Local.Addr(); !a.IsUnspecified() {
				h.env.LocalAddrs = append(h.env.LocalAddrs, a.Unmap())
			}
		}
	}
	h.iptRead = iptRead
	for _, f := range o.Frontends {
		if f.Path != "" {
			if _, err := os.Stat(f.Path); err != nil {
				return nil, &InputError{fmt.Errorf("%s %s: %w", f.Flag, f.Path, errors.Unwrap(err))}
			}
		}
	}
	return h, nil
}

// LoadRest reads what LoadFiles did not, on a Host it returned for the same o: with o.Live
// this host's rules, sockets and firewall tools; and the tools' files.
func (h *Host) LoadRest(ctx context.Context, o Options) {
	if o.Live {
		h.loadLive(ctx, o, h.iptRead)
	}
	for _, f := range o.Frontends {
		if f.Path == "" && !o.Live {
			continue
		}
		fe, err := f.Open(ctx, frontend.Source{Path: f.Path, Live: o.Live && f.Path == ""})
		if errors.Is(err, frontend.ErrAbsent) {
			continue
		}
		h.frontends = append(h.frontends, openedFrontend{layer: f.Layer, fe: fe, err: err})
	}
}

func (h *Host) addIPTables(s iptables.Snapshot) error {
	cs, err := iptables.BaseChains(s.Dump, s.Origin, s.Family)
	if err != nil {
		return err
	}
	h.chains = append(h.chains, cs...)
	h.rulesRead = true
	h.origins = append(h.origins, fmt.Sprintf("%s (%s)", s.Origin, map[netfilter.Family]string{netfilter.IPv4: "IPv4", netfilter.IPv6: "IPv6"}[s.Family]))
	return nil
}

func (h *Host) addNft(rs *nftables.Ruleset, skipIPTables bool) error {
	cs, err := nftables.BaseChains(rs, skipIPTables)
	if err != nil {
		return err
	}
	h.chains = append(h.chains, cs...)
	h.rulesRead = true
	h.origins = append(h.origins, "nftables")
	return nil
}

func (h *Host) loadLive(ctx context.Context, o Options, iptRead bool) {
	h.env.IPForward = readSysctl("/proc/sys/net/ipv4/ip_forward") == "1"
	h.env.RouteLocalnet = readSysctl("/proc/sys/net/ipv4/conf/all/route_localnet") == "1"
	if addrs, err := LocalAddrs(); err == nil {
		h.env.LocalAddrs = append(h.env.LocalAddrs, addrs...)
	}
	h.env.IfaceAddrs = ifaceAddrs
	if o.InIface == "" {
		h.env.RouteIface = routeIface(ctx)
	}
	var errs []error
	if o.IPTablesSave == "" && o.IP6TablesSave == "" {
		snaps, err := iptables.ReadLive(ctx, nil)
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range snaps {
			if err := h.addIPTables(s); err != nil {
				errs = append(errs, err)
			}
		}
		iptRead = len(snaps) > 0
		if sets, err := iptables.ReadIPSets(ctx, nil); err == nil {
			h.env.IPSets = sets
		}
	}
	if o.NftJSON == "" {
		rs, err := nftables.ReadLive(ctx, nil)
		switch {
		case errors.Is(err, nftables.ErrNotInstalled):
		case err != nil:
			errs = append(errs, err)
		default:
			if err := h.addNft(rs, iptRead); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		h.rulesErr = errors.Join(errs...)
	} else if !h.rulesRead {
		h.rulesErr = errors.New("neither iptables-save nor nft is installed, so the rules cannot be read")
	}
	if o.ProcNet == "" {
		t, err := sockets.Read(ctx, "/proc/net", "/proc")
		h.sockets, h.sockErr = t, err
	}
}

func readSysctl(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LocalAddrs lists this host's own addresses.
func LocalAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list local addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone(""))
		}
	}
	return out, nil
}

// ifaceAddrs lists the addresses of one of this host's interfaces, in the kernel's order.
func ifaceAddrs(name string) []netip.Addr {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	as, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone(""))
		}
	}
	return out
}

// IsLocal reports whether addr is an address of this host.
func IsLocal(addr netip.Addr) bool {
	if addr.IsLoopback() {
		return true
	}
	as, err := LocalAddrs()
	if err != nil {
		return false
	}
	for _, a := range as {
		if a == addr.Unmap() {
			return true
		}
	}
	return false
}

// routeIface asks the routing table which device the route back to a source uses.
// It sends no packet. Answers are cached per source.
func routeIface(ctx context.Context) func(netip.Addr) string {
	cache := map[netip.Addr]string{}
	return func(src netip.Addr) string {
		if dev, ok := cache[src]; ok {
			return dev
		}
		out, err := exec.CommandContext(ctx, "ip", "-o", "route", "get", src.String()).Output()
		dev := ""
		if err == nil {
			f := strings.Fields(string(bytes.TrimSpace(out)))
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "dev" {
					dev = f[i+1]
					break
				}
			}
		}
		cache[src] = dev
		return dev
	}
}

// Steps are the host.* steps for one destination address: the firewall tools (ufw, firewalld,
// the BT panel) in their own terms, the kernel's rules, then the socket.
func (h *Host) Steps(proto string, dst netip.Addr, port uint16, source netip.Prefix) []report.Step {
	dst = dst.Unmap()
	env := h.env
	// The evidence describes the machine that owns the target address: files copied from it,
	// or this host under --local (where a cloud's 1:1 NAT may hide the public address).
	env.LocalAddrs = append(append([]netip.Addr{}, env.LocalAddrs...), dst)
	k := h.kernel(proto, dst, port, source, &env)
	// The tools' steps come before the kernel's: along the path they are the same layer,
	// and the rule as the user wrote it is the one to name first.
	var steps []report.Step
	fq := frontend.Query{Proto: proto, Dst: dst, Port: port, Source: source, InIface: h.inIface}
	if src, ok := netfilter.SourceFor(source, dst); ok {
		fq.Source = src
	}
	for _, f := range h.frontends {
		if f.err != nil {
			steps = append(steps, report.Step{Layer: f.layer, Address: dst.String(), Decision: report.Unknown,
				Detail: "cannot read its configuration: " + oneLine(f.err)})
			continue
		}
		st := f.fe.Step(fq, k)
		st.Layer, st.Address = f.layer, dst.String()
		steps = append(steps, st)
	}
	var trace *netfilter.Trace
	if k.Main != nil {
		trace = &k.Main.Trace
	}
	return append(steps, k.Step, h.socketStep(proto, dst, port, trace, &env))
}

// kernel evaluates the live rules (host.iptables / host.nftables) for one destination.
func (h *Host) kernel(proto string, dst netip.Addr, port uint16, source netip.Prefix, env *netfilter.Env) frontend.Kernel {
	st := report.Step{Layer: "host.iptables", Address: dst.String()}
	if !h.rulesRead && h.rulesErr == nil {
		st.Decision, st.Detail = report.Skipped, "no firewall rules given (--iptables-save, --nft-json) and not reading this host (--local)"
		return frontend.Kernel{Step: st}
	}
	if h.rulesErr != nil {
		st.Decision, st.Detail = report.Unknown, "cannot read the firewall: "+oneLine(h.rulesErr)
		return frontend.Kernel{Step: st}
	}
	src, ok := netfilter.SourceFor(source, dst)
	if !ok {
		st.Decision = report.Skipped
		st.Detail = fmt.Sprintf("the source set %s is of another address family than %s", source, dst)
		return frontend.Kernel{Step: st}
	}
	q := netfilter.Query{Source: src, Dst: dst, Proto: proto, Port: port, InIface: h.inIface}
	classes := netfilter.Classes(h.chains, q, env)
	st = netfilter.Step(classes, q, fixCommand)
	if !slices.ContainsFunc(h.origins, func(o string) bool { return strings.HasPrefix(o, "iptables") }) {
		st.Layer = "host.nftables" // only nftables was read, whatever decided
	}
	k := frontend.Kernel{Read: true, Step: st, Classes: classes, Main: netfilter.Main(classes)}
	if k.Main != nil {
		if note := publishedNote(&k.Main.Trace); note != "" {
			k.Step.Detail += "; " + note
		}
	}
	return k
}

// RuleSources names the rule sources that were read ("iptables-nft (IPv4)", "nftables"); empty when none.
func (h *Host) RuleSources() []string { return h.origins }

// fixCommand writes the fix in the syntax of the tool that owns the deciding rule.
func fixCommand(r *report.Rule, origin string, q netfilter.Query) []string {
	src := q.Source.String()
	fam := netfilter.FamilyOf(q.Dst)
	switch origin {
	case "nftables":
		return nftables.Fix(r, string(fam), q.Proto, q.Port, src)
	default:
		return iptables.Fix(r, fam, origin == "iptables-legacy", q.Proto, q.Port, src)
	}
}

func (h *Host) socketStep(proto string, dst netip.Addr, port uint16, tr *netfilter.Trace, env *netfilter.Env) report.Step {
	st := report.Step{Layer: "host.socket", Address: dst.String()}
	if h.sockets == nil {
		if h.sockErr != nil {
			st.Decision, st.Detail = report.Unknown, "cannot read the listening sockets: "+oneLine(h.sockErr)
		} else {
			st.Decision, st.Detail = report.Skipped, "no socket table given (--proc-net) and not reading this host (--local)"
		}
		return st
	}
	note := ""
	if tr != nil && tr.NAT != nil {
		if tr.Path == netfilter.Forward {
			st.Decision = report.Skipped
			st.Detail = fmt.Sprintf("%s: the listener is behind that address (a container or another host), not in this host's socket table", tr.NAT.Text)
			if fw, ok := h.sockets.Forwarder(proto, port); ok {
				st.Detail += fmt.Sprintf("; %s listens on %s, but only for connections the DNAT rules do not catch (from this host itself)", sockets.Owner(fw.Procs), fw.Address())
			}
			return st
		}
		dst, port = tr.Packet.Dst, tr.Packet.DPort
		note = fmt.Sprintf(" (after %s)", tr.NAT.Text)
	}
	arrival := h.inIface
	if arrival == "" && tr != nil {
		arrival = tr.Packet.InIface
	}
	st = sockets.AnalyzeWith(h.sockets, proto, dst, port, env.IsLocal(dst), sockets.Options{ArrivalIface: arrival})
	st.Detail += note
	return st
}

// oneLine folds a (joined, multi-line) error into one line for a step detail.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
