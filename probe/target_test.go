package probe

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in        string
		host      string
		port      int
		transport string
		scheme    string
	}{
		{"example.com:8282", "example.com", 8282, "tcp", ""},
		{"EXAMPLE.com.:80", "EXAMPLE.com.", 80, "tcp", ""},
		{"localhost:1", "localhost", 1, "tcp", ""},
		{"203.0.113.10:65535", "203.0.113.10", 65535, "tcp", ""},
		{"203.0.113.10:0080", "203.0.113.10", 80, "tcp", ""},
		{"[::1]:80", "::1", 80, "tcp", ""},
		{"[2001:db8::1]:443", "2001:db8::1", 443, "tcp", ""},
		{"[::ffff:192.0.2.1]:22", "::ffff:192.0.2.1", 22, "tcp", ""},
		{"[fe80::1%eth0]:80", "fe80::1%eth0", 80, "tcp", ""},
		{"my_host-1.internal:8080", "my_host-1.internal", 8080, "tcp", ""},
		{" example.com:80 ", "example.com", 80, "tcp", ""},
		{"ws://example.com:8282", "example.com", 8282, "tcp", "ws"},
		{"ws://example.com:8282/chat?room=1#x", "example.com", 8282, "tcp", "ws"},
		{"ws://example.com", "example.com", 80, "tcp", "ws"},
		{"ws://example.com:80/user@x", "example.com", 80, "tcp", "ws"},
		{"wss://example.com/socket", "example.com", 443, "tcp", "wss"},
		{"http://example.com", "example.com", 80, "tcp", "http"},
		{"http://example.com:/", "example.com", 80, "tcp", "http"},
		{"https://example.com?q=1", "example.com", 443, "tcp", "https"},
		{"HTTPS://Example.com:8443/", "Example.com", 8443, "tcp", "https"},
		{"http://[2001:db8::1]/", "2001:db8::1", 80, "tcp", "http"},
		{"https://[2001:db8::1]:8443/x", "2001:db8::1", 8443, "tcp", "https"},
		{"http://[fe80::1%25eth0]:8080/", "fe80::1%eth0", 8080, "tcp", "http"},
		{"http://[fe80::1%eth0]:8080/", "fe80::1%eth0", 8080, "tcp", "http"},
		{"tcp://10.0.0.5:5432", "10.0.0.5", 5432, "tcp", "tcp"},
		{"tcp://db.internal:5432/", "db.internal", 5432, "tcp", "tcp"},
		{"udp://192.0.2.1:53", "192.0.2.1", 53, "udp", "udp"},
		{"udp://[2001:db8::53]:53", "2001:db8::53", 53, "udp", "udp"},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		want := report.Target{Input: tt.in, Host: tt.host, Port: tt.port, Transport: tt.transport, Scheme: tt.scheme}
		if got.Input != want.Input || got.Host != want.Host || got.Port != want.Port ||
			got.Transport != want.Transport || got.Scheme != want.Scheme || got.Addresses != nil {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tt.in, got, want)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string // words the message must contain
	}{
		{"", []string{"empty target"}},
		{"   ", []string{"empty target"}},
		{"example.com", []string{"missing port", `"example.com"`, "example.com:PORT"}},
		{"example.com:", []string{"missing port"}},
		{"[2001:db8::1]", []string{"missing port", "[2001:db8::1]:PORT"}},
		{"tcp://example.com", []string{"missing port", "tcp://", "no default port"}},
		{"udp://example.com/", []string{"missing port", "udp://"}},
		{"example.com:0", []string{"port 0", "1-65535"}},
		{"example.com:000", []string{"port 0", "1-65535"}},
		{"http://example.com:0/", []string{"port 0"}},
		{"example.com:65536", []string{"65536", "out of range", "1-65535"}},
		{"example.com:99999999999999999999", []string{"out of range"}},
		{"example.com:http", []string{`port "http"`, "not a number"}},
		{"example.com:-1", []string{`port "-1"`, "not a number"}},
		{"example.com:+80", []string{`port "+80"`, "not a number"}},
		{"example.com:8 0", []string{"not a number"}},
		{"ftp://x", []string{`unknown scheme "ftp" in "ftp://x" (want ws, wss, http, https, tcp, udp)`}},
		{"FTP://x", []string{`unknown scheme "ftp"`}},
		{"://x:80", []string{"missing scheme"}},
		{":80", []string{"empty host"}},
		{"[]:80", []string{"empty host"}},
		{"http://", []string{"empty host"}},
		{"http://:8080/", []string{"empty host"}},
		{"::1:80", []string{"ambiguous", "[::1]:80"}},
		{"2001:db8::1:443", []string{"ambiguous", "[2001:db8::1]:443"}},
		{"fe80::1%eth0:80", []string{"ambiguous", "[fe80::1%eth0]:80"}},
		{"::1", []string{"without brackets or port", "[::1]:PORT"}},
		{"http://::1/", []string{"needs brackets", "[::1]"}},
		{"http://2001:db8::1/", []string{"brackets"}},
		{"a:b:c", []string{"too many", "brackets"}},
		{"[::1:80", []string{`missing "]"`}},
		{"[::1]80", []string{`after "]"`}},
		{"x[::1]:80", []string{"misplaced bracket"}},
		{"[192.0.2.1]:80", []string{"brackets are for IPv6", "192.0.2.1"}},
		{"[example.com]:80", []string{"not an IPv6 address"}},
		{"192.0.2.1%eth0:80", []string{"zone", "bracketed"}},
		{"[fe80::1%eth*0]:80", []string{"zone"}},
		{"[fe80::1%]:80", []string{"not an IPv6 address"}},
		{"http://user:secret@example.com/", []string{"user or password", "remove"}},
		{"ws://admin@example.com:8282", []string{"user or password"}},
		{"tcp://example.com:80/path", []string{"tcp:// takes no path"}},
		{"udp://example.com:53?x", []string{"udp:// takes no path"}},
		{"example.com:80/path", []string{"path or query", "http://example.com:80/path"}},
		{"exa mple.com:80", []string{`contains " "`}},
		{"exam*ple.com:80", []string{`contains "*"`}},
		{"bücher.example:80", []string{"not ASCII", "xn--"}},
		{"a..b:80", []string{"empty label"}},
		{".example.com:80", []string{"empty label"}},
		{".:80", []string{"empty label"}},
		{"-bad.example:80", []string{`begins or ends with "-"`}},
		{strings.Repeat("a", 64) + ".example:80", []string{"longer than 63"}},
		{strings.Repeat("abcdefgh.", 30) + "com:80", []string{"longer than 253"}},
		{"01.2.3.4:80", []string{"not a valid IPv4 address"}},
		{"1.2.3:80", []string{"not a valid IPv4 address"}},
		{"256.1.1.1:80", []string{"not a valid IPv4 address"}},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want an error", tt.in, got)
			continue
		}
		var te *TargetError
		if !errors.As(err, &te) {
			t.Errorf("ParseTarget(%q) error %T, want *TargetError", tt.in, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("ParseTarget(%q) error spans lines: %q", tt.in, msg)
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("ParseTarget(%q) error %q lacks %q", tt.in, msg, w)
			}
		}
		if tt.in != "" && strings.TrimSpace(tt.in) != "" && !strings.Contains(tt.in, "@") && !strings.Contains(msg, strconv.Quote(tt.in)) {
			t.Errorf("ParseTarget(%q) error %q does not name the input", tt.in, msg)
		}
	}
}

func TestParseTargetMasksPassword(t *testing.T) {
	for _, in := range []string{
		"https://deploy:hunter2@example.com/",
		"ftp://deploy:hunter2@example.com/",
		"tcp://deploy:hunter2@example.com",
		"https://deploy:hun/ter2@example.com/", // an unencoded "/" ends the authority early
	} {
		_, err := ParseTarget(in)
		if err == nil {
			t.Errorf("ParseTarget(%q): want an error for a URL with a user and password", in)
			continue
		}
		var te *TargetError
		if !errors.As(err, &te) {
			t.Fatalf("error %T, want *TargetError", err)
		}
		for _, s := range []string{err.Error(), te.Input} {
			if strings.Contains(s, "hunter2") || strings.Contains(s, "deploy") || strings.Contains(s, "hun") {
				t.Errorf("ParseTarget(%q): the password or user leaks: %q", in, s)
			}
		}
		if !strings.Contains(err.Error(), "example.com") {
			t.Errorf("ParseTarget(%q): error %q does not name the host", in, err)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"example.com:80", "[::1]:80", "[fe80::1%eth0]:443", "192.0.2.1:65535", "::1:80",
		"ws://h:8282/p?q", "wss://h", "http://[2001:db8::1]/", "https://[fe80::1%25en0]:8443",
		"tcp://h:1", "udp://h:53", "udp://[fe80::1%252525]:1", "ftp://x", "http://u:p@h", "h:0",
		"h:99999", "[1.2.3.4]:80", "a..b:80", "bücher:80", "://", "[", "]:", "%:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("ParseTarget(%q) error %T, want *TargetError", s, err)
			}
			return
		}
		if tg.Port < 1 || tg.Port > 65535 {
			t.Fatalf("ParseTarget(%q) port %d", s, tg.Port)
		}
		if tg.Host == "" {
			t.Fatalf("ParseTarget(%q) has an empty host", s)
		}
		if tg.Transport != "tcp" && tg.Transport != "udp" {
			t.Fatalf("ParseTarget(%q) transport %q", s, tg.Transport)
		}
		again := net.JoinHostPort(tg.Host, strconv.Itoa(tg.Port))
		if tg.Transport == "udp" {
			// A URL writes the zone separator as %25.
			again = "udp://" + net.JoinHostPort(strings.Replace(tg.Host, "%", "%25", 1), strconv.Itoa(tg.Port))
		}
		tg2, err := ParseTarget(again)
		if err != nil {
			t.Fatalf("ParseTarget(%q) = %+v, but %q does not parse: %v", s, tg, again, err)
		}
		if tg2.Host != tg.Host || tg2.Port != tg.Port || tg2.Transport != tg.Transport {
			t.Fatalf("ParseTarget(%q) = %s %d %s, but %q gives %s %d %s", s, tg.Host, tg.Port, tg.Transport, again, tg2.Host, tg2.Port, tg2.Transport)
		}
	})
}
