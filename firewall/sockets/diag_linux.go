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
	err := withDiag(ctx, func(ask func([]byte, uint32, func(diagEntry)) error) error {
		for i, q := range queries {
			seq := uint32(i + 1)
			err := ask(diagRequest(q.family, q.proto, q.states, seq), seq, func(e diagEntry) {
				if e.inode == 0 {
					return
				}
				x := Extra{V6Only: e.v6only, Iface: ifaceName(names, e.ifindex)}
				if q.proto == ipprotoTCP && e.state == StateListen {
					x.Backlog = int(e.wqueue)
				}
				out[e.inode] = x
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DumpTCP lists every TCP socket of this network namespace, IPv4 and IPv6, with one walk of
// the kernel's tables (reading /proc/net/tcp and tcp6 walks them twice, and the tables are
// as large as the machine's memory, however few sockets they hold). Addresses, states,
// queues, UID and inode are those the /proc/net files show; Procs and the Extra fields are
// not filled.
func DumpTCP(ctx context.Context) ([]Socket, error) {
	var out []Socket
	err := withDiag(ctx, func(ask func([]byte, uint32, func(diagEntry)) error) error {
		return ask(compatRequest(diagStatesAll, 1), 1, func(e diagEntry) {
			if e.family == afInet || e.family == afInet6 {
				out = append(out, e.socket("tcp"))
			}
		})
	})
	return out, err
}

// withDiag opens a NETLINK_SOCK_DIAG socket that gives up at ctx's deadline (5 s at most)
// and hands run a function that sends one dump request and passes each answer to fn.
func withDiag(ctx context.Context, run func(ask func(req []byte, seq uint32, fn func(diagEntry)) error) error) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("sock_diag: open netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: bind: %w", err)
	}
	wait := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if wait <= 0 {
		return fmt.Errorf("sock_diag: %w", context.DeadlineExceeded)
	}
	tv := unix.NsecToTimeval(wait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("sock_diag: set timeout: %w", err)
	}
	buf := make([]byte, 1<<16)
	return run(func(req []byte, seq uint32, fn func(diagEntry)) error {
		if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("sock_diag: send: %w", err)
		}
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("sock_diag: %w", err)
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return fmt.Errorf("sock_diag: receive: %w", err)
			}
			entries, d, err := parseDiagMessages(buf[:n], seq)
			if err != nil {
				return err
			}
			done = d
			for _, e := range entries {
				fn(e)
			}
		}
		return nil
	})
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
