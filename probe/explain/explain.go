// Package explain recognises the error messages people meet when a client cannot connect —
// from browsers, curl, Go, Java, Python, PHP/Workerman, Node and the operating system, in
// English and Chinese — and names their likely causes in order, each with the next check.
// The table of messages is one data file, messages.json; matching is pure.
package explain

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

//go:embed messages.json
var messagesJSON []byte

// Cause is one likely cause of a message: a catalog code, why it produces the message, and
// what to check next. Why and Next may hold the placeholders TARGET, HOST and PORT.
type Cause struct {
	// Code is a cause code of the catalog (report.Cause*).
	Code string `json:"code"`
	// Why says how this cause produces the message, and what to change.
	Why string `json:"why"`
	// Next is the check that confirms or rules out the cause.
	Next string `json:"next"`
}

// Message is one recognised error message.
type Message struct {
	// ID names the row ("chrome-ws-code-200").
	ID string `json:"id"`
	// Source is the program that prints it: "Chrome", "curl", "OS", …
	Source string `json:"source"`
	// Class names the ordered cause list the message shares with others of the same meaning.
	Class string `json:"class"`
	// Symptom is the report symptom the message is; empty when it is no client symptom.
	Symptom report.Symptom `json:"symptom"`
	// Pattern is a regular expression (RE2, matched case-insensitively).
	Pattern string `json:"pattern"`
	// Means says in one sentence what the message means.
	Means string `json:"means"`
	// Examples are real texts of the message; each must be recognised as this row.
	Examples []string `json:"examples"`

	re *regexp.Regexp
}

// Table is the parsed message table.
type Table struct {
	// Causes maps a class to its causes, most likely first.
	Causes map[string][]Cause `json:"causes"`
	// Messages are the rows, most specific first.
	Messages []Message `json:"messages"`
}

// Parse reads a message table and checks it: unique IDs, known classes, compiling patterns,
// at least one example per row, catalog cause codes.
func Parse(b []byte) (*Table, error) {
	var t Table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("explain: messages.json: %w", err)
	}
	if len(t.Messages) == 0 {
		return nil, fmt.Errorf("explain: messages.json: no messages")
	}
	for class, cs := range t.Causes {
		if len(cs) == 0 {
			return nil, fmt.Errorf("explain: messages.json: class %q has no causes", class)
		}
		for _, c := range cs {
			if !knownCodes[c.Code] {
				return nil, fmt.Errorf("explain: messages.json: class %q: %q is not a cause code of the catalog", class, c.Code)
			}
		}
	}
	seen := map[string]bool{}
	for i := range t.Messages {
		m := &t.Messages[i]
		switch {
		case m.ID == "":
			return nil, fmt.Errorf("explain: messages.json: message #%d has no id", i+1)
		case seen[m.ID]:
			return nil, fmt.Errorf("explain: messages.json: message id %q appears twice", m.ID)
		case len(t.Causes[m.Class]) == 0:
			return nil, fmt.Errorf("explain: messages.json: message %q: unknown class %q", m.ID, m.Class)
		case len(m.Examples) == 0:
			return nil, fmt.Errorf("explain: messages.json: message %q has no example", m.ID)
		}
		seen[m.ID] = true
		re, err := regexp.Compile("(?i)" + m.Pattern)
		if err != nil {
			return nil, fmt.Errorf("explain: messages.json: message %q: pattern: %w", m.ID, err)
		}
		m.re = re
	}
	return &t, nil
}

// knownCodes are the cause codes of the catalog.
var knownCodes = map[string]bool{}

func init() {
	for _, c := range []string{
		report.CauseNotListening, report.CauseListenLoopbackOnly, report.CauseListenWrongFamily, report.CauseListenOtherAddress,
		report.CauseWrongPort, report.CauseDNSFailure, report.CauseDNSWrongIP, report.CauseCDNInPath, report.CauseCDNPortUnsupported,
		report.CauseClientProxy, report.CausePrivateAddress, report.CauseHostFirewallDrop, report.CauseHostFirewallReject,
		report.CausePanelFirewall, report.CauseCloudSGNoAllow, report.CauseCloudSGDeny, report.CauseCloudACLDeny,
		report.CauseLightweightFirewall, report.CauseInstanceNotRunning, report.CauseInstanceNotFound, report.CauseNoPublicPath,
		report.CauseEphemeralExhausted, report.CauseProtocolMismatch, report.CauseICPFilingBlock, report.CauseUnexplained,
	} {
		knownCodes[c] = true
	}
}

// Default is the table built into portpath.
var Default = sync.OnceValues(func() (*Table, error) { return Parse(messagesJSON) })

// Match is a recognised message in a text.
type Match struct {
	// Message is the row that matched.
	Message Message
	// Text is the part of the text that matched.
	Text string
	// Causes are the row's likely causes, most likely first.
	Causes []Cause
}

// Match finds the messages in text, in table order (most specific first), one per class
// and one per piece of text: a text that carries a browser's words and the OS error behind
// them names each meaning once, and a general row does not repeat a specific one.
func (t *Table) Match(text string) []Match {
	var out []Match
	classes := map[string]bool{}
	var taken [][]int
	for _, m := range t.Messages {
		if classes[m.Class] {
			continue
		}
		loc := m.re.FindStringIndex(text)
		if loc == nil || slices.ContainsFunc(taken, func(r []int) bool { return loc[0] < r[1] && r[0] < loc[1] }) {
			continue
		}
		classes[m.Class] = true
		taken = append(taken, loc)
		out = append(out, Match{Message: m, Text: text[loc[0]:loc[1]], Causes: t.Causes[m.Class]})
	}
	return out
}

// Fill replaces the placeholders TARGET, HOST and PORT in a cause with the target's values.
func Fill(c Cause, t report.Target) Cause {
	if t.Host == "" {
		return c
	}
	r := strings.NewReplacer("TARGET", t.Input, "HOST", t.Host, "PORT", strconv.Itoa(t.Port))
	return Cause{Code: c.Code, Why: r.Replace(c.Why), Next: r.Replace(c.Next)}
}

var (
	// dnsServer is the "on 127.0.0.53:53" part of a Go lookup error: the resolver, not the target.
	dnsServer = regexp.MustCompile(`\bon \S+:53\b`)
	urlRe     = regexp.MustCompile(`(?i)\b(?:wss?|https?|tcp|udp)://(?:\[[0-9a-f:.%]+\]|[^\s'"<>()\[\]{}，。/:]+)(?::\d+)?(?:/[^\s'"<>()\[\]{}，。]*)?`)
	curlRe    = regexp.MustCompile(`(?i)(?:connect to|connect\(\) to) (\S+?) port (\d+)`)
	pythonRe  = regexp.MustCompile(`host='([^']+)', port=(\d+)`)
	goDialRe  = regexp.MustCompile(`\bdial (tcp|udp)[46]? (\S+):\s`)
	goReadRe  = regexp.MustCompile(`\b(tcp|udp)[46]? \S+->(\S+):\s`)
	nodeRe    = regexp.MustCompile(`\bE[A-Z]+ (\S+:\d+)\b`)
	hostPort  = regexp.MustCompile(`(?i)(?:^|[\s'"(=/@])((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|(?:[a-z0-9-]+\.)+[a-z]{2,}):(\d{1,5})\b`)
)

// Targets finds what the text says the client connected to: URLs first, then the host and
// port of curl, Python, Go and Node messages, then any host:port. Each is a valid TARGET
// for check (probe.ParseTarget accepts it); duplicates are dropped.
func Targets(text string) []string {
	text = dnsServer.ReplaceAllString(text, "")
	tiers := []func() []string{
		func() (c []string) {
			for _, u := range urlRe.FindAllString(text, -1) {
				c = append(c, strings.TrimRight(u, ".,;:!?'\"`"))
			}
			return c
		},
		func() (c []string) {
			for _, m := range curlRe.FindAllStringSubmatch(text, -1) {
				c = append(c, joinHostPort(m[1], m[2]))
			}
			for _, m := range pythonRe.FindAllStringSubmatch(text, -1) {
				c = append(c, joinHostPort(m[1], m[2]))
			}
			return c
		},
		func() (c []string) {
			for _, re := range []*regexp.Regexp{goDialRe, goReadRe} {
				for _, m := range re.FindAllStringSubmatch(text, -1) {
					if m[1] == "udp" {
						c = append(c, "udp://"+m[2])
					} else {
						c = append(c, m[2])
					}
				}
			}
			for _, m := range nodeRe.FindAllStringSubmatch(text, -1) {
				c = append(c, m[1])
			}
			return c
		},
		func() (c []string) {
			for _, m := range hostPort.FindAllStringSubmatch(text, -1) {
				c = append(c, m[1]+":"+m[2])
			}
			return c
		},
	}
	// The first kind of evidence that names a valid target wins: a URL is what the client
	// used; a bare host:port may be the client's own address.
	for _, tier := range tiers {
		var out []string
		for _, c := range tier() {
			if _, err := probe.ParseTarget(c); err == nil && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// joinHostPort writes host:port, bracketing an IPv6 address.
func joinHostPort(h, p string) string {
	h = strings.Trim(h, "'\"")
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		h = "[" + h + "]"
	}
	return h + ":" + p
}
