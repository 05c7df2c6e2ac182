package difftest

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	for i := range 50 {
		a, b := Generate(42, i), Generate(42, i)
		if a.Ruleset() != b.Ruleset() || !slices.Equal(a.Probes, b.Probes) {
			t.Fatalf("case %d differs between two runs of the same seed", i)
		}
	}
	if Generate(42, 3).Ruleset() == Generate(43, 3).Ruleset() {
		t.Error("seeds 42 and 43 give the same case 3")
	}
	if Generate(42, 3).Ruleset() == Generate(42, 4).Ruleset() {
		t.Error("cases 3 and 4 of one seed are the same")
	}
}

// TestGenerateCoversFeatures checks that a few hundred cases use every feature the
// differential test is meant to exercise.
func TestGenerateCoversFeatures(t *testing.T) {
	features := []string{
		// iptables
		"*raw", "*mangle", "*nat", ":INPUT DROP", ":FORWARD DROP", "-j U", "-g U", "-j RETURN", "-m multiport --dports",
		"! -s ", "! --dport", "-m iprange --src-range", "! --src-range", "/29", "--ctstate NEW", "--state NEW",
		"-j MARK --set-mark", "-m mark --mark", "-m addrtype --dst-type LOCAL", "-j DNAT --to-destination [fd98::2]:80",
		"-j REDIRECT", "-i eth0", "-i eth+",
		"--reject-with tcp-reset", "--reject-with icmp-host-prohibited", "--reject-with icmp-admin-prohibited",
		"--reject-with icmp-net-unreachable", "--reject-with icmp-proto-unreachable", "--reject-with icmp6-adm-prohibited",
		"--reject-with icmp6-no-route", "--reject-with icmp6-addr-unreachable", "--reject-with icmp6-policy-fail",
		// nft
		"table inet", "table ip ", "table ip6", "hook prerouting priority -300", "type nat hook prerouting",
		"hook forward", "policy drop", "jump u", "goto u", "return", "vmap {", "@src4", "@src6", "@tports",
		"ip saddr {", "ip saddr != ", "10.99.0.10-10.99.0.12", "fd99::/64", "ct state established,related",
		"ct state new", "meta mark set 0x1", "meta mark 0x1", "fib daddr type local", `iifname "eth0"`, `iif "eth0"`,
		"th dport", "dnat ip to", "dnat ip6 to", "redirect to :8001",
		"reject with tcp reset", "reject with icmpx type admin-prohibited", "reject with icmp type host-prohibited",
		"reject with icmpv6 type admin-prohibited", "reject with icmpv6 type reject-route", "reject\n",
	}
	var all strings.Builder
	probes := map[string]bool{}
	for i := range 400 {
		c := Generate(7, i)
		all.WriteString(c.Ruleset())
		for _, p := range c.Probes {
			probes[p.Proto+map[bool]string{true: "4", false: "6"}[p.Dst.Is4()]] = true
		}
	}
	text := all.String()
	for _, f := range features {
		if !strings.Contains(text, f) {
			t.Errorf("no case of 400 uses %q", f)
		}
	}
	for _, k := range []string{"tcp4", "tcp6", "udp4", "udp6"} {
		if !probes[k] {
			t.Errorf("no %s probe", k)
		}
	}
}

// TestGenerateRules checks rules the kernel would refuse: a tcp-reset needs a TCP match,
// user chains are called only forward (no loops), and every forward chain accepts replies.
func TestGenerateRules(t *testing.T) {
	userRef := regexp.MustCompile(`-A U(\d+) .*-[jg] U(\d+)`)
	nftRef := regexp.MustCompile(`(?:jump|goto) u(\d+)`)
	for i := range 300 {
		c := Generate(11, i)
		for _, part := range []string{c.IPTables, c.IP6Tables} {
			for _, l := range strings.Split(part, "\n") {
				if strings.Contains(l, "tcp-reset") && !strings.Contains(l, "-p tcp") {
					t.Errorf("case %d: tcp-reset without -p tcp: %s", i, l)
				}
				if m := userRef.FindStringSubmatch(l); m != nil && m[2] <= m[1] {
					t.Errorf("case %d: user chain U%s calls U%s: %s", i, m[1], m[2], l)
				}
				if strings.HasPrefix(l, "-A PREROUTING") && !strings.Contains(l, "--dport") {
					t.Errorf("case %d: a prerouting rule without a destination port also meets replies: %s", i, l)
				}
			}
			if strings.Contains(part, "*filter") && !strings.Contains(part, "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT") {
				t.Errorf("case %d: FORWARD does not accept replies", i)
			}
		}
		chain := ""
		for _, l := range strings.Split(c.Nft, "\n") {
			l = strings.TrimSpace(l)
			if name, ok := strings.CutPrefix(l, "chain "); ok {
				chain = strings.TrimSuffix(name, " {")
			}
			if m, ok := strings.CutSuffix(l, "reject with tcp reset"); ok && !strings.Contains(m, "tcp") {
				t.Errorf("case %d: tcp reset without a TCP match: %s", i, l)
			}
			if strings.HasPrefix(chain, "u") {
				for _, m := range nftRef.FindAllStringSubmatch(l, -1) {
					if m[1] <= chain[1:] {
						t.Errorf("case %d: chain %s calls u%s: %s", i, chain, m[1], l)
					}
				}
			}
		}
		if len(c.Probes) != probesPerCase {
			t.Errorf("case %d: %d probes", i, len(c.Probes))
		}
		for _, p := range c.Probes {
			if p.Src.Is4() != p.Dst.Is4() {
				t.Errorf("case %d: probe %s mixes families", i, p)
			}
		}
	}
}
