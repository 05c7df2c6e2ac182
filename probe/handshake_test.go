package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/portpath/portpath/report"
)

// handshakeCA is a certificate authority made for one test, and a leaf it signed.
type handshakeCA struct {
	pool *x509.CertPool
	leaf tls.Certificate
}

// newHandshakeCA makes a CA and a leaf certificate for names, valid from notBefore to notAfter.
func newHandshakeCA(t *testing.T, names []string, notBefore, notAfter time.Time) handshakeCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portpath test CA"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return handshakeCA{pool: pool, leaf: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}}
}

// serveLoopbackTCP runs handle for every connection on a loopback listener until the test ends.
func serveLoopbackTCP(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// wsTestHandler is a real WebSocket server (github.com/coder/websocket) on /ws.
func wsTestHandler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		c.Read(ctx)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello over plain HTTP") })
	return mux
}

func loopbackAddrPort(t *testing.T, rawURL string) netip.AddrPort {
	t.Helper()
	u := strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
	return netip.MustParseAddrPort(u)
}

// runExchange runs one real exchange against ap for the target URL with the given host.
func runExchange(t *testing.T, h *Handshaker, scheme, host string, ap netip.AddrPort, path string) Exchange {
	t.Helper()
	tgt := report.Target{Input: fmt.Sprintf("%s://%s:%d%s", scheme, host, ap.Port(), path), Host: host, Port: int(ap.Port()), Transport: "tcp", Scheme: scheme}
	x, err := h.Exchange(t.Context(), tgt, ap.Addr())
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return x
}

func TestHandshakeRealServers(t *testing.T) {
	good := newHandshakeCA(t, []string{"right.test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expired := newHandshakeCA(t, []string{"right.test"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))

	plainHTTP := httptest.NewServer(wsTestHandler(t))
	t.Cleanup(plainHTTP.Close)
	tlsServer := func(ca handshakeCA) *httptest.Server {
		s := httptest.NewUnstartedServer(wsTestHandler(t))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the mismatched handshakes are the point
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	goodTLS, expiredTLS := tlsServer(good), tlsServer(expired)
	banner := serveLoopbackTCP(t, func(c net.Conn) { fmt.Fprint(c, "SSH-2.0-OpenSSH_9.6\r\n"); time.Sleep(500 * time.Millisecond) })
	silent := serveLoopbackTCP(t, func(c net.Conn) { time.Sleep(2 * time.Second) })
	closing := serveLoopbackTCP(t, func(c net.Conn) { c.Read(make([]byte, 4096)) })
	slamming := serveLoopbackTCP(t, func(c net.Conn) {})
	textProto := serveLoopbackTCP(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		fmt.Fprint(c, "{\"type\":\"error\",\"msg\":\"bad frame\"}\n")
	})
	aliyun := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Beaver")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>Non-compliance ICP Filing</title></head><body>`+
			`<a href="https://www.aliyun.com/beian/beian-block">ICP</a></body></html>`)
	}))
	t.Cleanup(aliyun.Close)
	tencent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://dnspod.qcloud.com/static/webblock.html?d="+strings.Split(r.Host, ":")[0], http.StatusFound)
	}))
	t.Cleanup(tencent.Close)

	h := &Handshaker{Timeout: time.Second, Roots: good.pool}
	hExp := &Handshaker{Timeout: time.Second, Roots: expired.pool}
	tests := []struct {
		name        string
		h           *Handshaker
		scheme      string
		host        string
		ap          netip.AddrPort
		path        string
		mainland    bool
		wantDec     report.Decision
		wantCause   string
		wantSymptom report.Symptom
		wantDetail  string
	}{
		{"ws to a WebSocket server", h, "ws", "127.0.0.1", loopbackAddrPort(t, plainHTTP.URL), "/ws", false, report.Allow, "", "", "101 Switching Protocols"},
		{"ws to plain HTTP", h, "ws", "127.0.0.1", loopbackAddrPort(t, plainHTTP.URL), "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Unexpected response code: 200"},
		{"ws to a wrong path", h, "ws", "127.0.0.1", loopbackAddrPort(t, plainHTTP.URL), "/socket", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Unexpected response code: 200"},
		{"http to plain HTTP", h, "http", "127.0.0.1", loopbackAddrPort(t, plainHTTP.URL), "/", false, report.Allow, "", "", "HTTP/1.1 200 OK"},
		{"wss to a TLS WebSocket server", h, "wss", "right.test", loopbackAddrPort(t, goodTLS.URL), "/ws", false, report.Allow, "", "", "TLS 1.3"},
		{"https to a TLS server", h, "https", "right.test", loopbackAddrPort(t, goodTLS.URL), "/", false, report.Allow, "", "", "HTTP/1.1 200"},
		{"wss with a wrong certificate name", h, "wss", "wrong.test", loopbackAddrPort(t, goodTLS.URL), "/ws", false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "certificate is for right.test, not wrong.test"},
		{"https with an expired certificate", hExp, "https", "right.test", loopbackAddrPort(t, expiredTLS.URL), "/", false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "expired"},
		{"https with an unknown CA", &Handshaker{Timeout: time.Second, Roots: x509.NewCertPool()}, "https", "right.test", loopbackAddrPort(t, goodTLS.URL), "/", false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "ERR_CERT_AUTHORITY_INVALID"},
		{"wss to a plain HTTP server", h, "wss", "127.0.0.1", loopbackAddrPort(t, plainHTTP.URL), "/ws", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks plain HTTP, not TLS"},
		{"ws to a TLS server", h, "ws", "right.test", loopbackAddrPort(t, goodTLS.URL), "/ws", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks HTTPS (TLS)"},
		{"ws to a raw banner server", h, "ws", "127.0.0.1", banner, "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "ERR_INVALID_HTTP_RESPONSE"},
		{"ws to a custom text protocol", h, "ws", "127.0.0.1", textProto, "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "not an HTTP server"},
		{"http to a silent server", h, "http", "127.0.0.1", silent, "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "did not answer the HTTP request"},
		{"ws to a closing server", h, "ws", "127.0.0.1", closing, "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Connection closed before receiving a handshake response"},
		{"wss to a silent server", h, "wss", "127.0.0.1", silent, "/", false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "never answered the TLS ClientHello"},
		{"ws to a server that closes at once", h, "ws", "127.0.0.1", slamming, "/", false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "without answering"},
		{"wss to a closing server", h, "wss", "127.0.0.1", closing, "/", false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "closed the connection during the TLS handshake"},
		{"tcp to a banner server", h, "tcp", "127.0.0.1", banner, "", false, report.Allow, "", "", "SSH-2.0-OpenSSH_9.6"},
		{"tcp to a silent server", h, "tcp", "127.0.0.1", silent, "", false, report.Allow, "", "", "waits for the client to speak first"},
		{"http to Alibaba Cloud's ICP page", h, "http", "unfiled.example", loopbackAddrPort(t, aliyun.URL), "/", false, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "Alibaba Cloud intercepts requests for unfiled.example"},
		{"ws to Tencent Cloud's ICP redirect", h, "ws", "unfiled.example", loopbackAddrPort(t, tencent.URL), "/ws", true, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "Tencent Cloud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := runExchange(t, tt.h, tt.scheme, tt.host, tt.ap, tt.path)
			s := ClassifyExchange(x, ClassifyOptions{MainlandChina: tt.mainland})
			if s.Layer != AppLayer || s.Decision != tt.wantDec || s.Cause != tt.wantCause || s.Symptom != tt.wantSymptom {
				t.Errorf("got %s/%s cause %q symptom %q (%s); want %s cause %q symptom %q", s.Layer, s.Decision, s.Cause, s.Symptom, s.Detail, tt.wantDec, tt.wantCause, tt.wantSymptom)
			}
			if !strings.Contains(s.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", s.Detail, tt.wantDetail)
			}
			if s.Decision == report.Reject && s.Cause == report.CauseProtocolMismatch && tt.scheme == "ws" && strings.Contains(tt.wantDetail, "response code") &&
				!strings.Contains(strings.Join(s.Fix, " "), "websocket://0.0.0.0:") {
				t.Errorf("fix %q does not show the Workerman websocket:// listen line", s.Fix)
			}
		})
	}
}

// A TLS server that resets the connection on the ClientHello: the ICP block's pattern on
// a mainland-China server, a plain TLS error elsewhere.
func TestHandshakeResetPattern(t *testing.T) {
	reset := serveLoopbackTCP(t, func(c net.Conn) {
		buf := make([]byte, 512)
		c.Read(buf)
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	h := &Handshaker{Timeout: time.Second}
	for _, tt := range []struct {
		mainland bool
		host     string
		want     string
	}{
		{true, "unfiled.example", report.CauseICPFilingBlock},
		{false, "unfiled.example", report.CauseProtocolMismatch},
		{true, "127.0.0.1", report.CauseProtocolMismatch}, // an IP address is never held for a filing
	} {
		t.Run(fmt.Sprintf("mainland=%v/%s", tt.mainland, tt.host), func(t *testing.T) {
			x := runExchange(t, h, "https", tt.host, reset, "/")
			if x.TLSEnding != EndReset {
				t.Fatalf("TLS ending %q (%s), want reset", x.TLSEnding, x.TLSError)
			}
			s := ClassifyExchange(x, ClassifyOptions{MainlandChina: tt.mainland})
			if s.Cause != tt.want || s.Symptom != report.TLSError || s.Decision != report.Reject {
				t.Errorf("got %s cause %q symptom %q; want reject %q tls-error (%s)", s.Decision, s.Cause, s.Symptom, tt.want, s.Detail)
			}
		})
	}
}

// The exchange ends within its timeout against a silent server, and a failed connection
// is reported as not connected.
func TestHandshakeBounds(t *testing.T) {
	silent := serveLoopbackTCP(t, func(c net.Conn) { time.Sleep(3 * time.Second) })
	h := &Handshaker{Timeout: 300 * time.Millisecond}
	start := time.Now()
	x := runExchange(t, h, "ws", "127.0.0.1", silent, "/")
	// the server stays silent for 3 s: ending well before that shows the timeout ends it
	// (the margin is for a loaded machine; how fast it ends is not what is tested)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("exchange took %v with a 300ms timeout", took)
	}
	if x.Ending != EndSilent {
		t.Errorf("ending %q, want silent", x.Ending)
	}
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	tgt := report.Target{Input: "ws://127.0.0.1", Host: "127.0.0.1", Port: int(closed.Port()), Transport: "tcp", Scheme: "ws"}
	if _, err := h.Exchange(t.Context(), tgt, closed.Addr()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("exchange with a closed port: err %v, want not connected / refused", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Exchange(ctx, tgt, silent.Addr()); err == nil {
		t.Error("a cancelled exchange reported no error")
	}
	// the check's deadline ends the exchange before a long timeout would
	h = &Handshaker{Timeout: time.Minute, Deadline: time.Now().Add(300 * time.Millisecond)}
	start = time.Now()
	if x := runExchange(t, h, "ws", "127.0.0.1", silent, "/"); x.Ending != EndSilent {
		t.Errorf("with a deadline: ending %q, want silent", x.Ending)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("exchange took %v with a deadline 300ms away", took)
	}
	h.Deadline = time.Now().Add(-time.Second)
	if _, err := h.Exchange(t.Context(), tgt, silent.Addr()); !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "used up") {
		t.Errorf("past deadline: err %v, want not connected, time used up", err)
	}
}
