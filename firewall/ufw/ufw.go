// Package ufw restates the kernel's firewall decision in ufw's terms: the ufw rule that
// decided, as the user typed it (`ufw deny from 10.99.0.1 to any port 8005 proto tcp`),
// or the default policy; drift between ufw's files and the rules the kernel has loaded;
// and the fix as ufw commands. The verdict is always the kernel's (host.iptables or
// host.nftables): ufw's files only say what ufw was told, not what is enforced.
//
// Files read: ufw.conf (ENABLED), user.rules and user6.rules (the "### tuple ###" line
// before each rule's iptables lines), and the defaults file with the default policies.
// On this host (no --ufw-dir) they are /etc/ufw/ufw.conf, /etc/ufw/user.rules,
// /etc/ufw/user6.rules and /etc/default/ufw; ufw counts as not in use when /etc/ufw or
// the ufw program is missing. With --ufw-dir DIR (a copy of /etc/ufw) the defaults file
// is looked for as DIR/default-ufw, DIR/default/ufw, DIR/../default/ufw or
// DIR/../default-ufw, first found wins; when none exists the default policies are
// reported as unknown. user6.rules may be missing (IPv6 rules are then unknown);
// ufw.conf and user.rules must be there. Parsing is pure (ParseConf, ParseDefaults,
// ParseUserRules); Open does the file I/O.
package ufw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/portpath/portpath/firewall/frontend"
)

// Layer is the step layer of ufw.
const Layer = "host.ufw"

// liveDir and liveDefaults are where ufw keeps its configuration on a host.
const (
	liveDir      = "/etc/ufw"
	liveDefaults = "/etc/default/ufw"
)

// Config is ufw's configuration as its files state it.
type Config struct {
	// Dir is the directory read (/etc/ufw or the --ufw-dir copy).
	Dir string
	// ConfFile is the ufw.conf read; Enabled is its ENABLED=yes.
	ConfFile string
	Enabled  bool
	// DefaultsFile is the defaults file read; empty when none was found, and Defaults is then nil.
	DefaultsFile string
	Defaults     *Defaults
	// DefaultsTried lists the places looked at for the defaults file when none was found.
	DefaultsTried []string
	// Rules4 is user.rules; Rules6 is user6.rules, nil when the file is missing.
	Rules4, Rules6 *UserRules
}

// Open reads ufw's configuration once: this host's (src.Path empty) or a copy of /etc/ufw.
// It returns frontend.ErrAbsent when ufw is not installed here; files that are not ufw's,
// or that are corrupt, give an error naming the file and line.
func Open(ctx context.Context, src frontend.Source) (frontend.Frontend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, defaults := src.Path, []string{liveDefaults}
	if dir == "" {
		if _, err := os.Stat(liveDir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ufw: no %s: %w", liveDir, frontend.ErrAbsent)
		}
		if !installed() {
			return nil, fmt.Errorf("ufw: the ufw program is not installed: %w", frontend.ErrAbsent)
		}
		dir = liveDir
	} else {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("ufw: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("ufw: %s is not a directory: --ufw-dir wants a copy of /etc/ufw", dir)
		}
		defaults = offlineDefaults(dir)
	}
	c, err := ReadConfig(dir, defaults)
	if err != nil {
		return nil, err
	}
	return &Frontend{cfg: c}, nil
}

// offlineDefaults are the places a copy of /etc/default/ufw is looked for next to a copy of /etc/ufw.
func offlineDefaults(dir string) []string {
	return []string{
		filepath.Join(dir, "default-ufw"),
		filepath.Join(dir, "default", "ufw"),
		filepath.Join(dir, "..", "default", "ufw"),
		filepath.Join(dir, "..", "default-ufw"),
	}
}

// installed reports whether the ufw program is on this host.
func installed() bool {
	if _, err := exec.LookPath("ufw"); err == nil {
		return true
	}
	for _, p := range []string{"/usr/sbin/ufw", "/sbin/ufw", "/usr/bin/ufw", "/lib/ufw/ufw-init", "/usr/lib/ufw/ufw-init"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// ReadConfig reads ufw.conf, user.rules and user6.rules from dir, and the first of
// defaults that exists.
func ReadConfig(dir string, defaults []string) (*Config, error) {
	c := &Config{Dir: dir, ConfFile: filepath.Join(dir, "ufw.conf")}
	b, err := readFile(c.ConfFile)
	if err != nil {
		return nil, err
	}
	if c.Enabled, err = ParseEnabled(bytes.NewReader(b), c.ConfFile); err != nil {
		return nil, fmt.Errorf("ufw: %w", err)
	}
	for _, p := range defaults {
		b, err := readFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.Defaults, err = ParseDefaults(bytes.NewReader(b), p); err != nil {
			return nil, fmt.Errorf("ufw: %w", err)
		}
		c.DefaultsFile = p
		break
	}
	if c.Defaults == nil {
		c.DefaultsTried = defaults
	}
	for _, f := range []struct {
		name string
		v6   bool
		dst  **UserRules
	}{{"user.rules", false, &c.Rules4}, {"user6.rules", true, &c.Rules6}} {
		p := filepath.Join(dir, f.name)
		b, err := readFile(p)
		if f.v6 && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if *f.dst, err = ParseUserRules(bytes.NewReader(b), p, f.v6); err != nil {
			return nil, fmt.Errorf("ufw: %w", err)
		}
	}
	number(c.Rules4, c.Rules6)
	return c, nil
}

// maxFile bounds a ufw file; user.rules with thousands of rules stays far below.
const maxFile = 64 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("ufw: read %s: %w (ufw's files are readable by root only)", path, err)
		}
		return nil, fmt.Errorf("ufw: read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ufw: read %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("ufw: read %s: is a directory", path)
	}
	if fi.Size() > maxFile {
		return nil, fmt.Errorf("ufw: read %s: %d bytes, more than ufw writes", path, fi.Size())
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("ufw: read %s: %w", path, err)
	}
	return b, nil
}
