package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// init keeps every test of this package away from real Tencent Cloud credentials and from
// the CVM metadata service.
func init() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TENCENTCLOUD_") || k == "TCCLI_PROFILE" {
			os.Unsetenv(k)
		}
	}
	os.Setenv("TENCENTCLOUD_METADATA_DISABLED", "true")
}

var tcScope = regexp.MustCompile(`/([a-z]+)/tc3_request`)

// tencentCLICloud answers API 3.0 calls for one CVM whose only security group drops tcp/8080
// and accepts everything else; it records the actions called.
func tencentCLICloud(t *testing.T) (*httptest.Server, *[]string) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := tcScope.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			http.Error(w, "unsigned", http.StatusBadRequest)
			return
		}
		action := m[1] + ":" + r.Header.Get("X-TC-Action")
		calls = append(calls, action)
		var resp any
		switch action {
		case "cvm:DescribeInstances":
			resp = map[string]any{"TotalCount": 1, "InstanceSet": []map[string]any{{"InstanceId": "ins-cli", "InstanceName": "api", "InstanceState": "RUNNING",
				"PrivateIpAddresses": []string{"10.2.0.5"}, "PublicIpAddresses": []string{"203.0.113.30"}, "SecurityGroupIds": []string{"sg-cli"},
				"VirtualPrivateCloud": map[string]string{"VpcId": "vpc-cli", "SubnetId": "subnet-cli"}}}}
		case "lighthouse:DescribeInstances":
			resp = map[string]any{"TotalCount": 0, "InstanceSet": []any{}}
		case "vpc:DescribeNetworkAcls":
			resp = map[string]any{"TotalCount": 0, "NetworkAclSet": []any{}}
		case "vpc:DescribeSecurityGroupPolicies":
			resp = map[string]any{"SecurityGroupPolicySet": map[string]any{"Version": "2", "Ingress": []map[string]any{
				{"PolicyIndex": 0, "Protocol": "TCP", "Port": "8080", "CidrBlock": "0.0.0.0/0", "Action": "DROP"},
				{"PolicyIndex": 1, "Protocol": "ALL", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}}}}
		default:
			resp = map[string]any{"Error": map[string]string{"Code": "InvalidAction", "Message": action}}
		}
		json.NewEncoder(w).Encode(map[string]any{"Response": resp})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestCheckTencent(t *testing.T) {
	creds := map[string]string{"TENCENTCLOUD_SECRET_ID": "AKIDCLITEST", "TENCENTCLOUD_SECRET_KEY": "cli-secret-value"}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		wantCause string
		wantSG    report.Decision // "" means no security-group step
	}{
		{name: "security group drops", env: creds, args: []string{"check", "203.0.113.30:8080", "--tencent-endpoint", "FAKE"},
			wantCode: exitBlocked, wantCause: report.CauseCloudSGDeny, wantSG: report.Drop},
		{name: "endpoint from the environment", env: map[string]string{"TENCENTCLOUD_SECRET_ID": "AKIDCLITEST", "TENCENTCLOUD_SECRET_KEY": "cli-secret-value", "PORTPATH_TENCENT_ENDPOINT": "FAKE"},
			args: []string{"check", "203.0.113.30:443"}, wantCode: exitOpen, wantSG: report.Allow},
		{name: "no credentials", args: []string{"check", "203.0.113.30:8080", "--tencent-endpoint", "FAKE"}, wantCode: exitInconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := tencentCLICloud(t)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "FAKE", srv.URL))
			}
			args := append([]string{}, tt.args...)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "FAKE", srv.URL)
			}
			args = append(args, "--provider", "tencent", "--region", "ap-guangzhou", "--no-probe", "-o", "json")
			r, stdout, stderr := runCLIJSON(t, tt.wantCode, args...)
			if tt.wantCause != "" && (r.Cause == nil || r.Cause.Code != tt.wantCause || r.Cause.Step != "tencent.security-group") {
				t.Errorf("cause %+v; want %s from tencent.security-group", r.Cause, tt.wantCause)
			}
			var sg, cred *report.Step
			for i, s := range r.Steps {
				switch s.Layer {
				case "tencent.security-group":
					sg = &r.Steps[i]
				case "tencent.credentials":
					cred = &r.Steps[i]
				}
			}
			if tt.wantSG == "" {
				if sg != nil || cred == nil || cred.Decision != report.Skipped || len(*calls) != 0 {
					t.Errorf("steps %+v, calls %v; want one skipped credentials step and no call", r.Steps, *calls)
				}
				return
			}
			if sg == nil || sg.Decision != tt.wantSG {
				t.Fatalf("security-group step %+v; want %s", sg, tt.wantSG)
			}
			if tt.wantSG == report.Drop && !strings.Contains(strings.Join(sg.Fix, "\n"), "tccli vpc CreateSecurityGroupPolicies --region ap-guangzhou --SecurityGroupId sg-cli") {
				t.Errorf("fix %q", sg.Fix)
			}
			assertNoSecrets(t, stdout+stderr, "cli-secret-value")
			assertReadOnly(t, *calls, "cvm:Describe", "vpc:Describe", "lighthouse:Describe")
		})
	}
}
