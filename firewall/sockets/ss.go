package sockets

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Extra is what the kernel knows about a socket that /proc/net does not print.
type Extra struct {
	// V6Only is IPV6_V6ONLY; the kernel reports it for listening and unconnected AF_INET6 sockets.
	V6Only Tri
	// Iface is the bound device (SO_BINDTODEVICE); empty for none.
	Iface string
	// Backlog is a TCP listener's accept-queue limit; 0 when not known.
	Backlog int
}

// ssNetids are the first column ss prints when it lists more than one kind of socket.
var ssNetids = map[string]bool{"tcp": true, "udp": true, "raw": true, "mptcp": true, "sctp": true, "dccp": true}

// ParseSS reads the output of `ss -Hltnue` (or `ss -Hlunue`, `ss -Hltnupe`) and returns what it
// says beyond /proc, by socket inode. A line looks like
//
//	tcp LISTEN 0 128 0.0.0.0%eth0:8010 0.0.0.0:* uid:1000 ino:11265 sk:100a cgroup:/ v6only:0 <->
//
// with the first column only when several protocols are listed. The address shows the bound
// device after "%"; "v6only:" appears for AF_INET6 sockets. name is used in errors.
func ParseSS(r io.Reader, name string) (map[uint64]Extra, error) {
	out := map[uint64]Extra{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if ssNetids[f[0]] {
			f = f[1:]
		}
		if len(f) > 0 && f[0] == "State" {
			continue // a header: ss without -H
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("%s:%d: %d columns, want state, Recv-Q, Send-Q, local and peer address", name, line, len(f))
		}
		state, sendQ, local := f[0], f[2], f[3]
		var e Extra
		var ino uint64
		for _, x := range f[5:] {
			k, v, ok := strings.Cut(x, ":")
			if !ok {
				continue
			}
			switch k {
			case "ino":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: bad inode %q", name, line, v)
				}
				ino = n
			case "v6only":
				switch v {
				case "0":
					e.V6Only = No
				case "1":
					e.V6Only = Yes
				default:
					return nil, fmt.Errorf("%s:%d: bad v6only %q", name, line, v)
				}
			}
		}
		if ino == 0 {
			continue // no process holds it (TIME_WAIT, request sockets)
		}
		iface, err := ssIface(local)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad local address %q: %w", name, line, local, err)
		}
		e.Iface = iface
		if state == "LISTEN" {
			n, err := strconv.Atoi(sendQ)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s:%d: bad Send-Q %q", name, line, sendQ)
			}
			e.Backlog = n
		}
		out[ino] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// ssIface returns the device of an ss local address: "0.0.0.0%eth0:80", "[::]%lo:80",
// "*%eth0:80", "[fe80::1]%eth0:80"; empty when the address names none.
func ssIface(a string) (string, error) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", fmt.Errorf("no port")
	}
	host := a[:i]
	if strings.HasPrefix(host, "[") {
		j := strings.IndexByte(host, ']')
		if j < 0 {
			return "", fmt.Errorf("unclosed [")
		}
		host = host[j+1:]
		if host == "" {
			return "", nil
		}
		if host[0] != '%' {
			return "", fmt.Errorf("junk after ]")
		}
		return host[1:], nil
	}
	if _, dev, ok := strings.Cut(host, "%"); ok {
		return dev, nil
	}
	return "", nil
}
