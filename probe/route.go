package probe

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// Route is one entry of this machine's routing table.
type Route struct {
	// Dst is the destination prefix; /0 is the default route.
	Dst netip.Prefix
	// Gateway is the next hop; invalid (zero) for a directly connected network.
	Gateway netip.Addr
	// Iface is the outgoing device.
	Iface string
}

// Route flags of the kernel (include/uapi/linux/route.h).
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// cgnat is the shared address space of carrier-grade NAT (RFC 6598), private like RFC 1918.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsPrivateAddress reports whether a is an address only its own network routes: RFC 1918,
// the CGNAT range (RFC 6598) or an IPv6 unique local address (fc00::/7).
func IsPrivateAddress(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || cgnat.Contains(a)
}

// ParseRoutes reads /proc/net/route (IPv4: hex addresses in host byte order). name is the
// file's name for errors. Routes that are down or reject are left out.
func ParseRoutes(r io.Reader, name string) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 || len(f) == 0 {
			continue // header
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("%s:%d: %d fields, want at least 8", name, line, len(f))
		}
		dst, err1 := hex4(f[1])
		gw, err2 := hex4(f[2])
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		mask, err4 := hex4(f[7])
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if flags&rtfUp == 0 || flags&rtfReject != 0 {
			continue
		}
		bits := 0
		for _, b := range mask.As4() {
			for ; b&0x80 != 0; b <<= 1 {
				bits++
			}
		}
		rt := Route{Dst: netip.PrefixFrom(dst, bits).Masked(), Iface: f[0]}
		if !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func hex4(s string) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("address %q is not 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}

// ParseRoutes6 reads /proc/net/ipv6_route (every table). Routes that are down, reject, or
// belong to the loopback device are left out.
func ParseRoutes6(r io.Reader, name string) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 10", name, line, len(f))
		}
		dst, err1 := hex16(f[0])
		bits, err2 := strconv.ParseUint(f[1], 16, 8)
		gw, err3 := hex16(f[4])
		flags, err4 := strconv.ParseUint(f[8], 16, 32)
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if bits > 128 {
			return nil, fmt.Errorf("%s:%d: prefix length %d", name, line, bits)
		}
		if flags&rtfUp == 0 || flags&rtfReject != 0 || f[9] == "lo" {
			continue
		}
		rt := Route{Dst: netip.PrefixFrom(dst, int(bits)).Masked(), Iface: f[9]}
		if !gw.IsUnspecified() {
			rt.Gateway = gw
		}
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func hex16(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, fmt.Errorf("address %q is not 32 hex digits", s)
	}
	return netip.AddrFrom16([16]byte(b)), nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// BestRoute is the most specific route to a; ok is false when no route matches.
func BestRoute(routes []Route, a netip.Addr) (Route, bool) {
	a = a.Unmap()
	var best Route
	found := false
	for _, r := range routes {
		if r.Dst.Addr().Is4() != a.Is4() || !r.Dst.Contains(a) {
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() {
			best, found = r, true
		}
	}
	return best, found
}

// PrivateRouteStep is the client.route step for a private target address: allow when a
// route other than the default reaches it (a local network or a VPN), else
// PRIVATE_ADDRESS — the address means something only inside the server's own network.
func PrivateRouteStep(routes []Route, a netip.Addr) report.Step {
	st := report.Step{Layer: "client.route", Address: a.String()}
	kind := "a private address (RFC 1918)"
	switch {
	case cgnat.Contains(a.Unmap()):
		kind = "a carrier-grade NAT address (100.64.0.0/10)"
	case a.Is6():
		kind = "an IPv6 unique local address (fc00::/7)"
	}
	r, ok := BestRoute(routes, a)
	if ok && r.Dst.Bits() > 0 {
		st.Decision = report.Allow
		via := "directly on " + r.Iface
		if r.Gateway.IsValid() {
			via = fmt.Sprintf("via %s on %s", r.Gateway, r.Iface)
		}
		st.Detail = fmt.Sprintf("%s is %s and this machine has a route to it: %s %s", a, kind, r.Dst, via)
		return st
	}
	st.Cause = report.CausePrivateAddress
	fix := []string{
		fmt.Sprintf("connect to the server's public address (the instance's public or elastic IP) instead of %s", a),
		fmt.Sprintf("or run the client inside the server's network (same VPC/LAN), or over a VPN that routes %s", a),
	}
	if !ok {
		st.Decision, st.Symptom = report.Reject, report.NoRoute
		st.Detail = fmt.Sprintf("%s is %s and this machine has no route to it at all: connect fails with no route to host", a, kind)
		st.Fix = fix
		return st
	}
	st.Decision, st.Symptom = report.Drop, report.Timeout
	st.Detail = fmt.Sprintf("%s is %s and no local network or VPN route reaches it: only the default route via %s on %s would carry it, and the internet does not route private addresses (the client sees a timeout)",
		a, kind, orWord(r.Gateway.String(), "?"), r.Iface)
	st.Fix = fix
	return st
}

// routeSteps reads the routing tables and judges each private target address.
func routeSteps(o ClientOptions, addrs []netip.Addr) []report.Step {
	var priv []netip.Addr
	for _, a := range addrs {
		if IsPrivateAddress(a) {
			priv = append(priv, a)
		}
	}
	if len(priv) == 0 {
		return nil
	}
	var routes []Route
	var errs []string
	for _, f := range []struct {
		file  string
		parse func(io.Reader, string) ([]Route, error)
	}{{"net/route", ParseRoutes}, {"net/ipv6_route", ParseRoutes6}} {
		path := filepath.Join(o.procRoot(), f.file)
		fh, err := os.Open(path)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		rs, err := f.parse(fh, path)
		fh.Close()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		routes = append(routes, rs...)
	}
	var out []report.Step
	for _, a := range priv {
		if len(errs) > 0 && !hasFamily(routes, a) {
			out = append(out, report.Step{Layer: "client.route", Decision: report.Unknown, Address: a.String(),
				Detail: fmt.Sprintf("%s is a private address, and the routing table could not be read: %s", a, strings.Join(errs, "; "))})
			continue
		}
		out = append(out, PrivateRouteStep(routes, a))
	}
	return out
}

func hasFamily(routes []Route, a netip.Addr) bool {
	for _, r := range routes {
		if r.Dst.Addr().Is4() == a.Unmap().Is4() {
			return true
		}
	}
	return false
}
