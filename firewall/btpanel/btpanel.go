// Package btpanel reads the firewall of the BT panel (宝塔面板, aaPanel): the port and IP
// rules a user entered on the panel's page 安全 → 系统防火墙 (Security → Firewall), kept in
// the panel's SQLite databases. They are the user's intent; the panel writes them into
// ufw, firewalld or iptables, and what the client meets is the kernel's live rules. The
// step this package reports restates the kernel's decision in the panel's terms: the panel
// rule that matches, the drift between panel and kernel, and the fix on the panel's page.
//
// Where the rules live:
//   - newer panels: /www/server/panel/data/db/firewall.db, tables firewall_new (port rules:
//     protocol, ports, types accept|drop|reject, address, brief, addtime, chain), firewall_ip
//     (IP rules: types, address, brief, addtime, chain) and firewall_country;
//   - older panels: /www/server/panel/data/default.db, table firewall(id, port, ps, addtime),
//     where port is a port or range opened to everyone or an IPv4 address/CIDR blocked on
//     every port.
//
// When firewall_new is present the legacy firewall table is ignored: newer panels keep it
// only as a copy of the port list.
//
// How the panel's intent is evaluated, in the order of the panel's own iptables chains
// (script/init_firewall.sh: IN_BT jumps to IN_BT_user_ip before IN_BT_user_port, and the
// drop set is matched before the accept set): IP rules decide first, on every port and
// protocol; then port rules; within each, a drop or reject beats an accept (ufw and
// firewalld order rules differently; the blocking reading is the one that never overstates
// what is open). A connection no rule matches is denied, as the panel's firewall denies
// what it does not open. Rules of the OUTPUT chain are ignored. Country rules cannot be
// evaluated (the database does not say which addresses a country has) and are only named.
package btpanel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portpath/portpath/firewall/frontend"
	"github.com/portpath/portpath/report"
)

// Layer is the step layer of the BT panel.
const Layer = "host.btpanel"

// panelRoot is where the panel is installed on a live host.
const panelRoot = "/www/server/panel"

// Action is what a panel rule does with a matching connection.
type Action string

// The actions a rule's `types` column holds; None means no rule matched.
const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject"
	None   Action = ""
)

// Blocks reports whether the action stops the connection.
func (a Action) Blocks() bool { return a == Drop || a == Reject }

// Kind says whether a rule is about ports or about addresses.
type Kind int

const (
	// PortRule matches a protocol, a port list and a source (the panel's 端口规则, port rules).
	PortRule Kind = iota
	// IPRule matches a source on every port and protocol (the panel's IP规则, IP rules).
	IPRule
)

// Rule is one row of the panel's firewall as the user entered it.
type Rule struct {
	// Table is the table the row comes from ("firewall_new", "firewall_ip", "firewall").
	Table string
	// ID is the row's id column.
	ID int64
	// Kind says whether the rule is a port rule or an IP rule.
	Kind Kind
	// Protocols are "tcp" and/or "udp"; empty for an IP rule (every protocol).
	Protocols []string
	// Ports are the ports the rule matches; empty for an IP rule (every port).
	Ports []report.PortRange
	// Sources are the source addresses; empty means every source ("all").
	Sources []report.AddrRange
	// Action is the rule's strategy (types column).
	Action Action
	// PortsText, ProtocolText and AddressText are the columns as stored, for people.
	PortsText, ProtocolText, AddressText string
	// Note is the user's remark (ps, brief); empty when none.
	Note string
	// AddTime is when the rule was added, as the panel wrote it; empty when unknown.
	AddTime string
	// Domain is the domain name the address was resolved from; empty for a plain address.
	Domain string
}

// Ref is the rule's identity for people: "firewall_new#12".
func (r *Rule) Ref() string { return r.Table + "#" + strconv.FormatInt(r.ID, 10) }

// Text is the rule as the panel shows it: "port 8282/tcp accept from all (ps: ws; added 2024-05-01 10:00:00)".
func (r *Rule) Text() string {
	var b strings.Builder
	if r.Kind == IPRule {
		fmt.Fprintf(&b, "IP %s %s on every port", r.sourceText(), r.Action)
	} else {
		fmt.Fprintf(&b, "port %s/%s %s from %s", r.PortsText, strings.Join(r.Protocols, "+"), r.Action, r.sourceText())
	}
	var extra []string
	if r.Domain != "" {
		extra = append(extra, "domain "+r.Domain)
	}
	if r.Note != "" {
		extra = append(extra, "ps: "+r.Note)
	}
	if r.AddTime != "" {
		extra = append(extra, "added "+r.AddTime)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, "; ") + ")")
	}
	return b.String()
}

func (r *Rule) sourceText() string {
	if len(r.Sources) == 0 {
		return "all"
	}
	return r.AddressText
}

// Country is a country rule (firewall_country): it cannot be evaluated offline.
type Country struct {
	// ID is the row's id column.
	ID int64
	// Country is the country code as stored ("CN", "US").
	Country string
	// Action is the rule's strategy.
	Action Action
	// Ports are the ports it covers; empty means every port.
	Ports []report.PortRange
}

// Config is the panel's firewall, read once.
type Config struct {
	// Files are the databases read, in order.
	Files []string
	// Rules are the inbound rules, IP rules and port rules, in table and id order.
	Rules []Rule
	// Countries are the country rules, which are named but not evaluated.
	Countries []Country
	// Unread lists rows that could not be understood, with the reason; they take no part in the intent.
	Unread []string
	// Warnings are facts about the files that limit what was read (a WAL file beside the database).
	Warnings []string
	// PanelPort is the panel's own port (data/port.pl); 0 means unknown.
	PanelPort uint16
	// Tool is the firewall the panel drives on the host read live ("ufw", "firewalld",
	// "iptables"), by the panel's own test; empty when not known (offline).
	Tool string
}

// Open reads the panel's firewall: the file src.Path names, or this host's panel when
// src.Live. It returns frontend.ErrAbsent when the panel is not installed.
func Open(ctx context.Context, src frontend.Source) (frontend.Frontend, error) {
	return open(ctx, src, panelRoot)
}

// open is Open with the panel's install directory as a parameter.
func open(ctx context.Context, src frontend.Source, root string) (frontend.Frontend, error) {
	if src.Path != "" {
		c, err := ReadFile(ctx, src.Path)
		if err != nil {
			return nil, err
		}
		c.PanelPort = readPanelPort(filepath.Dir(src.Path), filepath.Dir(filepath.Dir(src.Path)))
		return &Panel{cfg: c}, nil
	}
	if !src.Live {
		return nil, frontend.ErrAbsent
	}
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, frontend.ErrAbsent
	}
	var path string
	for _, p := range []string{filepath.Join(root, "data", "db", "firewall.db"), filepath.Join(root, "data", "default.db")} {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("btpanel: the panel at %s has neither data/db/firewall.db nor data/default.db", root)
	}
	c, err := ReadFile(ctx, path)
	if err != nil {
		return nil, err
	}
	c.PanelPort = readPanelPort(filepath.Join(root, "data"))
	c.Tool = hostTool(func(p string) bool { _, err := os.Stat(p); return err == nil })
	return &Panel{cfg: c}, nil
}

// readPanelPort reads port.pl from the first directory holding a valid one; 0 when none does.
func readPanelPort(dirs ...string) uint16 {
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "port.pl"))
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16); err == nil && n > 0 {
			return uint16(n)
		}
	}
	return 0
}

// hostTool is the firewall the panel drives, by the panel's own test (firewallModel/firewallBase.py):
// firewalld on Red Hat-like hosts, ufw where apt-get is (and ufw installed), else iptables.
func hostTool(exists func(string) bool) string {
	switch {
	case exists("/usr/sbin/firewalld") || exists("/etc/redhat-release"):
		return "firewalld"
	case exists("/usr/sbin/ufw") || exists("/usr/bin/apt-get"):
		return "ufw"
	default:
		return "iptables"
	}
}

// Panel is the panel's firewall as a front end of the kernel's rules.
type Panel struct{ cfg *Config }

// Config is what was read.
func (p *Panel) Config() *Config { return p.cfg }

// Layer is "host.btpanel".
func (p *Panel) Layer() string { return Layer }
