package ufw

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/report"
)

// splitWords splits an iptables rule line into words, shell-like: double and single
// quotes group, a backslash escapes the next character. ok is false for an open quote.
func splitWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != '\'' && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, quote == 0
}

// ruleKey reduces an iptables rule line to what it does, so that the line ufw wrote to
// user.rules and the line iptables-save prints for the loaded rule compare equal:
// implicit `-m tcp` made explicit, `/32` added, option order and default options
// (REJECT's type, recent's list) differ between the two. The chain is part of the key.
func ruleKey(line string, v6 bool) string {
	w, ok := splitWords(line)
	if !ok {
		return "unparsable:" + line
	}
	var parts []string
	target := ""
	reject := ""
	neg := ""
	for i := 0; i < len(w); i++ {
		opt := w[i]
		if opt == "!" {
			neg = "!"
			continue
		}
		arg := ""
		hasArg := i+1 < len(w) && !strings.HasPrefix(w[i+1], "-")
		if hasArg {
			arg = w[i+1]
		}
		take := func() {
			if hasArg {
				i++
			}
		}
		switch opt {
		case "-A", "-I":
			parts = append(parts, "chain="+arg)
			take()
		case "-m":
			take() // the module shows in its options
		case "-s", "--source", "-d", "--destination":
			k := "src"
			if opt == "-d" || opt == "--destination" {
				k = "dst"
			}
			if p, err := report.ParsePrefixOrAddr(arg); err == nil {
				arg = p.String()
			}
			parts = append(parts, neg+k+"="+arg)
			take()
		case "-p", "--protocol":
			if arg != "all" {
				parts = append(parts, neg+"proto="+strings.ToLower(arg))
			}
			take()
		case "--dport", "--dports", "--destination-port", "--destination-ports":
			parts = append(parts, neg+"dport="+arg)
			take()
		case "--sport", "--sports", "--source-port", "--source-ports":
			parts = append(parts, neg+"sport="+arg)
			take()
		case "--ctstate", "--state":
			s := strings.Split(arg, ",")
			slices.Sort(s)
			parts = append(parts, neg+"ctstate="+strings.Join(s, ","))
			take()
		case "--mask", "--rsource":
			take() // recent's defaults
		case "--name":
			if arg != "DEFAULT" {
				parts = append(parts, "name="+arg)
			}
			take()
		case "-j", "-g":
			target = arg
			take()
		case "--reject-with":
			reject = arg
			take()
		default:
			if hasArg {
				parts = append(parts, neg+opt+"="+arg)
				i++
			} else {
				parts = append(parts, neg+opt)
			}
		}
		neg = ""
	}
	if target == "REJECT" && reject == "" {
		reject = "icmp-port-unreachable"
		if v6 {
			reject = "icmp6-port-unreachable"
		}
	}
	if target != "" {
		parts = append(parts, "target="+target)
	}
	if reject != "" {
		parts = append(parts, "reject="+reject)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// tupleOf reads a loaded rule of a ufw user chain back into the ufw rule that makes it,
// for naming a rule the kernel enforces but user.rules no longer has. nil when the line
// uses options ufw's simple rules do not.
func tupleOf(line string, v6 bool) *Tuple {
	w, ok := splitWords(line)
	if !ok {
		return nil
	}
	t := &Tuple{Proto: "any", DPort: "any", SPort: "any", Dst: "any", Src: "any", Direction: "in", V6: v6}
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case "--set", "--update":
			t.Action = "limit" // a line of ufw's limit rule; its target names it too
			continue
		case "--rcheck", "--rsource":
			continue
		}
		if i+1 >= len(w) {
			return nil
		}
		opt, arg := w[i], w[i+1]
		i++
		switch opt {
		case "-A":
			switch {
			case strings.HasSuffix(arg, "-user-forward"):
				t.Route = true
			case strings.HasSuffix(arg, "-user-output"):
				t.Direction = "out"
			case !strings.HasSuffix(arg, "-user-input"):
				return nil
			}
		case "-m":
			switch arg {
			case "tcp", "udp", "multiport", "conntrack", "recent":
			default:
				return nil
			}
		case "-p":
			t.Proto = arg
		case "--dport", "--dports":
			t.DPort = arg
		case "--sport", "--sports":
			t.SPort = arg
		case "-s", "-d":
			p, err := report.ParsePrefixOrAddr(arg)
			if err != nil {
				return nil
			}
			if opt == "-s" {
				t.Src = addrWord(p)
			} else {
				t.Dst = addrWord(p)
			}
		case "-i":
			t.InIface = arg
		case "-o":
			t.OutIface = arg
		case "--ctstate", "--seconds", "--hitcount", "--name", "--mask":
		case "--reject-with":
		case "-j":
			switch {
			case arg == "ACCEPT":
				t.Action = "allow"
			case arg == "DROP":
				t.Action = "deny"
			case arg == "REJECT":
				t.Action = "reject"
			case strings.HasSuffix(arg, "-user-limit-accept"), strings.HasSuffix(arg, "-user-limit"):
				t.Action = "limit"
			default:
				return nil
			}
		default:
			return nil
		}
	}
	if t.Action == "" {
		return nil
	}
	var err error
	if t.dports, err = parsePorts(t.DPort); err != nil {
		return nil
	}
	t.dst, _ = parseAddr(t.Dst, v6)
	t.src, _ = parseAddr(t.Src, v6)
	return t
}

// netipAny is the whole address family of v6.
func netipAny(v6 bool) netip.Prefix {
	if v6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}
