package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from a table and counts the lookups.
type fakeResolver struct {
	answers map[string][]netip.Addr
	err     error
	calls   int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.calls++
	if network != "ip" {
		return nil, errors.New("fakeResolver: want network ip, got " + network)
	}
	if f.err != nil {
		return nil, f.err
	}
	a, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a, nil
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestResolveOrderAndDedupe(t *testing.T) {
	r := &fakeResolver{answers: map[string][]netip.Addr{
		"both.example": addrs("2001:db8::2", "198.51.100.2", "2001:db8::1", "198.51.100.1",
			"2001:db8::2", "::ffff:198.51.100.2", "::ffff:203.0.113.9"),
		"v6.example": addrs("2001:db8::1"),
	}}
	got, err := Resolve(context.Background(), r, "both.example")
	if err != nil {
		t.Fatal(err)
	}
	want := addrs("198.51.100.2", "198.51.100.1", "203.0.113.9", "2001:db8::2", "2001:db8::1")
	if !slices.Equal(got, want) {
		t.Errorf("Resolve(both.example) = %v, want %v", got, want)
	}
	got, err = Resolve(context.Background(), r, "v6.example")
	if err != nil || !slices.Equal(got, addrs("2001:db8::1")) {
		t.Errorf("Resolve(v6.example) = %v, %v", got, err)
	}
}

func TestResolveLiteralNeedsNoLookup(t *testing.T) {
	r := &fakeResolver{err: errors.New("a literal must not be looked up")}
	for in, want := range map[string]string{
		"192.0.2.1":        "192.0.2.1",
		"2001:db8::1":      "2001:db8::1",
		"::ffff:192.0.2.1": "192.0.2.1",
		"fe80::1%eth0":     "fe80::1%eth0",
	} {
		got, err := Resolve(context.Background(), r, in)
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Errorf("Resolve(%q) = %v, %v; want [%s]", in, got, err, want)
		}
	}
	if r.calls != 0 {
		t.Errorf("the resolver was asked %d times for literals", r.calls)
	}
	// A nil resolver is fine for a literal: nothing is looked up.
	if got, err := Resolve(context.Background(), nil, "127.0.0.1"); err != nil || len(got) != 1 {
		t.Errorf("Resolve(nil, 127.0.0.1) = %v, %v", got, err)
	}
}

func TestResolveErrorKinds(t *testing.T) {
	tests := []struct {
		name  string
		r     *fakeResolver
		kind  ResolveKind
		words string
	}{
		{"not found", &fakeResolver{}, ResolveNotFound, "does not exist"},
		{"empty answer", &fakeResolver{answers: map[string][]netip.Addr{"x.example": nil}}, ResolveNotFound, "no A or AAAA record"},
		{"servfail", &fakeResolver{err: &net.DNSError{Err: "server misbehaving", Name: "x.example", Server: "192.0.2.53:53", IsTemporary: true}}, ResolveServerFailure, "failed to answer"},
		{"timeout", &fakeResolver{err: &net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true, IsTemporary: true}}, ResolveTimeout, "in time"},
		{"bare deadline", &fakeResolver{err: context.DeadlineExceeded}, ResolveTimeout, "in time"},
		{"canceled", &fakeResolver{err: context.Canceled}, ResolveCanceled, "stopped"},
		{"other", &fakeResolver{err: errors.New("no resolver configured")}, ResolveServerFailure, "no resolver configured"},
		// The kind comes from the fields: a message that reads "no such host" but says
		// IsNotFound=false is no not-found.
		{"fields, not text", &fakeResolver{err: &net.DNSError{Err: "no such host", Name: "x.example"}}, ResolveServerFailure, ""},
	}
	for _, tt := range tests {
		_, err := Resolve(context.Background(), tt.r, "x.example")
		var re *ResolveError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v (%T), want *ResolveError", tt.name, err, err)
			continue
		}
		if re.Kind != tt.kind || re.Host != "x.example" {
			t.Errorf("%s: kind %q host %q, want %q x.example", tt.name, re.Kind, re.Host, tt.kind)
		}
		if !strings.Contains(err.Error(), tt.words) {
			t.Errorf("%s: error %q lacks %q", tt.name, err, tt.words)
		}
		if Classify(err) != "dns-failure" {
			t.Errorf("%s: Classify = %q, want dns-failure", tt.name, Classify(err))
		}
	}
}

// dnsServer answers every query on a loopback UDP port; answer builds the reply's rcode
// and records for a question type (1 = A, 28 = AAAA). A nil answer never replies.
// queries counts the questions it got, so a test can tell a system whose name service
// does not consult DNS at all (nsswitch.conf without "dns").
func dnsServer(t *testing.T, answer func(qtype uint16) (rcode byte, rdata [][]byte)) (r *net.Resolver, queries *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	queries = new(atomic.Int32)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			queries.Add(1)
			if n < 12 || answer == nil {
				continue
			}
			// The question: labels up to the root, then type and class.
			end := 12
			for end < n && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > n {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end-4:])
			rcode, rdata := answer(qtype)
			resp := append([]byte(nil), q[:12]...)
			resp[2] |= 0x80        // a response
			resp[3] = 0x80 | rcode // recursion available
			binary.BigEndian.PutUint16(resp[4:], 1)
			binary.BigEndian.PutUint16(resp[6:], uint16(len(rdata)))
			binary.BigEndian.PutUint32(resp[8:], 0)
			resp = append(resp, q[12:end]...)
			for _, rd := range rdata {
				resp = append(resp, 0xc0, 12) // the name: a pointer to the question's
				resp = binary.BigEndian.AppendUint16(resp, qtype)
				resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
				resp = binary.BigEndian.AppendUint32(resp, 60)
				resp = binary.BigEndian.AppendUint16(resp, uint16(len(rd)))
				resp = append(resp, rd...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}, queries
}

func skipWithoutDNS(t *testing.T, queries *atomic.Int32) {
	t.Helper()
	if queries.Load() == 0 {
		t.Skip("the system's name service does not ask DNS (see /etc/nsswitch.conf); the loopback DNS server got no query")
	}
}

func TestResolveRealResolver(t *testing.T) {
	r, queries := dnsServer(t, func(qtype uint16) (byte, [][]byte) {
		switch qtype {
		case 1:
			return 0, [][]byte{{192, 0, 2, 7}, {192, 0, 2, 8}}
		case 28:
			v6 := netip.MustParseAddr("2001:db8::7").As16()
			mapped := netip.MustParseAddr("::ffff:192.0.2.7").As16()
			return 0, [][]byte{v6[:], mapped[:]}
		}
		return 0, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := Resolve(ctx, r, "both.portpath.test.")
	skipWithoutDNS(t, queries)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, addrs("192.0.2.7", "192.0.2.8", "2001:db8::7")) &&
		!slices.Equal(got, addrs("192.0.2.8", "192.0.2.7", "2001:db8::7")) {
		t.Errorf("Resolve = %v, want 192.0.2.7 and 192.0.2.8, then 2001:db8::7", got)
	}
}

func TestResolveRealDNSErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(uint16) (byte, [][]byte)
		timeout time.Duration
		kind    ResolveKind
	}{
		{"nxdomain", func(uint16) (byte, [][]byte) { return 3, nil }, 5 * time.Second, ResolveNotFound},
		{"servfail", func(uint16) (byte, [][]byte) { return 2, nil }, 5 * time.Second, ResolveServerFailure},
		{"silent", nil, 300 * time.Millisecond, ResolveTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, queries := dnsServer(t, tt.answer)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			_, err := Resolve(ctx, r, "nosuch.portpath.test.")
			skipWithoutDNS(t, queries)
			var re *ResolveError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *ResolveError", err, err)
			}
			var de *net.DNSError
			if !errors.As(err, &de) {
				t.Errorf("error %v does not carry the resolver's *net.DNSError", err)
			}
			if re.Kind != tt.kind {
				t.Errorf("kind %q, want %q (%v)", re.Kind, tt.kind, err)
			}
		})
	}
}
