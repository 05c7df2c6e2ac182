package tencent

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/portpath/portpath/report"
)

func TestParsePorts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []report.PortRange // nil: every port
		err  bool
	}{
		{"ALL", nil, false},
		{"all", nil, false},
		{"", nil, false},
		{"80", []report.PortRange{{Lo: 80, Hi: 80}}, false},
		{"80,443", []report.PortRange{{Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}}, false},
		{"3306-20000", []report.PortRange{{Lo: 3306, Hi: 20000}}, false},
		{"22, 8000-8010", []report.PortRange{{Lo: 22, Hi: 22}, {Lo: 8000, Hi: 8010}}, false},
		{"20000-3306", nil, true},
		{"http", nil, true},
		{"70000", nil, true},
		{",", nil, true},
	} {
		got, err := parsePorts(c.in)
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("parsePorts(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseService(t *testing.T) {
	for _, c := range []struct {
		in      string
		covers  []string // proto/port pairs covered
		refuses []string
		err     bool
	}{
		{"tcp:8080", []string{"tcp/8080"}, []string{"tcp/8081", "udp/8080"}, false},
		{"udp:99", []string{"udp/99"}, []string{"tcp/99"}, false},
		{"TCP:80,443", []string{"tcp/80", "tcp/443"}, []string{"tcp/81"}, false},
		{"tcp:3306-20000", []string{"tcp/3306", "tcp/20000"}, []string{"tcp/20001"}, false},
		{"tcp", []string{"tcp/1", "tcp/65535"}, []string{"udp/1"}, false},
		{"ALL", []string{"tcp/1", "udp/53"}, nil, false},
		{"icmp", nil, []string{"tcp/1"}, false},
		{"sctp:1", nil, nil, true},
		{"tcp:x", nil, nil, true},
		{":80", nil, nil, true},
	} {
		s, err := parseService(c.in)
		if (err != nil) != c.err {
			t.Errorf("parseService(%q) error %v, want error %v", c.in, err, c.err)
			continue
		}
		for _, pp := range c.covers {
			proto, port := splitPP(t, pp)
			if !s.covers(proto, port) {
				t.Errorf("%q should cover %s", c.in, pp)
			}
		}
		for _, pp := range c.refuses {
			proto, port := splitPP(t, pp)
			if s.covers(proto, port) {
				t.Errorf("%q should not cover %s", c.in, pp)
			}
		}
	}
}

func splitPP(t *testing.T, s string) (string, uint16) {
	proto, port, _ := strings.Cut(s, "/")
	r, err := report.ParsePortRange(port, "-")
	if err != nil {
		t.Fatal(err)
	}
	return proto, r.Lo
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in, from, to string
	}{
		{"10.0.0.1", "10.0.0.1", "10.0.0.1"},
		{"10.0.0.0/24", "10.0.0.0", "10.0.0.255"},
		{"10.0.0.7/24", "10.0.0.0", "10.0.0.255"},
		{"192.0.2.10-192.0.2.20", "192.0.2.10", "192.0.2.20"},
		{"2001:db8::1-2001:db8::ff", "2001:db8::1", "2001:db8::ff"},
		{"2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"},
		{"192.0.2.20-192.0.2.10", "", ""},
		{"10.0.0.1-2001:db8::1", "", ""},
		{"example.com", "", ""},
	} {
		r, err := parseAddress(c.in)
		if c.from == "" {
			if err == nil {
				t.Errorf("parseAddress(%q) = %v, want an error", c.in, r)
			}
			continue
		}
		if err != nil || r.From != netip.MustParseAddr(c.from) || r.To != netip.MustParseAddr(c.to) {
			t.Errorf("parseAddress(%q) = %v, %v; want %s-%s", c.in, r, err, c.from, c.to)
		}
	}
}

// TestUnreadableTemplate: a rule whose template could not be read makes the step unknown
// when it comes before the decision, and does not matter after it.
func TestUnreadableTemplate(t *testing.T) {
	s := func(v string) *string { return &v }
	i := func(v int64) *int64 { return &v }
	pols := []*vpc.SecurityGroupPolicy{
		{PolicyIndex: i(0), Protocol: s("TCP"), Port: s("22"), CidrBlock: s("0.0.0.0/0"), Action: s("ACCEPT")},
		{PolicyIndex: i(1), Protocol: s("TCP"), Port: s("ALL"), AddressTemplate: &vpc.AddressTemplateSpecification{AddressId: s("ipm-gone")}, Action: s("DROP")},
		{PolicyIndex: i(2), Protocol: s("TCP"), Port: s("80"), CidrBlock: s("0.0.0.0/0"), Action: s("ACCEPT")},
	}
	tpl := newTemplates()
	tpl.errs["ipm-gone"] = "not permitted to call vpc:DescribeAddressTemplates"
	dst := netip.MustParseAddr("203.0.113.10")
	rules := flattenPolicies("sg-x", pols, tpl, dst)
	for _, c := range []struct {
		port uint16
		want report.Decision
	}{{22, report.Allow}, {80, report.Unknown}} {
		st := evalSecurityGroups(check{Region: region, Source: netip.MustParsePrefix("0.0.0.0/0"), Dst: dst, Proto: "tcp", Port: c.port}, []string{"sg-x"}, rules)
		if st.Decision != c.want {
			t.Errorf("port %d: %s (%s), want %s", c.port, st.Decision, st.Detail, c.want)
		}
		if c.want == report.Unknown && !strings.Contains(st.Detail, "ipm-gone") {
			t.Errorf("port %d: detail %q should name the template", c.port, st.Detail)
		}
	}
}

// TestMoveKeepsEveryRule: the reordered lists of move fixes hold the same rules.
func TestMoveKeepsEveryRule(t *testing.T) {
	specs := []json.RawMessage{json.RawMessage(`{"a":0}`), json.RawMessage(`{"a":1}`), json.RawMessage(`{"a":2}`)}
	if got := moveBefore(specs, 2, 0); got != `[{"a":2},{"a":0},{"a":1}]` {
		t.Errorf("moveBefore = %s", got)
	}
	if got := insertBefore(specs, 1, map[string]int{"b": 9}); got != `[{"a":0},{"b":9},{"a":1},{"a":2}]` {
		t.Errorf("insertBefore = %s", got)
	}
	if string(specs[0]) != `{"a":0}` || len(specs) != 3 {
		t.Errorf("the input was changed: %s", specs)
	}
}

func TestShellQuote(t *testing.T) {
	if got := shq(`{"PolicyDescription":"it's"}`); got != `'{"PolicyDescription":"it'\''s"}'` {
		t.Errorf("shq = %s", got)
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"ALL", "80", "80,443", "3306-20000", "1-2,3", "-", "65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := parsePorts(s)
		for _, r := range rs {
			if err == nil && r.Lo > r.Hi {
				t.Errorf("%q gave backwards range %v", s, r)
			}
		}
	})
}

func FuzzParseService(f *testing.F) {
	for _, s := range []string{"tcp:8080", "udp:99", "tcp:80,443", "ALL", "icmp", "tcp:1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sv, err := parseService(s)
		if err == nil {
			_ = sv.String()
			_ = sv.covers("tcp", 80)
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "1.1.1.1-1.1.1.9", "::1-::2", "a-b", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseAddress(s)
		if err == nil && !r.Valid() {
			t.Errorf("%q gave an invalid range %v", s, r)
		}
	})
}

func FuzzParseINI(f *testing.F) {
	f.Add("[default]\nsecret_id = a\nsecret_key = b\n")
	f.Add("[x\nk=v")
	f.Add("k=v")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseINI("credentials", strings.NewReader(s))
		if err != nil && !strings.HasPrefix(err.Error(), "credentials") {
			t.Errorf("error %q does not name the file", err)
		}
		_ = m
	})
}

func FuzzParseTccli(f *testing.F) {
	f.Add([]byte(`{"secretId":"a","secretKey":"b","token":"c"}`))
	f.Add([]byte(`{"secretId":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseTccli("default.credential", b)
		if err == nil && (k.id == "") != (k.secret == "") {
			t.Errorf("half a key pair accepted from %q", b)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("secretKey\":\"")) {
			t.Errorf("error quotes the file: %v", err)
		}
	})
}
