package nftables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/portpath/portpath/firewall/netfilter"
)

// Runner runs a command and returns its standard output. When the command fails, the
// error carries its standard error text.
type Runner = netfilter.Runner

var (
	// ErrNotInstalled: the nft binary is missing.
	ErrNotInstalled = errors.New("nft is not installed")
	// ErrNeedRoot: nft refused to list the ruleset for lack of privileges.
	ErrNeedRoot = netfilter.ErrNeedRoot
)

// ExecRunner runs the command with os/exec; standard error goes into the error text only,
// so that warnings (nft prints some for iptables-nft tables) never mix into the JSON.
var ExecRunner = netfilter.ExecRunner

// ReadLive reads this host's ruleset with `nft -j list ruleset`. run nil means ExecRunner.
// A missing nft gives an error wrapping ErrNotInstalled; a refusal for lack of privileges
// one wrapping ErrNeedRoot.
func ReadLive(ctx context.Context, run Runner) (*Ruleset, error) {
	if run == nil {
		run = ExecRunner
	}
	const name = "nft -j list ruleset"
	out, err := run(ctx, "nft", "-j", "list", "ruleset")
	if err != nil {
		msg := err.Error()
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
		case netfilter.NeedsRoot(err):
			return nil, fmt.Errorf("reading the nftables ruleset %w: %s: %v", ErrNeedRoot, name, msg)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return Parse(bytes.NewReader(out), name)
}

// ParseFile reads an `nft -j list ruleset` file.
func ParseFile(path string) (*Ruleset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}
