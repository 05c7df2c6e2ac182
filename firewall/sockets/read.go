package sockets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// LiveProcNet is this host's /proc/net, the directory Read treats as live.
const LiveProcNet = "/proc/net"

// SSFile is the file Read looks for in a copied directory: the output of `ss -Hltnue`
// taken on the same host at the same time, which supplies v6only, bound devices and backlogs.
const SSFile = "ss.txt"

// procNetFiles are the files of a socket table, in the order they are read.
var procNetFiles = []struct {
	name  string
	proto string
	v6    bool
}{
	{"tcp", "tcp", false},
	{"tcp6", "tcp", true},
	{"udp", "udp", false},
	{"udp6", "udp", true},
}

// Read reads the socket table in procNet: this host's /proc/net (LiveProcNet, or /proc/self/net)
// or a directory holding copies of the tcp, tcp6, udp and udp6 files. /proc/PID/net of a process
// in another network namespace (a container) is read like a copy, since sock_diag would answer
// for this namespace. Missing files are recorded in
// Table.Missing; none at all is an error, and so is a file that does not parse.
//
// For the live table, the TCP sockets come from one sock_diag dump (DumpTCP; the tcp and
// tcp6 files when it fails), and v6only, bound devices and backlogs from sock_diag, or from
// `ss -Hltnue` when sock_diag fails. A copied directory cannot tell them (nor the copied
// host's net.ipv6.bindv6only), unless it holds SSFile.
//
// procRoot is the /proc to search for the processes owning the sockets; empty skips the search.
// Processes of other users that cannot be read only make Table.OwnersNote say so.
func Read(ctx context.Context, procNet string, procRoot string) (*Table, error) {
	t := &Table{Dir: procNet, Live: isLive(procNet)}
	var tcpDumped bool
	t.Sockets, tcpDumped = LiveTCP(ctx, procNet)
	for _, f := range procNetFiles {
		if tcpDumped && f.proto == "tcp" {
			continue
		}
		path := filepath.Join(procNet, f.name)
		fh, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			t.Missing = append(t.Missing, f.name)
			continue
		}
		if err != nil {
			return nil, err
		}
		ss, err := ParseProcNet(fh, path, f.proto, f.v6)
		fh.Close()
		if err != nil {
			return nil, err
		}
		t.Sockets = append(t.Sockets, ss...)
	}
	if len(t.Missing) == len(procNetFiles) {
		return nil, fmt.Errorf("%s holds none of tcp, tcp6, udp, udp6: not a copy of /proc/net", procNet)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if t.Live {
		t.readKernelLive(ctx)
	} else if err := t.readKernelFile(filepath.Join(procNet, SSFile)); err != nil {
		return nil, err
	}

	if procRoot != "" {
		if err := t.readOwners(ctx, os.DirFS(procRoot)); err != nil {
			return nil, err
		}
	} else if t.Live {
		t.OwnersNote = "the processes owning the sockets were not looked up"
	} else {
		t.OwnersNote = "a copy of /proc/net does not name the processes owning the sockets"
	}
	return t, nil
}

// isLive reports whether procNet is this process's own network namespace's /proc/net.
func isLive(procNet string) bool {
	clean := filepath.Clean(procNet)
	return clean == LiveProcNet || clean == "/proc/self/net"
}

// LiveTCP lists the TCP sockets of procNet when it is this host's own /proc/net, with one
// sock_diag walk of the kernel's tables (DumpTCP) instead of the two that reading its tcp
// and tcp6 files takes. ok is false for a copy, or when sock_diag fails: read the files then.
func LiveTCP(ctx context.Context, procNet string) (ss []Socket, ok bool) {
	if !isLive(procNet) {
		return nil, false
	}
	ss, err := DumpTCP(ctx)
	return ss, err == nil
}

// readKernelLive fills in v6only, devices and backlogs from sock_diag, else from ss.
func (t *Table) readKernelLive(ctx context.Context) {
	x, err := sockDiag(ctx)
	if err == nil {
		t.apply(x, "sock_diag")
		return
	}
	out, serr := exec.CommandContext(ctx, "ss", "-Hltnue").Output()
	if serr == nil {
		x, serr = ParseSS(bytes.NewReader(out), "ss -Hltnue")
	}
	if serr == nil {
		t.apply(x, "ss")
		return
	}
	t.KernelNote = fmt.Sprintf("v6only, bound devices and backlogs could not be read (%v; ss: %v)", err, serr)
}

// readKernelFile fills in v6only, devices and backlogs from a copied ss output, if there is one.
func (t *Table) readKernelFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.KernelNote = fmt.Sprintf("a copy of /proc/net does not record IPV6_V6ONLY, bound devices or backlogs, and the copied host's net.ipv6.bindv6only is not known (save `ss -Hltnue` as %s beside the copy to know them)", SSFile)
		return nil
	}
	if err != nil {
		return err
	}
	x, err := ParseSS(bytes.NewReader(b), path)
	if err != nil {
		return err
	}
	t.apply(x, path)
	return nil
}

// apply sets what the kernel said on the sockets it knows; the others keep unknown values.
func (t *Table) apply(x map[uint64]Extra, from string) {
	t.Kernel = from
	for i := range t.Sockets {
		s := &t.Sockets[i]
		e, ok := x[s.Inode]
		if s.Inode == 0 || !ok {
			continue
		}
		if s.IsV6() {
			s.V6Only = e.V6Only
		}
		s.Iface = e.Iface
		if s.Proto == "tcp" && s.State == StateListen {
			s.Backlog = e.Backlog
		}
	}
}

// readOwners walks [0-9]*/fd/* of a /proc and attaches the processes holding each socket.
func (t *Table) readOwners(ctx context.Context, proc fs.FS) error {
	t.OwnersRead = true
	want := map[uint64][]int{} // inode → indexes into t.Sockets
	for i, s := range t.Sockets {
		if s.Inode != 0 {
			want[s.Inode] = append(want[s.Inode], i)
		}
	}
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		t.OwnersNote = fmt.Sprintf("the processes owning the sockets could not be listed: %v", err)
		return nil
	}
	denied := 0
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fds, err := fs.ReadDir(proc, ent.Name()+"/fd")
		if errors.Is(err, fs.ErrPermission) {
			denied++
			continue
		}
		if err != nil {
			continue // the process has gone
		}
		var p *Process
		for _, fd := range fds {
			link, err := fs.ReadLink(proc, ent.Name()+"/fd/"+fd.Name())
			if err != nil {
				continue
			}
			ino, ok := socketInode(link)
			if !ok || want[ino] == nil {
				continue
			}
			if p == nil {
				p = readProcess(proc, ent.Name(), pid)
			}
			for _, i := range want[ino] {
				s := &t.Sockets[i]
				if !slices.ContainsFunc(s.Procs, func(q Process) bool { return q.PID == pid }) {
					s.Procs = append(s.Procs, *p)
				}
			}
		}
	}
	for i := range t.Sockets {
		slices.SortFunc(t.Sockets[i].Procs, func(a, b Process) int { return a.PID - b.PID })
	}
	if denied > 0 {
		t.OwnersNote = fmt.Sprintf("owners may be incomplete: the open files of %d %s could not be read (needs root to see other users' processes)", denied, plural(denied, "process", "processes"))
	}
	return nil
}

// socketInode reads a /proc/PID/fd link target "socket:[16022]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func readProcess(proc fs.FS, dir string, pid int) *Process {
	p := &Process{PID: pid}
	if b, err := fs.ReadFile(proc, dir+"/comm"); err == nil {
		p.Comm = strings.TrimSpace(string(b))
	}
	if b, err := fs.ReadFile(proc, dir+"/cmdline"); err == nil {
		p.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
	}
	return p
}
