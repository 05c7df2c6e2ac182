package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portpath/portpath/providers/aws/awstest"
	"github.com/portpath/portpath/report"
)

// init keeps every test of this package away from real AWS credentials and from this
// machine's instance metadata endpoint (169.254.169.254), which would answer.
func init() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// cliCloud is an account with one instance whose security group opens tcp/22 only.
func cliCloud(t *testing.T) *awstest.Server {
	allow := []awstest.Entry{
		{N: 100, Proto: "-1", Allow: true, CIDR: "0.0.0.0/0"}, {N: 32767, Proto: "-1", CIDR: "0.0.0.0/0"},
		{N: 100, Proto: "-1", Allow: true, Egress: true, CIDR: "0.0.0.0/0"}, {N: 32767, Proto: "-1", Egress: true, CIDR: "0.0.0.0/0"},
	}
	return awstest.New(t, map[string]*awstest.Region{
		"us-east-1": {
			Instances: []awstest.Instance{{ID: "i-0cli", Name: "api", State: "running", ENIs: []awstest.ENI{{
				ID: "eni-c", Subnet: "subnet-c", VPC: "vpc-c", Groups: []string{"sg-ssh"}, Private: "10.1.0.5", Public: "203.0.113.20"}}}},
			SGs:  []awstest.SG{{ID: "sg-ssh", Name: "ssh", Perms: []awstest.Perm{{Proto: "tcp", From: 22, To: 22, CIDRs: []string{"0.0.0.0/0"}}}}},
			ACLs: []awstest.ACL{{ID: "acl-c", Subnets: []string{"subnet-c"}, Entries: allow}},
			RTs:  []awstest.RouteTable{{ID: "rtb-c", VPC: "vpc-c", Subnets: []string{"subnet-c"}, Routes: []awstest.Route{{Dst: "0.0.0.0/0", GW: "igw-c"}}}},
		},
		"eu-west-1": {},
	})
}

func TestCheckAWS(t *testing.T) {
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDCLITEST", "AWS_SECRET_ACCESS_KEY": "cli-secret-value"}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		wantCause string
		wantAWS   map[string]report.Decision // layer → decision; nil = no aws step at all
		wantFix   string
	}{
		{name: "security group blocks", env: creds, args: []string{"check", "203.0.113.20:8282", "--region", "us-east-1"},
			wantCode: exitBlocked, wantCause: report.CauseCloudSGNoAllow,
			wantAWS: map[string]report.Decision{"aws.instance": report.Allow, "aws.route": report.Allow, "aws.network-acl": report.Allow, "aws.security-group": report.Drop},
			wantFix: "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id sg-ssh --protocol tcp --port 8282 --cidr 0.0.0.0/0"},
		{name: "open port, every region searched", env: creds, args: []string{"check", "203.0.113.20:22"},
			wantCode: exitOpen, wantAWS: map[string]report.Decision{"aws.security-group": report.Allow}},
		{name: "endpoint from the environment", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDCLITEST", "AWS_SECRET_ACCESS_KEY": "cli-secret-value", "PORTPATH_AWS_ENDPOINT": "FAKE", "PORTPATH_REGION": "us-east-1,eu-west-1"},
			args: []string{"check", "203.0.113.20:8282"}, wantCode: exitBlocked, wantCause: report.CauseCloudSGNoAllow,
			wantAWS: map[string]report.Decision{"aws.security-group": report.Drop}},
		{name: "named instance", env: creds, args: []string{"check", "203.0.113.20:22", "--instance", "i-0cli", "--region", "us-east-1,eu-west-1"},
			wantCode: exitOpen, wantAWS: map[string]report.Decision{"aws.instance": report.Allow, "aws.security-group": report.Allow}},
		{name: "no credentials: one skipped step", args: []string{"check", "203.0.113.20:8282"},
			wantCode: exitInconclusive, wantAWS: map[string]report.Decision{"aws.credentials": report.Skipped}},
		{name: "provider none", env: creds, args: []string{"check", "203.0.113.20:8282", "--provider", "none"}, wantCode: exitInconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cliCloud(t)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "FAKE", f.URL))
			}
			args := append(tt.args, "--no-probe", "-o", "json")
			if _, ok := tt.env["PORTPATH_AWS_ENDPOINT"]; !ok {
				args = append(args, "--aws-endpoint", f.URL)
			}
			r, stdout, stderr := runCLIJSON(t, tt.wantCode, args...)
			if tt.wantCause != "" && (r.Cause == nil || r.Cause.Code != tt.wantCause) {
				t.Errorf("cause %+v; want %s", r.Cause, tt.wantCause)
			}
			got := map[string]report.Step{}
			for _, s := range r.Steps {
				if strings.HasPrefix(s.Layer, "aws.") {
					got[s.Layer] = s
				}
			}
			if tt.wantAWS == nil && len(got) > 0 {
				t.Errorf("aws steps %+v; want none", got)
			}
			for layer, d := range tt.wantAWS {
				if s, ok := got[layer]; !ok || s.Decision != d {
					t.Errorf("%s: %+v; want decision %s", layer, s, d)
				}
			}
			if tt.wantFix != "" && !strings.Contains(stdout, tt.wantFix) {
				t.Errorf("fix %q not in the report:\n%s", tt.wantFix, stdout)
			}
			assertNoSecrets(t, stdout+stderr, "cli-secret-value", "AKIDCLITEST")
			assertReadOnly(t, f.Actions(), "ec2:Describe", "ec2:Get", "lightsail:Get")
		})
	}
}

func TestCheckProviderFlags(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		want    []string
		wantErr bool
	}{
		{args: []string{"check", "h:1"}, want: nil},
		{args: []string{"check", "h:1", "--provider", "aws", "--provider", "aws"}, want: []string{"aws"}},
		{args: []string{"check", "h:1"}, env: map[string]string{"PORTPATH_PROVIDER": "none"}, want: []string{"none"}},
		{args: []string{"check", "h:1", "--provider", "gcp"}, wantErr: true},
		{args: []string{"check", "h:1", "--provider", "aws,none"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			o, err := captureOpts(t, tt.env, tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("%v: err %v; want error %v", tt.args, err, tt.wantErr)
			}
			if err == nil && strings.Join(o.Cloud.Providers, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%v: providers %v; want %v", tt.args, o.Cloud.Providers, tt.want)
			}
		})
	}
	o, err := captureOpts(t, nil, "check", "h:1", "--region", "us-east-1,eu-west-1", "--region", "ap-south-1", "--profile", "prod", "--instance", "i-1", "--name", "web")
	if err != nil {
		t.Fatal(err)
	}
	if c := o.Cloud; strings.Join(c.Regions, " ") != "us-east-1 eu-west-1 ap-south-1" || c.Profile != "prod" || c.Instance != "i-1" || c.Name != "web" {
		t.Errorf("cloud options %+v", c)
	}
	cfg := t.TempDir() + "/config.yaml"
	if err := os.WriteFile(cfg, []byte("aws-endpoint: http://127.0.0.1:9\nregion: [eu-north-1]\nprovider: aws\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err = captureOpts(t, nil, "check", "h:1", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	if c := o.Cloud; c.AWSEndpoint != "http://127.0.0.1:9" || strings.Join(c.Regions, ",") != "eu-north-1" || strings.Join(c.Providers, ",") != "aws" {
		t.Errorf("cloud options from the config file %+v", c)
	}
	if code, _, stderr := runCLI(t, "check", "h:1", "--provider", "gcp"); code != exitUsage || !strings.Contains(stderr, "unknown provider") {
		t.Errorf("--provider gcp: exit %d, %q; want a usage error", code, stderr)
	}
}

// TestCheckAWSWithCABundle checks that AWS_CA_BUNDLE (custom certificate authorities, common
// behind corporate proxies) keeps working: the SDK needs a transport it can configure.
func TestCheckAWSWithCABundle(t *testing.T) {
	f := cliCloud(t)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCLITEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cli-secret-value")
	t.Setenv("AWS_CA_BUNDLE", bundle)
	code, stdout, stderr := runCLI(t, "check", "203.0.113.20:8282", "--region", "us-east-1", "--no-probe", "-o", "json", "--aws-endpoint", f.URL)
	if code != exitBlocked || !strings.Contains(stdout, report.CauseCloudSGNoAllow) || stderr != "" {
		t.Errorf("with AWS_CA_BUNDLE: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
}

// TestCheckLoopbackAsksNoCloud: a loopback target never leaves the host, so no cloud is asked.
func TestCheckLoopbackAsksNoCloud(t *testing.T) {
	f := cliCloud(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCLITEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cli-secret-value")
	_, stdout, _ := runCLI(t, "check", "127.0.0.1:9", "--no-probe", "-o", "json", "--aws-endpoint", f.URL, "--region", "us-east-1")
	if strings.Contains(stdout, `"aws.`) || len(f.Actions()) > 0 {
		t.Errorf("a loopback target asked AWS (%v):\n%s", f.Actions(), stdout)
	}
	// a named instance is still looked up
	_, stdout, _ = runCLI(t, "check", "127.0.0.1:9", "--no-probe", "-o", "json", "--aws-endpoint", f.URL, "--region", "us-east-1", "--instance", "i-0cli")
	if !strings.Contains(stdout, `"aws.instance"`) {
		t.Errorf("--instance with a loopback target asked nothing:\n%s", stdout)
	}
}
