// Package probe is portpath's view from the client: it reads the TARGET argument,
// resolves the host, connects to every address and says what the client saw, in the
// symptoms of the report package. Parsing and classification are pure; resolve.go and
// probe.go do the I/O.
package probe

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// TargetError is a TARGET argument that cannot be read; the command maps it to exit code 2.
type TargetError struct {
	// Input is the target as given, with the user:password part of a URL masked.
	Input string
	msg   string
}

func (e *TargetError) Error() string { return e.msg }

func targetErrorf(input, format string, a ...any) *TargetError {
	return &TargetError{Input: input, msg: fmt.Sprintf(format, a...)}
}

// scheme is what a URL scheme implies: the port when none is given (0: a port is required)
// and the transport.
type scheme struct {
	port      int
	transport string
	// path is whether the URL may carry a path and query (ignored by the probe).
	path bool
}

var schemes = map[string]scheme{
	"ws":    {80, "tcp", true},
	"wss":   {443, "tcp", true},
	"http":  {80, "tcp", true},
	"https": {443, "tcp", true},
	"tcp":   {0, "tcp", false},
	"udp":   {0, "udp", false},
}

const schemeList = "ws, wss, http, https, tcp, udp"

// ParseTarget reads a TARGET argument: host:port, [v6]:port, v4:port, or a URL with
// scheme ws, wss, http, https (the port defaults to 80 or 443), tcp or udp (the port is
// required). The transport is udp for udp:// only. A URL's path and query are ignored.
// An IPv6 zone (fe80::1%eth0) is accepted inside brackets only. Errors are *TargetError.
func ParseTarget(s string) (report.Target, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return report.Target{}, targetErrorf(s, "empty target (want host:port, [v6]:port, or a URL such as ws://host:port)")
	}
	t := report.Target{Input: s, Transport: "tcp"}
	if i := strings.Index(in, "://"); i >= 0 {
		return parseURL(t, in, i)
	}
	if strings.ContainsAny(in, "/?#") {
		return report.Target{}, targetErrorf(s, "%q has a path or query, which only a URL takes: write http://%s or ws://%s", s, in, in)
	}
	a, err := splitAuthority(s, in, false)
	if err != nil {
		return report.Target{}, err
	}
	if !a.hasPort || a.port == "" {
		return report.Target{}, missingPort(s, a)
	}
	if t.Host, err = checkHost(s, a.host, a.bracketed, false); err != nil {
		return report.Target{}, err
	}
	if t.Port, err = checkPort(s, a.port); err != nil {
		return report.Target{}, err
	}
	return t, nil
}

// parseURL reads a target that has "://" at index i.
func parseURL(t report.Target, in string, i int) (report.Target, error) {
	rest := in[i+len("://"):]
	auth, tail := rest, ""
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		auth, tail = rest[:j], rest[j:]
	}
	// Errors quote the input without anything before an "@": it may be a password
	// (one with an unencoded "/" even ends up after the authority).
	input := t.Input
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		input = in[:i+len("://")] + "…@" + auth[at+1:] + tail
	} else if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		input = in[:i+len("://")] + "…@" + rest[at+1:]
	}
	name := strings.ToLower(in[:i])
	if name == "" {
		return report.Target{}, targetErrorf(input, "missing scheme before \"://\" in %q (want %s)", input, schemeList)
	}
	sc, ok := schemes[name]
	if !ok {
		return report.Target{}, targetErrorf(input, "unknown scheme %q in %q (want %s)", name, input, schemeList)
	}
	if strings.ContainsRune(auth, '@') {
		return report.Target{}, targetErrorf(input, "%q carries a user or password before \"@\"; portpath does not use them: remove that part", input)
	}
	if !sc.path && tail != "" && tail != "/" {
		return report.Target{}, targetErrorf(input, "%s:// takes no path or query: %q (want %s://host:port)", name, input, name)
	}
	// With an "@" in the path, a bad authority may be the front of a password: say so
	// without quoting its parts.
	masked := func(err error) error {
		if input == t.Input {
			return err
		}
		return targetErrorf(input, "%q is not a valid URL; if a user or password comes before \"@\", remove it: portpath does not use them", input)
	}
	a, err := splitAuthority(input, auth, true)
	if err != nil {
		return report.Target{}, masked(err)
	}
	t.Scheme, t.Transport = name, sc.transport
	if t.Host, err = checkHost(input, a.host, a.bracketed, true); err != nil {
		return report.Target{}, masked(err)
	}
	if a.port == "" {
		if sc.port == 0 {
			return report.Target{}, targetErrorf(input, "missing port in %q (%s:// has no default port; want %s://host:port)", input, name, name)
		}
		t.Port = sc.port
		return t, nil
	}
	if t.Port, err = checkPort(input, a.port); err != nil {
		return report.Target{}, masked(err)
	}
	return t, nil
}

// authority is a host[:port] split apart.
type authority struct {
	host, port         string
	hasPort, bracketed bool
}

// splitAuthority splits "host:port", "[v6]:port", "host" or "[v6]" without judging the parts.
func splitAuthority(input, s string, inURL bool) (authority, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return authority{}, targetErrorf(input, "missing \"]\" after the IPv6 address in %q (want [v6]:port, e.g. [2001:db8::1]:443)", input)
		}
		a := authority{host: s[1:end], bracketed: true}
		switch rest := s[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			a.port, a.hasPort = rest[1:], true
		default:
			return authority{}, targetErrorf(input, "unexpected %q after \"]\" in %q (want [v6]:port)", rest, input)
		}
		return a, nil
	}
	if strings.ContainsAny(s, "[]") {
		return authority{}, targetErrorf(input, "misplaced bracket in %q: brackets enclose a whole IPv6 address, e.g. [2001:db8::1]:443", input)
	}
	switch strings.Count(s, ":") {
	case 0:
		return authority{host: s}, nil
	case 1:
		h, p, _ := strings.Cut(s, ":")
		return authority{host: h, port: p, hasPort: true}, nil
	}
	// More than one colon: an IPv6 address without brackets, with or without a port.
	i := strings.LastIndexByte(s, ':')
	if h, p := s[:i], s[i+1:]; isIPv6(h) && p != "" && allDigits(p) {
		return authority{}, targetErrorf(input, "%q is ambiguous: put the IPv6 address in brackets, e.g. [%s]:%s", input, h, p)
	}
	if isIPv6(s) {
		if inURL {
			return authority{}, targetErrorf(input, "the IPv6 address in %q needs brackets: write [%s]", input, s)
		}
		return authority{}, targetErrorf(input, "%q is an IPv6 address without brackets or port: write [%s]:PORT", input, s)
	}
	return authority{}, targetErrorf(input, "too many \":\" in %q: an IPv6 address goes in brackets, e.g. [2001:db8::1]:443", input)
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

func missingPort(input string, a authority) error {
	h := a.host
	if a.bracketed {
		h = "[" + h + "]"
	}
	return targetErrorf(input, "missing port in %q (want %s:PORT, or a URL such as http://%s)", input, h, h)
}

// checkPort reads a decimal port, 1–65535.
func checkPort(input, p string) (int, error) {
	if !allDigits(p) {
		return 0, targetErrorf(input, "port %q in %q is not a number (want 1-65535)", p, input)
	}
	digits := strings.TrimLeft(p, "0")
	if len(digits) > 5 {
		return 0, targetErrorf(input, "port %s in %q is out of range (want 1-65535)", p, input)
	}
	n, _ := strconv.Atoi(digits) // "" (all zeros) reads as 0
	switch {
	case n == 0:
		return 0, targetErrorf(input, "port 0 in %q is not a port a client can connect to (want 1-65535)", input)
	case n > 65535:
		return 0, targetErrorf(input, "port %s in %q is out of range (want 1-65535)", p, input)
	}
	return n, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkHost validates the host part and returns it as Target.Host: an IPv6 address
// (brackets only, zone allowed), an IPv4 address, or a DNS name.
func checkHost(input, h string, bracketed, inURL bool) (string, error) {
	if h == "" {
		return "", targetErrorf(input, "empty host in %q", input)
	}
	if bracketed {
		return checkBracketed(input, h, inURL)
	}
	if i := strings.IndexByte(h, '%'); i >= 0 {
		if _, err := netip.ParseAddr(h[:i]); err == nil {
			return "", targetErrorf(input, "a zone (%s) is allowed only on a bracketed IPv6 address, in %q", h[i:], input)
		}
		return "", targetErrorf(input, "host %q in %q contains %q, which a host name cannot have", h, input, "%")
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
		return h, nil
	}
	return h, checkName(input, h)
}

func checkBracketed(input, h string, inURL bool) (string, error) {
	if inURL {
		// RFC 6874 writes the zone of a URL as %25zone; a bare %zone is accepted too.
		if i := strings.IndexByte(h, '%'); i >= 0 && strings.HasPrefix(h[i:], "%25") {
			h = h[:i] + "%" + h[i+3:]
		}
	}
	a, err := netip.ParseAddr(h)
	switch {
	case err != nil:
		return "", targetErrorf(input, "%q in brackets in %q is not an IPv6 address (brackets are for IPv6 only)", h, input)
	case !a.Is6():
		return "", targetErrorf(input, "brackets are for IPv6 addresses only: write %s without them in %q", h, input)
	}
	if _, zone, ok := strings.Cut(h, "%"); ok {
		for i := 0; i < len(zone); i++ {
			if c := zone[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
				return "", targetErrorf(input, "zone %q in %q is not an interface name or number", zone, input)
			}
		}
	}
	return h, nil
}

// checkName applies the rules a DNS name must follow to be looked up.
func checkName(input, h string) error {
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return targetErrorf(input, "host name in %q is longer than 253 characters", input)
	}
	numeric, digits := true, false
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 0x80:
			return targetErrorf(input, "host %q in %q is not ASCII: write an international name in its xn-- (punycode) form", h, input)
		case c >= '0' && c <= '9':
			digits = true
		case c == '.':
		case isAlnum(c) || c == '-' || c == '_':
			numeric = false
		default:
			return targetErrorf(input, "host %q in %q contains %q, which a host name cannot have", h, input, string(c))
		}
	}
	if numeric && digits {
		return targetErrorf(input, "%q in %q is not a valid IPv4 address (want four numbers 0-255 without leading zeros, e.g. 192.0.2.10)", h, input)
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return targetErrorf(input, "host %q in %q has an empty label (a leading dot or \"..\")", h, input)
		case len(label) > 63:
			return targetErrorf(input, "host %q in %q has a label longer than 63 characters", h, input)
		case label[0] == '-' || label[len(label)-1] == '-':
			return targetErrorf(input, "host %q in %q has a label that begins or ends with \"-\"", h, input)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
