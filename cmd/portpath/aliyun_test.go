package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/portpath/portpath/report"
)

// init keeps every test of this package away from real Alibaba Cloud credentials, the
// aliyun CLI and credentials files, and the ECS metadata endpoint (100.100.100.200).
func init() {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ALIBABA_CLOUD_") || strings.HasPrefix(k, "ALICLOUD_") || strings.HasPrefix(k, "ALIBABACLOUD_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	os.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
	os.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", os.DevNull)
}

// aliyunFake answers the Alibaba Cloud RPC API for one ECS instance whose security group
// opens tcp/22 only, and records the actions called.
type aliyunFake struct {
	mu      sync.Mutex
	actions []string
}

func (f *aliyunFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.actions = append(f.actions, q.Get("Action"))
	f.mu.Unlock()
	var out any
	switch q.Get("Version") + " " + q.Get("Action") {
	case "2014-05-26 DescribeInstances":
		var insts []any
		if strings.Contains(q.Get("PublicIpAddresses"), "47.96.2.20") || q.Get("InstanceIds") == `["i-bp1cli"]` {
			insts = append(insts, map[string]any{"InstanceId": "i-bp1cli", "InstanceName": "api", "Status": "Running", "InstanceNetworkType": "vpc",
				"PublicIpAddress": map[string]any{"IpAddress": []string{"47.96.2.20"}}, "SecurityGroupIds": map[string]any{"SecurityGroupId": []string{"sg-cli"}},
				"VpcAttributes":     map[string]any{"VSwitchId": "vsw-cli", "PrivateIpAddress": map[string]any{"IpAddress": []string{"172.16.5.5"}}},
				"NetworkInterfaces": map[string]any{"NetworkInterface": []any{map[string]any{"NetworkInterfaceId": "eni-cli", "Type": "Primary", "PrimaryIpAddress": "172.16.5.5"}}}})
		}
		out = map[string]any{"Instances": map[string]any{"Instance": insts}}
	case "2014-05-26 DescribeSecurityGroupAttribute":
		out = map[string]any{"SecurityGroupId": "sg-cli", "InnerAccessPolicy": "Accept", "Permissions": map[string]any{"Permission": []any{
			map[string]any{"SecurityGroupRuleId": "sgr-ssh", "Direction": "ingress", "IpProtocol": "TCP", "PortRange": "22/22", "Priority": 1, "Policy": "Accept", "SourceCidrIp": "0.0.0.0/0"}}}}
	case "2016-04-28 DescribeNetworkAcls":
		out = map[string]any{"NetworkAcls": map[string]any{"NetworkAcl": []any{}}}
	case "2020-06-01 ListInstances":
		out = map[string]any{"Instances": []any{}, "TotalCount": 0}
	default:
		w.WriteHeader(400)
		out = map[string]any{"Code": "InvalidAction.NotFound", "Message": "not here"}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func TestCheckAliyun(t *testing.T) {
	creds := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIclitest", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "cli-aliyun-secret"}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		wantCause string
		want      map[string]report.Decision
		wantFix   string
	}{
		{name: "security group blocks", env: creds, args: []string{"check", "47.96.2.20:8282", "--region", "cn-hangzhou"},
			wantCode: exitBlocked, wantCause: report.CauseCloudSGNoAllow,
			want:    map[string]report.Decision{"aliyun.instance": report.Allow, "aliyun.network-acl": report.Skipped, "aliyun.security-group": report.Drop},
			wantFix: "aliyun ecs AuthorizeSecurityGroup --RegionId cn-hangzhou --SecurityGroupId sg-cli --IpProtocol tcp --PortRange 8282/8282 --SourceCidrIp 0.0.0.0/0 --Priority 1"},
		{name: "open port", env: creds, args: []string{"check", "47.96.2.20:22", "--region", "cn-hangzhou"},
			wantCode: exitOpen, want: map[string]report.Decision{"aliyun.security-group": report.Allow}},
		{name: "named instance, region from the environment", env: map[string]string{"ALICLOUD_ACCESS_KEY": "LTAIclitest", "ALICLOUD_SECRET_KEY": "cli-aliyun-secret", "ALICLOUD_REGION": "cn-hangzhou"},
			args: []string{"check", "47.96.2.20:22", "--instance", "i-bp1cli"}, wantCode: exitOpen, want: map[string]report.Decision{"aliyun.security-group": report.Allow}},
		{name: "no credentials: one skipped step", args: []string{"check", "47.96.2.20:8282", "--region", "cn-hangzhou"},
			wantCode: exitInconclusive, want: map[string]report.Decision{"aliyun.credentials": report.Skipped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &aliyunFake{}
			srv := httptest.NewServer(f)
			defer srv.Close()
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append(tt.args, "--no-probe", "-o", "json", "--provider", "aliyun", "--aliyun-endpoint", srv.URL)
			r, stdout, stderr := runCLIJSON(t, tt.wantCode, args...)
			if tt.wantCause != "" && (r.Cause == nil || r.Cause.Code != tt.wantCause) {
				t.Errorf("cause %+v; want %s", r.Cause, tt.wantCause)
			}
			got := map[string]report.Step{}
			for _, s := range r.Steps {
				got[s.Layer] = s
			}
			for layer, d := range tt.want {
				if s, ok := got[layer]; !ok || s.Decision != d {
					t.Errorf("%s: %+v; want decision %s\n%s", layer, s, d, stdout)
				}
			}
			if tt.wantFix != "" && !strings.Contains(stdout, tt.wantFix) {
				t.Errorf("fix %q not in the report:\n%s", tt.wantFix, stdout)
			}
			assertNoSecrets(t, stdout+stderr, "cli-aliyun-secret")
			assertReadOnly(t, f.actions, "Describe", "List")
		})
	}
}
