package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/report"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestProxyFor(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		env      map[string]string
		wantVar  string
		wantHost string
		wantExcl bool
		wantBad  bool
	}{
		{"none", "https://app.test", nil, "", "", false, false},
		{"https proxy for wss", "wss://app.test:8443", map[string]string{"HTTPS_PROXY": "http://proxy.corp:3128"}, "HTTPS_PROXY", "proxy.corp:3128", false, false},
		{"lower case wins", "https://app.test", map[string]string{"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"}, "https_proxy", "b:2", false, false},
		{"http proxy for ws, default port", "ws://app.test:8282", map[string]string{"HTTP_PROXY": "http://proxy.corp"}, "HTTP_PROXY", "proxy.corp:80", false, false},
		{"https proxy does not apply to http", "http://app.test", map[string]string{"HTTPS_PROXY": "http://p:1"}, "", "", false, false},
		{"all_proxy for raw tcp", "app.test:8282", map[string]string{"ALL_PROXY": "socks5://127.0.0.1:7890", "HTTP_PROXY": "http://p:1"}, "ALL_PROXY", "127.0.0.1:7890", false, false},
		{"all_proxy socks default port", "tcp://app.test:22", map[string]string{"all_proxy": "socks5h://gw"}, "all_proxy", "gw:1080", false, false},
		{"all_proxy when no https proxy", "https://app.test", map[string]string{"ALL_PROXY": "http://p:8"}, "ALL_PROXY", "p:8", false, false},
		{"no_proxy suffix", "https://api.app.test", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".app.test"}, "HTTPS_PROXY", "", true, false},
		{"no_proxy cidr", "https://10.1.2.3", map[string]string{"HTTPS_PROXY": "http://p:1", "no_proxy": "10.0.0.0/8"}, "HTTPS_PROXY", "", true, false},
		{"loopback never proxied", "https://127.0.0.1:8443", map[string]string{"HTTPS_PROXY": "http://p:1"}, "HTTPS_PROXY", "", true, false},
		{"udp not proxied", "udp://app.test:53", map[string]string{"ALL_PROXY": "socks5://p:1"}, "", "", false, false},
		{"bad url hides its value", "https://app.test", map[string]string{"HTTPS_PROXY": "http://user:s3cret@[bad"}, "HTTPS_PROXY", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			u := ProxyFor(envOf(tt.env), tgt)
			if u.Var != tt.wantVar || u.Proxy != tt.wantHost || u.Excluded != tt.wantExcl || (u.Bad != "") != tt.wantBad {
				t.Errorf("got %+v", u)
			}
			if strings.Contains(u.Bad, "s3cret") {
				t.Error("the password appears in the message")
			}
		})
	}
}

func TestProxyStepsConnectToTheProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name      string
		target    string
		env       map[string]string
		wantDec   report.Decision
		wantSym   report.Symptom
		wantIn    string
		wantSteps int
	}{
		{"working proxy", "https://app.test:8443", map[string]string{"HTTPS_PROXY": "http://user:pw@" + l.Addr().String()}, report.Unknown, "", "which accepts connections", 1},
		{"dead proxy", "https://app.test:8443", map[string]string{"HTTPS_PROXY": "http://" + closedAddr}, report.Reject, report.Refused, "cannot be reached (refused)", 1},
		{"dead socks proxy, raw tcp", "app.test:8282", map[string]string{"ALL_PROXY": "socks5://" + closedAddr}, report.Unknown, report.Refused, "most raw TCP clients ignore it", 1},
		{"excluded", "https://app.test:8443", map[string]string{"HTTPS_PROXY": "http://" + closedAddr, "NO_PROXY": "app.test"}, report.Allow, "", "NO_PROXY", 1},
		{"not set", "https://app.test:8443", nil, "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			steps := proxySteps(context.Background(), ClientOptions{Getenv: envOf(tt.env), Timeout: time.Second}, tgt)
			if len(steps) != tt.wantSteps {
				t.Fatalf("%d steps: %+v", len(steps), steps)
			}
			if tt.wantSteps == 0 {
				return
			}
			st := steps[0]
			if st.Layer != "client.proxy" || st.Decision != tt.wantDec || st.Symptom != tt.wantSym || !strings.Contains(st.Detail, tt.wantIn) {
				t.Errorf("got %s %q %q", st.Decision, st.Symptom, st.Detail)
			}
			if st.Decision != report.Allow && st.Cause != report.CauseClientProxy {
				t.Errorf("cause %q", st.Cause)
			}
			for _, s := range append([]string{st.Detail}, st.Fix...) {
				if strings.Contains(s, "pw@") || strings.Contains(s, "user:") {
					t.Errorf("credentials in %q", s)
				}
			}
		})
	}
}

func TestFakeIPSteps(t *testing.T) {
	tgt, _ := ParseTarget("app.test:8282")
	steps := FakeIPSteps(tgt, addrs("198.18.0.7", "192.0.2.1", "198.19.255.1", "198.20.0.1"))
	if len(steps) != 2 || steps[0].Address != "198.18.0.7" || steps[1].Address != "198.19.255.1" {
		t.Fatalf("steps %+v", steps)
	}
	if s := steps[0]; s.Layer != "client.proxy" || s.Decision != report.Unknown || s.Cause != report.CauseClientProxy || !strings.Contains(s.Detail, "fake-IP") || len(s.Fix) == 0 {
		t.Errorf("step %+v", s)
	}
}

func TestClientStepsRunTogether(t *testing.T) {
	tgt, _ := ParseTarget("10.0.3.15:8001")
	steps := ClientSteps(context.Background(), ClientOptions{ProcRoot: "testdata/proc-exhausted", Getenv: envOf(nil)}, tgt, addrs("10.0.3.15"))
	var layers []string
	for _, s := range steps {
		layers = append(layers, s.Layer+"="+string(s.Decision))
	}
	// testdata/proc-exhausted has sysctls and sockets but no routing table.
	if got := strings.Join(layers, " "); got != "client.route=unknown client.ports=allow" {
		t.Errorf("steps %s", got)
	}
}
