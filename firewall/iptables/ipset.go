package iptables

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// ParseIPSets reads `ipset save` output into the members of each set. Only sets whose
// members are plain addresses or networks (hash:ip, hash:net, bitmap:ip) are kept; a set
// of another type, or one with nomatch entries, is left out so that its matches stay unknown.
// name is used in errors ("name:line: …").
func ParseIPSets(r io.Reader, name string) (map[string][]report.AddrRange, error) {
	type set struct {
		netmask int // hash:ip with netmask stores networks; 0 means host addresses
		members []report.AddrRange
		usable  bool
	}
	sets := map[string]*set{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: %q is too short for an ipset command", name, line, shorten(sc.Text()))
		}
		switch f[0] {
		case "create":
			if _, dup := sets[f[1]]; dup {
				return nil, fmt.Errorf("%s:%d: set %s created twice", name, line, f[1])
			}
			s := &set{usable: f[2] == "hash:ip" || f[2] == "hash:net" || f[2] == "bitmap:ip"}
			for i := 3; i+1 < len(f); i++ {
				if f[i] == "netmask" {
					n, err := strconv.Atoi(f[i+1])
					if err != nil || n < 0 || n > 128 {
						return nil, fmt.Errorf("%s:%d: bad netmask %q", name, line, f[i+1])
					}
					s.netmask = n
				}
			}
			sets[f[1]] = s
			order = append(order, f[1])
		case "add":
			s := sets[f[1]]
			if s == nil {
				return nil, fmt.Errorf("%s:%d: add to set %s before its create", name, line, f[1])
			}
			if !s.usable {
				continue
			}
			for _, opt := range f[3:] {
				if opt == "nomatch" {
					s.usable = false // an exception inside the set: membership is no plain union
				}
			}
			m, ok := parseMember(f[2], s.netmask)
			if !ok {
				return nil, fmt.Errorf("%s:%d: bad member %q of set %s", name, line, shorten(f[2]), f[1])
			}
			s.members = append(s.members, m)
		default:
			return nil, fmt.Errorf("%s:%d: unknown ipset command %q", name, line, shorten(f[0]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make(map[string][]report.AddrRange, len(sets))
	for _, n := range order {
		if s := sets[n]; s.usable {
			out[n] = s.members
		}
	}
	return out, nil
}

// parseMember reads "10.0.0.1", "10.0.0.0/24" or "10.0.0.1-10.0.0.9"; netmask widens a
// host address to its network (hash:ip … netmask N).
func parseMember(s string, netmask int) (report.AddrRange, bool) {
	if strings.Contains(s, "-") {
		return parseAddrRange(s)
	}
	p, contiguous, ok := parsePrefix(s)
	if !ok || !contiguous {
		return report.AddrRange{}, false
	}
	if netmask > 0 && p.Bits() == p.Addr().BitLen() && netmask <= p.Addr().BitLen() {
		p = netip.PrefixFrom(p.Addr(), netmask)
	}
	return report.RangeOf(p), true
}
