// Command gen opens the sockets of the lab namespace (see ../README.md) and waits for SIGTERM.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return v
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var keep []any

func rawListen(fam int, typ int, sa syscall.Sockaddr, v6only int, dev string, backlog int, listen bool) int {
	fd := must(syscall.Socket(fam, typ, 0))
	if fam == syscall.AF_INET6 && v6only >= 0 {
		check(syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, v6only))
	}
	if dev != "" {
		check(syscall.BindToDevice(fd, dev))
	}
	check(syscall.Bind(fd, sa))
	if listen {
		check(syscall.Listen(fd, backlog))
	}
	return fd
}

func main() {
	// TCP
	keep = append(keep, must(net.Listen("tcp4", "127.0.0.1:8003")))
	keep = append(keep, must(net.Listen("tcp4", "0.0.0.0:8080")))
	keep = append(keep, must(net.Listen("tcp", ":8001")))       // dual-stack [::]
	keep = append(keep, must(net.Listen("tcp6", "[::]:8005")))  // v6only
	keep = append(keep, must(net.Listen("tcp6", "[::1]:8007"))) // ::1
	keep = append(keep, must(net.Listen("tcp4", "10.99.0.2:8006")))
	keep = append(keep, must(net.Listen("tcp6", "[fd99::2]:8013")))
	// AF_INET6 bound to ::ffff:10.99.0.2
	rawListen(syscall.AF_INET6, syscall.SOCK_STREAM, &syscall.SockaddrInet6{Port: 8009, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 99, 14: 0, 15: 2}}, 0, "", 128, true)
	// SO_BINDTODEVICE
	rawListen(syscall.AF_INET, syscall.SOCK_STREAM, &syscall.SockaddrInet4{Port: 8010}, -1, "dummy0", 128, true)
	// bound, never listening
	rawListen(syscall.AF_INET, syscall.SOCK_STREAM, &syscall.SockaddrInet4{Port: 8012}, -1, "", 0, false)
	// backlog 1, nobody accepts
	rawListen(syscall.AF_INET, syscall.SOCK_STREAM, &syscall.SockaddrInet4{Port: 8011, Addr: [4]byte{127, 0, 0, 1}}, -1, "", 1, true)
	for i := 0; i < 2; i++ {
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		if c, err := d.Dial("tcp4", "127.0.0.1:8011"); err == nil {
			go func() {
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}
	// established connection + time_wait
	l := must(net.Listen("tcp4", "127.0.0.1:8020"))
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	keep = append(keep, must(net.Dial("tcp4", "127.0.0.1:8020")))
	tw := must(net.Dial("tcp4", "127.0.0.1:8020"))
	tw.Close()
	time.Sleep(200 * time.Millisecond)
	c := must(net.Dial("tcp4", "127.0.0.1:8003"))
	c.Close()
	c6 := must(net.Dial("tcp6", "[::1]:8007"))
	keep = append(keep, c6)
	// UDP
	keep = append(keep, must(net.ListenPacket("udp4", "0.0.0.0:9000")))
	keep = append(keep, must(net.ListenPacket("udp", ":9001")))       // dual-stack
	keep = append(keep, must(net.ListenPacket("udp6", "[::1]:9002"))) // v6only, ::1
	keep = append(keep, must(net.ListenPacket("udp6", "[::]:9003")))  // v6only wildcard
	keep = append(keep, must(net.Dial("udp4", "127.0.0.1:9000")))     // connected
	fmt.Println("ready", os.Getpid())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
