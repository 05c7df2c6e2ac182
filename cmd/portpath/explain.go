package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/probe/explain"
	"github.com/portpath/portpath/report"
)

// explainInputLimit bounds how much of stdin is read: error texts and logs, not files.
const explainInputLimit = 1 << 20

func newExplainCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   `explain ["ERROR TEXT" | -]`,
		Short: "Explain an error message a client printed, and check the target it names",
		Long: `Explain an error message that a client printed when it could not connect: a browser's
(Chrome, Firefox: WebSocket and net:: errors), curl's, Go's, Java's, Python's, PHP/Workerman's,
Node's or the operating system's (ECONNREFUSED, ETIMEDOUT, EADDRNOTAVAIL, EHOSTUNREACH,
"cannot assign requested address", also in Chinese: 拒绝连接, 连接超时, 无法指定被请求的地址, …).
portpath prints what the message means, its likely causes in order (cause codes of
'portpath check'), and the next check for each.

The text is the argument, or stdin when the argument is "-" or missing (and stdin is not a
terminal). When the text names a URL or host:port, portpath then runs 'portpath check' on
it, so the explanation is followed by what the path really does; --no-run only explains.

When it runs the check, explain exits as 'portpath check' does (below); with --no-run, or
when the text names no target, it exits 0 when it recognised the message and 4 when not.

` + exitCodesHelp,
		Example: `  portpath explain "WebSocket connection to 'ws://example.com:8282/' failed: Error during WebSocket handshake: Unexpected response code: 200"
  portpath explain --no-run "curl: (7) Failed to connect to example.com port 8282 after 3 ms: Connection refused"
  portpath explain --no-run "由于目标计算机积极拒绝，无法连接。"
  journalctl -u myapp | tail -n 20 | portpath explain -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := explainText(cmd, args)
			if err != nil {
				return err
			}
			noRun := g.v.GetBool("no-run")
			return explainRun(cmd.Context(), g, cmd, text, noRun)
		},
	}
	f := cmd.Flags()
	f.Bool("no-run", false, "only explain the message; do not check the target it names")
	f.String("from", "0.0.0.0/0", "source address or CIDR the check is asked for")
	f.Duration("timeout", probe.DefaultTimeout, "how long the check's probe waits for each connection")
	f.Bool("local", false, "the check also reads this host's firewall and sockets (run it on the server)")
	addProviderFlags(f)
	return cmd
}

// explainText reads the message from the arguments or from stdin.
func explainText(cmd *cobra.Command, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), nil
	}
	in := cmd.InOrStdin()
	if len(args) == 0 && isTerminalReader(in) {
		return "", usagef(`explain needs the error text: portpath explain "ERROR TEXT", or pipe it in: … | portpath explain -`)
	}
	b, err := io.ReadAll(io.LimitReader(in, explainInputLimit))
	if err != nil {
		return "", fmt.Errorf("explain: read stdin: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", usagef("explain: stdin is empty (want the error text)")
	}
	return string(b), nil
}

// isTerminalReader reports whether r is a terminal.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// explanation is the JSON document of `portpath explain -o json`.
type explanation struct {
	SchemaVersion int           `json:"schema_version"`
	Input         string        `json:"input"`
	Recognised    []explainedAs `json:"recognised"`
	// Target is the target the text names; empty when it names none.
	Target string `json:"target,omitempty"`
	// Report is the check of Target; nil when no check ran.
	Report *report.Report `json:"report,omitempty"`
}

// explainedAs is one recognised message.
type explainedAs struct {
	ID      string          `json:"id"`
	Source  string          `json:"source"`
	Matched string          `json:"matched"`
	Symptom report.Symptom  `json:"symptom,omitempty"`
	Means   string          `json:"means"`
	Causes  []explain.Cause `json:"causes"`
}

func explainRun(ctx context.Context, g *globalOptions, cmd *cobra.Command, text string, noRun bool) error {
	tb, err := explain.Default()
	if err != nil {
		return err
	}
	e := explanation{SchemaVersion: report.SchemaVersion, Input: text}
	var tgt report.Target
	if ts := explain.Targets(text); len(ts) > 0 {
		e.Target = ts[0]
		tgt, _ = probe.ParseTarget(e.Target)
	}
	for _, m := range tb.Match(text) {
		x := explainedAs{ID: m.Message.ID, Source: m.Message.Source, Matched: m.Text, Symptom: m.Message.Symptom, Means: m.Message.Means}
		for _, c := range m.Causes {
			x.Causes = append(x.Causes, explain.Fill(c, tgt))
		}
		e.Recognised = append(e.Recognised, x)
	}

	var opts *checkOptions
	if e.Target != "" && !noRun {
		if opts, err = checkOptionsFrom(g, cmd, e.Target); err != nil {
			return err
		}
		r, err := buildReport(ctx, opts)
		if err != nil {
			return err
		}
		e.Report = &r
	}
	out := cmd.OutOrStdout()
	format, err := report.ParseFormat(g.v.GetString("output"))
	if err != nil {
		return usagef("--output: %v", err)
	}
	if format == report.FormatJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write explanation: %w", err)
		}
	} else if err := writeExplanation(out, e, opts); err != nil {
		return fmt.Errorf("write explanation: %w", err)
	}
	switch {
	case e.Report != nil:
		return &verdictError{e.Report.Verdict}
	case len(e.Recognised) > 0:
		return nil
	}
	return &verdictError{report.Inconclusive}
}

// writeExplanation prints the explanation for people, then the check's report.
func writeExplanation(w io.Writer, e explanation, opts *checkOptions) error {
	var b strings.Builder
	if len(e.Recognised) == 0 {
		b.WriteString("portpath does not recognise this message.\n")
	}
	for i, x := range e.Recognised {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s: %q\n  %s", x.Source, x.Matched, x.Means)
		if x.Symptom != "" {
			fmt.Fprintf(&b, " (symptom: %s)", x.Symptom)
		}
		b.WriteString("\n  Likely causes, most likely first:\n")
		for j, c := range x.Causes {
			fmt.Fprintf(&b, "  %d. %s: %s\n     next: %s\n", j+1, c.Code, c.Why, c.Next)
		}
	}
	switch {
	case e.Target == "":
		b.WriteString("\nThe text names no URL or host:port to check; run: portpath check TARGET\n")
	case e.Report == nil:
		fmt.Fprintf(&b, "\nTo see what the path does: portpath check %s\n", e.Target)
	default:
		fmt.Fprintf(&b, "\nportpath check %s\n\n", e.Target)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if e.Report != nil {
		return report.Write(w, *e.Report, report.FormatText, opts.Color)
	}
	return nil
}
