package sockets

import (
	"os"
	"strings"
	"testing"
)

func TestParseSSLab(t *testing.T) {
	f, err := os.Open("testdata/lab/ss.txt") // `ss -Hltnue` in the lab namespace: TCP and UDP, with a netid column
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := ParseSS(f, "ss.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != 15 {
		t.Errorf("%d sockets, want 15", len(x))
	}
	tests := []struct {
		ino  uint64
		want Extra
	}{
		{11265, Extra{Iface: "dummy0", Backlog: 128}}, // 0.0.0.0%dummy0:8010
		{10230, Extra{V6Only: No, Backlog: 4096}},     // *:8001, Go's net.Listen("tcp", ":8001")
		{10232, Extra{V6Only: Yes, Backlog: 4096}},    // [::]:8005, "tcp6"
		{10234, Extra{V6Only: Yes, Backlog: 4096}},    // [::1]:8007
		{10240, Extra{V6Only: No, Backlog: 128}},      // [::ffff:10.99.0.2]:8009
		{11267, Extra{Backlog: 1}},                    // 127.0.0.1:8011, listen(fd, 1)
		{11276, Extra{}},                              // udp 0.0.0.0:9000
		{11277, Extra{V6Only: No}},                    // udp *:9001
		{11279, Extra{V6Only: Yes}},                   // udp [::]:9003
	}
	for _, c := range tests {
		if got, ok := x[c.ino]; !ok || got != c.want {
			t.Errorf("inode %d = %+v (%v), want %+v", c.ino, got, ok, c.want)
		}
	}
}

// TestParseSSOwners: with -p the users:(…) column does not disturb the rest.
func TestParseSSOwners(t *testing.T) {
	read := func(name string) map[uint64]Extra {
		f, err := os.Open("testdata/lab/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		x, err := ParseSS(f, name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	a, b := read("ss.txt"), read("ss-owners.txt")
	if len(a) != len(b) {
		t.Fatalf("%d and %d sockets", len(a), len(b))
	}
	for ino, e := range a {
		if b[ino] != e {
			t.Errorf("inode %d: %+v with -p, %+v without", ino, b[ino], e)
		}
	}
}

func TestParseSSForms(t *testing.T) {
	b, err := os.ReadFile("testdata/ss-lunue.txt") // `ss -Hlunue`: one protocol, no netid column
	if err != nil {
		t.Fatal(err)
	}
	in := "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n" + string(b) +
		"LISTEN 0 511 [::]%lo:80 [::]:* ino:501 sk:1 v6only:1 <->\n" +
		"LISTEN 0 511 *%eth0:81 *:* uid:33 ino:502 sk:2 v6only:0 <->\n" +
		"LISTEN 0 511 [fe80::1]%eth1:82 [::]:* ino:503 sk:3 v6only:1 <->\n" +
		"TIME-WAIT 0 0 127.0.0.1:40000 127.0.0.1:80 timer:(timewait,59sec,0) ino:0 sk:4\n" +
		"\n"
	x, err := ParseSS(strings.NewReader(in), "ss")
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]Extra{
		11276: {}, 11277: {V6Only: No}, 11278: {V6Only: Yes}, 11279: {V6Only: Yes},
		501: {V6Only: Yes, Iface: "lo", Backlog: 511},
		502: {V6Only: No, Iface: "eth0", Backlog: 511},
		503: {V6Only: Yes, Iface: "eth1", Backlog: 511},
	}
	if len(x) != len(want) {
		t.Errorf("%d sockets, want %d: %v", len(x), len(want), x)
	}
	for ino, w := range want {
		if x[ino] != w {
			t.Errorf("inode %d = %+v, want %+v", ino, x[ino], w)
		}
	}
}

func TestParseSSErrors(t *testing.T) {
	for in, want := range map[string]string{
		"LISTEN 0 4096\n": "ss:1: 3 columns",
		"\nLISTEN 0 4096 0.0.0.0:80 0.0.0.0:* ino:x\n":  "ss:2: bad inode",
		"LISTEN 0 4096 [::]:80 [::]:* ino:5 v6only:2\n": "ss:1: bad v6only",
		"LISTEN 0 many 0.0.0.0:80 0.0.0.0:* ino:5\n":    "ss:1: bad Send-Q",
		"LISTEN 0 4096 [::80 [::]:* ino:5\n":            "ss:1: bad local address",
		"LISTEN 0 4096 [::]x:80 [::]:* ino:5\n":         "ss:1: bad local address",
		"LISTEN 0 4096 nowhere [::]:* ino:5\n":          "ss:1: bad local address",
	} {
		if _, err := ParseSS(strings.NewReader(in), "ss"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v, want prefix %q", in, err, want)
		}
	}
}
