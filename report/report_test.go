package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMergeVerdict(t *testing.T) {
	drop := Step{Layer: "host.iptables", Decision: Drop, Cause: CauseHostFirewallDrop, Symptom: Timeout, Detail: "dropped"}
	refuse := Step{Layer: "host.socket", Decision: Reject, Cause: CauseNotListening, Symptom: Refused, Detail: "nothing listens"}
	unknown := Step{Layer: "host.nftables", Decision: Unknown, Detail: "needs root"}
	allow := Step{Layer: "host.socket", Decision: Allow}
	skipped := Step{Layer: "host.iptables", Decision: Skipped}
	probeTimeout := Step{Layer: "probe.tcp", Decision: Drop, Symptom: Timeout, Error: "i/o timeout"}
	probeOK := Step{Layer: "probe.tcp", Decision: Allow, Symptom: Connected}

	tests := []struct {
		name      string
		steps     []Step
		want      Verdict
		wantCause string
		wantStep  string
	}{
		{"nothing asked is inconclusive, never open", nil, Inconclusive, "", ""},
		{"all allow", []Step{allow, skipped}, Open, "", ""},
		{"first blocking step along the path is the cause", []Step{refuse, drop}, Blocked, CauseHostFirewallDrop, "host.iptables"},
		{"unknown without a block is inconclusive", []Step{allow, unknown}, Inconclusive, "", ""},
		{"a block beats unknown", []Step{unknown, refuse}, Blocked, CauseNotListening, "host.socket"},
		{"a failed probe alone is unexplained", []Step{probeTimeout, skipped}, Blocked, CauseUnexplained, "probe.tcp"},
		{"a connected probe with unknown layers is inconclusive", []Step{probeOK, unknown}, Inconclusive, "", ""},
		{"a silent UDP probe alone is inconclusive", []Step{{Layer: "probe.udp", Decision: Unknown, Symptom: NoAnswer}, skipped}, Inconclusive, "", ""},
		{"a silent UDP probe beside a connected one is open", []Step{{Layer: "probe.udp", Decision: Unknown, Symptom: NoAnswer}, probeOK}, Open, "", ""},
		{"the probe result does not hide a predicted block", []Step{probeOK, drop}, Blocked, CauseHostFirewallDrop, "host.iptables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Merge(Report{Steps: tt.steps, Source: Source{CIDR: "0.0.0.0/0"}})
			if r.Verdict != tt.want {
				t.Fatalf("verdict %s; want %s", r.Verdict, tt.want)
			}
			code, step := "", ""
			if r.Cause != nil {
				code, step = r.Cause.Code, r.Cause.Step
			}
			if code != tt.wantCause || step != tt.wantStep {
				t.Errorf("cause %s at %s; want %s at %s", code, step, tt.wantCause, tt.wantStep)
			}
			for i := 1; i < len(r.Steps); i++ {
				if PathRank(r.Steps[i-1].Layer) > PathRank(r.Steps[i].Layer) {
					t.Errorf("steps out of path order: %s before %s", r.Steps[i-1].Layer, r.Steps[i].Layer)
				}
			}
		})
	}
}

func TestMergeSymptoms(t *testing.T) {
	r := Merge(Report{Steps: []Step{
		{Layer: "host.socket", Decision: Reject, Cause: CauseListenLoopbackOnly, Symptom: Refused},
		{Layer: "host.iptables", Decision: Drop, Cause: CauseHostFirewallDrop, Symptom: Timeout},
		{Layer: "probe.tcp", Decision: Reject, Symptom: Refused, Error: "connect: connection refused"},
	}})
	if r.Symptom.Predicted != Timeout || r.Symptom.Observed != Refused || r.Symptom.Error == "" {
		t.Errorf("symptom %+v; want predicted timeout (firewall first), observed refused", r.Symptom)
	}
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "predicted timeout but the probe saw refused") {
		t.Errorf("a disagreement must be noted: %q", r.Notes)
	}
}

func sampleReport() Report {
	return Merge(Report{
		Target: Target{Input: "ws://example.com:8282", Host: "example.com", Port: 8282, Transport: "tcp", Scheme: "ws", Addresses: []string{"203.0.113.10"}},
		Source: Source{CIDR: "0.0.0.0/0", Label: "internet"},
		Steps: []Step{
			{Layer: "host.socket", Address: "203.0.113.10", Decision: Allow, Detail: "listening on 0.0.0.0:8282 (pid 812 php)"},
			{Layer: "host.iptables", Address: "203.0.113.10", Decision: Drop, Cause: CauseHostFirewallDrop, Symptom: Timeout,
				Detail: "tcp/8282 from 0.0.0.0/0 is dropped by the policy of iptables-nft filter/INPUT (:INPUT DROP)",
				Rule:   &Rule{ID: "filter/INPUT policy", Text: ":INPUT DROP", Origin: "iptables-nft", Table: "filter", Chain: "INPUT"},
				Fix:    []string{"iptables -A INPUT -p tcp --dport 8282 -j ACCEPT"}},
			{Layer: "probe.tcp", Address: "203.0.113.10", Decision: Drop, Symptom: Timeout, Error: "dial tcp 203.0.113.10:8282: i/o timeout", Detail: "no answer within 3s"},
			{Layer: "aws.security-group", Decision: Skipped, Detail: "no AWS credentials"},
		},
	})
}

func partialReport() Report {
	return Merge(Report{
		Target: Target{Input: "udp://10.99.0.2:5353", Host: "10.99.0.2", Port: 5353, Transport: "udp", Scheme: "udp", Addresses: []string{"10.99.0.2"}},
		Source: Source{CIDR: "0.0.0.0/0", Label: "internet"},
		Steps: []Step{
			{Layer: "host.iptables", Address: "10.99.0.2", Decision: Allow, AllowedFrom: []string{"198.51.100.0/24"},
				Detail: "udp/5353 allowed only from 198.51.100.0/24; the rest is blocked by the policy of iptables-nft filter/INPUT (:INPUT DROP)"},
			{Layer: "host.socket", Address: "10.99.0.2", Decision: Allow, Detail: "bound to 0.0.0.0:5353"},
			{Layer: "probe.udp", Address: "10.99.0.2", Decision: Unknown, Symptom: NoAnswer, Detail: "no answer: UDP services often stay silent to unknown datagrams; a firewall that drops looks the same"},
		},
	})
}

func TestGolden(t *testing.T) {
	for _, f := range []struct {
		r      Report
		format Format
		color  bool
		file   string
	}{
		{sampleReport(), FormatText, false, "blocked.txt"},
		{sampleReport(), FormatText, true, "blocked.color.txt"},
		{sampleReport(), FormatJSON, false, "blocked.json"},
		{partialReport(), FormatText, false, "inconclusive-udp.txt"},
		{func() Report { r := partialReport(); r.Steps = r.Steps[1:]; return Merge(r) }(), FormatText, false, "open-partial.txt"},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, f.r, f.format, f.color); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", f.file)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./report -update)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from the golden file:\n%s", f.file, buf.String())
		}
	}
}

// TestJSONContract checks the field names other tools rely on (DESIGN.md, "The contract").
func TestJSONContract(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "target", "source", "verdict", "symptom", "cause", "steps"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing top-level key %q", k)
		}
	}
	if m["schema_version"] != float64(1) || m["verdict"] != "blocked" {
		t.Errorf("schema_version=%v verdict=%v", m["schema_version"], m["verdict"])
	}
	tgt := m["target"].(map[string]any)
	for _, k := range []string{"input", "host", "port", "transport", "scheme", "addresses"} {
		if _, ok := tgt[k]; !ok {
			t.Errorf("missing target key %q", k)
		}
	}
	sym := m["symptom"].(map[string]any)
	if sym["predicted"] != "timeout" || sym["observed"] != "timeout" || sym["error"] == "" {
		t.Errorf("symptom = %v", sym)
	}
	cause := m["cause"].(map[string]any)
	if cause["code"] != CauseHostFirewallDrop || cause["step"] != "host.iptables" {
		t.Errorf("cause = %v", cause)
	}
	var step map[string]any
	for _, s := range m["steps"].([]any) {
		if s := s.(map[string]any); s["layer"] == "host.iptables" {
			step = s
		}
	}
	rule := step["rule"].(map[string]any)
	for _, k := range []string{"id", "text", "origin"} {
		if _, ok := rule[k]; !ok {
			t.Errorf("missing rule key %q", k)
		}
	}
	if _, ok := step["fix"].([]any); !ok {
		t.Errorf("fix is not a list: %v", step["fix"])
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("JSON"); err != nil || f != FormatJSON {
		t.Errorf("got %v %v", f, err)
	}
	if _, err := ParseFormat("yaml"); err == nil || !strings.Contains(err.Error(), "text, json") {
		t.Errorf("unknown format error = %v", err)
	}
}

func TestMergeNothingChecked(t *testing.T) {
	skipped := []Step{
		{Layer: "probe.tcp", Decision: Skipped}, {Layer: "host.iptables", Decision: Skipped},
		{Layer: "aws.credentials", Decision: Skipped}, {Layer: "host.socket", Decision: Skipped},
	}
	for _, c := range []struct {
		name  string
		steps []Step
		want  Verdict
	}{
		{"every layer skipped", skipped, Inconclusive},
		{"only DNS answered", append([]Step{{Layer: "dns", Decision: Allow}}, skipped...), Inconclusive},
		{"the socket answered", append([]Step{{Layer: "host.socket", Decision: Allow}}, skipped[:3]...), Open},
		{"the probe connected", append([]Step{{Layer: "probe.tcp", Decision: Allow, Symptom: Connected}}, skipped[1:]...), Open},
	} {
		r := Merge(Report{Steps: slices.Clone(c.steps)})
		if r.Verdict != c.want {
			t.Errorf("%s: verdict %s; want %s", c.name, r.Verdict, c.want)
		}
		if hasNote := slices.Contains(r.Notes, NothingChecked); hasNote != (c.want == Inconclusive) {
			t.Errorf("%s: notes %q", c.name, r.Notes)
		}
	}
}
