package probe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/portpath/portpath/firewall/sockets"
	"github.com/portpath/portpath/report"
)

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{"32768\t60999\n", PortRange{32768, 60999}, false},
		{"40000 40009", PortRange{40000, 40009}, false},
		{"40009 40000", PortRange{}, true},
		{"0 10", PortRange{}, true},
		{"1 70000", PortRange{}, true},
		{"1024", PortRange{}, true},
		{"a b", PortRange{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%q: %v %v", tt.in, got, err)
		}
	}
}

func TestParseReservedPorts(t *testing.T) {
	got, err := ParseReservedPorts("8080,40003-40004\n")
	if err != nil || len(got) != 2 || got[0] != (PortRange{8080, 8080}) || got[1] != (PortRange{40003, 40004}) {
		t.Errorf("%v %v", got, err)
	}
	if got, err := ParseReservedPorts("\n"); err != nil || got != nil {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"x", "5-1", "1-70000", "-3"} {
		if _, err := ParseReservedPorts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParsePortRange(f *testing.F) {
	f.Add("32768\t60999\n")
	f.Add("8080,9000-9100")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParsePortRange(s); err == nil && r.Size() < 1 {
			t.Fatalf("size %d", r.Size())
		}
		ParseReservedPorts(s)
	})
}

// TestEphemeralFromRealDumps reads /proc copied from a network namespace whose
// ip_local_port_range was 40000-40009 after 10 connections to 127.0.0.1:8001: held open
// (proc-exhausted) or closed by the client, which leaves them in TIME_WAIT (proc-timewait).
// In both the 11th connect() failed with EADDRNOTAVAIL.
func TestEphemeralFromRealDumps(t *testing.T) {
	dst := netip.MustParseAddrPort("127.0.0.1:8001")
	tests := []struct {
		name      string
		root      string
		mutate    func(*EphemeralState)
		dst       netip.AddrPort
		wantDec   report.Decision
		wantCause string
		wantIn    []string
		wantFix   []string
		noFix     string
	}{
		{name: "held open", root: "testdata/proc-exhausted", dst: dst, wantDec: report.Reject, wantCause: report.CauseEphemeralExhausted,
			wantIn:  []string{"10 ephemeral ports (ip_local_port_range 40000-40009)", "10 taken by connections to 127.0.0.1:8001 (10 ESTABLISHED)", "EADDRNOTAVAIL"},
			wantFix: []string{`net.ipv4.ip_local_port_range="10000 65535"`, "/etc/sysctl.d/", "10 connections to this destination are still open"}, noFix: "tcp_tw_reuse"},
		{name: "time wait", root: "testdata/proc-timewait", dst: dst, wantDec: report.Reject, wantCause: report.CauseEphemeralExhausted,
			wantIn:  []string{"10 TIME_WAIT"},
			wantFix: []string{"net.ipv4.ip_local_port_range", "sudo sysctl -w net.ipv4.tcp_tw_reuse=1  # 10 of the ports are in TIME_WAIT"}, noFix: "still open"},
		{name: "time wait, reuse on", root: "testdata/proc-timewait", mutate: func(s *EphemeralState) { s.TWReuse = 1 }, dst: dst,
			wantDec: report.Allow, wantIn: []string{"0 taken", "10 more in TIME_WAIT, which net.ipv4.tcp_tw_reuse=1 lets new connections take over", "10 left"}},
		{name: "time wait, reuse for loopback", root: "testdata/proc-timewait", mutate: func(s *EphemeralState) { s.TWReuse = 2 }, dst: dst,
			wantDec: report.Allow, wantIn: []string{"tcp_tw_reuse=2"}},
		{name: "another destination port", root: "testdata/proc-exhausted", dst: netip.MustParseAddrPort("127.0.0.1:8002"), wantDec: report.Allow,
			wantIn: []string{"0 taken", "10 left"}},
		{name: "wider range", root: "testdata/proc-exhausted", mutate: func(s *EphemeralState) { s.Range.Hi = 40099 }, dst: dst, wantDec: report.Allow,
			wantIn: []string{"100 ephemeral ports", "90 left"}},
		{name: "nearly full", root: "testdata/proc-exhausted", mutate: func(s *EphemeralState) { s.Range.Hi = 40010 }, dst: dst, wantDec: report.Allow,
			wantCause: report.CauseEphemeralExhausted, wantIn: []string{"only 1 left"}},
		{name: "reserved ports shrink the range", root: "testdata/proc-exhausted",
			mutate: func(s *EphemeralState) { s.Range.Hi = 40011; s.Reserved = []PortRange{{40010, 40011}} }, dst: dst,
			wantDec: report.Reject, wantCause: report.CauseEphemeralExhausted, wantIn: []string{"minus ip_local_reserved_ports"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := readEphemeral(context.Background(), tt.root, "tcp")
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(&s)
			}
			st := EphemeralStep(s, "tcp", tt.dst)
			if st.Layer != "client.ports" || st.Decision != tt.wantDec || st.Cause != tt.wantCause {
				t.Fatalf("got %s %s %q", st.Decision, st.Cause, st.Detail)
			}
			if tt.wantDec == report.Reject && st.Symptom != report.AddressNotAvailable {
				t.Errorf("symptom %q", st.Symptom)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(st.Detail, w) {
					t.Errorf("detail %q lacks %q", st.Detail, w)
				}
			}
			fix := strings.Join(st.Fix, "\n")
			for _, w := range tt.wantFix {
				if !strings.Contains(fix, w) {
					t.Errorf("fix %q lacks %q", fix, w)
				}
			}
			if tt.noFix != "" && strings.Contains(fix, tt.noFix) {
				t.Errorf("fix %q should not mention %q", fix, tt.noFix)
			}
		})
	}
}

func TestEphemeralCountsListenersAndUDP(t *testing.T) {
	mk := func(proto, local, remote string, st uint8) sockets.Socket {
		return sockets.Socket{Proto: proto, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), State: st}
	}
	s := EphemeralState{Range: PortRange{50000, 50003}, TWReuse: 2, Sockets: []sockets.Socket{
		mk("tcp", "0.0.0.0:50000", "0.0.0.0:0", sockets.StateListen),
		mk("tcp", "[::ffff:10.0.0.1]:50001", "[::ffff:192.0.2.1]:443", sockets.StateEstablished),
		mk("tcp", "10.0.0.1:50002", "192.0.2.1:443", sockets.StateTimeWait),
		mk("tcp", "10.0.0.1:50003", "192.0.2.2:443", sockets.StateEstablished),
		mk("udp", "0.0.0.0:50003", "0.0.0.0:0", sockets.StateClose),
	}}
	st := EphemeralStep(s, "tcp", netip.MustParseAddrPort("192.0.2.1:443"))
	if st.Decision != report.Allow || st.Cause != "" || !strings.Contains(st.Detail, "2 taken by connections to 192.0.2.1:443 (1 ESTABLISHED, 1 TIME_WAIT), 1 by listeners; 1 left") {
		t.Errorf("tcp: %s %s %q", st.Decision, st.Cause, st.Detail)
	}
	st = EphemeralStep(s, "udp", netip.MustParseAddrPort("192.0.2.1:53"))
	if st.Decision != report.Allow || !strings.Contains(st.Detail, "1 held by UDP sockets") {
		t.Errorf("udp: %s %q", st.Decision, st.Detail)
	}
}

func TestReadEphemeralErrors(t *testing.T) {
	if _, err := readEphemeral(context.Background(), t.TempDir(), "tcp"); err == nil || !strings.Contains(err.Error(), "ip_local_port_range") {
		t.Errorf("missing range: %v", err)
	}
	steps := ClientSteps(context.Background(), ClientOptions{ProcRoot: t.TempDir(), Getenv: envOf(nil)}, report.Target{Port: 80, Transport: "tcp"}, addrs("192.0.2.1"))
	if len(steps) != 1 || steps[0].Layer != "client.ports" || steps[0].Decision != report.Unknown {
		t.Errorf("steps %+v", steps)
	}
}

// The live state counts this machine's own connections: three to one loopback port, whatever
// else runs here, are three taken ports towards it.
func TestReadEphemeralLive(t *testing.T) {
	ln, port := listenTCP(t, lo4)
	for range 3 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	s, err := readEphemeral(t.Context(), DefaultProcRoot, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(lo4, uint16(port))
	u := s.Use("tcp", dst)
	if u.ToDest != 3 || u.ByState["ESTABLISHED"] != 3 {
		t.Errorf("to %s: %d taken (%v), want 3 ESTABLISHED", dst, u.ToDest, u.ByState)
	}
}
