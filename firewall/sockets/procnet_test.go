package sockets

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata/lab were copied from /proc/net of a network namespace on an x86-64
// (little-endian) machine; testdata/lab/README.md lists what listened there.
func parseLab(t testing.TB, name string) []Socket {
	t.Helper()
	f := procNetFiles[0]
	for _, g := range procNetFiles {
		if g.name == name {
			f = g
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "lab", name))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := parseProcNet(bytes.NewReader(b), name, f.proto, f.v6, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseProcNetLab(t *testing.T) {
	counts := map[string]int{"tcp": 15, "tcp6": 7, "udp": 2, "udp6": 3}
	for name, n := range counts {
		if got := len(parseLab(t, name)); got != n {
			t.Errorf("%s: %d rows, want %d", name, got, n)
		}
	}
	tests := []struct {
		file   string
		row    int
		local  string
		remote string
		state  uint8
		inode  uint64
		rx     int
	}{
		{"tcp", 0, "10.99.0.2:8006", "0.0.0.0:0", StateListen, 10236, 0},
		{"tcp", 1, "127.0.0.1:8011", "0.0.0.0:0", StateListen, 11267, 2},
		{"tcp", 5, "0.0.0.0:8010", "0.0.0.0:0", StateListen, 11265, 0},
		{"tcp", 6, "127.0.0.1:8003", "127.0.0.1:51038", StateCloseWait, 0, 1},
		{"tcp", 9, "127.0.0.1:60252", "127.0.0.1:8020", StateEstablished, 11272, 0},
		{"tcp", 10, "127.0.0.1:60260", "127.0.0.1:8020", StateTimeWait, 0, 0},
		{"tcp", 13, "127.0.0.1:51038", "127.0.0.1:8003", StateFinWait2, 0, 0},
		{"tcp6", 0, "[::ffff:10.99.0.2]:8009", "[::]:0", StateListen, 10240, 0},
		{"tcp6", 1, "[::1]:8007", "[::]:0", StateListen, 10234, 1},
		{"tcp6", 2, "[::]:8001", "[::]:0", StateListen, 10230, 0},
		{"tcp6", 4, "[fd99::2]:8013", "[::]:0", StateListen, 10238, 0},
		{"tcp6", 6, "[::1]:35210", "[::1]:8007", StateEstablished, 11275, 0},
		{"udp", 0, "127.0.0.1:54705", "127.0.0.1:9000", StateEstablished, 11280, 0},
		{"udp", 1, "0.0.0.0:9000", "0.0.0.0:0", StateClose, 11276, 0},
		{"udp6", 1, "[::1]:9002", "[::]:0", StateClose, 11278, 0},
	}
	for _, c := range tests {
		s := parseLab(t, c.file)[c.row]
		if s.Local != ap(c.local) || s.Remote != ap(c.remote) || s.State != c.state || s.Inode != c.inode || s.RxQueue != c.rx {
			t.Errorf("%s row %d = %s %s %s inode %d rx %d, want %s %s %s inode %d rx %d", c.file, c.row,
				s.Local, s.Remote, StateName(s.State), s.Inode, s.RxQueue, c.local, c.remote, StateName(c.state), c.inode, c.rx)
		}
	}
	mapped := parseLab(t, "tcp6")[0].Local.Addr()
	if !mapped.Is4In6() || !mapped.Is6() {
		t.Errorf("%s should stay an IPv4-mapped AF_INET6 address", mapped)
	}
	if s := parseLab(t, "tcp")[0]; s.Proto != "tcp" || s.UID != 0 || s.IsV6() {
		t.Errorf("tcp row 0: proto %q uid %d v6 %v", s.Proto, s.UID, s.IsV6())
	}
}

// TestParseProcNetByteOrder reads the same address as a big-endian machine prints it.
func TestParseProcNetByteOrder(t *testing.T) {
	const v4 = "   0: 7F000001:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 16022 1 0 100 0 0 10 0\n"
	ss, err := parseProcNet(strings.NewReader(v4), "tcp", "tcp", false, binary.BigEndian)
	if err != nil || len(ss) != 1 || ss[0].Local != ap("127.0.0.1:8003") || ss[0].UID != 1000 {
		t.Fatalf("big-endian tcp = %v, %v", ss, err)
	}
	const v6 = "   0: 00000000000000000000000000000001:1F47 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 16037 1 0 100 0 0 10 0\n"
	ss, err = parseProcNet(strings.NewReader(v6), "tcp6", "tcp", true, binary.BigEndian)
	if err != nil || len(ss) != 1 || ss[0].Local != ap("[::1]:8007") {
		t.Fatalf("big-endian tcp6 = %v, %v", ss, err)
	}
}

// TestParseProcNetNative checks the exported parser uses this machine's byte order.
func TestParseProcNetNative(t *testing.T) {
	b, err := os.ReadFile("testdata/lab/tcp6")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ParseProcNet(bytes.NewReader(b), "tcp6", "tcp", true)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddr("::1")
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		want = netip.MustParseAddr("::100:0") // the fixture's words, read big-endian
	}
	if got := ss[1].Local.Addr(); got != want {
		t.Errorf("native read of ::1 = %s, want %s", got, want)
	}
}

func TestParseProcNetErrors(t *testing.T) {
	const hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	const good = "   0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 16022 1 0 100 0 0 10 0\n"
	tests := []struct {
		name, in string
		v6       bool
		want     string
	}{
		{"tcp", hdr + good + "   1: 0100007:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", false, "tcp:3: bad local address"},
		{"tcp6", hdr + good, true, "tcp6:2: bad local address"},
		{"tcp", hdr + "   0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000\n", false, "tcp:2: 6 fields"},
		{"tcp", hdr + "   0: 0100007F:1F43 0000000G:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", false, "tcp:2: bad remote address"},
		{"tcp", hdr + "   0: 0100007F:1F43 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000 0 0 1 1\n", false, "tcp:2: bad state"},
		{"tcp", hdr + "   0: 0100007F:1F43 00000000:0000 0A 0000000000000000 00:00000000 00000000 0 0 1 1\n", false, "tcp:2: bad tx_queue:rx_queue"},
		{"tcp", hdr + "   0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1 1\n", false, "tcp:2: bad uid"},
		{"tcp", hdr + "   0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1\n", false, "tcp:2: bad inode"},
		{"udp", "0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n0 0100007F:1F43 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 1\n", false, "udp:2: bad slot"},
		{"udp", good[:30] + "\n", false, "udp:1:"},
		{"tcp", "0: 0100007F:1F4 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", false, "tcp:1: bad local address \"0100007F:1F4\": bad port"},
	}
	for _, c := range tests {
		proto := strings.TrimSuffix(c.name, "6")
		_, err := parseProcNet(strings.NewReader(c.in), c.name, proto, c.v6, binary.LittleEndian)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s %q: error %v, want prefix %q", c.name, c.in, err, c.want)
		}
	}
	if _, err := ParseProcNet(strings.NewReader(""), "raw", "raw", false); err == nil {
		t.Error("protocol raw: no error")
	}
	if ss, err := ParseProcNet(strings.NewReader(hdr), "tcp", "tcp", false); err != nil || len(ss) != 0 {
		t.Errorf("header only: %v, %v", ss, err)
	}
}

func TestListenersAndConnections(t *testing.T) {
	var tb Table
	for _, f := range procNetFiles {
		tb.Sockets = append(tb.Sockets, parseLab(t, f.name)...)
	}
	var got []string
	for _, s := range tb.Listeners() {
		got = append(got, s.Proto+" "+s.Address())
	}
	want := []string{
		"tcp [::]:8001", "tcp 127.0.0.1:8003", "tcp [::]:8005", "tcp 10.99.0.2:8006", "tcp [::1]:8007",
		"tcp [::ffff:10.99.0.2]:8009", "tcp 0.0.0.0:8010", "tcp 127.0.0.1:8011", "tcp [fd99::2]:8013",
		"tcp 127.0.0.1:8020", "tcp 0.0.0.0:8080",
		"udp 0.0.0.0:9000", "udp [::]:9001", "udp [::1]:9002", "udp [::]:9003",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("Listeners:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	conns := tb.Connections()
	if len(conns)+len(got) != len(tb.Sockets) || len(conns) != 12 {
		t.Fatalf("%d connections of %d sockets", len(conns), len(tb.Sockets))
	}
	for i := 1; i < len(conns); i++ {
		if conns[i-1].Local.Port() > conns[i].Local.Port() {
			t.Errorf("connections not sorted by port: %s before %s", conns[i-1].Local, conns[i].Local)
		}
	}
	if conns[0].Local.Port() != 8003 || StateName(conns[0].State) != "CLOSE_WAIT" || StateName(0x42) != "0x42" {
		t.Errorf("first connection %s %s", conns[0].Local, StateName(conns[0].State))
	}
}

func FuzzParseProcNet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(filepath.Join("testdata", "lab", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, "6"))
	}
	f.Add([]byte("0: 0100007F:1F43 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		ss, err := ParseProcNet(bytes.NewReader(b), "fuzzed", "tcp", v6)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzzed:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, s := range ss {
			if !s.Local.IsValid() || s.Local.Addr().Is4() == v6 {
				t.Fatalf("bad socket %+v from a file that parsed", s)
			}
		}
	})
}
