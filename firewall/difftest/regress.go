package difftest

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portpath/portpath/report"
)

// Regression is a disagreement once found between the kernel and the simulation, kept
// with the symptom the kernel gave so that both keep being checked against it.
//
// Its file format: "#" comment lines, then "probe: tcp SRC -> DST:PORT", "want: SYMPTOM"
// and optionally "predict: unknown" lines, then sections opened by "-- iptables --",
// "-- ip6tables --" or "-- nft --" holding the ruleset parts.
type Regression struct {
	// Name is the file's name.
	Name  string
	Case  Case
	Probe Probe
	// Want is the symptom the kernel gives ("no-answer" for a UDP probe that gets nothing back).
	Want report.Symptom
	// Unknown says the simulation must not be certain (the rules alone cannot tell what
	// the kernel does); false means it must predict Want.
	Unknown bool
}

// ParseRegression reads a regression file; errors name the file and line.
func ParseRegression(name, text string) (Regression, error) {
	rg := Regression{Name: name}
	section := ""
	var parts = map[string]*strings.Builder{"iptables": {}, "ip6tables": {}, "nft": {}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	haveProbe, haveWant := false, false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "-- "); ok {
			if s, ok := strings.CutSuffix(s, " --"); ok {
				if _, known := parts[s]; !known {
					return rg, fmt.Errorf("%s:%d: unknown section %q (want iptables, ip6tables or nft)", name, n, s)
				}
				section = s
				continue
			}
		}
		if section != "" {
			parts[section].WriteString(line + "\n")
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		key, val, ok := strings.Cut(t, ":")
		if !ok {
			return rg, fmt.Errorf("%s:%d: want \"probe:\" or \"want:\", got %q", name, n, clip(t))
		}
		val = strings.TrimSpace(val)
		switch key {
		case "probe":
			p, err := ParseProbe(val)
			if err != nil {
				return rg, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			rg.Probe, haveProbe = p, true
		case "predict":
			if val != "unknown" {
				return rg, fmt.Errorf("%s:%d: predict: takes only \"unknown\"", name, n)
			}
			rg.Unknown = true
		case "want":
			if val == "" {
				return rg, fmt.Errorf("%s:%d: empty symptom", name, n)
			}
			rg.Want, haveWant = report.Symptom(val), true
		default:
			return rg, fmt.Errorf("%s:%d: unknown key %q", name, n, clip(key))
		}
	}
	if err := sc.Err(); err != nil {
		return rg, fmt.Errorf("%s: %w", name, err)
	}
	if !haveProbe || !haveWant {
		return rg, fmt.Errorf("%s: needs a probe: and a want: line", name)
	}
	rg.Case = Case{IPTables: parts["iptables"].String(), IP6Tables: parts["ip6tables"].String(), Nft: parts["nft"].String(), Probes: []Probe{rg.Probe}}
	return rg, nil
}

// ParseProbe reads a probe as Probe.String writes it: "tcp 10.99.0.11 -> 10.99.0.2:8001".
func ParseProbe(s string) (Probe, error) {
	f := strings.Fields(s)
	if len(f) != 4 || f[2] != "->" || (f[0] != "tcp" && f[0] != "udp") {
		return Probe{}, fmt.Errorf("probe %q: want \"tcp|udp SRC -> DST:PORT\"", clip(s))
	}
	src, err := netip.ParseAddr(f[1])
	if err != nil {
		return Probe{}, fmt.Errorf("probe source %q: %w", clip(f[1]), err)
	}
	dst, err := netip.ParseAddrPort(f[3])
	if err != nil {
		return Probe{}, fmt.Errorf("probe destination %q: %w", clip(f[3]), err)
	}
	if src.Is4() != dst.Addr().Is4() || dst.Port() == 0 {
		return Probe{}, fmt.Errorf("probe %q: source and destination of different families, or port 0", clip(s))
	}
	return Probe{Proto: f[0], Src: src, Dst: dst.Addr(), Port: dst.Port()}, nil
}

// Format writes the regression in the file format ParseRegression reads.
func (rg Regression) Format(comment string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(comment), "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "probe: %s\nwant: %s\n", rg.Probe, rg.Want)
	if rg.Unknown {
		b.WriteString("predict: unknown\n")
	}
	for _, p := range []struct{ name, text string }{{"iptables", rg.Case.IPTables}, {"ip6tables", rg.Case.IP6Tables}, {"nft", rg.Case.Nft}} {
		if p.text != "" {
			fmt.Fprintf(&b, "-- %s --\n%s", p.name, p.text)
			if !strings.HasSuffix(p.text, "\n") {
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "…"
	}
	return s
}
