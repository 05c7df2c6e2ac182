// Package dnstest runs a real DNS server (github.com/miekg/dns) on 127.0.0.1 for tests:
// it serves CNAME chains, A and AAAA records, and chosen answer codes.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is what the server answers, by lower-case name without the trailing dot.
type Zone struct {
	// CNAME maps a name to its canonical name.
	CNAME map[string]string
	// Addrs maps a name to its A and AAAA records.
	Addrs map[string][]string
	// Rcode maps a name to an answer code other than NOERROR (dns.RcodeServerFailure, …).
	Rcode map[string]int
	// Silent names get no answer at all, so the client times out.
	Silent map[string]bool
	// NoChase makes the server answer with the first CNAME only, as a forwarder that does not chase.
	NoChase bool
	// Delay holds each answer back this long, as a resolver far away would.
	Delay time.Duration
}

// Server is a running DNS server.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	mu   sync.Mutex
	// queries counts the questions received.
	queries int
}

// Queries is the number of questions the server received.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Start serves z on a random UDP port of 127.0.0.1 until the test ends.
func Start(t testing.TB, z Zone) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	s := &Server{Addr: pc.LocalAddr().String()}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { s.answer(w, q, z) })}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg, z Zone) {
	s.mu.Lock()
	s.queries++
	s.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	time.Sleep(z.Delay)
	qs := q.Question[0]
	name := strings.ToLower(strings.TrimSuffix(qs.Name, "."))
	if z.Silent[name] {
		return
	}
	if rc, ok := z.Rcode[name]; ok {
		m.Rcode = rc
		w.WriteMsg(m)
		return
	}
	known := false
	for range 32 {
		if c, ok := z.CNAME[name]; ok {
			known = true
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: dns.Fqdn(c)})
			name = strings.ToLower(c)
			if z.NoChase {
				break
			}
			continue
		}
		for _, a := range z.Addrs[name] {
			known = true
			ip, err := netip.ParseAddr(a)
			switch {
			case err != nil:
			case ip.Is4() && qs.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: ip.AsSlice()})
			case ip.Is6() && qs.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()})
			}
		}
		if _, ok := z.Addrs[name]; ok {
			known = true
		}
		break
	}
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: t, Class: dns.ClassINET, Ttl: 60}
}
