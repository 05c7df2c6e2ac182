package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/portpath/portpath/firewall/netfilter"
	"github.com/portpath/portpath/report"
)

// ErrNeedRoot is wrapped by the errors of commands that were refused for lack of privilege.
var ErrNeedRoot = netfilter.ErrNeedRoot

// Runner runs a command and returns its standard output; the error carries its standard error.
type Runner = netfilter.Runner

// Snapshot is the ruleset one iptables-save variant printed.
type Snapshot struct {
	// Origin is "iptables-nft" or "iptables-legacy".
	Origin string
	Family netfilter.Family
	Dump   *Dump
}

// ParseFile reads an iptables-save file; errors name the path and line.
func ParseFile(path string) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return parseReader(f, path, size)
}

// execRun runs a command with exec, keeping its standard error for the error message.
var execRun = netfilter.ExecRunner

// liveProcNet is where the legacy x_tables list their loaded tables.
const liveProcNet = "/proc/net"

// ReadLive snapshots this host's iptables rules: iptables-save and ip6tables-save (the
// nf_tables variant on current distributions), and the legacy tools too when legacy tables
// are loaded; both kinds are enforced at the same time. The legacy tools run only when
// /proc/net/ip_tables_names (ip6_tables_names) lists tables, so that no kernel module gets
// loaded just by looking. A tool that is not installed is skipped; a refusal for lack of
// privilege is an error wrapping ErrNeedRoot. run nil means exec.
func ReadLive(ctx context.Context, run Runner) ([]Snapshot, error) {
	return readLive(ctx, run, liveProcNet)
}

func readLive(ctx context.Context, run Runner, procNet string) ([]Snapshot, error) {
	if run == nil {
		run = execRun
	}
	var snaps []Snapshot
	var errs []error
	for _, v := range []struct {
		fam          netfilter.Family
		save, legacy string
		names        string
	}{
		{netfilter.IPv4, "iptables-save", "iptables-legacy-save", "ip_tables_names"},
		{netfilter.IPv6, "ip6tables-save", "ip6tables-legacy-save", "ip6_tables_names"},
	} {
		s, err := snapshot(ctx, run, v.save, v.fam)
		switch {
		case errors.Is(err, ErrNeedRoot):
			return nil, err
		case err != nil:
			errs = append(errs, err)
		case s != nil:
			snaps = append(snaps, *s)
		}
		if s != nil && s.Origin == "iptables-legacy" {
			continue // iptables-save is the legacy tool itself
		}
		if !hasTables(filepath.Join(procNet, v.names)) {
			continue
		}
		s, err = snapshot(ctx, run, v.legacy, v.fam)
		switch {
		case errors.Is(err, ErrNeedRoot):
			return nil, err
		case err != nil:
			errs = append(errs, err)
		case s != nil:
			s.Origin = "iptables-legacy"
			snaps = append(snaps, *s)
		}
	}
	return snaps, errors.Join(errs...)
}

// hasTables reports whether a /proc/net/*_tables_names file lists any table.
func hasTables(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && len(bytes.TrimSpace(b)) > 0
}

// snapshot runs one save tool; nil without error when it is not installed or prints no table.
func snapshot(ctx context.Context, run Runner, tool string, fam netfilter.Family) (*Snapshot, error) {
	out, err := run(ctx, tool)
	if err != nil {
		return nil, commandError(tool, err)
	}
	d, err := Parse(bytes.NewReader(out), tool)
	if err != nil {
		return nil, err
	}
	if len(d.Tables) == 0 {
		return nil, nil
	}
	origin := "iptables-legacy"
	if d.Origin() == "iptables-nft" {
		origin = "iptables-nft"
	}
	return &Snapshot{Origin: origin, Family: fam, Dump: d}, nil
}

// commandError sorts a failed command: not installed → nil, refused → ErrNeedRoot.
func commandError(tool string, err error) error {
	if errors.Is(err, exec.ErrNotFound) {
		return nil
	}
	if netfilter.NeedsRoot(err) {
		return fmt.Errorf("%s %w", tool, ErrNeedRoot)
	}
	return err
}

// ReadIPSets reads this host's ipsets with `ipset save`. Only hash:ip, hash:net and
// bitmap:ip sets are kept (without nomatch entries); matches on other sets stay unknown.
// No ipset installed gives no sets and no error; a refusal wraps ErrNeedRoot.
func ReadIPSets(ctx context.Context, run Runner) (map[string][]report.AddrRange, error) {
	if run == nil {
		run = execRun
	}
	out, err := run(ctx, "ipset", "save")
	if err != nil {
		if err := commandError("ipset", err); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return ParseIPSets(bytes.NewReader(out), "ipset save")
}
