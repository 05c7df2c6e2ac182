package sockets

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// labTable is the lab namespace's table as `portpath` would read it live: /proc/net, the
// kernel facts of `ss -Hltnue`, and the owner ss -p named (the lab program, pid 6236).
func labTable(t *testing.T, withKernel bool) *Table {
	t.Helper()
	tb := &Table{Dir: "testdata/lab"}
	for _, f := range procNetFiles {
		tb.Sockets = append(tb.Sockets, parseLab(t, f.name)...)
	}
	if withKernel {
		f, err := os.Open("testdata/lab/ss.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		x, err := ParseSS(f, "ss.txt")
		if err != nil {
			t.Fatal(err)
		}
		tb.apply(x, "ss.txt")
	} else {
		tb.KernelNote = "a copy of /proc/net does not record IPV6_V6ONLY"
	}
	for i := range tb.Sockets {
		if tb.Sockets[i].Inode != 0 {
			tb.Sockets[i].Procs = []Process{{PID: 6236, Comm: "skfix", Cmdline: "./skfix"}}
		}
	}
	tb.OwnersRead = true
	return tb
}

type analyzeCase struct {
	name    string
	proto   string
	dst     string
	port    uint16
	local   bool
	arrival string
	// want
	decision report.Decision
	cause    string
	detail   []string // substrings of Detail
	fix      string   // substring of Fix[0]; empty means not checked (a reject always has a fix)
	cond     bool     // Conditional is set
}

func runAnalyze(t *testing.T, tb *Table, cases []analyzeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := AnalyzeWith(tb, c.proto, netip.MustParseAddr(c.dst), c.port, c.local, Options{ArrivalIface: c.arrival})
			t.Logf("%s %s: %s", st.Decision, st.Cause, st.Detail)
			if st.Layer != "host.socket" || st.Address != c.dst {
				t.Errorf("layer %q address %q", st.Layer, st.Address)
			}
			if st.Decision != c.decision || st.Cause != c.cause {
				t.Errorf("decision %s cause %q, want %s %q", st.Decision, st.Cause, c.decision, c.cause)
			}
			wantSymptom := report.Symptom("")
			if st.Decision == report.Reject {
				wantSymptom = report.Refused
			}
			if st.Symptom != wantSymptom {
				t.Errorf("symptom %q, want %q", st.Symptom, wantSymptom)
			}
			for _, d := range c.detail {
				if !strings.Contains(st.Detail, d) {
					t.Errorf("detail %q lacks %q", st.Detail, d)
				}
			}
			switch {
			case (st.Decision == report.Reject) != (len(st.Fix) > 0):
				t.Errorf("%s with fix %q", st.Decision, st.Fix)
			case c.fix != "" && (len(st.Fix) == 0 || !strings.Contains(st.Fix[0], c.fix)):
				t.Errorf("fix %q lacks %q", st.Fix, c.fix)
			}
			if (st.Conditional != "") != c.cond {
				t.Errorf("conditional %q, want set=%v", st.Conditional, c.cond)
			}
		})
	}
}

// TestAnalyzeLab asks about the lab namespace's addresses (10.99.0.2 and fd99::2 on
// dummy0, and loopback); the outcomes match what clients saw there (local-firewall §7).
func TestAnalyzeLab(t *testing.T) {
	needLittleEndian(t)
	const v4, v6 = "10.99.0.2", "fd99::2"
	runAnalyze(t, labTable(t, true), []analyzeCase{
		{name: "wildcard v4", proto: "tcp", dst: v4, port: 8080, local: true,
			decision: report.Allow, detail: []string{"listening on 0.0.0.0:8080 (pid 6236 skfix)"}},
		{name: "dual-stack takes v4", proto: "tcp", dst: v4, port: 8001, local: true,
			decision: report.Allow, detail: []string{"[::]:8001", "takes IPv4 too"}},
		{name: "dual-stack takes v6", proto: "tcp", dst: v6, port: 8001, local: true,
			decision: report.Allow, detail: []string{"[::]:8001"}},
		{name: "v4-mapped dst", proto: "tcp", dst: "::ffff:10.99.0.2", port: 8080, local: true,
			decision: report.Allow, detail: []string{"0.0.0.0:8080"}},
		{name: "loopback only", proto: "tcp", dst: v4, port: 8003, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly,
			detail: []string{"nothing accepts TCP 10.99.0.2:8003", "127.0.0.1:8003 (pid 6236 skfix) listens on loopback only"},
			fix:    "bind to 0.0.0.0:8003 instead of 127.0.0.1:8003 (Workerman: new Worker('websocket://0.0.0.0:8003'))"},
		{name: "::1 only", proto: "tcp", dst: v6, port: 8007, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly, detail: []string{"[::1]:8007"}, fix: "bind to [::]:8007"},
		{name: "loopback from loopback", proto: "tcp", dst: "127.0.0.1", port: 8003, local: true,
			decision: report.Allow, detail: []string{"127.0.0.1:8003", "1 connection waits to be accepted", "backlog 4096"}},
		{name: "v6only refuses v4", proto: "tcp", dst: v4, port: 8005, local: true,
			decision: report.Reject, cause: report.CauseListenWrongFamily,
			detail: []string{"[::]:8005 (pid 6236 skfix) is IPv6-only"}, fix: "dual-stack"},
		{name: "v6only takes v6", proto: "tcp", dst: v6, port: 8005, local: true, decision: report.Allow},
		{name: "v4 only refuses v6", proto: "tcp", dst: v6, port: 8080, local: true,
			decision: report.Reject, cause: report.CauseListenWrongFamily,
			detail: []string{"0.0.0.0:8080", "IPv4 only"}, fix: "listen on [::]:8080"},
		{name: "v4 address refuses v6", proto: "tcp", dst: v6, port: 8006, local: true,
			decision: report.Reject, cause: report.CauseListenWrongFamily, detail: []string{"10.99.0.2:8006"}, fix: "[::]:8006"},
		{name: "v6 address refuses v4", proto: "tcp", dst: v4, port: 8013, local: true,
			decision: report.Reject, cause: report.CauseListenWrongFamily, detail: []string{"[fd99::2]:8013", "IPv6 address only"}, fix: "0.0.0.0:8013"},
		{name: "specific address", proto: "tcp", dst: v4, port: 8006, local: true,
			decision: report.Allow, detail: []string{"10.99.0.2:8006"}},
		{name: "other address", proto: "tcp", dst: "127.0.0.1", port: 8006, local: true,
			decision: report.Reject, cause: report.CauseListenOtherAddress,
			detail: []string{"10.99.0.2:8006 (pid 6236 skfix) is bound to 10.99.0.2 only, another address of this host"}, fix: "bind to 0.0.0.0:8006 (all addresses) or to 127.0.0.1:8006"},
		{name: "v4-mapped listener", proto: "tcp", dst: v4, port: 8009, local: true,
			decision: report.Allow, detail: []string{"[::ffff:10.99.0.2]:8009"}},
		{name: "v4-mapped listener, other address", proto: "tcp", dst: "127.0.0.1", port: 8009, local: true,
			decision: report.Reject, cause: report.CauseListenOtherAddress, detail: []string{"10.99.0.2"}, fix: "0.0.0.0:8009"},
		{name: "device, arrival unknown", proto: "tcp", dst: v4, port: 8010, local: true,
			decision: report.Unknown, detail: []string{"0.0.0.0%dummy0:8010", "bound to device dummy0", "other devices are refused"}},
		{name: "device, arrives on it", proto: "tcp", dst: v4, port: 8010, local: true, arrival: "dummy0",
			decision: report.Allow, detail: []string{"0.0.0.0%dummy0:8010"}},
		{name: "device, arrives elsewhere", proto: "tcp", dst: v4, port: 8010, local: true, arrival: "eth0",
			decision: report.Reject, cause: report.CauseListenOtherAddress,
			detail: []string{"bound to device dummy0", "arrive on eth0"}, fix: "device binding"},
		{name: "device, loopback arrives on lo", proto: "tcp", dst: "127.0.0.1", port: 8010, local: true,
			decision: report.Reject, cause: report.CauseListenOtherAddress, detail: []string{"arrive on lo"}, fix: "device binding"},
		{name: "accept queue full", proto: "tcp", dst: "127.0.0.1", port: 8011, local: true,
			decision: report.Allow, cond: true, detail: []string{"127.0.0.1:8011", "accept queue of 127.0.0.1:8011 is full (2 waiting, backlog 1)", "time out"}},
		{name: "nothing listens", proto: "tcp", dst: v4, port: 8282, local: true,
			decision: report.Reject, cause: report.CauseNotListening,
			detail: []string{"nothing listens on TCP port 8282 of 10.99.0.2", "reset", "other TCP listeners: skfix (pid 6236) listens on 0.0.0.0:8080"},
			fix:    "ss -ltnp 'sport = :8282'"},
		{name: "wrong port", proto: "tcp", dst: v4, port: 8085, local: true,
			decision: report.Reject, cause: report.CauseWrongPort,
			detail: []string{"nothing listens on TCP port 8085 of 10.99.0.2, but skfix (pid 6236) listens on 0.0.0.0:8080"},
			fix:    "connect to port 8080 instead, or make skfix (pid 6236) listen on 8085"},
		{name: "wrong port, only reachable neighbours", proto: "tcp", dst: v4, port: 8015, local: true,
			decision: report.Reject, cause: report.CauseWrongPort,
			detail: []string{"0.0.0.0%dummy0:8010; skfix (pid 6236) listens on [::ffff:10.99.0.2]:8009; skfix (pid 6236) listens on 10.99.0.2:8006"},
			fix:    "connect to port 8010"},
		{name: "udp wildcard", proto: "udp", dst: v4, port: 9000, local: true,
			decision: report.Allow, detail: []string{"a socket is bound to 0.0.0.0:9000"}},
		{name: "udp dual-stack", proto: "udp", dst: v4, port: 9001, local: true,
			decision: report.Allow, detail: []string{"[::]:9001", "takes IPv4 too"}},
		{name: "udp ::1 only", proto: "udp", dst: v6, port: 9002, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly, fix: "[::]:9002"},
		{name: "udp v6only", proto: "udp", dst: v4, port: 9003, local: true,
			decision: report.Reject, cause: report.CauseListenWrongFamily, fix: `listen on "udp" rather than "udp6"`},
		{name: "udp ::1 only for v4", proto: "udp", dst: v4, port: 9002, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly, detail: []string{"[::1]:9002"}, fix: "bind to [::]:9002"},
		{name: "udp nothing bound", proto: "udp", dst: v4, port: 5000, local: true,
			decision: report.Reject, cause: report.CauseNotListening, detail: []string{"ICMP port unreachable"}, fix: "ss -lunp"},
		{name: "udp connected socket is no listener", proto: "udp", dst: "127.0.0.1", port: 54705, local: true,
			decision: report.Reject, cause: report.CauseNotListening},
		{name: "tcp port of a udp socket", proto: "tcp", dst: v4, port: 9000, local: true,
			decision: report.Reject, cause: report.CauseNotListening, detail: []string{"TCP port 9000"}},
		{name: "udp wrong port", proto: "udp", dst: v4, port: 9005, local: true,
			decision: report.Reject, cause: report.CauseWrongPort, detail: []string{"UDP port 9005", "0.0.0.0:9000"}},
		{name: "not this host", proto: "tcp", dst: "203.0.113.7", port: 8080, local: false,
			decision: report.Skipped, detail: []string{"203.0.113.7 is not an address of this host"}},
	})
}

// TestAnalyzeV6OnlyUnknown: from a bare copy of /proc/net a [::] listener may or may not take IPv4.
func TestAnalyzeV6OnlyUnknown(t *testing.T) {
	needLittleEndian(t)
	runAnalyze(t, labTable(t, false), []analyzeCase{
		{name: "dual-stack unknown for v4", proto: "tcp", dst: "10.99.0.2", port: 8001, local: true,
			decision: report.Unknown, detail: []string{"[::]:8001", "IPV6_V6ONLY, which could not be read (a copy of /proc/net"}},
		{name: "v6only unknown for v4", proto: "tcp", dst: "10.99.0.2", port: 8005, local: true,
			decision: report.Unknown, detail: []string{"[::]:8005"}},
		{name: "v6 dst does not care", proto: "tcp", dst: "fd99::2", port: 8005, local: true, decision: report.Allow},
		{name: "wrong port skips nothing unknown", proto: "tcp", dst: "10.99.0.2", port: 8003, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly},
		{name: "a v4 listener decides", proto: "udp", dst: "10.99.0.2", port: 9000, local: true, decision: report.Allow},
		{name: "wrong port counts unknown neighbours", proto: "tcp", dst: "10.99.0.2", port: 8004, local: true,
			decision: report.Reject, cause: report.CauseWrongPort, detail: []string{"[::]:8005", "[::]:8001"}},
	})
}

// TestAnalyzeBuilt covers what the lab did not have: shared sockets, system daemons,
// missing files, unknown backlogs.
func TestAnalyzeBuilt(t *testing.T) {
	nginx := []Process{{PID: 1, Comm: "systemd"}, {PID: 1234, Comm: "nginx"}, {PID: 1235, Comm: "nginx"}}
	tb := &Table{Dir: "/srv/copy", Sockets: []Socket{
		{Proto: "tcp", Local: ap("0.0.0.0:22"), State: StateListen, Inode: 1, Procs: []Process{{PID: 700, Comm: "sshd"}}},
		{Proto: "tcp", Local: ap("[::]:22"), State: StateListen, Inode: 2, V6Only: Yes, Procs: []Process{{PID: 700, Comm: "sshd"}}},
		{Proto: "tcp", Local: ap("0.0.0.0:80"), State: StateListen, Inode: 3, Procs: nginx},
		{Proto: "tcp", Local: ap("[::]:80"), State: StateListen, Inode: 4, V6Only: Yes, Procs: nginx},
		{Proto: "tcp", Local: ap("0.0.0.0:3000"), State: StateListen, Inode: 5, RxQueue: 7, Procs: []Process{{PID: 900, Comm: "node"}}},
		{Proto: "tcp", Local: ap("0.0.0.0:3000"), State: StateListen, Inode: 6, Procs: []Process{{PID: 901, Comm: "node"}}}, // SO_REUSEPORT
		{Proto: "tcp", Local: ap("127.0.0.1:5432"), State: StateListen, Inode: 7, Procs: []Process{{PID: 950, Comm: "postgres"}}},
		{Proto: "tcp", Local: ap("0.0.0.0:8443"), State: StateListen, Inode: 8},
		{Proto: "tcp", Local: ap("127.0.0.1:6000"), State: StateListen, Inode: 9},
		{Proto: "tcp", Local: ap("[::]:6000"), State: StateListen, Inode: 10, V6Only: Yes},
		{Proto: "tcp", Local: ap("192.0.2.10:4000"), Remote: ap("198.51.100.1:5555"), State: StateEstablished, Inode: 11},
		{Proto: "tcp", Local: ap("192.0.2.10:7000"), State: StateListen, Inode: 13, RxQueue: 5, Backlog: 5, Procs: []Process{{PID: 990, Comm: "php"}}},
	}}
	const dst = "192.0.2.10"
	runAnalyze(t, tb, []analyzeCase{
		{name: "shared socket names every process", proto: "tcp", dst: dst, port: 80, local: true,
			decision: report.Allow, detail: []string{"listening on 0.0.0.0:80 (pid 1 systemd, pids 1234, 1235 nginx)"}},
		{name: "reuseport group, backlog unknown", proto: "tcp", dst: dst, port: 3000, local: true, cond: true,
			decision: report.Allow, detail: []string{"listening on 0.0.0.0:3000 (pids 900, 901 node), 2 sockets sharing the port (SO_REUSEPORT)", "7 connections wait", "backlog is not known"}},
		{name: "system daemon is no candidate", proto: "tcp", dst: dst, port: 25, local: true,
			decision: report.Reject, cause: report.CauseNotListening,
			detail: []string{"other TCP listeners: systemd (pid 1) and nginx (pids 1234, 1235) listen on 0.0.0.0:80 and [::]:80; node (pids 900, 901) listens on 0.0.0.0:3000; postgres (pid 950) listens on 127.0.0.1:5432 (and 3 more)"}},
		{name: "unknown owner on a near port", proto: "tcp", dst: dst, port: 8444, local: true,
			decision: report.Reject, cause: report.CauseWrongPort, detail: []string{"an unknown program listens on 0.0.0.0:8443"},
			fix: "make the program on port 8443 listen on 8444"},
		{name: "loopback neighbour is named, not blamed", proto: "tcp", dst: dst, port: 5433, local: true,
			decision: report.Reject, cause: report.CauseNotListening, detail: []string{"postgres (pid 950) listens on 127.0.0.1:5432"}},
		{name: "loopback beats family", proto: "tcp", dst: dst, port: 6000, local: true,
			decision: report.Reject, cause: report.CauseListenLoopbackOnly,
			detail: []string{"127.0.0.1:6000 listens on loopback only, so only this host can connect; [::]:6000 is IPv6-only"}, fix: "0.0.0.0:6000"},
		{name: "connections are no listeners", proto: "tcp", dst: dst, port: 4000, local: true,
			decision: report.Reject, cause: report.CauseNotListening},
		{name: "accept queue at its limit", proto: "tcp", dst: dst, port: 7000, local: true, cond: true,
			decision: report.Allow, detail: []string{"192.0.2.10:7000 (pid 990 php)", "is at its limit (5 waiting, backlog 5)"}},
	})

	tb.OwnersNote = "owners may be incomplete: needs root"
	if st := Analyze(tb, "tcp", netip.MustParseAddr(dst), 8440, true); st.Cause != report.CauseWrongPort || !strings.HasSuffix(st.Detail, "(owners may be incomplete: needs root)") {
		t.Errorf("an unknown owner should come with the reason: %+v", st)
	}
	tb.OwnersNote = ""

	tb.Sockets = append(tb.Sockets, Socket{Proto: "udp", Local: ap("127.0.0.1:514"), State: StateClose, Inode: 12})
	if st := Analyze(tb, "udp", netip.MustParseAddr(dst), 514, true); st.Cause != report.CauseListenLoopbackOnly ||
		len(st.Fix) != 1 || st.Fix[0] != "bind to 0.0.0.0:514 instead of 127.0.0.1:514" {
		t.Errorf("udp loopback only: %+v", st)
	}

	tb.Missing = []string{"tcp6", "udp", "udp6"}
	runAnalyze(t, tb, []analyzeCase{
		{name: "missing tcp6 could hold it", proto: "tcp", dst: dst, port: 8282, local: true,
			decision: report.Unknown, detail: []string{"tcp6 is missing from /srv/copy"}},
		{name: "missing tcp6 does not undo an allow", proto: "tcp", dst: dst, port: 80, local: true, decision: report.Allow},
		{name: "missing udp files", proto: "udp", dst: dst, port: 53, local: true,
			decision: report.Unknown, detail: []string{"udp and udp6 are missing"}},
	})

	for _, c := range []struct {
		tb    *Table
		proto string
		want  report.Decision
	}{{nil, "tcp", report.Unknown}, {tb, "sctp", report.Unknown}} {
		if st := Analyze(c.tb, c.proto, netip.MustParseAddr(dst), 80, true); st.Decision != c.want || st.Detail == "" {
			t.Errorf("Analyze(%v, %s) = %+v", c.tb != nil, c.proto, st)
		}
	}
}

func TestMatchAddr(t *testing.T) {
	for _, c := range []struct {
		local  string
		v6only Tri
		dst    string
		want   Tri
	}{
		{"0.0.0.0:1", Unknown, "192.0.2.1", Yes},
		{"192.0.2.1:1", Unknown, "192.0.2.1", Yes},
		{"192.0.2.2:1", Unknown, "192.0.2.1", No},
		{"0.0.0.0:1", Unknown, "2001:db8::1", No},
		{"[::]:1", No, "192.0.2.1", Yes},
		{"[::]:1", Yes, "192.0.2.1", No},
		{"[::]:1", Unknown, "192.0.2.1", Unknown},
		{"[::]:1", Yes, "2001:db8::1", Yes},
		{"[::]:1", Unknown, "2001:db8::1", Yes},
		{"[::ffff:192.0.2.1]:1", No, "192.0.2.1", Yes},
		{"[::ffff:0.0.0.0]:1", No, "192.0.2.1", Yes},
		{"[::ffff:192.0.2.1]:1", No, "2001:db8::1", No},
		{"[2001:db8::1]:1", Yes, "2001:db8::1", Yes},
		{"[2001:db8::1]:1", Yes, "192.0.2.1", No},
		{"[fe80::1%eth0]:1", Yes, "fe80::1", Yes},
	} {
		s := Socket{Proto: "tcp", Local: ap(c.local), V6Only: c.v6only, State: StateListen}
		if got := matchAddr(s, netip.MustParseAddr(c.dst)); got != c.want {
			t.Errorf("socket %s (v6only %v) for %s: %v, want %v", c.local, c.v6only, c.dst, got, c.want)
		}
	}
}

func TestAnalyzeNamesContainerForwarder(t *testing.T) {
	tab := &Table{Sockets: []Socket{{
		Proto: "tcp", State: StateListen, Local: netip.MustParseAddrPort("0.0.0.0:8080"),
		Procs: []Process{{PID: 812, Comm: "docker-proxy", Cmdline: "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"}},
	}, {
		Proto: "tcp", State: StateListen, Local: netip.MustParseAddrPort("0.0.0.0:9000"),
		Procs: []Process{{PID: 900, Comm: "rootlessport", Cmdline: "rootlessport"}},
	}}}
	st := Analyze(tab, "tcp", netip.MustParseAddr("10.0.0.5"), 8080, true)
	if st.Decision != report.Allow || !strings.Contains(st.Detail, "docker-proxy, forwarding to the container at 172.17.0.2:80") {
		t.Errorf("docker-proxy listener: %+v", st)
	}
	st = Analyze(tab, "tcp", netip.MustParseAddr("10.0.0.5"), 9000, true)
	if !strings.Contains(st.Detail, "a container engine's port forwarder") {
		t.Errorf("rootlessport listener: %+v", st)
	}
	if _, ok := tab.Forwarder("tcp", 8080); !ok {
		t.Error("Forwarder(tcp, 8080) found nothing")
	}
	if _, ok := tab.Forwarder("udp", 8080); ok {
		t.Error("Forwarder(udp, 8080) found a TCP socket")
	}
}
