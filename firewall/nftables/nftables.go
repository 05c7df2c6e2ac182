// Package nftables reads a native nftables ruleset (`nft -j list ruleset`,
// libnftables-json schema version 1) and turns its base chains into
// netfilter.BaseChains that walk one packet through the rules.
//
// The model keeps the JSON shape: statements and expressions are tagged unions,
// and right-hand values stay raw (json.RawMessage) until the evaluator reads them
// by the datatype of the left-hand key — ports and marks are numbers, addresses
// and interface names are strings, prefixes, ranges and sets are objects.
// Statements and expressions the package does not know do not fail the parse:
// they become opaque and evaluate to "maybe".
package nftables

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Ruleset is a parsed `nft -j list ruleset`.
type Ruleset struct {
	// Name is the file (or command) the ruleset came from; errors and rule texts use it.
	Name string
	// Version is the nft version from the metainfo object ("1.0.6"); empty when absent.
	Version string
	// SchemaVersion is json_schema_version from the metainfo object.
	SchemaVersion int
	Tables        []*Table
}

// Table returns the table of the given family and name, or nil.
func (rs *Ruleset) Table(family, name string) *Table {
	for _, t := range rs.Tables {
		if t.Family == family && t.Name == name {
			return t
		}
	}
	return nil
}

// Rules counts the rules of all tables.
func (rs *Ruleset) Rules() int {
	n := 0
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			n += len(c.Rules)
		}
	}
	return n
}

// Table is one nftables table with its chains and sets.
type Table struct {
	// Family is ip, ip6, inet, arp, bridge or netdev.
	Family string
	Name   string
	Handle int
	// Chains are in the order the dump lists them.
	Chains []*Chain
	// Sets holds sets and maps (a map has Map set).
	Sets []*Set
	// HasXT is true when a rule of the table holds an xt (iptables compat) expression.
	HasXT bool

	chains map[string]*Chain
	sets   map[string]*Set
}

// ID names the table as nft does: "inet filt".
func (t *Table) ID() string { return t.Family + " " + t.Name }

// Chain returns the chain of that name, or nil.
func (t *Table) Chain(name string) *Chain { return t.chains[name] }

// Set returns the set or map of that name, or nil.
func (t *Table) Set(name string) *Set { return t.sets[name] }

// Chain is a base chain (Hook set) or a regular chain.
type Chain struct {
	Table  *Table
	Name   string
	Handle int
	// Type is filter, nat or route; empty for a regular chain.
	Type string
	// Hook is prerouting, input, forward, output, postrouting, ingress or egress; empty for a regular chain.
	Hook string
	// Prio is the numeric priority.
	Prio int
	// Policy is accept or drop; empty for a regular chain.
	Policy string
	// Dev is the device of a netdev or ingress chain.
	Dev   string
	Rules []*Rule
}

// IsBase reports whether the chain is registered on a hook.
func (c *Chain) IsBase() bool { return c.Hook != "" }

// Rule is one rule: a sequence of statements evaluated left to right.
type Rule struct {
	Chain  *Chain
	Handle int
	// Position is the 1-based position of the rule in its chain.
	Position int
	Comment  string
	Stmts    []Stmt
	// Index is the position of the rule object in the dump's nftables array.
	Index int
}

// ID identifies the rule for people and for Fix: "inet filt input handle 12".
func (r *Rule) ID() string {
	return fmt.Sprintf("%s %s handle %d", r.Chain.Table.ID(), r.Chain.Name, r.Handle)
}

// ParseRuleID splits a rule ID ("inet filt input handle 12") into its parts.
// A policy ID ("inet filt input policy") gives handle 0 and ok true.
func ParseRuleID(id string) (family, table, chain string, handle int, ok bool) {
	f := strings.Fields(id)
	switch {
	case len(f) == 4 && f[3] == "policy":
		return f[0], f[1], f[2], 0, true
	case len(f) == 5 && f[3] == "handle":
		h, err := strconv.Atoi(f[4])
		if err != nil || h <= 0 {
			return "", "", "", 0, false
		}
		return f[0], f[1], f[2], h, true
	}
	return "", "", "", 0, false
}

// Set is a named set or map.
type Set struct {
	Table  *Table
	Name   string
	Handle int
	// Type is the key type, one entry per part of a concatenation ("ipv4_addr", "inet_service").
	Type []string
	// Map is the data type of a map ("verdict", "ipv4_addr", "ipv4_addr . inet_service"); empty for a set.
	Map   string
	Flags []string
	// Elems are the elements as the dump writes them; a map element is a [key, data] pair.
	Elems []json.RawMessage

	index int
}

// IsMap reports whether the set is a map.
func (s *Set) IsMap() bool { return s.Map != "" }

// Stmt is one statement of a rule: one of *Match, *Verdict, *Reject, *VMap, *NATStmt,
// *Mangle, *Limit, *Passive, *XT, *Queue or *Opaque.
type Stmt interface{ stmt() }

// Match compares the left expression with the right value: {"match":{"op","left","right"}}.
type Match struct {
	// Op is ==, !=, <, >, <=, >= or in.
	Op    string
	Left  Expr
	Right json.RawMessage
}

// Verdict is accept, drop, continue, return, jump or goto.
type Verdict struct {
	Kind string
	// Target is the chain of a jump or goto.
	Target string
}

// Reject is {"reject":{"type","expr"}}; both empty for a bare reject.
type Reject struct {
	// Type is icmp, icmpv6, icmpx or "tcp reset".
	Type string
	// Code is the ICMP code name ("port-unreachable", "admin-prohibited"); empty for tcp reset.
	Code string
}

// Queue hands the packet to userspace.
type Queue struct{ Raw json.RawMessage }

// VMap jumps to the verdict of the element that matches Key: {"vmap":{"key","data"}}.
// Data is an anonymous set of [key, verdict] pairs or "@name" of a verdict map.
type VMap struct {
	Key  Expr
	Data json.RawMessage
}

// NATStmt is dnat, snat, redirect or masquerade.
type NATStmt struct {
	Kind   string
	Family string
	// Addr is the new address (a string, or {"map":…}); empty when absent.
	Addr json.RawMessage
	// Port is the new port (a number, a range, or {"map":…}); empty when absent.
	Port  json.RawMessage
	Flags json.RawMessage
}

// Mangle sets a packet or conntrack field: {"mangle":{"key","value"}} (meta mark set …).
type Mangle struct {
	Key   Expr
	Value json.RawMessage
}

// Limit is a stateful match that holds for a first connection: limit, quota, ct count, meter.
type Limit struct {
	// Kind is limit, quota, ct count or meter.
	Kind string
	Raw  json.RawMessage
	// Inv is true for "over" forms, which match only once the limit is exceeded.
	Inv bool
}

// Passive is a statement that does not change the verdict (counter, log, notrack, set updates…).
type Passive struct {
	Kind string
	Raw  json.RawMessage
}

// XT is an iptables extension inside an iptables-nft rule; nft -j shows no parameters.
type XT struct {
	// Type is match or target.
	Type string
	Name string
}

// Opaque is a statement the package does not know; it evaluates as a match of unknown result.
type Opaque struct {
	Key string
	Raw json.RawMessage
}

func (*Match) stmt()   {}
func (*Verdict) stmt() {}
func (*Reject) stmt()  {}
func (*Queue) stmt()   {}
func (*VMap) stmt()    {}
func (*NATStmt) stmt() {}
func (*Mangle) stmt()  {}
func (*Limit) stmt()   {}
func (*Passive) stmt() {}
func (*XT) stmt()      {}
func (*Opaque) stmt()  {}

// Expr is a left-hand expression: one of *Payload, *Meta, *Ct, *Fib, *Concat, *Binop,
// *MapLookup, *Immediate or *OpaqueExpr.
type Expr interface{ expr() }

// Payload is a packet header field: {"payload":{"protocol":"tcp","field":"dport"}}.
// A raw payload ({"base","offset","len"}) has Protocol empty.
type Payload struct {
	Protocol string
	Field    string
	Base     string
	Offset   int
	Len      int
}

// Meta is packet metadata: {"meta":{"key":"iifname"}}.
type Meta struct{ Key string }

// Ct is conntrack state: {"ct":{"key":"state"}}, {"ct":{"key":"ip daddr","dir":"original"}}.
type Ct struct {
	Key string
	Dir string
}

// Fib is a routing lookup: {"fib":{"result":"type","flags":["daddr"]}}.
type Fib struct {
	Result string
	Flags  []string
}

// Concat joins expressions: {"concat":[…]}.
type Concat struct{ Parts []Expr }

// Binop is a bitwise operation with a constant: {"&":[EXPR, VALUE]}.
type Binop struct {
	// Op is &, |, ^, << or >>.
	Op    string
	Left  Expr
	Right json.RawMessage
}

// MapLookup looks Key up in a map: {"map":{"key","data"}}.
type MapLookup struct {
	Key  Expr
	Data json.RawMessage
}

// Immediate is a constant where an expression is expected.
type Immediate struct{ Raw json.RawMessage }

// OpaqueExpr is an expression the package does not know.
type OpaqueExpr struct {
	Key string
	Raw json.RawMessage
}

func (*Payload) expr()    {}
func (*Meta) expr()       {}
func (*Ct) expr()         {}
func (*Fib) expr()        {}
func (*Concat) expr()     {}
func (*Binop) expr()      {}
func (*MapLookup) expr()  {}
func (*Immediate) expr()  {}
func (*OpaqueExpr) expr() {}
