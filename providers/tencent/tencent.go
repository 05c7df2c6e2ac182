// Package tencent answers for instances on Tencent Cloud CVM and Lighthouse (轻量应用服务器):
// it finds the instance that owns the target's address (or the one named by ID or name) in
// every region at once, reads the security groups of the interface owning the address (with
// their address and service templates), the subnet's network ACL, or the Lighthouse firewall,
// with read-only Describe* calls, and evaluates them for the source set.
package tencent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	lighthouse "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/lighthouse/v20200324"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// Timeouts and retries. The check as a whole is bounded by its caller's context.
const (
	// roleTimeout bounds asking the CVM metadata service for role credentials; off a CVM
	// it may never answer (the SDK's own role lookup has no timeout).
	roleTimeout = 1500 * time.Millisecond
	// callTimeout bounds one HTTP attempt of one API call.
	callTimeout = 10 * time.Second
	// maxAttempts is how often one call is tried (throttling, 5xx, timeouts) before it is unknown.
	maxAttempts = 3
	// firstBackoff is the wait after the first failed attempt; it doubles after each.
	firstBackoff = 300 * time.Millisecond
	// defaultRegion is where DescribeRegions is asked when nothing names a region.
	defaultRegion = "ap-guangzhou"
)

// DefaultMetadataURL is the CVM metadata service that hands out a bound role's credentials.
const DefaultMetadataURL = "http://metadata.tencentyun.com"

// Options configures the provider. The zero value reads credentials from the environment,
// ~/.tencentcloud/credentials and the tccli profile, searches every region, uses the public
// endpoints and never asks the metadata service.
type Options struct {
	// Regions to search; empty means every region (cvm DescribeRegions).
	Regions []string
	// Profile is the tccli profile (~/.tccli/<profile>.credential); empty means TCCLI_PROFILE or "default".
	Profile string
	// Endpoint replaces the cvm, vpc and lighthouse endpoints ("http://127.0.0.1:8080" or
	// "vpc.internal.example:443"); empty means Tencent Cloud's.
	Endpoint string
	// MetadataURL is the metadata service asked for a CVM role's credentials when nothing
	// else gives any; empty means do not ask (DefaultMetadataURL on a CVM).
	MetadataURL string
	// CallTimeout bounds one attempt of one call; zero means callTimeout.
	CallTimeout time.Duration
	// Backoff is the wait after the first failed attempt; zero means firstBackoff.
	Backoff time.Duration
}

// Provider is the Tencent Cloud.
type Provider struct{ opts Options }

// New returns the Tencent Cloud provider.
func New(o Options) *Provider { return &Provider{opts: o} }

// Name is "tencent".
func (p *Provider) Name() string { return "tencent" }

var _ providers.Provider = (*Provider)(nil)

// noCredentialsHelp says how to give portpath credentials.
const noCredentialsHelp = "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN for temporary keys), or write ~/.tencentcloud/credentials, or configure tccli (tccli configure), or run on a CVM with a CAM role; the read-only policy is in docs/permissions.md"

// clients are one region's API clients.
type clients struct {
	region string
	cvm    *cvm.Client
	vpc    *vpc.Client
	lh     *lighthouse.Client
	p      *Provider
}

// ctxTransport ties every request to the check's context and bounds each attempt.
type ctxTransport struct {
	ctx     context.Context
	timeout time.Duration
	base    http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelBody{resp.Body, cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

// endpoint splits the endpoint override into the SDK's scheme and host[:port].
func endpoint(s string) (scheme, host string, err error) {
	if !strings.Contains(s, "://") {
		return "HTTPS", strings.TrimSuffix(s, "/"), nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("tencent: bad endpoint %q", s)
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "HTTP", u.Host, nil
	case "https":
		return "HTTPS", u.Host, nil
	}
	return "", "", fmt.Errorf("tencent: endpoint %q: scheme must be http or https", s)
}

func (p *Provider) callTimeout() time.Duration {
	if p.opts.CallTimeout > 0 {
		return p.opts.CallTimeout
	}
	return callTimeout
}

// clientsFor builds one region's clients; every request follows ctx.
func (p *Provider) clientsFor(ctx context.Context, cred *common.Credential, region string) (clients, error) {
	cpf := profile.NewClientProfile()
	// the per-attempt bound is the transport's; this one only backs it up
	cpf.HttpProfile.ReqTimeout = int(p.callTimeout()/time.Second) + 5
	if p.opts.Endpoint != "" {
		scheme, host, err := endpoint(p.opts.Endpoint)
		if err != nil {
			return clients{}, err
		}
		cpf.HttpProfile.Scheme, cpf.HttpProfile.Endpoint = scheme, host
	}
	tr := ctxTransport{ctx: ctx, timeout: p.callTimeout(), base: http.DefaultTransport}
	c := clients{region: region, p: p}
	var err error
	if c.cvm, err = cvm.NewClient(cred, region, cpf); err != nil {
		return clients{}, err
	}
	if c.vpc, err = vpc.NewClient(cred, region, cpf); err != nil {
		return clients{}, err
	}
	if c.lh, err = lighthouse.NewClient(cred, region, cpf); err != nil {
		return clients{}, err
	}
	c.cvm.WithHttpTransport(tr)
	c.vpc.WithHttpTransport(tr)
	c.lh.WithHttpTransport(tr)
	return c, nil
}

// retryable reports whether a failed call is worth another attempt.
func retryable(err error) bool {
	var se *tcerr.TencentCloudSDKError
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code
	switch {
	case strings.HasPrefix(code, "RequestLimitExceeded"), strings.HasPrefix(code, "InternalError"),
		code == "ClientError.NetworkError", code == "ResourceUnavailable", code == "FailedOperation.Busy":
		return true
	case code == "ClientError.HttpStatusCodeError":
		return strings.Contains(se.Message, "status code: 5") || strings.Contains(se.Message, "status code: 429")
	}
	return false
}

// call runs one read-only call with bounded retries; action names it as CAM does ("vpc:DescribeSecurityGroupPolicies").
func (c clients) call(ctx context.Context, action string, fn func() error) error {
	wait := c.p.opts.Backoff
	if wait <= 0 {
		wait = firstBackoff
	}
	err := providers.Retry(ctx, maxAttempts, wait, retryable, fn)
	if err != nil && retryable(err) {
		return attemptsError{action: action, err: err}
	}
	return err
}

// attemptsError is a call that failed on every attempt.
type attemptsError struct {
	action string
	err    error
}

func (e attemptsError) Error() string {
	return fmt.Sprintf("%s failed after %d attempts: %v", e.action, maxAttempts, e.err)
}
func (e attemptsError) Unwrap() error { return e.err }

// apiMessage explains a failed read-only call: a missing permission names the CAM action.
// It never quotes a secret: SDK errors carry a code, a message and a request ID only.
func apiMessage(action string, err error) string {
	var se *tcerr.TencentCloudSDKError
	if errors.As(err, &se) {
		code := se.Code
		switch {
		case strings.HasPrefix(code, "UnauthorizedOperation"), strings.HasPrefix(code, "AuthFailure.UnauthorizedOperation"),
			code == "OperationDenied", strings.HasPrefix(code, "UnauthorizedOperation.CamNoAuth"):
			return fmt.Sprintf("not permitted to call %s (%s): grant %s (docs/permissions.md)", action, code, action)
		case strings.HasPrefix(code, "AuthFailure"):
			return fmt.Sprintf("Tencent Cloud rejected the credentials for %s (%s)", action, code)
		case strings.HasPrefix(code, "RequestLimitExceeded"):
			return fmt.Sprintf("%s was throttled (%s) after %d attempts", action, code, maxAttempts)
		case code == "ClientError.NetworkError":
			if strings.Contains(se.Message, "deadline exceeded") || strings.Contains(se.Message, "Timeout") {
				return fmt.Sprintf("%s did not answer in time (%d attempts)", action, maxAttempts)
			}
			return fmt.Sprintf("%s could not be reached after %d attempts", action, maxAttempts)
		case code == "ClientError.HttpStatusCodeError":
			msg, _, _ := strings.Cut(se.Message, ", with body")
			return fmt.Sprintf("%s failed after %d attempts: %s", action, maxAttempts, strings.TrimPrefix(msg, "Request fail with "))
		}
		msg := se.Message
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Sprintf("%s failed: %s: %s", action, code, msg)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Sprintf("%s did not answer in time", action)
	}
	return fmt.Sprintf("%s failed: %v", action, err)
}

// Steps answers q for every instance that owns one of the target's addresses.
func (p *Provider) Steps(ctx context.Context, q providers.Query) []report.Step {
	cred, home, err := p.credentials(ctx)
	if err != nil {
		return []report.Step{{Layer: "tencent.credentials", Decision: report.Skipped, Detail: err.Error() + ": " + noCredentialsHelp}}
	}
	regions := p.opts.Regions
	if len(regions) == 0 {
		if home == "" {
			home = defaultRegion
		}
		c, err := p.clientsFor(ctx, cred, home)
		if err == nil {
			regions, err = listRegions(ctx, c)
		}
		if err != nil {
			return []report.Step{{Layer: "tencent.instance", Decision: report.Unknown,
				Detail: apiMessage("cvm:DescribeRegions", err) + "; name the regions with --region"}}
		}
	}
	cl := make([]clients, 0, len(regions))
	for _, r := range regions {
		c, err := p.clientsFor(ctx, cred, r)
		if err != nil {
			return []report.Step{{Layer: "tencent", Decision: report.Unknown, Detail: err.Error()}}
		}
		cl = append(cl, c)
	}
	f := findInstances(ctx, q, cl)
	return f.steps(ctx, q)
}

// listRegions returns the CVM regions open to the account.
func listRegions(ctx context.Context, c clients) ([]string, error) {
	var out *cvm.DescribeRegionsResponse
	err := c.call(ctx, "cvm:DescribeRegions", func() (err error) {
		out, err = c.cvm.DescribeRegions(cvm.NewDescribeRegionsRequest())
		return err
	})
	if err != nil {
		return nil, err
	}
	var rs []string
	if out.Response != nil {
		for _, r := range out.Response.RegionSet {
			if r != nil && deref(r.Region) != "" && (r.RegionState == nil || *r.RegionState == "AVAILABLE") {
				rs = append(rs, *r.Region)
			}
		}
	}
	slices.Sort(rs)
	if len(rs) == 0 {
		return nil, errors.New("no regions are available")
	}
	return rs, nil
}
