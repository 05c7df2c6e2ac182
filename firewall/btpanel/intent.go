package btpanel

import (
	"net/netip"
	"slices"

	"github.com/portpath/portpath/report"
)

// maxParts bounds how finely the source set is split; beyond it the rest is one part
// decided by its first address (the panel's intent only ever explains, never decides).
const maxParts = 4096

// Part is a piece of the source set on which the panel's rules decide alike.
type Part struct {
	// Range is the piece of the source set.
	Range report.AddrRange
	// Action is what the panel intends; None when no rule matches (the panel denies it).
	Action Action
	// Rule is the deciding rule; nil when no rule matches.
	Rule *Rule
}

// Intent evaluates the panel's rules for proto/port from every address of src, in order
// of address. The IP rules decide first, then the port rules; drop and reject beat accept.
func (c *Config) Intent(proto string, port uint16, src netip.Prefix) []Part {
	full := report.RangeOf(src)
	var ip, ports []*Rule
	var edges []report.AddrRange
	for i := range c.Rules {
		r := &c.Rules[i]
		if !r.matchesService(proto, port) || !r.overlaps(full) {
			continue
		}
		if r.Kind == IPRule {
			ip = append(ip, r)
		} else {
			ports = append(ports, r)
		}
		edges = append(edges, r.Sources...)
	}
	var out []Part
	for _, piece := range cut(full, edges) {
		a := piece.From
		act, rule := decide(ip, a)
		if act == None {
			act, rule = decide(ports, a)
		}
		if n := len(out); n > 0 && out[n-1].Action == act && out[n-1].Rule == rule && out[n-1].Range.To.Next() == piece.From {
			out[n-1].Range.To = piece.To
			continue
		}
		out = append(out, Part{Range: piece, Action: act, Rule: rule})
	}
	return out
}

// decide is the first drop or reject among rules matching a, else the first accept.
func decide(rules []*Rule, a netip.Addr) (Action, *Rule) {
	var accept *Rule
	for _, r := range rules {
		if !r.fromAddr(a) {
			continue
		}
		if r.Action.Blocks() {
			return r.Action, r
		}
		if accept == nil {
			accept = r
		}
	}
	if accept != nil {
		return Accept, accept
	}
	return None, nil
}

func (r *Rule) matchesService(proto string, port uint16) bool {
	if r.Kind == IPRule {
		return true
	}
	if !slices.Contains(r.Protocols, proto) {
		return false
	}
	return slices.ContainsFunc(r.Ports, func(p report.PortRange) bool { return p.Contains(port) })
}

func (r *Rule) fromAddr(a netip.Addr) bool {
	if len(r.Sources) == 0 {
		return true
	}
	return slices.ContainsFunc(r.Sources, func(s report.AddrRange) bool { return s.Contains(a) })
}

func (r *Rule) overlaps(full report.AddrRange) bool {
	if len(r.Sources) == 0 {
		return true
	}
	return slices.ContainsFunc(r.Sources, func(s report.AddrRange) bool { return overlap(s, full) })
}

func overlap(a, b report.AddrRange) bool {
	return a.From.BitLen() == b.From.BitLen() && a.From.Compare(b.To) <= 0 && b.From.Compare(a.To) <= 0
}

// cut splits full at the edges of every range that covers only part of it, in address order.
func cut(full report.AddrRange, ranges []report.AddrRange) []report.AddrRange {
	// starts are the addresses where a new piece begins
	starts := []netip.Addr{full.From}
	for _, r := range ranges {
		if !overlap(r, full) {
			continue
		}
		if r.From.Compare(full.From) > 0 {
			starts = append(starts, r.From)
		}
		if r.To.Compare(full.To) < 0 {
			starts = append(starts, r.To.Next())
		}
	}
	slices.SortFunc(starts, func(a, b netip.Addr) int { return a.Compare(b) })
	starts = slices.Compact(starts)
	if len(starts) > maxParts {
		starts = starts[:maxParts]
	}
	out := make([]report.AddrRange, len(starts))
	for i, s := range starts {
		to := full.To
		if i+1 < len(starts) {
			to = starts[i+1].Prev()
		}
		out[i] = report.AddrRange{From: s, To: to}
	}
	return out
}

// accepted are the parts the panel intends to let through.
func accepted(parts []Part) []Part {
	var out []Part
	for _, p := range parts {
		if p.Action == Accept {
			out = append(out, p)
		}
	}
	return out
}

// partAt is the part holding a; nil when none does.
func partAt(parts []Part, a netip.Addr) *Part {
	for i := range parts {
		if parts[i].Range.Contains(a) {
			return &parts[i]
		}
	}
	return nil
}

// biggest is the part covering the most addresses; nil for none.
func biggest(parts []Part) *Part {
	var best *Part
	for i := range parts {
		if best == nil || parts[i].Range.Size() > best.Range.Size() {
			best = &parts[i]
		}
	}
	return best
}
