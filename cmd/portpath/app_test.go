package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// loopbackResolver answers every name with 127.0.0.1, so that a name (for SNI and Host)
// reaches a test server on loopback.
type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// appServers starts the real peers: a WebSocket server (github.com/coder/websocket) on /ws
// and plain HTTP elsewhere, the same over TLS (httptest's certificate names example.com
// and 127.0.0.1), a banner server, a silent server and an ICP interception page.
func appServers(t *testing.T) (plain, secure, banner, silent, icp string) {
	t.Helper()
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
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain http\n") })
	p := httptest.NewServer(mux)
	s := httptest.NewUnstartedServer(mux)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	i := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "Beaver")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<html><head><title>Non-compliance ICP Filing</title></head></html>")
	}))
	t.Cleanup(func() { p.Close(); s.Close(); i.Close() })
	tcp := func(handle func(net.Conn)) string {
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
		return ln.Addr().String()
	}
	banner = tcp(func(c net.Conn) { io.WriteString(c, "220 mail.example ESMTP\r\n"); time.Sleep(time.Second) })
	silent = tcp(func(c net.Conn) { time.Sleep(3 * time.Second) })
	hostOf := func(u string) string { return u[strings.Index(u, "://")+3:] }
	return hostOf(p.URL), hostOf(s.URL), banner, silent, hostOf(i.URL)
}

// checkJSON runs the check through buildReport with the loopback resolver and returns the report.
func checkJSON(t *testing.T, target string, timeout time.Duration, extra ...func(*checkOptions)) report.Report {
	t.Helper()
	o := &checkOptions{Target: target, From: netip.MustParsePrefix("0.0.0.0/0"), Timeout: timeout,
		Format: report.FormatJSON, Resolver: loopbackResolver{}, Cloud: cloudOptions{Providers: []string{"none"}}}
	for _, f := range extra {
		f(o)
	}
	var out bytes.Buffer
	o.Out = &out
	err := checkRun(t.Context(), o)
	if _, ok := err.(*verdictError); !ok {
		t.Fatalf("check %s: %v", target, err)
	}
	var r report.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("check %s: %v\n%s", target, err, out.String())
	}
	return r
}

func appStep(t *testing.T, r report.Report) report.Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Layer == "app.protocol" {
			return s
		}
	}
	t.Fatalf("no app.protocol step in %+v", r.Steps)
	return report.Step{}
}

func TestCheckAppProtocol(t *testing.T) {
	plain, secure, banner, silent, icp := appServers(t)
	port := func(hp string) string { return hp[strings.LastIndexByte(hp, ':')+1:] }
	tests := []struct {
		name      string
		target    string
		verdict   report.Verdict
		decision  report.Decision
		cause     string // the report's cause code; "" for open
		predicted report.Symptom
		detail    string
	}{
		{"WebSocket server", "ws://" + plain + "/ws", report.Open, report.Allow, "", "", "101 Switching Protocols"},
		{"ws to plain HTTP", "ws://" + plain + "/", report.Blocked, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "Unexpected response code: 200"},
		{"wss to plain HTTP", "wss://" + plain + "/ws", report.Blocked, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks plain HTTP, not TLS"},
		{"ws to TLS", "ws://" + secure + "/ws", report.Blocked, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "speaks HTTPS"},
		{"wss with a wrong certificate name", "wss://wrong.test:" + port(secure) + "/ws", report.Blocked, report.Reject, report.CauseProtocolMismatch, report.TLSError, "not wrong.test"},
		{"ws to a banner server", "ws://" + banner, report.Blocked, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "ERR_INVALID_HTTP_RESPONSE"},
		{"tcp to a banner server", "tcp://" + banner, report.Open, report.Allow, "", "", "220 mail.example ESMTP"},
		{"http to a silent server", "http://" + silent, report.Blocked, report.Reject, report.CauseProtocolMismatch, report.ProtocolMismatch, "did not answer"},
		{"ICP page", "http://unfiled.example:" + port(icp), report.Blocked, report.Reject, report.CauseICPFilingBlock, report.ProtocolMismatch, "Non-compliance ICP Filing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkJSON(t, tt.target, time.Second)
			s := appStep(t, r)
			if r.Verdict != tt.verdict || s.Decision != tt.decision {
				t.Errorf("verdict %s, app.protocol %s (%s); want %s, %s", r.Verdict, s.Decision, s.Detail, tt.verdict, tt.decision)
			}
			if tt.cause != "" && (r.Cause == nil || r.Cause.Code != tt.cause || r.Cause.Step != "app.protocol") {
				t.Errorf("cause %+v, want %s at app.protocol", r.Cause, tt.cause)
			}
			if tt.predicted != "" && (r.Symptom == nil || r.Symptom.Predicted != tt.predicted || r.Symptom.Observed != report.Connected) {
				t.Errorf("symptom %+v, want predicted %s, observed connected", r.Symptom, tt.predicted)
			}
			if !strings.Contains(s.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", s.Detail, tt.detail)
			}
			for _, n := range r.Notes {
				if strings.Contains(n, "app.protocol blocks the source set") {
					t.Errorf("misleading note: %s", n)
				}
			}
		})
	}
}

func TestCheckAppSkipped(t *testing.T) {
	plain, _, _, _, _ := appServers(t)
	for _, tt := range []struct {
		name, target, detail string
		noProbe              bool
	}{
		{"no probe", "ws://" + plain + "/", "--no-probe", true},
		{"no scheme", plain, "names no protocol", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := checkJSON(t, tt.target, time.Second, func(o *checkOptions) { o.NoProbe = tt.noProbe })
			if s := appStep(t, r); s.Decision != report.Skipped || !strings.Contains(s.Detail, tt.detail) {
				t.Errorf("app.protocol %s %q; want skipped with %q", s.Decision, s.Detail, tt.detail)
			}
		})
	}
}

// A target that drops: the handshake is not tried, and the check says timeout. How long it
// takes against --timeout is BenchmarkCheckDropWithinTimeout's to measure.
func TestCheckAppDropped(t *testing.T) {
	const timeout = 400 * time.Millisecond
	// 192.0.2.0/24 (TEST-NET-1) is never routed; the dialer below never connects either way,
	// so no packet leaves: it waits for the context like a dropped SYN does.
	drop := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r := checkJSON(t, "ws://192.0.2.10:8282/", timeout, func(o *checkOptions) {
		o.Resolver = nil
		o.Prober = &probe.Prober{Dial: drop}
	})
	if s := appStep(t, r); s.Decision != report.Skipped {
		t.Errorf("app.protocol %s %q; want skipped (no connection)", s.Decision, s.Detail)
	}
	if r.Verdict != report.Blocked || r.Symptom == nil || r.Symptom.Observed != report.Timeout {
		t.Errorf("verdict %s symptom %+v; want blocked, observed timeout", r.Verdict, r.Symptom)
	}
}

// slowResolver answers like loopbackResolver after a delay.
type slowResolver time.Duration

func (d slowResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	select {
	case <-time.After(time.Duration(d)):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return loopbackResolver{}.LookupNetIP(ctx, network, host)
}

// --timeout is one budget: a lookup that takes most of it leaves the probe the rest, and the
// report says so; one that outlasts it is a DNS failure, not a wait beyond --timeout.
func TestCheckTimeoutIsOneBudget(t *testing.T) {
	plain, _, _, _, _ := appServers(t)
	target := "ws://app.test:" + plain[strings.LastIndexByte(plain, ':')+1:] + "/ws"
	r := checkJSON(t, target, 400*time.Millisecond, func(o *checkOptions) { o.Resolver = slowResolver(250 * time.Millisecond) })
	if !slices.ContainsFunc(r.Notes, func(n string) bool {
		return strings.Contains(n, "the DNS lookup took") && strings.Contains(n, "of --timeout 400ms")
	}) {
		t.Errorf("no note on the time the lookup took: %q", r.Notes)
	}
	if s := appStep(t, r); s.Decision != report.Allow {
		t.Errorf("app.protocol %s %q: the rest of the budget should do for a loopback server", s.Decision, s.Detail)
	}
	r = checkJSON(t, target, 200*time.Millisecond, func(o *checkOptions) { o.Resolver = slowResolver(time.Minute) })
	if r.Cause == nil || r.Cause.Code != report.CauseDNSFailure {
		t.Errorf("cause %+v, want DNS_FAILURE when the lookup outlasts --timeout", r.Cause)
	}
	r = checkJSON(t, target, time.Second)
	if slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "the DNS lookup took") }) {
		t.Errorf("a quick lookup got the note: %q", r.Notes)
	}
}

func TestMainlandRegion(t *testing.T) {
	for r, want := range map[string]bool{"cn-hangzhou": true, "cn-hongkong": false, "ap-guangzhou": true, "ap-shanghai-fsi": true,
		"ap-hongkong": false, "ap-singapore": false, "us-east-1": false, "": false} {
		if got := mainlandRegion(r); got != want {
			t.Errorf("mainlandRegion(%q) = %v, want %v", r, got, want)
		}
	}
	steps := []report.Step{{Layer: "tencent.instance", Rule: &report.Rule{Origin: "lighthouse ap-guangzhou"}}}
	if !mainlandChina(steps) || mainlandChina([]report.Step{{Layer: "aws.instance", Rule: &report.Rule{Origin: "cn-north-1"}}}) {
		t.Error("mainlandChina does not read the instance's region")
	}
}

// tencentMainlandCloud answers API 3.0 calls for one running CVM in ap-guangzhou that owns
// 127.0.0.1, with a security group that accepts everything.
func tencentMainlandCloud(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := tcScope.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			http.Error(w, "unsigned", http.StatusBadRequest)
			return
		}
		var resp any
		switch m[1] + ":" + r.Header.Get("X-TC-Action") {
		case "cvm:DescribeInstances":
			resp = map[string]any{"TotalCount": 1, "InstanceSet": []map[string]any{{"InstanceId": "ins-gz", "InstanceName": "web", "InstanceState": "RUNNING",
				"PrivateIpAddresses": []string{"10.2.0.5"}, "PublicIpAddresses": []string{"127.0.0.1"}, "SecurityGroupIds": []string{"sg-gz"},
				"VirtualPrivateCloud": map[string]string{"VpcId": "vpc-gz", "SubnetId": "subnet-gz"}}}}
		case "lighthouse:DescribeInstances":
			resp = map[string]any{"TotalCount": 0, "InstanceSet": []any{}}
		case "vpc:DescribeNetworkAcls":
			resp = map[string]any{"TotalCount": 0, "NetworkAclSet": []any{}}
		case "vpc:DescribeSecurityGroupPolicies":
			resp = map[string]any{"SecurityGroupPolicySet": map[string]any{"Version": "1", "Ingress": []map[string]any{
				{"PolicyIndex": 0, "Protocol": "ALL", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}}}}
		default:
			resp = map[string]any{"Error": map[string]string{"Code": "InvalidAction", "Message": "unexpected"}}
		}
		json.NewEncoder(w).Encode(map[string]any{"Response": resp})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A server that resets the TLS handshake of a named host: with the instance in a mainland
// region (from the cloud step) it is the ICP filing block; without, a TLS error.
func TestCheckAppICPReset(t *testing.T) {
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
			go func() {
				c.Read(make([]byte, 2048))
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	target := "https://unfiled.example:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:") + "/"
	srv := tencentMainlandCloud(t)
	t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDAPPTEST")
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "app-secret-value")
	for _, tt := range []struct {
		name  string
		cloud cloudOptions
		cause string
	}{
		// a loopback target asks no cloud by address, so the instance is named
		{"mainland instance", cloudOptions{Providers: []string{"tencent"}, Regions: []string{"ap-guangzhou"}, TencentEndpoint: srv.URL, Instance: "ins-gz"}, report.CauseICPFilingBlock},
		{"no cloud", cloudOptions{Providers: []string{"none"}}, report.CauseProtocolMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := checkJSON(t, target, time.Second, func(o *checkOptions) { o.Cloud = tt.cloud })
			s := appStep(t, r)
			if s.Cause != tt.cause || s.Symptom != report.TLSError || r.Cause == nil || r.Cause.Code != tt.cause {
				t.Errorf("app.protocol %s cause %q symptom %q (%s), report cause %+v; want %s, tls-error", s.Decision, s.Cause, s.Symptom, s.Detail, r.Cause, tt.cause)
			}
		})
	}
}
