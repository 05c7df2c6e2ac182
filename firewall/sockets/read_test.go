package sockets

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// needLittleEndian skips tests that read the x86-64 fixtures with this machine's byte order.
func needLittleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures were taken on a little-endian machine")
	}
}

func bySocket(t *testing.T, tb *Table, inode uint64) Socket {
	t.Helper()
	for _, s := range tb.Sockets {
		if s.Inode == inode {
			return s
		}
	}
	t.Fatalf("no socket with inode %d", inode)
	return Socket{}
}

func TestReadCopy(t *testing.T) {
	needLittleEndian(t)
	tb, err := Read(context.Background(), "testdata/lab", "")
	if err != nil {
		t.Fatal(err)
	}
	if tb.Live || len(tb.Missing) != 0 || len(tb.Sockets) != 27 {
		t.Errorf("live %v missing %v, %d sockets", tb.Live, tb.Missing, len(tb.Sockets))
	}
	if tb.Kernel != filepath.Join("testdata", "lab", SSFile) || tb.KernelNote != "" {
		t.Errorf("kernel facts from %q (%q), want the ss file", tb.Kernel, tb.KernelNote)
	}
	if tb.OwnersRead || !strings.Contains(tb.OwnersNote, "does not name the processes") {
		t.Errorf("owners read %v, note %q", tb.OwnersRead, tb.OwnersNote)
	}
	tests := []struct {
		inode   uint64
		v6only  Tri
		iface   string
		backlog int
	}{
		{10230, No, "", 4096},           // [::]:8001
		{10232, Yes, "", 4096},          // [::]:8005
		{11265, Unknown, "dummy0", 128}, // 0.0.0.0%dummy0:8010, AF_INET: v6only does not apply
		{11267, Unknown, "", 1},         // 127.0.0.1:8011
		{11277, No, "", 0},              // udp [::]:9001
		{11272, Unknown, "", 0},         // an established connection, not in ss -l
	}
	for _, c := range tests {
		s := bySocket(t, tb, c.inode)
		if s.V6Only != c.v6only || s.Iface != c.iface || s.Backlog != c.backlog {
			t.Errorf("%s: v6only %v iface %q backlog %d, want %v %q %d", s.Address(), s.V6Only, s.Iface, s.Backlog, c.v6only, c.iface, c.backlog)
		}
	}
}

func copyLab(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", "lab", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadCopyWithoutSS(t *testing.T) {
	needLittleEndian(t)
	dir := copyLab(t, "tcp", "tcp6")
	tb, err := Read(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tb.Missing, ",") != "udp,udp6" || tb.Kernel != "" || !strings.Contains(tb.KernelNote, "bindv6only") {
		t.Errorf("missing %v, kernel %q note %q", tb.Missing, tb.Kernel, tb.KernelNote)
	}
	if s := bySocket(t, tb, 10230); s.V6Only != Unknown || s.Backlog != 0 {
		t.Errorf("[::]:8001 from a bare copy: v6only %v backlog %d, want unknown", s.V6Only, s.Backlog)
	}
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Read(ctx, t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "not a copy of /proc/net") {
		t.Errorf("empty directory: %v", err)
	}
	dir := copyLab(t, "tcp")
	os.WriteFile(filepath.Join(dir, "tcp6"), []byte("  sl local\n   0: 0100007F:1F43 00000000:0000 0A 0 0 0 0 0 1 1\n"), 0o644)
	if _, err := Read(ctx, dir, ""); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "tcp6")+":2: bad local address") {
		t.Errorf("bad tcp6: %v", err)
	}
	dir = copyLab(t, "tcp")
	os.WriteFile(filepath.Join(dir, SSFile), []byte("LISTEN 0 1\n"), 0o644)
	if _, err := Read(ctx, dir, ""); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, SSFile)+":1:") {
		t.Errorf("bad ss file: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Read(cctx, copyLab(t, "tcp"), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// deniedFS refuses to list the open files of some processes, like /proc for another user.
type deniedFS struct {
	fstest.MapFS
	denied map[string]bool
}

func (d deniedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if d.denied[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.MapFS.ReadDir(name)
}

func TestReadOwners(t *testing.T) {
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	}
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	proc := deniedFS{fstest.MapFS{
		"1/comm":       file("systemd\n"),
		"1/cmdline":    file("/sbin/init\x00splash\x00"),
		"1/fd/40":      link("socket:[10230]"),
		"1234/comm":    file("nginx\n"),
		"1234/cmdline": file("nginx: master process /usr/sbin/nginx\x00"),
		"1234/fd/0":    link("/dev/null"),
		"1234/fd/6":    link("socket:[10230]"),
		"1234/fd/7":    link("socket:[10230]"), // the same socket twice
		"1234/fd/8":    link("socket:[999]"),   // not in the table
		"1234/fd/9":    link("pipe:[10230]"),
		"1235/comm":    file("nginx\n"),
		"1235/fd/6":    link("socket:[10230]"),
		"1235/fd/7":    link("socket:[11276]"),
		"77/comm":      file("secret\n"),
		"77/fd/3":      link("socket:[11276]"),
		"self/fd/3":    link("socket:[11276]"),
		"sys/x":        file(""),
	}, map[string]bool{"77/fd": true}}
	tb := &Table{Sockets: []Socket{
		{Proto: "tcp", Local: ap("[::]:8001"), State: StateListen, Inode: 10230},
		{Proto: "udp", Local: ap("0.0.0.0:9000"), State: StateClose, Inode: 11276},
		{Proto: "tcp", Local: ap("127.0.0.1:8020"), Remote: ap("127.0.0.1:60260"), State: StateTimeWait},
	}}
	if err := tb.readOwners(context.Background(), proc); err != nil {
		t.Fatal(err)
	}
	got := tb.Sockets[0].Procs
	want := []Process{{1, "systemd", "/sbin/init splash"}, {1234, "nginx", "nginx: master process /usr/sbin/nginx"}, {1235, "nginx", ""}}
	if len(got) != len(want) {
		t.Fatalf("owners of [::]:8001 = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("owner %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if p := tb.Sockets[1].Procs; len(p) != 1 || p[0].PID != 1235 {
		t.Errorf("owners of udp 0.0.0.0:9000 = %+v, want pid 1235 only", p)
	}
	if len(tb.Sockets[2].Procs) != 0 {
		t.Errorf("a TIME_WAIT socket got owners %+v", tb.Sockets[2].Procs)
	}
	if !tb.OwnersRead || !strings.Contains(tb.OwnersNote, "needs root to see other users' processes") || !strings.Contains(tb.OwnersNote, "of 1 process could") {
		t.Errorf("owners note %q", tb.OwnersNote)
	}
	if d := describe(tb.Sockets[0]); d != "[::]:8001 (pid 1 systemd, pids 1234, 1235 nginx)" {
		t.Errorf("describe = %q", d)
	}
}
