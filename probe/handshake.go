package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/portpath/portpath/report"
)

// Handshaker finds out what a server speaks: it connects once and sends at most one
// handshake — a TLS ClientHello (SNI = the target's host) and, as the scheme says, one
// HTTP GET or one WebSocket Upgrade request — then reads the start of the answer.
type Handshaker struct {
	// Timeout bounds the connection and the handshake together; zero means DefaultTimeout.
	Timeout time.Duration
	// Deadline, when set, ends the exchange however much of Timeout is left (the check's budget).
	Deadline time.Time
	// Dial opens the connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Roots are the CAs a certificate chain must lead to; nil means the system's.
	Roots *x509.CertPool
	// UserAgent is sent with HTTP requests; empty means "portpath".
	UserAgent string
}

// ErrNotConnected wraps the dial error of an exchange that never had a connection.
var ErrNotConnected = errors.New("not connected")

// Exchange connects to a on t's port and does the handshake t's scheme expects. It fails
// only when no connection could be made (the probe step says why), wrapping ErrNotConnected.
// What the server answered, including closing or staying silent, is in the Exchange.
func (h *Handshaker) Exchange(ctx context.Context, t report.Target, a netip.Addr) (Exchange, error) {
	x := Exchange{Target: t, Address: a.Unmap().String(), Expect: Expect(t), Now: time.Now()}
	timeout := DefaultTimeout
	if h != nil {
		timeout = waitFor(h.Timeout, h.Deadline)
	}
	if timeout <= 0 {
		return x, fmt.Errorf("%w: %w", ErrNotConnected, errNoTimeLeft)
	}
	dial := (&Prober{}).dialer()
	if h != nil && h.Dial != nil {
		dial = h.Dial
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "tcp6"
	if a.Unmap().Is4() {
		network = "tcp4"
	}
	conn, err := dialContext(dctx, dial, network, netip.AddrPortFrom(a.Unmap(), uint16(t.Port)))
	if err == nil && conn == nil {
		err = errors.New("the dialer returned no connection and no error")
	}
	if err != nil {
		return x, fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	defer conn.Close()
	if dl, ok := dctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var rw io.ReadWriter = conn
	if x.Expect.TLS {
		tc, ok := h.handshakeTLS(dctx, conn, &x)
		if !ok {
			return x, nil
		}
		rw = tc
	}
	h.converse(rw, &x)
	return x, nil
}

// handshakeTLS runs the TLS handshake and records its result in x; ok is false when it failed.
func (h *Handshaker) handshakeTLS(ctx context.Context, conn net.Conn, x *Exchange) (*tls.Conn, bool) {
	host := x.Target.Host
	cfg := &tls.Config{
		// The chain and the name are verified below, so that the step can say which failed.
		InsecureSkipVerify: true,
		NextProtos:         []string{"http/1.1"},
		MinVersion:         tls.VersionTLS10,
	}
	if !hostIsAddr(host) {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	err := tc.HandshakeContext(ctx)
	if err != nil {
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) {
			x.TLSEnding = EndData
			x.TLSRecord = append([]byte(nil), rhe.RecordHeader[:]...)
			if rhe.Conn != nil {
				// The rest of the server's first line, for the message; one read, no more sent.
				rhe.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				buf := make([]byte, 256)
				n, _ := rhe.Conn.Read(buf)
				x.TLSRecord = append(x.TLSRecord, buf[:n]...)
			}
		} else {
			x.TLSEnding = endingOf(err)
		}
		x.TLSError = err.Error()
		return nil, false
	}
	st := tc.ConnectionState()
	x.TLSVersion = tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		x.Cert = certInfo(st.PeerCertificates, host, x.Now, h.roots())
	}
	return tc, true
}

func (h *Handshaker) roots() *x509.CertPool {
	if h == nil {
		return nil
	}
	return h.Roots
}

// certInfo verifies the chain and the name separately, so that each failure has its words.
func certInfo(chain []*x509.Certificate, host string, now time.Time, roots *x509.CertPool) *CertInfo {
	leaf := chain[0]
	c := &CertInfo{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Issuer: leaf.Issuer.String()}
	c.Names = append(c.Names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		c.Names = append(c.Names, ip.String())
	}
	if len(c.Names) == 0 && leaf.Subject.CommonName != "" {
		c.Names = []string{leaf.Subject.CommonName}
	}
	if err := leaf.VerifyHostname(host); err != nil {
		c.HostError = err.Error()
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now}); err != nil {
		c.ChainError = err.Error()
	}
	return c
}

// converse sends the one request the expectation calls for and reads the start of the answer.
func (h *Handshaker) converse(rw io.ReadWriter, x *Exchange) {
	ua := "portpath"
	if h != nil && h.UserAgent != "" {
		ua = h.UserAgent
	}
	var req []byte
	switch x.Expect.App {
	case AppWebSocket:
		var k [16]byte
		rand.Read(k[:])
		x.WebSocketKey = base64.StdEncoding.EncodeToString(k[:])
		x.Sent = "upgrade"
		req = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
			targetPath(x.Target), targetHostHeader(x.Target), ua, x.WebSocketKey)
	case AppHTTP:
		x.Sent = "GET"
		req = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n",
			targetPath(x.Target), targetHostHeader(x.Target), ua)
	}
	if len(req) > 0 {
		if _, err := rw.Write(req); err != nil {
			x.Ending, x.Err = endingOf(err), err.Error()
			return
		}
	}
	buf := make([]byte, 0, ReplyLimit)
	for len(buf) < ReplyLimit {
		n, err := rw.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if len(buf) == 0 {
				x.Ending, x.Err = endingOf(err), err.Error()
				return
			}
			break
		}
		if replyDone(x.Expect.App, buf) {
			break
		}
	}
	x.Reply, x.Ending = buf, EndData
}

// replyDone reports whether enough of the reply is in to classify it without waiting for more.
func replyDone(app App, b []byte) bool {
	if app == AppRaw || len(b) == 0 {
		return len(b) > 0
	}
	if !bytes.HasPrefix(b, []byte("HTTP/")) {
		// Not HTTP: what came first is what the client sees.
		return len(b) >= 5 || !bytes.HasPrefix([]byte("HTTP/"), b)
	}
	r, err := ParseResponse(b)
	if err != nil {
		return true
	}
	if !r.Complete {
		return false
	}
	if r.Status == 101 || r.Status == 204 || r.Status == 304 {
		return true
	}
	if cl, err := strconv.Atoi(r.Header["content-length"]); err == nil {
		return len(r.Body) >= cl
	}
	return false // read until the server closes (Connection: close) or the limit
}

// targetHostHeader is the Host header for t: the port only when it is not the scheme's default.
func targetHostHeader(t report.Target) string {
	h := urlHost(t.Host)
	if sc, ok := schemes[t.Scheme]; ok && sc.port == t.Port {
		return h
	}
	return h + ":" + strconv.Itoa(t.Port)
}

// endingOf names how a read or handshake ended from its error.
func endingOf(err error) Ending {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EndClosed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return EndReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return EndSilent
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return EndSilent
	}
	return EndError
}
