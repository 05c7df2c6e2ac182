package explain

import (
	"slices"
	"strings"
	"testing"

	"github.com/portpath/portpath/probe"
)

func table(t testing.TB) *Table {
	t.Helper()
	tb, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// Every row: each of its examples is recognised, first, as that row.
func TestMessageTable(t *testing.T) {
	tb := table(t)
	for _, m := range tb.Messages {
		t.Run(m.ID, func(t *testing.T) {
			for _, ex := range m.Examples {
				got := tb.Match(ex)
				if len(got) == 0 {
					t.Fatalf("%q is not recognised", ex)
				}
				if got[0].Message.ID != m.ID {
					t.Errorf("%q is recognised first as %s, want %s", ex, got[0].Message.ID, m.ID)
				}
				if len(got[0].Causes) == 0 || got[0].Causes[0].Next == "" {
					t.Errorf("%s: no cause with a next check", m.ID)
				}
			}
		})
	}
}

func TestMatchOrderAndClasses(t *testing.T) {
	tb := table(t)
	tests := []struct {
		text string
		want []string // row ids, in order
	}{
		{"WebSocket connection to 'ws://a.example:8282/' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED", []string{"chrome-refused"}},
		{"Error during WebSocket handshake: Unexpected response code: 200", []string{"chrome-ws-code-200"}},
		{"curl: (7) Failed to connect to a.example port 80 after 2 ms: No route to host", []string{"curl-no-route"}},
		{"java.net.SocketTimeoutException: connect timed out", []string{"java-timeout"}},
		{"the weather is nice today", nil},
		{"", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range tb.Match(tt.text) {
			got = append(got, m.Message.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestCausesInOrder(t *testing.T) {
	tb := table(t)
	m := tb.Match("connect: connection refused")
	if len(m) == 0 || m[0].Causes[0].Code != "NOT_LISTENING" {
		t.Fatalf("refused: %+v", m)
	}
	m = tb.Match("connect: connection timed out")
	if len(m) == 0 || m[0].Causes[0].Code != "CLOUD_SG_NO_ALLOW" {
		t.Fatalf("timeout: %+v", m)
	}
	tgt, _ := probe.ParseTarget("ws://a.example:8282/")
	c := Fill(tb.Causes["ws-plain-http"][0], tgt)
	if !strings.Contains(c.Why, "websocket://0.0.0.0:8282") {
		t.Errorf("filled cause %q lacks the port", c.Why)
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"WebSocket connection to 'ws://example.com:8282/' failed: Error during WebSocket handshake: Unexpected response code: 200", []string{"ws://example.com:8282/"}},
		{"WebSocket connection to 'wss://[2001:db8::1]/chat?x=1' failed", []string{"wss://[2001:db8::1]/chat?x=1"}},
		{"curl: (7) Failed to connect to example.com port 8282 after 3 ms: Connection refused", []string{"example.com:8282"}},
		{"HTTPConnectionPool(host='203.0.113.10', port=8282): Max retries exceeded", []string{"203.0.113.10:8282"}},
		{"dial tcp 203.0.113.10:8282: connect: connection refused", []string{"203.0.113.10:8282"}},
		{"dial udp [2001:db8::1]:53: connect: network is unreachable", []string{"udp://[2001:db8::1]:53"}},
		{"read tcp 192.0.2.5:51234->203.0.113.10:443: read: connection reset by peer", []string{"203.0.113.10:443"}},
		{"Error: connect ECONNREFUSED 127.0.0.1:8282", []string{"127.0.0.1:8282"}},
		{"dial tcp: lookup chat.exmaple.com on 127.0.0.53:53: no such host", nil},
		{"stream_socket_client(): unable to connect to tcp://203.0.113.10:8282 (Connection refused)", []string{"tcp://203.0.113.10:8282"}},
		{"connection refused", nil},
		{"由于目标计算机积极拒绝，无法连接。 10.0.0.5:3306", []string{"10.0.0.5:3306"}},
		{"version 1.2.3.4:99999", nil},
	}
	for _, tt := range tests {
		if got := Targets(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("Targets(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "{",
		"no messages":   `{"causes":{"a":[{"code":"NOT_LISTENING"}]},"messages":[]}`,
		"unknown class": `{"causes":{"a":[{"code":"NOT_LISTENING"}]},"messages":[{"id":"x","class":"b","pattern":"x","examples":["x"]}]}`,
		"bad code":      `{"causes":{"a":[{"code":"NOPE"}]},"messages":[{"id":"x","class":"a","pattern":"x","examples":["x"]}]}`,
		"bad pattern":   `{"causes":{"a":[{"code":"NOT_LISTENING"}]},"messages":[{"id":"x","class":"a","pattern":"(","examples":["x"]}]}`,
		"duplicate id":  `{"causes":{"a":[{"code":"NOT_LISTENING"}]},"messages":[{"id":"x","class":"a","pattern":"x","examples":["x"]},{"id":"x","class":"a","pattern":"y","examples":["y"]}]}`,
		"no example":    `{"causes":{"a":[{"code":"NOT_LISTENING"}]},"messages":[{"id":"x","class":"a","pattern":"x"}]}`,
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "messages.json") {
			t.Errorf("%s: err %v, want an error naming messages.json", name, err)
		}
	}
}

func FuzzExplain(f *testing.F) {
	tb := table(f)
	for _, m := range tb.Messages {
		f.Add(m.Examples[0])
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range tb.Match(s) {
			if !strings.Contains(s, m.Text) {
				t.Fatalf("match %q not in the text", m.Text)
			}
		}
		for _, tg := range Targets(s) {
			if _, err := probe.ParseTarget(tg); err != nil {
				t.Fatalf("target %q: %v", tg, err)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add(messagesJSON)
	f.Add([]byte(`{"causes":{},"messages":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(b)
	})
}
