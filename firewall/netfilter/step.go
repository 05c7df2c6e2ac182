package netfilter

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/portpath/portpath/report"
)

// FixFunc returns the commands that would let q through at the deciding rule r
// (r is a chain policy when Position is 0). origin says which tool owns the rule.
type FixFunc func(r *report.Rule, origin string, q Query) []string

// maxAllowedFrom bounds the list of allowed prefixes quoted in a step.
const maxAllowedFrom = 16

// Step turns the classes of one query into the step for the host firewall layer:
// allow when any part of the source set gets through (naming that part when it is
// not all of it), unknown when none gets through for sure, drop or reject otherwise.
func Step(classes []Class, q Query, fix FixFunc) report.Step {
	st := report.Step{Address: q.Dst.String()}
	allowed, blocked, undecided := partition(classes)
	main := Main(classes)
	st.Layer = layerOf(main)
	if main == nil {
		st.Layer, st.Decision, st.Detail = "host.iptables", report.Unknown, "the source set is empty for this address family"
		return st
	}
	t := main.Trace
	var conds []string
	for _, c := range allowed {
		conds = mergeStrings(conds, c.Trace.Conditions)
	}
	src := q.Source.String()
	switch {
	case len(allowed) > 0:
		st.Decision = report.Allow
		st.Detail = fmt.Sprintf("%s/%d %s", q.Proto, q.Port, acceptedBy(t))
		if len(allowed) < len(classes) {
			ranges := mergeRanges(allowed)
			st.AllowedFrom = report.PrefixStrings(ranges)
			rest := "the rest is blocked"
			if b := biggest(blocked); b != nil {
				rest = "the rest is blocked by " + decidedBy(b.Trace)
			} else if u := biggest(undecided); u != nil {
				rest = "for the rest it cannot be decided: " + u.Trace.Reason
			}
			st.Detail = fmt.Sprintf("%s/%d allowed only from %s; %s", q.Proto, q.Port, report.Summarize(st.AllowedFrom, maxAllowedFrom), rest)
		}
		st.Conditional = strings.Join(conds, "; ")
		if t.NAT != nil {
			st.Detail += fmt.Sprintf("; %s, so %s rules decide", t.NAT.Text, pathName(t.Path))
		}
	case len(undecided) > 0:
		st.Decision = report.Unknown
		st.Detail = "cannot be decided from the rules: " + t.Reason
		if t.Decider != nil && t.Decider.Result.Rule != nil {
			st.Rule = t.Decider.Result.Rule
		}
	default:
		st.Decision = report.Drop
		st.Cause = report.CauseHostFirewallDrop
		if t.Final == Reject {
			st.Decision = report.Reject
			st.Cause = report.CauseHostFirewallReject
		}
		rej := ""
		if t.Decider != nil {
			rej = t.Decider.Result.RejectWith
			st.Rule = t.Decider.Result.Rule
		}
		st.Symptom = SymptomOf(t.Packet.Family, q.Proto, t.Final, rej)
		st.Detail = fmt.Sprintf("%s/%d from %s is %s by %s", q.Proto, q.Port, src, verb(t.Final, rej), decidedBy(t))
		if t.NAT != nil {
			st.Detail += fmt.Sprintf(" (%s: the connection goes through %s, not INPUT)", t.NAT.Text, strings.ToUpper(string(t.Path)))
		}
		if len(blocked) > 1 && main.Trace.Decider != nil {
			st.Detail += fmt.Sprintf("; other parts of %s are blocked by other rules", src)
		}
		if st.Rule != nil && fix != nil && t.Decider != nil {
			fq := q
			fq.Port = t.Packet.DPort // after DNAT the filter sees the translated port
			st.Fix = fix(st.Rule, t.Decider.Chain.Origin, fq)
		}
	}
	return st
}

// Main is the class a step speaks for: the largest allowed part of the source set,
// else the largest undecided part, else the largest blocked part; nil for no classes.
func Main(classes []Class) *Class {
	allowed, blocked, undecided := partition(classes)
	for _, part := range [][]Class{allowed, undecided, blocked} {
		if b := biggest(part); b != nil {
			return b
		}
	}
	return nil
}

func partition(classes []Class) (allowed, blocked, undecided []Class) {
	for _, c := range classes {
		switch c.Trace.Final {
		case Accept:
			allowed = append(allowed, c)
		case Drop, Reject:
			blocked = append(blocked, c)
		default:
			undecided = append(undecided, c)
		}
	}
	return allowed, blocked, undecided
}

func layerOf(c *Class) string {
	if c != nil && c.Trace.Decider != nil && c.Trace.Decider.Chain.Origin == "nftables" {
		return "host.nftables"
	}
	return "host.iptables"
}

func pathName(h Hook) string { return strings.ToUpper(string(h)) }

func verb(v Verdict, rejectWith string) string {
	if v == Drop {
		return "dropped"
	}
	if rejectWith == "" {
		return "rejected"
	}
	return "rejected (" + rejectWith + ")"
}

// decidedBy names what decided a trace: a rule, a chain policy, or the kernel itself.
func decidedBy(t Trace) string {
	if t.Decider == nil || t.Decider.Result.Rule == nil {
		if t.Reason != "" {
			return "the kernel: " + t.Reason
		}
		return "no rule (no base chain on the path)"
	}
	r := t.Decider.Result.Rule
	if r.Position == 0 {
		return fmt.Sprintf("the policy of %s (%s)", t.Decider.Chain.Where(), r.Text)
	}
	return fmt.Sprintf("rule %s of %s", r.ID, t.Decider.Chain.Origin)
}

func acceptedBy(t Trace) string {
	if len(t.Hops) == 0 {
		return "meets no base chain on its path: nothing filters it"
	}
	return "is accepted by every base chain on its path (last: " + decidedBy(t) + ")"
}

func biggest(cs []Class) *Class {
	var best *Class
	for i := range cs {
		if best == nil || cs[i].Range.Size() > best.Range.Size() {
			best = &cs[i]
		}
	}
	return best
}

// mergeRanges joins adjacent ranges of classes (classes are sorted and disjoint).
func mergeRanges(cs []Class) []report.AddrRange {
	var out []report.AddrRange
	for _, c := range cs {
		if n := len(out); n > 0 && out[n-1].To.Next() == c.Range.From {
			out[n-1].To = c.Range.To
			continue
		}
		out = append(out, c.Range)
	}
	return out
}

// SourceFor is report.SourceFor: the part of the source set that can reach dst.
func SourceFor(set netip.Prefix, dst netip.Addr) (netip.Prefix, bool) {
	return report.SourceFor(set, dst)
}

// HasPath reports whether any base chain sits on the hooks a packet to this host passes.
func HasPath(chains []BaseChain, f Family) bool {
	return slices.ContainsFunc(chains, func(c BaseChain) bool {
		return c.appliesTo(f) && (c.Hook == Prerouting || c.Hook == Input || c.Hook == Forward)
	})
}
