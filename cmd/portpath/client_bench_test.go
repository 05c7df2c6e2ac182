package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/probe/dnstest"
	"github.com/portpath/portpath/report"
)

// BenchmarkCheckLoopbackSteps times a whole loopback check — DNS through a real DNS server,
// the connect probe, the WebSocket handshake and the client.* steps — and each of those
// steps alone. The server's layers come from small files (testdata), so that this host's
// live firewall, read when the target is local, does not dominate. Run with -benchtime=50x;
// the check should take about DNS plus its slowest other step, since they run at the same time.
// host-live and check-live-host do the same with this host's live firewall and sockets.
func BenchmarkCheckLoopbackSteps(b *testing.B) {
	port := loopbackListener(b)
	srv := dnstest.Start(b, dnstest.Zone{Addrs: map[string][]string{"app.test": {"127.0.0.1"}}})
	target := "ws://app.test:" + strconv.Itoa(port)
	tgt, _ := probe.ParseTarget(target)
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	ctx := context.Background()
	o := &checkOptions{Timeout: time.Second, Client: clientOptions{DNSServers: []string{srv.Addr}}}

	b.Run("dns", func(b *testing.B) {
		l := &probe.DNSLookup{Servers: []string{srv.Addr}, Timeout: time.Second}
		for b.Loop() {
			if _, err := l.Lookup(ctx, "app.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("probe", func(b *testing.B) {
		p := &probe.Prober{Timeout: time.Second}
		for b.Loop() {
			if s := p.Probe(ctx, tgt, addrs); s[0].Symptom != report.Connected {
				b.Fatal(s[0].Detail)
			}
		}
	})
	b.Run("protocol", func(b *testing.B) {
		for b.Loop() {
			startApp(ctx, o, tgt, addrs, time.Now().Add(time.Second))(nil)
		}
	})
	b.Run("client", func(b *testing.B) {
		for b.Loop() {
			probe.ClientSteps(ctx, probe.ClientOptions{Timeout: time.Second}, tgt, addrs)
		}
	})
	b.Run("host-live", func(b *testing.B) {
		for b.Loop() {
			h, err := firewall.Load(ctx, firewall.Options{Live: true})
			if err != nil {
				b.Fatal(err)
			}
			h.Steps("tcp", addrs[0], uint16(port), netip.MustParsePrefix("0.0.0.0/0"))
		}
	})
	b.Run("check-live-host", func(b *testing.B) {
		args := []string{"check", target, "--dns-server", srv.Addr, "--provider", "none", "--timeout", "1s", "-o", "json"}
		for b.Loop() {
			if code := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard); code == exitFailed || code == exitUsage {
				b.Fatalf("exit %d", code)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		args := []string{"check", target, "--dns-server", srv.Addr, "--provider", "none", "--timeout", "1s", "-o", "json",
			"--iptables-save", "testdata/server-iptables.txt", "--nft-json", "testdata/server-nft.json", "--proc-net", "testdata/server-net"}
		for b.Loop() {
			if code := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard); code == exitFailed || code == exitUsage {
				b.Fatalf("exit %d", code)
			}
		}
	})
}

// droppingListener is a loopback listener with a backlog of one that never accepts and is
// already full: the kernel drops further SYNs, so a connect times out, as behind a DROP rule.
func droppingListener(b *testing.B) int {
	b.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		b.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	for range 2 { // fill the accept queue
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			b.Cleanup(func() { c.Close() })
		}
	}
	return port
}

// BenchmarkCheckDropWithinTimeout times a whole `portpath check` (flags, DNS, probe,
// handshake, client steps, this host's live firewall, the report) of a loopback port that
// drops, with --timeout 500ms. DNS, probe, handshake and client steps share the one
// deadline, so the worst run should end within a millisecond or so of 500 ms: over-timeout-µs
// is what the worst run took beyond --timeout (flag parsing, waking up, writing the report).
func BenchmarkCheckDropWithinTimeout(b *testing.B) {
	port := droppingListener(b)
	srv := dnstest.Start(b, dnstest.Zone{Addrs: map[string][]string{"app.test": {"127.0.0.1"}}})
	args := []string{"check", "ws://app.test:" + strconv.Itoa(port), "--dns-server", srv.Addr, "--provider", "none", "--timeout", "500ms", "-o", "json"}
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		var out strings.Builder
		code := run(context.Background(), args, strings.NewReader(""), &out, io.Discard)
		worst = max(worst, time.Since(start))
		if code != exitBlocked || !strings.Contains(out.String(), `"observed": "timeout"`) {
			b.Fatalf("exit %d, want a timeout: %s", code, out.String())
		}
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
	b.ReportMetric(float64((worst - 500*time.Millisecond).Microseconds()), "over-timeout-µs")
}
