//go:build linux

package sockets

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// sockDiag asks the kernel of this network namespace, over NETLINK_SOCK_DIAG, for the TCP
// listeners and the UDP sockets of both families, and returns what it says by inode.
func sockDiag(ctx context.Context) (map[uint64]Extra, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag: bind: %w", err)
	}
	wait := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if wait <= 0 {
		return nil, fmt.Errorf("sock_diag: %w", context.DeadlineExceeded)
	}
	tv := unix.NsecToTimeval(wait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("sock_diag: set timeout: %w", err)
	}

	queries := []struct {
		family, proto uint8
		states        uint32
	}{
		{afInet, ipprotoTCP, diagStatesListen},
		{afInet6, ipprotoTCP, diagStatesListen},
		{afInet, ipprotoUDP, diagStatesAll},
		{afInet6, ipprotoUDP, diagStatesAll},
	}
	names := map[uint32]string{}
	out := map[uint64]Extra{}
	buf := make([]byte, 1<<16)
	for i, q := range queries {
		seq := uint32(i + 1)
		if err := unix.Sendto(fd, diagRequest(q.family, q.proto, q.states, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sock_diag: send: %w", err)
		}
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("sock_diag: %w", err)
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return nil, fmt.Errorf("sock_diag: receive: %w", err)
			}
			entries, d, err := parseDiagMessages(buf[:n], seq)
			if err != nil {
				return nil, err
			}
			done = d
			for _, e := range entries {
				if e.inode == 0 {
					continue
				}
				x := Extra{V6Only: e.v6only, Iface: ifaceName(names, e.ifindex)}
				if q.proto == ipprotoTCP && e.state == StateListen {
					x.Backlog = int(e.wqueue)
				}
				out[e.inode] = x
			}
		}
	}
	return out, nil
}

// ifaceName names a device by index; 0 is none. An index that has gone prints as "if7".
func ifaceName(cache map[uint32]string, idx uint32) string {
	if idx == 0 {
		return ""
	}
	if n, ok := cache[idx]; ok {
		return n
	}
	n := fmt.Sprintf("if%d", idx)
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		n = ifi.Name
	}
	cache[idx] = n
	return n
}
