// Package report holds portpath's model of a reachability question and its answer:
// the target, the source set, the steps along the path, the verdict and its cause.
// Every other package produces Steps; this package merges them and renders the result.
// It imports nothing else of the project.
package report

// SchemaVersion is the version of the JSON document; it changes only when the schema breaks.
const SchemaVersion = 1

// Decision is what one step says about the connection.
type Decision string

const (
	// Allow: the step lets the first packet through (for at least part of the source set).
	Allow Decision = "allow"
	// Drop: the step discards the packet silently; the client sees a timeout.
	Drop Decision = "drop"
	// Reject: the step answers with an error; the symptom depends on the reject type.
	Reject Decision = "reject"
	// Unknown: the step could not be asked or could not be decided; Detail says why.
	Unknown Decision = "unknown"
	// Skipped: the step was not asked (not applicable here, or turned off).
	Skipped Decision = "skipped"
)

// Blocks reports whether the decision stops the connection.
func (d Decision) Blocks() bool { return d == Drop || d == Reject }

// Symptom is what the client observes (or is predicted to observe) when it connects.
type Symptom string

// The symptoms of the contract (DESIGN.md).
const (
	Connected           Symptom = "connected"
	Refused             Symptom = "refused"
	Timeout             Symptom = "timeout"
	NoRoute             Symptom = "no-route"
	PermissionDenied    Symptom = "permission-denied"
	AddressNotAvailable Symptom = "address-not-available"
	DNSFailure          Symptom = "dns-failure"
	ProtocolMismatch    Symptom = "protocol-mismatch"
	TLSError            Symptom = "tls-error"
	// NoAnswer is a UDP probe that got nothing back: open with a silent service, or dropped.
	NoAnswer Symptom = "no-answer"
)

// Verdict is the answer for the whole path.
type Verdict string

const (
	// Open: every asked step allows and none is unknown.
	Open Verdict = "open"
	// Blocked: some asked step drops or rejects.
	Blocked Verdict = "blocked"
	// Inconclusive: nothing blocks, but some step could not be decided.
	Inconclusive Verdict = "inconclusive"
)

// Target is the connection the user asked about.
type Target struct {
	// Input is the TARGET argument exactly as given.
	Input string `json:"input"`
	// Host is the name or address part of Input, without brackets.
	Host string `json:"host"`
	// Port is the destination port, 1–65535.
	Port int `json:"port"`
	// Transport is "tcp" or "udp".
	Transport string `json:"transport"`
	// Scheme is the URL scheme when Input was a URL ("ws", "https", …); empty for host:port.
	Scheme string `json:"scheme,omitempty"`
	// Addresses are the resolved destination addresses; empty when resolution failed or was not done.
	Addresses []string `json:"addresses"`
}

// Source is the set of client addresses the question is asked for.
type Source struct {
	// CIDR is the source set; "0.0.0.0/0" means the whole IPv4 internet.
	CIDR string `json:"cidr"`
	// Label names the set for people: "internet", "this host", or the CIDR itself.
	Label string `json:"label"`
}

// Rule is the rule that decided a step, quoted so a person can find it.
type Rule struct {
	// ID identifies the rule inside its origin: "filter/INPUT#7", "inet filt input handle 12", "sgr-…".
	ID string `json:"id"`
	// Text is the rule as its tool prints it (an iptables-save line, an nft statement, a cloud rule summary).
	Text string `json:"text"`
	// Origin is where the rule lives: "iptables-nft", "iptables-legacy", "nftables", "sg-…", a file name.
	Origin string `json:"origin,omitempty"`
	// Table is the netfilter table; empty for non-netfilter rules.
	Table string `json:"table,omitempty"`
	// Chain is the chain holding the rule; empty for non-netfilter rules.
	Chain string `json:"chain,omitempty"`
	// Position is the 1-based position of the rule in its chain; 0 means a chain policy or not applicable.
	Position int `json:"position,omitempty"`
}

// Step is what one layer of the path says about the connection.
type Step struct {
	// Layer names the layer: "probe.tcp", "host.iptables", "host.socket", "aws.security-group", …
	Layer string `json:"layer"`
	// Decision is the layer's answer.
	Decision Decision `json:"decision"`
	// Detail is one or two sentences for people; for unknown and skipped steps it says why.
	Detail string `json:"detail,omitempty"`
	// Address is the destination address this step is about; empty when it covers all of them.
	Address string `json:"address,omitempty"`
	// Cause is the cause code (Catalog) when the step blocks or explains a failure.
	Cause string `json:"cause,omitempty"`
	// Symptom is, for a blocking step, the error the client is predicted to see;
	// for a probe step, the error it saw.
	Symptom Symptom `json:"symptom,omitempty"`
	// Rule is the deciding rule; nil when no single rule decided.
	Rule *Rule `json:"rule,omitempty"`
	// AllowedFrom lists the parts of the source set that get through when that is only a part; empty means all or none.
	AllowedFrom []string `json:"allowed_from,omitempty"`
	// Conditional names the state the decision depends on (rate limits, recent lists); empty means certain.
	Conditional string `json:"conditional,omitempty"`
	// Error is the raw error text a probe saw; empty for other layers.
	Error string `json:"error,omitempty"`
	// Fix holds commands that would change the decision; portpath never runs them.
	Fix []string `json:"fix,omitempty"`
}

// SymptomReport compares what the first blocking step predicts with what the probe saw.
type SymptomReport struct {
	// Predicted is the symptom of the first blocking step; empty when nothing blocks.
	Predicted Symptom `json:"predicted,omitempty"`
	// Observed is what the live probe saw; empty when no probe ran.
	Observed Symptom `json:"observed,omitempty"`
	// Error is the probe's error text; empty when it connected or did not run.
	Error string `json:"error,omitempty"`
}

// Cause is the reason the report gives for its verdict.
type Cause struct {
	// Code is a catalog code (Catalog).
	Code string `json:"code"`
	// Step is the layer of the step that carries the cause.
	Step string `json:"step"`
	// Message explains the cause in one sentence.
	Message string `json:"message"`
}

// Report is the answer to one check; it is also the JSON document (schema_version 1).
type Report struct {
	SchemaVersion int            `json:"schema_version"`
	Target        Target         `json:"target"`
	Source        Source         `json:"source"`
	Verdict       Verdict        `json:"verdict"`
	Symptom       *SymptomReport `json:"symptom,omitempty"`
	// Cause is nil for an open verdict.
	Cause *Cause `json:"cause,omitempty"`
	// Steps are in path order: probes first, then client to socket.
	Steps []Step `json:"steps"`
	// Notes are facts worth knowing that are no step (disagreements, layers no step could see).
	Notes []string `json:"notes,omitempty"`
}
