package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/report"
)

func TestExpect(t *testing.T) {
	tests := []struct {
		in   string
		want Expectation
		path string
	}{
		{"ws://h:8282/chat?room=1", Expectation{App: AppWebSocket}, "/chat?room=1"},
		{"wss://h", Expectation{TLS: true, App: AppWebSocket}, "/"},
		{"http://h:8080", Expectation{App: AppHTTP}, "/"},
		{"https://h/a%20b", Expectation{TLS: true, App: AppHTTP}, "/a%20b"},
		{"tcp://h:22", Expectation{App: AppRaw}, "/"},
		{"udp://h:53", Expectation{}, "/"},
		{"h:80", Expectation{}, "/"},
	}
	for _, tt := range tests {
		tgt, err := ParseTarget(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Expect(tgt); got != tt.want {
			t.Errorf("Expect(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got := targetPath(tgt); got != tt.path {
			t.Errorf("targetPath(%s) = %q, want %q", tt.in, got, tt.path)
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		status   int
		complete bool
		header   map[string]string
		wantErr  bool
	}{
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 101, true, map[string]string{"upgrade": "websocket"}, false},
		{"repeated header", "HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\n\r\nbody", 200, true, map[string]string{"vary": "a, b"}, false},
		{"cut off", "HTTP/1.0 403 Forbidden\r\nServer: Beav", 403, false, nil, false},
		{"bare LF", "HTTP/1.1 404 Not Found\nServer: x\n\n", 404, true, map[string]string{"server": "x"}, false},
		{"no reason", "HTTP/1.1 204\r\n\r\n", 204, true, nil, false},
		{"banner", "SSH-2.0-OpenSSH_9.6\r\n", 0, false, nil, true},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", 0, false, nil, true},
		{"empty", "", 0, false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if r.Status != tt.status || r.Complete != tt.complete {
				t.Errorf("status %d complete %v; want %d %v", r.Status, r.Complete, tt.status, tt.complete)
			}
			for k, v := range tt.header {
				if r.Header[k] != v {
					t.Errorf("header %s = %q, want %q", k, r.Header[k], v)
				}
			}
		})
	}
}

func TestDetectICPPage(t *testing.T) {
	tests := []struct {
		name  string
		resp  string
		cloud string
		ok    bool
	}{
		{"aliyun title", "HTTP/1.1 403 Forbidden\r\nServer: Beaver\r\n\r\n<title>Non-compliance ICP Filing</title>", "Alibaba Cloud", true},
		{"aliyun server header only", "HTTP/1.1 403 Forbidden\r\nServer: Beaver\r\nContent-Length: 0\r\n\r\n", "Alibaba Cloud", true},
		{"tencent redirect", "HTTP/1.1 302 Found\r\nLocation: https://dnspod.qcloud.com/static/webblock.html?d=a.example\r\n\r\n", "Tencent Cloud", true},
		{"chinese page", "HTTP/1.1 403 Forbidden\r\n\r\n<p>该网站暂时无法访问：域名未备案</p>", "", true},
		{"ordinary 403", "HTTP/1.1 403 Forbidden\r\nServer: nginx\r\n\r\nForbidden", "", false},
		{"200 mentioning 备案", "HTTP/1.1 200 OK\r\n\r\n<footer>京ICP备12345678号 未备案</footer>", "", false},
		{"beaver 200", "HTTP/1.1 200 OK\r\nServer: Beaver\r\n\r\nok", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tt.resp))
			if err != nil {
				t.Fatal(err)
			}
			b, ok := DetectICPPage(r)
			if ok != tt.ok || b.Cloud != tt.cloud {
				t.Errorf("got %+v %v; want cloud %q %v", b, ok, tt.cloud, tt.ok)
			}
		})
	}
}

func TestClassifyExchange(t *testing.T) {
	ws := report.Target{Input: "ws://chat.example:8282/ws", Host: "chat.example", Port: 8282, Transport: "tcp", Scheme: "ws"}
	wss := report.Target{Input: "wss://chat.example/ws", Host: "chat.example", Port: 443, Transport: "tcp", Scheme: "wss"}
	https := report.Target{Input: "https://203.0.113.10", Host: "203.0.113.10", Port: 443, Transport: "tcp", Scheme: "https"}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	reply := func(tgt report.Target, s string) Exchange {
		return Exchange{Target: tgt, Expect: Expect(tgt), Sent: "upgrade", WebSocketKey: key, Reply: []byte(s), Ending: EndData, Now: now}
	}
	cert := func(c CertInfo) Exchange {
		return Exchange{Target: wss, Expect: Expect(wss), TLSVersion: "TLS 1.3", Cert: &c, Now: now, Sent: "upgrade", WebSocketKey: key,
			Reply: []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), Ending: EndData}
	}
	valid := CertInfo{Names: []string{"chat.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	tests := []struct {
		name     string
		x        Exchange
		mainland bool
		dec      report.Decision
		cause    string
		sym      report.Symptom
		detail   string
	}{
		{"101 with the right accept", reply(ws, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), false, report.Allow, "", "", "speaks WebSocket"},
		{"101 with a wrong accept", reply(ws, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Sec-WebSocket-Accept"},
		{"101 to h2c", reply(ws, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, `"h2c"`},
		{"200", reply(ws, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Unexpected response code: 200"},
		{"404", reply(ws, "HTTP/1.1 404 Not Found\r\n\r\n"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "path may be wrong"},
		{"502 from a proxy", reply(ws, "HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\n\r\n"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "proxy in front"},
		{"TLS alert to plain ws", reply(ws, "\x15\x03\x01\x00\x02\x02\x46"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks TLS"},
		{"nginx https port", reply(ws, "HTTP/1.1 400 Bad Request\r\n\r\n<center>The plain HTTP request was sent to HTTPS port</center>"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks HTTPS"},
		{"binary garbage", reply(ws, "\x00\x01\x02"), false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "ERR_INVALID_HTTP_RESPONSE"},
		{"ICP page, not mainland known", reply(ws, "HTTP/1.1 403 Forbidden\r\nServer: Beaver\r\n\r\n<title>Non-compliance ICP Filing</title>"), false, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "no ICP filing"},
		{"ICP page, mainland", reply(ws, "HTTP/1.1 302 Found\r\nLocation: https://dnspod.qcloud.com/static/webblock.html?d=chat.example\r\n\r\n"), true, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "Tencent Cloud"},
		{"reset after request, mainland", Exchange{Target: ws, Expect: Expect(ws), Sent: "upgrade", Ending: EndReset}, true, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "Host names a domain"},
		{"reset after request, elsewhere", Exchange{Target: ws, Expect: Expect(ws), Sent: "upgrade", Ending: EndReset}, false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "reset"},
		{"TLS reset, mainland", Exchange{Target: wss, Expect: Expect(wss), TLSEnding: EndReset}, true, report.Reject, report.CauseICPFilingBlock, report.TLSError, "SNI names a domain without an ICP filing"},
		{"TLS reset, mainland, IP host", Exchange{Target: https, Expect: Expect(https), TLSEnding: EndReset}, true, report.Reject, report.CauseProtocolMismatch, report.TLSError, "reset during the TLS handshake"},
		{"TLS to plain HTTP", Exchange{Target: wss, Expect: Expect(wss), TLSEnding: EndData, TLSRecord: []byte("HTTP/1.1 400 Bad Request\r\n")}, false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "ERR_SSL_PROTOCOL_ERROR"},
		{"TLS to an HTML error page", Exchange{Target: wss, Expect: Expect(wss), TLSEnding: EndData, TLSRecord: []byte("<!DOCTYPE HTML>\n<html><head>")}, false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks plain HTTP"},
		{"TLS to garbage", Exchange{Target: wss, Expect: Expect(wss), TLSEnding: EndData, TLSRecord: []byte("SSH-2")}, false, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "no TLS record"},
		{"TLS alert", Exchange{Target: wss, Expect: Expect(wss), TLSEnding: EndError, TLSError: "remote error: tls: unrecognized name"}, false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "unrecognized name"},
		{"certificate fine", cert(valid), false, report.Allow, "", "", "TLS 1.3"},
		{"certificate name", cert(CertInfo{Names: []string{"other.example"}, HostError: "x509: certificate is valid for other.example, not chat.example", NotAfter: now.Add(time.Hour)}), false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "ERR_CERT_COMMON_NAME_INVALID"},
		{"certificate expired", cert(CertInfo{Names: []string{"chat.example"}, NotAfter: now.Add(-time.Hour)}), false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "expired on 2026-05-31"},
		{"certificate not yet valid", cert(CertInfo{Names: []string{"chat.example"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)}), false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "not valid before"},
		{"certificate chain", cert(CertInfo{Names: []string{"chat.example"}, NotAfter: now.Add(time.Hour), ChainError: "x509: certificate signed by unknown authority"}), false, report.Reject, report.CauseProtocolMismatch, report.TLSError, "unknown authority"},
		{"read error", Exchange{Target: ws, Expect: Expect(ws), Sent: "upgrade", Ending: EndError, Err: "boom"}, false, report.Unknown, "", "", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ClassifyExchange(tt.x, ClassifyOptions{MainlandChina: tt.mainland})
			if s.Decision != tt.dec || s.Cause != tt.cause || s.Symptom != tt.sym {
				t.Errorf("got %s cause %q symptom %q (%s); want %s %q %q", s.Decision, s.Cause, s.Symptom, s.Detail, tt.dec, tt.cause, tt.sym)
			}
			if !strings.Contains(s.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", s.Detail, tt.detail)
			}
			if s.Cause == report.CauseICPFilingBlock && len(s.Fix) == 0 {
				t.Error("an ICP block without a fix")
			}
		})
	}
}

func TestWebSocketAccept(t *testing.T) {
	// RFC 6455 §1.3's example.
	if got := WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept = %q", got)
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nServer: Beaver\r\n\r\n<title>Non-compliance ICP Filing</title>"))
	f.Add([]byte("HTTP/1.0 302\nLocation: webblock.html\n\n"))
	f.Add([]byte("\x16\x03\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err == nil && (r.Status < 100 || r.Status > 999) {
			t.Fatalf("status %d accepted", r.Status)
		}
		tgt := report.Target{Input: "ws://a.example", Host: "a.example", Port: 80, Transport: "tcp", Scheme: "ws"}
		for _, m := range []bool{false, true} {
			s := ClassifyExchange(Exchange{Target: tgt, Expect: Expect(tgt), Sent: "upgrade", Reply: b, Ending: EndData}, ClassifyOptions{MainlandChina: m})
			if s.Decision == report.Allow && !strings.HasPrefix(string(b), "HTTP/") {
				t.Fatalf("a non-HTTP reply allowed: %q", b)
			}
		}
	})
}
