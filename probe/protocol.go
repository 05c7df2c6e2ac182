package probe

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portpath/portpath/report"
)

// This file is the pure half of the application-protocol step (app.protocol): what a
// target's scheme expects, and what one handshake's observation means. handshake.go does
// the I/O.

// AppLayer is the layer name of the application-protocol step.
const AppLayer = "app.protocol"

// App names the application protocol a client speaks after connecting.
type App string

const (
	// AppNone: the target names no protocol (host:port); nothing is compared.
	AppNone App = ""
	// AppHTTP: the client sends an HTTP request (http://, https://).
	AppHTTP App = "http"
	// AppWebSocket: the client sends an HTTP Upgrade and expects 101 (ws://, wss://).
	AppWebSocket App = "websocket"
	// AppRaw: the client speaks first or not at all (tcp://); a banner is only read.
	AppRaw App = "raw"
)

// Expectation is what the client of a target expects the server to speak.
type Expectation struct {
	// TLS is whether the client starts with a TLS handshake (wss://, https://).
	TLS bool
	// App is the protocol spoken after the connection (and TLS) is up.
	App App
}

// Expect reads the expectation from the target's scheme: ws and wss expect WebSocket,
// http and https HTTP, the "s" ones over TLS; tcp expects raw bytes; host:port and udp nothing.
func Expect(t report.Target) Expectation {
	switch t.Scheme {
	case "ws":
		return Expectation{App: AppWebSocket}
	case "wss":
		return Expectation{TLS: true, App: AppWebSocket}
	case "http":
		return Expectation{App: AppHTTP}
	case "https":
		return Expectation{TLS: true, App: AppHTTP}
	case "tcp":
		return Expectation{App: AppRaw}
	}
	return Expectation{}
}

// targetPath is the path and query of a URL target, "/" when it has none or is no URL.
func targetPath(t report.Target) string {
	u, err := url.Parse(strings.TrimSpace(t.Input))
	if err != nil || u.Scheme == "" {
		return "/"
	}
	p := u.EscapedPath()
	if p == "" || p[0] != '/' {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// Ending is how reading from the server ended.
type Ending string

const (
	// EndData: the server sent bytes (and the read stopped at the end of the headers, the
	// byte limit, or the server's close after them).
	EndData Ending = "data"
	// EndClosed: the server closed the connection without sending anything.
	EndClosed Ending = "closed"
	// EndReset: the connection was reset (TCP RST) before anything arrived.
	EndReset Ending = "reset"
	// EndSilent: nothing arrived before the deadline.
	EndSilent Ending = "silent"
	// EndError: another error; Exchange.Err has it.
	EndError Ending = "error"
)

// CertInfo is what the check needs to know of the server's leaf certificate.
type CertInfo struct {
	// Names are the DNS and IP subject alternative names (the common name when there are none).
	Names []string
	// NotBefore and NotAfter bound the validity period.
	NotBefore, NotAfter time.Time
	// Issuer is the issuer's distinguished name.
	Issuer string
	// HostError is why the certificate is not valid for the target's host; empty when it is.
	HostError string
	// ChainError is why the chain does not verify against the trusted roots; empty when it does.
	ChainError string
}

// Exchange is what one connection's handshake saw: the input of ClassifyExchange.
type Exchange struct {
	// Target is the checked target.
	Target report.Target
	// Address is the address connected to.
	Address string
	// Expect is what the client expected.
	Expect Expectation
	// Now is when the exchange took place (for certificate validity).
	Now time.Time

	// TLSEnding is how the TLS handshake ended; empty when no TLS was attempted or it succeeded.
	TLSEnding Ending
	// TLSRecord holds the first bytes the server sent when they were no TLS record.
	TLSRecord []byte
	// TLSError is the handshake's error text; empty when it succeeded or was not attempted.
	TLSError string
	// TLSVersion names the negotiated version ("TLS 1.3"); empty without a handshake.
	TLSVersion string
	// Cert is the server's leaf certificate; nil without a completed handshake.
	Cert *CertInfo

	// Sent says what was sent after connecting: "" (nothing), "GET" or "upgrade".
	Sent string
	// WebSocketKey is the Sec-WebSocket-Key of the upgrade request.
	WebSocketKey string
	// Reply is the start of what the server sent (at most ReplyLimit bytes).
	Reply []byte
	// Ending is how reading the reply ended.
	Ending Ending
	// Err is the error text of EndError.
	Err string
}

// ReplyLimit bounds how much of a reply is read and kept.
const ReplyLimit = 8 << 10

// Response is an HTTP response head read from a reply.
type Response struct {
	// Proto is "HTTP/1.1" or "HTTP/1.0".
	Proto string
	// Status is the status code; Reason its phrase.
	Status int
	Reason string
	// Header holds the header fields, keys in lower case, values of repeated fields joined with ", ".
	Header map[string]string
	// Complete is whether the head ended with an empty line within the reply.
	Complete bool
	// Body is what followed the head in the reply (possibly cut off).
	Body []byte
}

// ParseResponse reads an HTTP/1.x response head from the start of a reply. It fails when the
// reply does not start with a status line; a head cut off by the read limit is Complete=false.
func ParseResponse(b []byte) (Response, error) {
	if !bytes.HasPrefix(b, []byte("HTTP/")) {
		return Response{}, fmt.Errorf("not an HTTP response: starts with %q", quoteStart(b, 16))
	}
	head, body, complete := b, []byte(nil), false
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head, body, complete = b[:i], b[i+4:], true
	} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		head, body, complete = b[:i], b[i+2:], true
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	status := strings.SplitN(lines[0], " ", 3)
	if len(status) < 2 || len(status[1]) != 3 {
		return Response{}, fmt.Errorf("malformed HTTP status line %q", quoteStart([]byte(lines[0]), 64))
	}
	code, err := strconv.Atoi(status[1])
	if err != nil || code < 100 || code > 999 {
		return Response{}, fmt.Errorf("malformed HTTP status code %q", status[1])
	}
	r := Response{Proto: status[0], Status: code, Header: map[string]string{}, Complete: complete, Body: body}
	if len(status) == 3 {
		r.Reason = strings.TrimSpace(status[2])
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if old, dup := r.Header[k]; dup {
			v = old + ", " + v
		}
		r.Header[k] = v
	}
	return r, nil
}

// quoteStart quotes at most n bytes of b for a message.
func quoteStart(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// looksTLS reports whether b starts like a TLS record (handshake or alert, any 3.x version).
func looksTLS(b []byte) bool {
	return len(b) >= 3 && (b[0] == 0x16 || b[0] == 0x15) && b[1] == 0x03 && b[2] <= 0x04
}

// looksHTTP reports whether b starts like an HTTP response or the HTML page some servers
// send without a status line to a request they cannot read.
func looksHTTP(b []byte) bool {
	t := bytes.ToLower(bytes.TrimLeft(b, " \t\r\n"))
	return bytes.HasPrefix(t, []byte("http/")) || bytes.HasPrefix(t, []byte("<!doc")) || bytes.HasPrefix(t, []byte("<html"))
}

// httpsServerWords are what HTTPS servers answer to a plain HTTP request.
var httpsServerWords = []string{
	"Client sent an HTTP request to an HTTPS server", // Go net/http
	"The plain HTTP request was sent to HTTPS port",  // nginx
	"speaking plain HTTP to an SSL-enabled server",   // Apache
}

// ICPBlock is a cloud's interception of a domain that has no ICP filing.
type ICPBlock struct {
	// Cloud is the cloud whose pattern matched: "Alibaba Cloud", "Tencent Cloud", or "" when unknown.
	Cloud string
	// Evidence quotes what matched.
	Evidence string
}

// DetectICPPage recognises a cloud's interception page for an unfiled domain in an HTTP
// response: Alibaba Cloud answers 403 from "Server: Beaver" with a page titled
// "Non-compliance ICP Filing" linking beian-block; Tencent Cloud (DNSPod) redirects to
// dnspod.qcloud.com/static/webblock.html?d=DOMAIN.
func DetectICPPage(r Response) (ICPBlock, bool) {
	body := string(r.Body)
	loc := r.Header["location"]
	switch {
	case strings.Contains(body, "Non-compliance ICP Filing"):
		return ICPBlock{Cloud: "Alibaba Cloud", Evidence: `page titled "Non-compliance ICP Filing"`}, true
	case strings.Contains(body, "beian-block"):
		return ICPBlock{Cloud: "Alibaba Cloud", Evidence: "page linking aliyun beian-block"}, true
	case r.Status == 403 && strings.EqualFold(r.Header["server"], "Beaver"):
		return ICPBlock{Cloud: "Alibaba Cloud", Evidence: `403 from "Server: Beaver", Alibaba Cloud's filing gateway`}, true
	case strings.Contains(loc, "webblock.html") || strings.Contains(loc, "dnspod.qcloud.com/static/block"):
		return ICPBlock{Cloud: "Tencent Cloud", Evidence: "redirect to " + loc}, true
	case strings.Contains(body, "dnspod.qcloud.com/static/webblock.html"):
		return ICPBlock{Cloud: "Tencent Cloud", Evidence: "page pointing at dnspod.qcloud.com/static/webblock.html"}, true
	case strings.Contains(body, "备案") && (strings.Contains(body, "未备案") || strings.Contains(body, "暂时无法访问") || strings.Contains(body, "ICP")) && r.Status >= 300:
		return ICPBlock{Evidence: "a page about a missing ICP filing (备案)"}, true
	}
	return ICPBlock{}, false
}

// ClassifyOptions is what the classification knows beyond the exchange.
type ClassifyOptions struct {
	// MainlandChina is whether the destination is known to be in mainland China (from the
	// cloud instance's region); only then is a reset of a named host read as the ICP block.
	MainlandChina bool
}

// workermanFix is the line that makes a Workerman/GatewayWorker server speak WebSocket.
func workermanFix(port int) string {
	return fmt.Sprintf("Workerman: $worker = new Worker('websocket://0.0.0.0:%d'); GatewayWorker: $gateway = new Gateway('websocket://0.0.0.0:%d')", port, port)
}

// nginxWSFix is what a reverse proxy in front of a WebSocket server needs.
const nginxWSFix = `behind nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`

// ClassifyExchange turns one handshake's observation into the app.protocol step: allow
// when the server speaks what the scheme expects; reject with PROTOCOL_MISMATCH (or
// ICP_FILING_BLOCK) and the error the client shows when it does not.
func ClassifyExchange(x Exchange, o ClassifyOptions) report.Step {
	s := report.Step{Layer: AppLayer, Address: x.Address}
	mismatch := func(sym report.Symptom, detail string, fix ...string) report.Step {
		s.Decision, s.Cause, s.Symptom, s.Detail, s.Fix = report.Reject, report.CauseProtocolMismatch, sym, detail, fix
		return s
	}
	host := x.Target.Host
	named := !hostIsAddr(host)
	scheme := x.Target.Scheme
	plain := strings.TrimSuffix(scheme, "s") // wss → ws, https → http
	secure := scheme + "s"                   // ws → wss, http → https

	if x.Expect.TLS {
		switch {
		case x.TLSEnding == EndData && looksHTTP(x.TLSRecord):
			return mismatch(report.ProtocolMismatch,
				fmt.Sprintf("the server speaks plain HTTP, not TLS: it answered the TLS ClientHello with %q. A %s:// client fails the TLS handshake (Chrome: net::ERR_SSL_PROTOCOL_ERROR, Firefox: SSL_ERROR_RX_RECORD_TOO_LONG, curl: (35) wrong version number)", replyFirstLine(x.TLSRecord), scheme),
				fmt.Sprintf("connect with %s://%s:%d, or serve TLS on port %d (a certificate for %s, e.g. nginx listen %d ssl, or Workerman's 'transport' => 'ssl' with local_cert/local_pk)", plain, urlHost(host), x.Target.Port, x.Target.Port, host, x.Target.Port))
		case x.TLSEnding == EndData:
			return mismatch(report.ProtocolMismatch,
				fmt.Sprintf("the server does not speak TLS: it answered the TLS ClientHello with bytes that are no TLS record (%q); a %s:// client fails the handshake (curl: (35) wrong version number / packet length too long)", quoteStart(x.TLSRecord, 16), scheme))
		case x.TLSEnding == EndReset && o.MainlandChina && named:
			s.Decision, s.Cause, s.Symptom = report.Reject, report.CauseICPFilingBlock, report.TLSError
			s.Detail = fmt.Sprintf("the TLS handshake for %s was reset right after the ClientHello, on a server in mainland China: the cloud's ICP filing check resets TLS connections whose SNI names a domain without an ICP filing (curl: (35) Recv failure: Connection reset by peer; Chrome: ERR_CONNECTION_RESET). The same request to the IP address would pass", host)
			s.Fix = []string{fmt.Sprintf("file %s for ICP (备案) with the cloud hosting the server, or serve it from a region outside mainland China; until then only the IP address works", host)}
			return s
		case x.TLSEnding == EndReset:
			return mismatch(report.TLSError,
				"the connection was reset during the TLS handshake: the server is not a TLS server, or a middlebox resets it (on a mainland-China server, an unfiled domain in the SNI is reset this way: ICP filing block)")
		case x.TLSEnding == EndClosed:
			return mismatch(report.TLSError,
				fmt.Sprintf("the server closed the connection during the TLS handshake without answering: it does not speak TLS on port %d, or refuses the name %s (SNI); a %s:// client shows a TLS/SSL error (Chrome: ERR_SSL_PROTOCOL_ERROR or ERR_CONNECTION_CLOSED)", x.Target.Port, host, scheme))
		case x.TLSEnding == EndSilent:
			return mismatch(report.TLSError,
				fmt.Sprintf("the server accepted the connection but never answered the TLS ClientHello: it is no TLS server (it waits for its own protocol), and a %s:// client's handshake times out", scheme),
				fmt.Sprintf("if the server speaks plain %s, connect with %s://%s:%d", plain, plain, urlHost(host), x.Target.Port))
		case x.TLSEnding == EndError:
			return mismatch(report.TLSError, fmt.Sprintf("the TLS handshake failed: %s", x.TLSError))
		}
		if c := x.Cert; c != nil {
			switch {
			case c.HostError != "":
				return mismatch(report.TLSError,
					fmt.Sprintf("the certificate is for %s, not %s (%s): a %s:// client refuses it (Chrome: NET::ERR_CERT_COMMON_NAME_INVALID, curl: (60) no alternative certificate subject name matches)", strings.Join(c.Names, ", "), host, c.HostError, scheme),
					fmt.Sprintf("install a certificate that names %s on the server (e.g. certbot certonly -d %s), or connect with a name the certificate has", host, host))
			case !x.Now.IsZero() && x.Now.After(c.NotAfter):
				return mismatch(report.TLSError,
					fmt.Sprintf("the certificate expired on %s (Chrome: NET::ERR_CERT_DATE_INVALID, curl: (60) certificate has expired)", c.NotAfter.UTC().Format(time.DateOnly)),
					"renew the certificate (e.g. certbot renew) and reload the server")
			case !x.Now.IsZero() && x.Now.Before(c.NotBefore):
				return mismatch(report.TLSError,
					fmt.Sprintf("the certificate is not valid before %s: check the clock of the server or the client (Chrome: NET::ERR_CERT_DATE_INVALID)", c.NotBefore.UTC().Format(time.DateOnly)))
			case c.ChainError != "":
				return mismatch(report.TLSError,
					fmt.Sprintf("the certificate chain does not verify (%s): clients with the usual trust store refuse it (Chrome: NET::ERR_CERT_AUTHORITY_INVALID, curl: (60) unable to get local issuer certificate / self-signed certificate)", c.ChainError),
					"serve the full chain (leaf plus intermediates, e.g. nginx ssl_certificate fullchain.pem) from a public CA")
			}
		}
	}

	tlsWords := ""
	if x.TLSVersion != "" {
		tlsWords = x.TLSVersion + ", certificate valid for " + host + "; "
	}
	switch x.Ending {
	case EndClosed:
		return mismatch(report.ProtocolMismatch, closedWords(x, scheme))
	case EndReset:
		if o.MainlandChina && named && x.Expect.App != AppRaw {
			s.Decision, s.Cause, s.Symptom = report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch
			s.Detail = fmt.Sprintf("the connection was reset right after the HTTP request for %s, on a server in mainland China: the ICP filing check resets requests whose Host names a domain without an ICP filing", host)
			s.Fix = []string{fmt.Sprintf("file %s for ICP (备案) with the cloud hosting the server; until then only the IP address works", host)}
			return s
		}
		return mismatch(report.ProtocolMismatch, fmt.Sprintf("the server closed the connection with a reset without answering the %s: it does not speak the protocol the client speaks (Chrome: net::ERR_CONNECTION_RESET)", sentWords(x)), appFix(x)...)
	case EndError:
		s.Decision, s.Detail = report.Unknown, "reading the server's answer failed: "+x.Err
		return s
	case EndSilent:
		if x.Expect.App == AppRaw {
			s.Decision = report.Allow
			s.Detail = tlsWords + "the server accepted the connection and waits for the client to speak first (no banner)"
			return s
		}
		return mismatch(report.ProtocolMismatch,
			fmt.Sprintf("the server accepted the connection but did not answer the %s: it is no HTTP server (a raw TCP or custom protocol that waits for its own framing), and the client's handshake times out", sentWords(x)),
			appFix(x)...)
	}

	// The server sent something.
	if x.Expect.App == AppRaw {
		s.Decision = report.Allow
		s.Detail = tlsWords + fmt.Sprintf("the server speaks first: %q", replyFirstLine(x.Reply))
		if looksTLS(x.Reply) {
			s.Detail = "the server sent a TLS record without being asked"
		}
		return s
	}
	if looksTLS(x.Reply) {
		return mismatch(report.ProtocolMismatch,
			fmt.Sprintf("the server speaks TLS, and the %s:// client sends plain text: it answered with a TLS alert (Chrome: Error during WebSocket handshake: net::ERR_INVALID_HTTP_RESPONSE / ERR_EMPTY_RESPONSE)", scheme),
			fmt.Sprintf("connect with %s://%s:%d", secure, urlHost(host), x.Target.Port))
	}
	resp, err := ParseResponse(x.Reply)
	if err != nil {
		d := fmt.Sprintf("the server is not an HTTP server: it answered the %s with %q", sentWords(x), quoteStart(x.Reply, 40))
		if x.Expect.App == AppWebSocket {
			d += "; the browser shows: Error during WebSocket handshake: net::ERR_INVALID_HTTP_RESPONSE"
		} else {
			d += " (Chrome: net::ERR_INVALID_HTTP_RESPONSE, curl: (1) Received HTTP/0.9 when not allowed)"
		}
		return mismatch(report.ProtocolMismatch, d, appFix(x)...)
	}
	if b, ok := DetectICPPage(resp); ok {
		s.Decision, s.Cause, s.Symptom = report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch
		cloud := "the cloud"
		if b.Cloud != "" {
			cloud = b.Cloud
		}
		s.Detail = fmt.Sprintf("%s intercepts requests for %s because the domain has no ICP filing (备案): %s (HTTP %d). The request never reached the server; the IP address alone passes", cloud, host, b.Evidence, resp.Status)
		if !named {
			s.Detail = fmt.Sprintf("%s answers with its ICP filing interception page: %s (HTTP %d)", cloud, b.Evidence, resp.Status)
		}
		s.Fix = []string{fmt.Sprintf("file %s for ICP (备案) with %s and add it to the filing of this server; or serve it from outside mainland China", host, cloud)}
		return s
	}
	for _, w := range httpsServerWords {
		if bytes.Contains(x.Reply, []byte(w)) {
			return mismatch(report.ProtocolMismatch,
				fmt.Sprintf("the server speaks HTTPS (TLS) and the %s:// client sends plain HTTP: it answered %d %q", scheme, resp.Status, w),
				fmt.Sprintf("connect with %s://%s:%d", secure, urlHost(host), x.Target.Port))
		}
	}
	if x.Expect.App == AppHTTP {
		s.Decision = report.Allow
		s.Detail = fmt.Sprintf("%sthe server speaks HTTP: %s %d %s", tlsWords, resp.Proto, resp.Status, resp.Reason)
		return s
	}
	// WebSocket.
	if resp.Status == 101 && strings.EqualFold(resp.Header["upgrade"], "websocket") {
		if want := WebSocketAccept(x.WebSocketKey); x.WebSocketKey != "" && resp.Header["sec-websocket-accept"] != want {
			return mismatch(report.ProtocolMismatch,
				"the server answered 101 but with a wrong Sec-WebSocket-Accept; the browser shows: Error during WebSocket handshake: Incorrect 'Sec-WebSocket-Accept' header value")
		}
		s.Decision = report.Allow
		s.Detail = tlsWords + "the server speaks WebSocket: 101 Switching Protocols"
		return s
	}
	if resp.Status == 101 {
		return mismatch(report.ProtocolMismatch,
			fmt.Sprintf("the server answered 101 but upgraded to %q, not websocket; the browser shows: Error during WebSocket handshake: 'Upgrade' header value is not 'WebSocket'", resp.Header["upgrade"]))
	}
	d := fmt.Sprintf("the server speaks plain HTTP, not WebSocket, at %s: it answered the Upgrade request with %d %s instead of 101. The browser shows: Error during WebSocket handshake: Unexpected response code: %d", targetPath(x.Target), resp.Status, resp.Reason, resp.Status)
	fix := []string{workermanFix(x.Target.Port), nginxWSFix}
	switch {
	case resp.Status == 404:
		d += " (the path may be wrong, or nothing on this port handles WebSocket)"
	case resp.Status >= 500 && resp.Status <= 599:
		d += " (a proxy in front of the server could not reach the WebSocket backend)"
		fix = []string{nginxWSFix, "check that the proxy's upstream (proxy_pass) points at the port the WebSocket server listens on"}
	}
	return mismatch(report.ProtocolMismatch, d, fix...)
}

// closedWords explains a server that closed the connection without a word.
func closedWords(x Exchange, scheme string) string {
	switch x.Expect.App {
	case AppWebSocket:
		return fmt.Sprintf("the server closed the connection without answering the WebSocket Upgrade: it does not speak WebSocket (or HTTP) here; the browser shows: WebSocket connection to '%s' failed: Connection closed before receiving a handshake response", x.Target.Input)
	case AppHTTP:
		return "the server closed the connection without answering the HTTP request: it does not speak HTTP here (Chrome: net::ERR_EMPTY_RESPONSE, curl: (52) Empty reply from server)"
	}
	return fmt.Sprintf("the server closed the connection at once without sending anything (%s://)", scheme)
}

// sentWords names what was sent.
func sentWords(x Exchange) string {
	switch x.Sent {
	case "upgrade":
		return "WebSocket Upgrade request"
	case "GET":
		return "HTTP request"
	}
	return "connection"
}

// appFix is the server-side change for a server that does not speak HTTP/WebSocket.
func appFix(x Exchange) []string {
	if x.Expect.App == AppWebSocket {
		return []string{workermanFix(x.Target.Port)}
	}
	return nil
}

// replyFirstLine is the first line of b, cut to 80 bytes.
func replyFirstLine(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return quoteStart(b, 80)
}

// urlHost writes a host for a URL: IPv6 addresses in brackets.
func urlHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// hostIsAddr reports whether h is an IP address rather than a name.
func hostIsAddr(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// webSocketGUID is RFC 6455's magic string for the accept value.
const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocketAccept is the Sec-WebSocket-Accept a server must answer to key (RFC 6455 §4.2.2).
func WebSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}
