package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Reach says whether the source set reaches a listening socket.
type Reach string

const (
	// Reachable: every layer checked lets the whole source set through.
	Reachable Reach = "yes"
	// ReachablePart: only part of the source set gets through (AllowedFrom says which).
	ReachablePart Reach = "only-from"
	// NotReachable: a layer blocks; Symptom is what a client sees.
	NotReachable Reach = "no"
	// LocalOnly: the socket is bound to a loopback address; only this host reaches it.
	LocalOnly Reach = "this-host-only"
	// Undecided: some layer could not be decided and none blocks; Detail says which and why.
	Undecided Reach = "unknown"
	// NotChecked: the firewall was not read, so nothing is claimed.
	NotChecked Reach = "not-checked"
)

// Exposure is one listening socket, at one address clients use, and whether the source set reaches it.
type Exposure struct {
	Proto string `json:"proto"`
	Port  int    `json:"port"`
	// Bind is the address the socket is bound to, as ss prints it ("0.0.0.0", "[::]", "127.0.0.1").
	Bind string `json:"bind"`
	// Address is the destination address evaluated; empty for LocalOnly and NotChecked rows.
	Address string `json:"address,omitempty"`
	// Program names the processes holding the socket; empty when unknown.
	Program string `json:"program,omitempty"`
	Reach   Reach  `json:"reachable"`
	// AllowedFrom is the part of the source set that gets through, for ReachablePart.
	AllowedFrom []string `json:"allowed_from,omitempty"`
	// Symptom is what a client of the source set sees, for NotReachable.
	Symptom Symptom `json:"symptom,omitempty"`
	// Layer, Cause and Rule name what decides: the blocking step, or the step that limits
	// the source set; empty for Reachable.
	Layer string `json:"layer,omitempty"`
	Cause string `json:"cause,omitempty"`
	Rule  *Rule  `json:"rule,omitempty"`
	// Detail is the deciding step's explanation.
	Detail string `json:"detail,omitempty"`
	// Fix holds the commands that would let the source set through.
	Fix []string `json:"fix,omitempty"`
	// Steps are the steps of the path for this socket.
	Steps []Step `json:"steps,omitempty"`
}

// HostReport is the answer of `portpath host`: every listening socket of a host, and
// whether the source set reaches it (schema_version 1).
type HostReport struct {
	SchemaVersion int    `json:"schema_version"`
	Source        Source `json:"source"`
	// Addresses are the host's addresses that wildcard listeners were evaluated at.
	Addresses []string   `json:"addresses"`
	Ports     []Exposure `json:"ports"`
	Notes     []string   `json:"notes,omitempty"`
}

// ExposureOf sums up the merged steps of one socket at one address.
func ExposureOf(e Exposure, merged Report) Exposure {
	e.Steps = merged.Steps
	switch merged.Verdict {
	case Blocked:
		e.Reach = NotReachable
		if merged.Symptom != nil {
			e.Symptom = merged.Symptom.Predicted
		}
		if s := stepOf(merged, merged.Cause.Step); s != nil {
			e.Layer, e.Cause, e.Rule, e.Detail, e.Fix = s.Layer, s.Cause, s.Rule, s.Detail, s.Fix
		}
		return e
	case Inconclusive:
		e.Reach = Undecided
		for _, s := range merged.Steps {
			if s.Decision == Unknown {
				e.Layer, e.Rule, e.Detail = s.Layer, s.Rule, s.Detail
				break
			}
		}
		return e
	}
	fwChecked := false
	for _, s := range merged.Steps {
		if strings.HasPrefix(s.Layer, "host.") && s.Layer != "host.socket" && s.Decision != Skipped {
			fwChecked = true
		}
	}
	if !fwChecked {
		e.Reach = NotChecked
		e.Detail = "the firewall was not read"
		for _, s := range merged.Steps {
			if strings.HasPrefix(s.Layer, "host.") && s.Layer != "host.socket" {
				e.Detail = s.Detail
				break
			}
		}
		return e
	}
	e.Reach = Reachable
	for _, s := range merged.Steps {
		if len(s.AllowedFrom) > 0 {
			e.Reach, e.AllowedFrom = ReachablePart, s.AllowedFrom
			e.Layer, e.Rule, e.Detail = s.Layer, s.Rule, s.Detail
			break
		}
	}
	return e
}

func stepOf(r Report, layer string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Layer == layer && r.Steps[i].Decision.Blocks() {
			return &r.Steps[i]
		}
	}
	return nil
}

// WriteHost renders a host report in the given format.
func WriteHost(w io.Writer, r HostReport, f Format, color bool) error {
	switch f {
	case FormatJSON:
		r.SchemaVersion = SchemaVersion
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case FormatText, "":
		return writeHostText(w, r, color)
	}
	return fmt.Errorf("unknown output format %q", f)
}

func writeHostText(w io.Writer, r HostReport, color bool) error {
	p := newPalette(color)
	var b strings.Builder
	fmt.Fprintf(&b, "%sListening ports%s, reachable from %s", p.bold, p.reset, sourceLabel(r.Source))
	if len(r.Addresses) > 0 {
		fmt.Fprintf(&b, " at %s", strings.Join(r.Addresses, ", "))
	}
	b.WriteString("\n\n")
	if len(r.Ports) == 0 {
		b.WriteString("  no listening sockets\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PORT\tBIND\tPROGRAM\tREACHABLE\tDECIDED BY")
	for _, e := range r.Ports {
		prog := e.Program
		if prog == "" {
			prog = "-"
		}
		reach, c := string(e.Reach), ""
		switch e.Reach {
		case Reachable:
			c = p.green
		case ReachablePart:
			reach, c = "only from "+summarizeList(e.AllowedFrom, 3), p.yellow
		case NotReachable:
			reach, c = "no ("+string(e.Symptom)+")", p.red
		case LocalOnly:
			reach = "this host only"
		case Undecided, NotChecked:
			reach, c = strings.ReplaceAll(reach, "-", " "), p.yellow
		}
		bind := e.Bind
		if e.Address != "" && e.Address != strings.Trim(e.Bind, "[]") {
			bind += " → " + e.Address
		}
		fmt.Fprintf(tw, "  %d/%s\t%s\t%s\t%s%s%s\t%s\n", e.Port, e.Proto, bind, prog, c, reach, p.reset, decidedText(e))
	}
	tw.Flush()
	var fixes []string
	for _, e := range r.Ports {
		for _, f := range e.Fix {
			fixes = append(fixes, fmt.Sprintf("%d/%s: %s", e.Port, e.Proto, f))
		}
	}
	if len(fixes) > 0 {
		b.WriteString("\nTo open what is closed:\n")
		for _, f := range fixes {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// decidedText names what decides a row: the rule in the user's tool, or the reason.
func decidedText(e Exposure) string {
	switch {
	case e.Rule != nil:
		return e.Layer + ": " + e.Rule.Text
	case e.Layer != "" && e.Detail != "":
		return e.Layer + ": " + e.Detail
	}
	return e.Detail
}

func summarizeList(ss []string, n int) string {
	if len(ss) <= n {
		return strings.Join(ss, ", ")
	}
	return strings.Join(ss[:n], ", ") + fmt.Sprintf(" +%d more", len(ss)-n)
}
