package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/probe/dnstest"
	"github.com/portpath/portpath/report"
)

// BenchmarkCheckLoopbackSteps times a whole loopback check — DNS through a real DNS server,
// the connect probe, the WebSocket handshake and the client.* steps — and each of those
// steps alone, at loopback speed. The server's layers come from small files (testdata), so
// that this host's live firewall, read when the target is local, does not dominate. Here the
// steps take microseconds (the client steps' walk of the kernel's socket tables, about a
// millisecond, is the slowest) and the check's own work — flags, files, the report — is what
// adds up; BenchmarkCheckConcurrentSteps gives the steps real waits. host-live and
// check-live-host do the same with this host's live firewall and sockets. Run with -benchtime=50x.
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

// BenchmarkCheckConcurrentSteps gives the steps waits like those of a real network, on
// loopback: the DNS server answers after 10 ms, the WebSocket server sends its 101 after
// 40 ms; the client steps list this machine's sockets. Each iteration runs every step alone
// the way a client would — the probe and the handshake need the address, so alone they
// resolve the name first — and then the whole check, and reports the check's time against
// the slowest step's (check/slowest): with the steps at the same time it stays near 1.
func BenchmarkCheckConcurrentSteps(b *testing.B) {
	const dnsDelay, serverDelay = 10 * time.Millisecond, 40 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(serverDelay)
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.CloseNow()
		}
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	dnsSrv := dnstest.Start(b, dnstest.Zone{Addrs: map[string][]string{"app.test": {"127.0.0.1"}}, Delay: dnsDelay})
	target := "ws://app.test:" + strconv.Itoa(port) + "/ws"
	tgt, _ := probe.ParseTarget(target)
	ctx := context.Background()
	lookup := func() []netip.Addr {
		ans, err := (&probe.DNSLookup{Servers: []string{dnsSrv.Addr}, Timeout: time.Second}).Lookup(ctx, "app.test")
		if err != nil {
			b.Fatal(err)
		}
		return ans.Addrs
	}
	o := &checkOptions{Timeout: time.Second}
	steps := map[string]func(){
		"dns": func() { lookup() },
		"probe": func() {
			if s := (&probe.Prober{Timeout: time.Second}).Probe(ctx, tgt, lookup()); s[0].Symptom != report.Connected {
				b.Fatal(s[0].Detail)
			}
		},
		"protocol": func() {
			if s := startApp(ctx, o, tgt, lookup(), time.Now().Add(time.Second))(nil); s[0].Decision != report.Allow {
				b.Fatal(s[0].Detail)
			}
		},
		"client": func() { probe.ClientSteps(ctx, probe.ClientOptions{Timeout: time.Second}, tgt, nil) },
	}
	args := []string{"check", target, "--dns-server", dnsSrv.Addr, "--provider", "none", "--timeout", "1s", "-o", "json",
		"--iptables-save", "testdata/server-iptables.txt", "--nft-json", "testdata/server-nft.json", "--proc-net", "testdata/server-net"}
	var total, slowestTotal time.Duration
	took := map[string]time.Duration{}
	for b.Loop() {
		var slowest time.Duration
		for name, step := range steps {
			start := time.Now()
			step()
			d := time.Since(start)
			took[name] += d
			slowest = max(slowest, d)
		}
		start := time.Now()
		var out strings.Builder
		// the copied socket table has no listener on the port: the verdict is blocked there
		if code := run(ctx, args, strings.NewReader(""), &out, io.Discard); code == exitFailed || code == exitUsage || !strings.Contains(out.String(), "101 Switching Protocols") {
			b.Fatalf("exit %d: %s", code, out.String())
		}
		total += time.Since(start)
		slowestTotal += slowest
	}
	n := float64(b.N)
	for name, d := range took {
		b.ReportMetric(float64(d.Microseconds())/1000/n, name+"-ms")
	}
	b.ReportMetric(float64(total.Microseconds())/1000/n, "check-ms")
	b.ReportMetric(float64(total)/float64(slowestTotal), "check/slowest")
}
