package firewalld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/firewall/netfilter"
)

// cmdTimeout bounds one firewall-cmd call (a Python start plus a D-Bus round trip).
const cmdTimeout = 15 * time.Second

// fallbackZone is the zone firewalld uses when firewalld.conf names none.
const fallbackZone = "public"

// Places of the configuration on a host.
const (
	etcDir = "/etc/firewalld"
	libDir = "/usr/lib/firewalld"
)

// busSocket is the D-Bus system bus firewalld and firewall-cmd talk over; tests replace it.
var busSocket = "/run/dbus/system_bus_socket"

// lookPath finds a command; tests replace it.
var lookPath = exec.LookPath

// Runner runs a command and returns its standard output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Open reads firewalld's configuration once: from src.Path (a copy of /etc/firewalld, a
// copied root with etc/firewalld and usr/lib/firewalld, or a `firewall-cmd --list-all-zones`
// output file), or from this host (permanent files, and the runtime configuration when
// firewalld runs). ErrAbsent when firewalld is not installed here.
func Open(ctx context.Context, src frontend.Source) (frontend.Frontend, error) {
	return open(ctx, src, netfilter.ExecRunner, etcDir, libDir)
}

// open is Open with the runner and the host's configuration directories given.
func open(ctx context.Context, src frontend.Source, run Runner, etc, lib string) (*Firewalld, error) {
	if src.Path != "" {
		return openPath(src.Path, lib)
	}
	if !src.Live {
		return nil, frontend.ErrAbsent
	}
	_, lookErr := lookPath("firewall-cmd")
	if !isDir(etc) && !isDir(lib) && lookErr != nil {
		return nil, fmt.Errorf("firewalld: %w", frontend.ErrAbsent)
	}
	perm, err := LoadDir(etc, existing(lib))
	if err != nil {
		return nil, err
	}
	f := &Firewalld{permanent: perm}
	if lookErr != nil {
		f.stateErr = "firewall-cmd is not installed, so the runtime configuration cannot be asked"
		return f, nil
	}
	if _, err := os.Stat(busSocket); err != nil {
		f.state = stateNotRunning // firewalld cannot run without the system bus; spare the Python start
		return f, nil
	}
	out, err := runCmd(ctx, run, "--state")
	state := strings.TrimSpace(string(out))
	switch {
	case state == "running":
		f.state = stateRunning
	case state == "not running" || strings.Contains(state, "not running"):
		f.state = stateNotRunning
		return f, nil
	case err != nil:
		f.stateErr = fmt.Sprintf("firewall-cmd --state: %v", err)
		return f, nil
	default:
		f.stateErr = fmt.Sprintf("firewall-cmd --state said %q", state)
		return f, nil
	}
	out, err = runCmd(ctx, run, "--list-all-zones")
	if err != nil {
		f.stateErr = fmt.Sprintf("firewall-cmd --list-all-zones: %v", err)
		return f, nil
	}
	rt, err := ParseListAllZones(bytes.NewReader(out), "firewall-cmd --list-all-zones")
	if err != nil {
		return nil, fmt.Errorf("firewalld: %w", err)
	}
	if dz, err := runCmd(ctx, run, "--get-default-zone"); err == nil {
		rt.DefaultZone = strings.TrimSpace(string(dz))
	}
	rt.Backend = perm.Backend
	if rt.Services, err = loadServices(etc, existing(lib), serviceNames(rt.Zones, perm.Zones)); err != nil {
		return nil, err
	}
	f.runtime = rt
	return f, nil
}

func runCmd(ctx context.Context, run Runner, arg string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := run(ctx, "firewall-cmd", arg)
	if ctx.Err() != nil {
		return out, fmt.Errorf("no answer within %s: %w", cmdTimeout, ctx.Err())
	}
	return out, err
}

// openPath reads --firewalld-dir: a directory of permanent configuration or a zone listing file.
func openPath(path, hostLib string) (*Firewalld, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("firewalld: %w", err)
	}
	if fi.IsDir() {
		etc, lib := path, existing(hostLib)
		if isDir(filepath.Join(path, "etc", "firewalld")) {
			etc, lib = filepath.Join(path, "etc", "firewalld"), existing(filepath.Join(path, "usr", "lib", "firewalld"))
		}
		perm, err := LoadDir(etc, lib)
		if err != nil {
			return nil, err
		}
		return &Firewalld{permanent: perm}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("firewalld: read %s: %w", path, err)
	}
	if looksLikeXML(b) {
		return nil, fmt.Errorf("firewalld: %s is an XML file; --firewalld-dir takes a copy of /etc/firewalld (a directory) or a `firewall-cmd --list-all-zones` output file", path)
	}
	rt, err := ParseListAllZones(bytes.NewReader(b), path)
	if err != nil {
		return nil, fmt.Errorf("firewalld: %w", err)
	}
	if lib := existing(hostLib); lib != "" {
		svcs, err := loadServices("", lib, serviceNames(rt.Zones))
		if err == nil {
			rt.Services = svcs
		}
	}
	return &Firewalld{runtime: rt}, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func existing(p string) string {
	if isDir(p) {
		return p
	}
	return ""
}

// LoadDir reads a permanent configuration: zones and services from lib (the packaged
// defaults, /usr/lib/firewalld; empty for none) overridden file by file by etc
// (/etc/firewalld), and DefaultZone and FirewallBackend from etc/firewalld.conf.
func LoadDir(etc, lib string) (*Config, error) {
	cfg := &Config{Zones: map[string]*Zone{}, Origin: etc}
	for _, dir := range []string{lib, etc} {
		if dir == "" {
			continue
		}
		files, err := xmlFiles(filepath.Join(dir, "zones"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			z, err := parseFile(f, ParseZoneXML)
			if err != nil {
				return nil, err
			}
			cfg.Zones[z.Name] = z
		}
	}
	svcs, err := loadServices(etc, lib, serviceNames(cfg.Zones))
	if err != nil {
		return nil, err
	}
	cfg.Services = svcs
	conf := filepath.Join(etc, "firewalld.conf")
	if b, err := os.ReadFile(conf); err == nil {
		if cfg.DefaultZone, cfg.Backend, err = ParseConf(bytes.NewReader(b), conf); err != nil {
			return nil, fmt.Errorf("firewalld: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("firewalld: read %s: %w", conf, err)
	}
	if cfg.DefaultZone == "" {
		cfg.DefaultZone = fallbackZone
	}
	if len(cfg.Zones) == 0 {
		where := filepath.Join(etc, "zones")
		if lib != "" {
			where += " or " + filepath.Join(lib, "zones")
		}
		return nil, fmt.Errorf("firewalld: no zone files under %s", where)
	}
	return cfg, nil
}

// loadServices reads the definitions of the named services and of the services they
// include, etc's file overriding lib's. Only the services zones name are read: a host has a
// few hundred definitions, and parsing them all would cost more than the rest of the check.
func loadServices(etc, lib string, names []string) (map[string]*Service, error) {
	out := map[string]*Service{}
	seen := map[string]bool{}
	for len(names) > 0 {
		name := names[0]
		names = names[1:]
		if seen[name] || strings.ContainsAny(name, "/\\") || name == "" {
			continue
		}
		seen[name] = true
		for _, dir := range []string{lib, etc} {
			if dir == "" {
				continue
			}
			f := filepath.Join(dir, "services", name+".xml")
			if _, err := os.Stat(f); err != nil {
				continue // not defined here: a missing definition is reported where the zone names it
			}
			s, err := parseFile(f, ParseServiceXML)
			if err != nil {
				return nil, err
			}
			out[s.Name] = s
		}
		if s := out[name]; s != nil {
			names = append(names, s.Includes...)
		}
	}
	return out, nil
}

// serviceNames lists the services the zones name, in their service lists and rich rules.
func serviceNames(zoneSets ...map[string]*Zone) []string {
	var out []string
	for _, zones := range zoneSets {
		for _, z := range zones {
			out = append(out, z.Services...)
			for _, r := range z.RichRules {
				if r.Element == "service" {
					out = append(out, r.Value)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// xmlFiles lists dir/*.xml; a missing dir is empty.
func xmlFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firewalld: read %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".xml") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

func parseFile[T any](path string, parse func(r io.Reader, name, file string) (T, error)) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("firewalld: read %s: %w", path, err)
	}
	v, err := parse(bytes.NewReader(b), strings.TrimSuffix(filepath.Base(path), ".xml"), path)
	if err != nil {
		return zero, fmt.Errorf("firewalld: %w", err)
	}
	return v, nil
}
