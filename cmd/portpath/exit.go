package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// Exit codes, the same for every command that answers "is it open".
const (
	exitOpen         = 0
	exitFailed       = 1
	exitUsage        = 2
	exitBlocked      = 3
	exitInconclusive = 4
)

// exitCodesHelp is quoted in --help.
const exitCodesHelp = `Exit codes:
  0  open: every layer that was checked lets the connection through
  1  portpath itself failed
  2  usage or bad input (target, flag, config file, evidence file)
  3  blocked: some layer drops or rejects the connection
  4  inconclusive: nothing checked blocks, but some layer could not be decided, or no layer
     was checked at all`

// usageError is bad input from the user: a flag, an argument, a config file.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// verdictError carries a finished report's verdict out of a command as its exit code.
type verdictError struct{ verdict report.Verdict }

func (e *verdictError) Error() string { return "verdict: " + string(e.verdict) }

// exitCode maps what a command returned to the process exit code, and prints errors.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOpen
	}
	var v *verdictError
	if errors.As(err, &v) {
		switch v.verdict {
		case report.Blocked:
			return exitBlocked
		case report.Inconclusive:
			return exitInconclusive
		}
		return exitOpen
	}
	fmt.Fprintln(stderr, "portpath:", err)
	var ue *usageError
	var te *probe.TargetError
	var ie *firewall.InputError
	if errors.As(err, &ue) || errors.As(err, &te) || errors.As(err, &ie) {
		return exitUsage
	}
	return exitFailed
}
