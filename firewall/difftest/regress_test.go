package difftest

import (
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestParseRegression(t *testing.T) {
	tests := []struct {
		name, text string
		wantErr    string
	}{
		{name: "ok", text: "# c\nprobe: udp fd99::1 -> [fd99::2]:5003\nwant: refused\n-- nft --\ntable inet t {\n}\n"},
		{name: "no want", text: "probe: tcp 10.99.0.1 -> 10.99.0.2:1\n", wantErr: "needs a probe: and a want:"},
		{name: "bad probe", text: "probe: tcp 10.99.0.1 10.99.0.2:1\nwant: refused\n", wantErr: "x:1: probe"},
		{name: "mixed families", text: "probe: tcp 10.99.0.1 -> [fd99::2]:1\nwant: refused\n", wantErr: "different families"},
		{name: "unknown key", text: "probe: tcp 10.99.0.1 -> 10.99.0.2:1\nwhat: x\n", wantErr: "x:2: unknown key"},
		{name: "unknown section", text: "probe: tcp 10.99.0.1 -> 10.99.0.2:1\nwant: refused\n-- ufw --\n", wantErr: "x:3: unknown section"},
		{name: "bad predict", text: "probe: tcp 10.99.0.1 -> 10.99.0.2:1\nwant: refused\npredict: connected\n", wantErr: "x:3: predict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg, err := ParseRegression("x", tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rg.Probe.String() != "udp fd99::1 -> [fd99::2]:5003" || rg.Want != report.Refused || rg.Case.Nft != "table inet t {\n}\n" {
				t.Errorf("parsed %+v", rg)
			}
		})
	}
}

func TestRegressionRoundTrip(t *testing.T) {
	c := Generate(5, 1)
	rg := Regression{Case: c, Probe: c.Probes[0], Want: report.Timeout, Unknown: true}
	back, err := ParseRegression("rt", rg.Format("a comment\non two lines"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Probe != rg.Probe || back.Want != rg.Want || !back.Unknown || back.Case.Ruleset() != c.Ruleset() {
		t.Errorf("round trip changed the regression:\n%s\nvs\n%s", back.Case.Ruleset(), c.Ruleset())
	}
}

func FuzzParseRegression(f *testing.F) {
	f.Add("probe: tcp 10.99.0.1 -> 10.99.0.2:8001\nwant: timeout\n-- iptables --\n*filter\nCOMMIT\n")
	f.Add("probe: udp fd99::1 -> [fd99::2]:5003\nwant: refused\npredict: unknown\n-- nft --\n")
	f.Add("-- nft --\n-- x --\nprobe:")
	f.Fuzz(func(t *testing.T, text string) {
		rg, err := ParseRegression("fuzz", text)
		if err != nil {
			return
		}
		if _, err := ParseRegression("again", rg.Format("")); err != nil {
			t.Fatalf("a parsed regression does not parse after Format: %v", err)
		}
	})
}
