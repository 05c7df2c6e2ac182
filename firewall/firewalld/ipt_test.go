package firewalld

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/report"
)

// TestIPTablesBackend names zones from the chains firewalld builds with
// FirewallBackend=iptables (a real iptables-save of firewalld 1.3.3), direct rules included.
func TestIPTablesBackend(t *testing.T) {
	tests := []struct {
		name, src string
		port      uint16
		decision  report.Decision
		symptom   report.Symptom
		rule      string
		fix       string
	}{
		{"port in a source zone", "10.99.0.3/32", 8001, report.Allow, "", "zone lab (source 10.99.0.0/28): port 8001/tcp", ""},
		{"rich reject", "10.99.0.1/32", 8004, report.Reject, report.Refused,
			`zone lab (source 10.99.0.0/28): rich rule 'rule family="ipv4" source address="10.99.0.1" port port="8004" protocol="tcp" reject'`,
			`firewall-cmd --permanent --zone=lab --remove-rich-rule='rule family="ipv4" source address="10.99.0.1" port port="8004" protocol="tcp" reject' && `},
		{"zone target DROP", "10.99.0.3/32", 8009, report.Drop, report.Timeout, "zone lab (source 10.99.0.0/28): target DROP → drop", "--zone=lab --add-rich-rule="},
		{"default target: plain REJECT", "192.0.2.9/32", 9999, report.Reject, report.Refused,
			"zone public (the default zone): target default → reject with icmp-port-unreachable", "--zone=public --add-rich-rule="},
		{"direct rule", "192.0.2.9/32", 8010, report.Drop, report.Timeout, "direct rule `-A INPUT_direct -p tcp -m tcp --dport 8010 -j DROP` (firewall-cmd --direct)", ""},
	}
	h, err := firewall.Load(context.Background(), firewall.Options{IPTablesSave: "testdata/iptables-backend/iptables-save.txt",
		Frontends: []firewall.FrontendSource{{Layer: Layer, Path: "testdata/iptables-backend/list-all-zones.txt", Flag: "--firewalld-dir", Open: Open}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k, st report.Step
			for _, s := range h.Steps("tcp", netip.MustParseAddr("10.99.0.2"), tt.port, netip.MustParsePrefix(tt.src)) {
				switch s.Layer {
				case "host.iptables":
					k = s
				case Layer:
					st = s
				}
			}
			if st.Decision != tt.decision || k.Decision != tt.decision || st.Symptom != tt.symptom || k.Symptom != tt.symptom {
				t.Errorf("%s %q (kernel %s %q); want %s %q\n%s", st.Decision, st.Symptom, k.Decision, k.Symptom, tt.decision, tt.symptom, st.Detail)
			}
			if st.Rule == nil || st.Rule.Text != tt.rule {
				t.Errorf("rule %+v\nwant %s\n%s", st.Rule, tt.rule, st.Detail)
			}
			if fix := strings.Join(st.Fix, "\n"); tt.fix == "" && fix != "" || !strings.Contains(fix, tt.fix) {
				t.Errorf("fix %q; want it to contain %q", fix, tt.fix)
			}
		})
	}
}
