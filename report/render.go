package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format names an output format.
type Format string

const (
	// FormatText is for people; colour only when asked.
	FormatText Format = "text"
	// FormatJSON is exactly one JSON object, schema_version 1.
	FormatJSON Format = "json"
)

// Formats lists the formats Write accepts, for help texts and errors.
var Formats = []Format{FormatText, FormatJSON}

// ParseFormat checks a user-given format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q (want one of: text, json)", s)
}

// Write renders the report in the given format.
func Write(w io.Writer, r Report, f Format, color bool) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case FormatText, "":
		return writeText(w, r, color)
	}
	return fmt.Errorf("unknown output format %q", f)
}

type palette struct{ red, green, yellow, dim, bold, reset string }

func newPalette(color bool) palette {
	if !color {
		return palette{}
	}
	return palette{red: "\x1b[31m", green: "\x1b[32m", yellow: "\x1b[33m", dim: "\x1b[2m", bold: "\x1b[1m", reset: "\x1b[0m"}
}

func (p palette) decision(d Decision) string {
	mark := map[Decision]string{Allow: "ok  ", Drop: "DROP", Reject: "REJ ", Unknown: "??  ", Skipped: "--  "}[d]
	c := map[Decision]string{Allow: p.green, Drop: p.red, Reject: p.red, Unknown: p.yellow, Skipped: p.dim}[d]
	return c + mark + p.reset
}

func writeText(w io.Writer, r Report, color bool) error {
	p := newPalette(color)
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s%s from %s", p.bold, r.Target.Input, p.reset, sourceLabel(r.Source))
	if len(r.Target.Addresses) > 0 {
		fmt.Fprintf(&b, "  [%s]", strings.Join(r.Target.Addresses, " "))
	}
	b.WriteString("\n\n")

	var partial, undecided []string
	for _, s := range r.Steps {
		if len(s.AllowedFrom) > 0 {
			partial = append(partial, fmt.Sprintf("%s allows only %s", s.Layer, strings.Join(s.AllowedFrom, ", ")))
		}
		if s.Decision == Unknown {
			undecided = append(undecided, s.Layer)
		}
	}
	switch r.Verdict {
	case Open:
		if len(partial) > 0 {
			fmt.Fprintf(&b, "%sOPEN%s  for part of the source set only: %s\n", p.green+p.bold, p.reset, strings.Join(partial, "; "))
			break
		}
		fmt.Fprintf(&b, "%sOPEN%s  every layer that was checked lets %s/%d through\n", p.green+p.bold, p.reset, r.Target.Transport, r.Target.Port)
	case Blocked:
		fmt.Fprintf(&b, "%sBLOCKED%s  by %s (%s)\n", p.red+p.bold, p.reset, r.Cause.Step, r.Cause.Code)
		fmt.Fprintf(&b, "  %s\n", r.Cause.Message)
	case Inconclusive:
		if len(undecided) == 0 {
			fmt.Fprintf(&b, "%sINCONCLUSIVE%s  no layer of the path was checked (see Not checked)\n", p.yellow+p.bold, p.reset)
			break
		}
		fmt.Fprintf(&b, "%sINCONCLUSIVE%s  nothing that was checked blocks, but these could not be decided: %s\n", p.yellow+p.bold, p.reset, strings.Join(slices.Compact(undecided), ", "))
		if r.Cause != nil {
			fmt.Fprintf(&b, "  %s (%s): %s\n", r.Cause.Code, r.Cause.Step, r.Cause.Message)
		}
	}
	if s := r.Symptom; s != nil {
		var parts []string
		if s.Predicted != "" {
			parts = append(parts, "client will see: "+string(s.Predicted))
		}
		if s.Observed != "" {
			o := "probe saw: " + string(s.Observed)
			if s.Error != "" {
				o += " (" + s.Error + ")"
			}
			parts = append(parts, o)
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "  %s\n", strings.Join(parts, "; "))
		}
	}

	b.WriteString("\nPath:\n")
	var skipped []Step
	for _, s := range r.Steps {
		if s.Decision == Skipped {
			skipped = append(skipped, s)
			continue
		}
		detail := s.Detail
		if s.Address != "" && len(r.Target.Addresses) > 1 {
			detail = "[" + s.Address + "] " + detail
		}
		fmt.Fprintf(&b, "  %s  %-16s %s\n", p.decision(s.Decision), s.Layer, detail)
		if s.Rule != nil {
			fmt.Fprintf(&b, "                          %srule:%s %s  %s(%s)%s\n", p.dim, p.reset, s.Rule.Text, p.dim, ruleWhere(*s.Rule), p.reset)
		}
		if len(s.AllowedFrom) > 0 {
			fmt.Fprintf(&b, "                          %sallowed only from:%s %s\n", p.dim, p.reset, strings.Join(s.AllowedFrom, ", "))
		}
		if s.Conditional != "" {
			fmt.Fprintf(&b, "                          %sconditional:%s %s\n", p.dim, p.reset, s.Conditional)
		}
		for _, f := range s.Fix {
			fmt.Fprintf(&b, "                          %sfix:%s %s\n", p.bold, p.reset, f)
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\nNot checked:\n")
		for _, s := range skipped {
			fmt.Fprintf(&b, "  %s  %-16s %s\n", p.decision(s.Decision), s.Layer, s.Detail)
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

func sourceLabel(s Source) string {
	if s.Label == "" || s.Label == s.CIDR {
		return s.CIDR
	}
	return fmt.Sprintf("%s (%s)", s.Label, s.CIDR)
}

// ruleWhere says where a rule lives: "iptables-nft filter/INPUT #3".
func ruleWhere(r Rule) string {
	var parts []string
	if r.Origin != "" {
		parts = append(parts, r.Origin)
	}
	switch {
	case r.Table != "" && r.Chain != "":
		parts = append(parts, r.Table+"/"+r.Chain)
	case r.Chain != "":
		parts = append(parts, r.Chain)
	}
	if r.Position > 0 {
		parts = append(parts, fmt.Sprintf("#%d", r.Position))
	}
	if len(parts) == 0 {
		return r.ID
	}
	return strings.Join(parts, " ")
}
