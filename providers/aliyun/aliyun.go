// Package aliyun answers for instances on Alibaba Cloud: ECS instances and lightweight
// application servers (SWAS, 轻量应用服务器). It finds the instance that owns the target's
// address (or the one named by ID or name) in every configured region at once, reads the
// security groups of the network interface that owns the address, the vSwitch's network
// ACL, or the SWAS firewall, with read-only Describe*/List* calls, and evaluates them for
// the source set.
package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	swas "github.com/aliyun/alibaba-cloud-sdk-go/services/swas-open"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// Timeouts and retries. The check as a whole is bounded by its caller's context.
const (
	// credentialTimeout bounds finding credentials: the last links of the chain ask the ECS
	// metadata endpoint (100.100.100.200), which off Alibaba Cloud never answers.
	credentialTimeout = 3 * time.Second
	// defaultCallTimeout bounds one HTTP attempt of one API call.
	defaultCallTimeout = 10 * time.Second
	// maxAttempts is how often one call is tried (throttling, 5xx, timeouts) before it is unknown.
	maxAttempts = 3
	// defaultBackoff is the wait before the second attempt; it doubles for the third.
	defaultBackoff = 500 * time.Millisecond
	// homeRegion is where DescribeRegions is asked when nothing names a region.
	homeRegion = "cn-hangzhou"
	// maxPages bounds paging through one list.
	maxPages = 100
)

// API versions, the part of the wire format that tells the services apart.
const (
	ecsVersion  = "2014-05-26"
	vpcVersion  = "2016-04-28"
	swasVersion = "2020-06-01"
)

// Options configures the provider. The zero value uses the credential chain described in
// docs/permissions.md, the region from the environment or the aliyun CLI profile (else every
// region) and the public HTTPS endpoints.
type Options struct {
	// Regions to search; empty means the configured region (ALIBABA_CLOUD_REGION_ID and the
	// like, or the CLI profile's region_id), else every region (DescribeRegions).
	Regions []string
	// Profile is the aliyun CLI profile (~/.aliyun/config.json); empty means
	// ALIBABA_CLOUD_PROFILE, ALIBABACLOUD_PROFILE or ALICLOUD_PROFILE, else the CLI's current one.
	Profile string
	// Endpoint replaces the ECS, VPC and SWAS endpoints with one URL (a private endpoint or
	// a test server); its scheme is used as given. Empty means the public HTTPS endpoints.
	Endpoint string
	// Credentials, when set, is used instead of the chain (tests, embedding).
	Credentials credentials.CredentialsProvider
	// CallTimeout bounds one HTTP attempt; zero means 10 s.
	CallTimeout time.Duration
	// Backoff is the wait before the second attempt of a failed call; zero means 500 ms.
	Backoff time.Duration
}

// Provider is the Alibaba Cloud.
type Provider struct {
	opts      Options
	transport transport
}

// New returns the Alibaba Cloud provider.
func New(o Options) *Provider {
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultCallTimeout
	}
	if o.Backoff <= 0 {
		o.Backoff = defaultBackoff
	}
	return &Provider{opts: o, transport: newTransport(o.CallTimeout)}
}

// Name is "aliyun".
func (p *Provider) Name() string { return "aliyun" }

var _ providers.Provider = (*Provider)(nil)

// noCredentialsHelp says how to give portpath credentials.
const noCredentialsHelp = "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (ALICLOUD_* and ALIBABACLOUD_* names work too), or configure the aliyun CLI (aliyun configure, ~/.aliyun/config.json), or run on an ECS instance with a RAM role; the read-only RAM policy is in docs/permissions.md"

// envFirst returns the first non-empty variable of names.
func envFirst(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// envCredentials reads the access key from the names the SDK, the aliyun CLI and Terraform use.
func envCredentials() credentials.CredentialsProvider {
	pairs := [][3]string{
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"},
		{"ALIBABACLOUD_ACCESS_KEY_ID", "ALIBABACLOUD_ACCESS_KEY_SECRET", "ALIBABACLOUD_SECURITY_TOKEN"},
		{"ALICLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECURITY_TOKEN"},
		{"ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALICLOUD_SECURITY_TOKEN"},
	}
	for _, p := range pairs {
		id, secret := envFirst(p[0]), envFirst(p[1])
		if id == "" || secret == "" {
			continue
		}
		if tok := envFirst(p[2]); tok != "" {
			return credentials.NewStaticSTSCredentialsProvider(id, secret, tok)
		}
		return credentials.NewStaticAKCredentialsProvider(id, secret)
	}
	return nil
}

// profileName is the aliyun CLI profile to use; empty means the CLI's current one.
func (p *Provider) profileName() string {
	if p.opts.Profile != "" {
		return p.opts.Profile
	}
	return envFirst("ALIBABA_CLOUD_PROFILE", "ALIBABACLOUD_PROFILE", "ALICLOUD_PROFILE")
}

// cliConfig is the part of ~/.aliyun/config.json that names a region.
type cliConfig struct {
	Current  string `json:"current"`
	Profiles []struct {
		Name     string `json:"name"`
		RegionID string `json:"region_id"`
	} `json:"profiles"`
}

// configuredRegion is the region the environment or the CLI profile names; empty means none.
func (p *Provider) configuredRegion() string {
	if r := envFirst("ALIBABA_CLOUD_REGION_ID", "ALIBABACLOUD_REGION_ID", "ALICLOUD_REGION_ID", "ALICLOUD_REGION"); r != "" {
		return r
	}
	home := os.Getenv("HOME")
	if home == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(home, ".aliyun", "config.json"))
	if err != nil {
		return ""
	}
	var c cliConfig
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	name := p.profileName()
	if name == "" {
		name = c.Current
	}
	for _, pr := range c.Profiles {
		if pr.Name == name {
			return pr.RegionID
		}
	}
	return ""
}

// resolveCredentials walks the chain once, bounded by credentialTimeout, and returns a
// static provider holding what it found: environment names, the aliyun CLI profile, then
// the SDK's default chain (OIDC, ~/.alibabacloud/credentials, ECS RAM role, credentials URI).
func (p *Provider) resolveCredentials(ctx context.Context) (credentials.CredentialsProvider, error) {
	if p.opts.Credentials != nil {
		return p.opts.Credentials, nil
	}
	if env := envCredentials(); env != nil {
		return env, nil
	}
	chain := []credentials.CredentialsProvider{
		credentials.NewCLIProfileCredentialsProviderBuilder().WithProfileName(p.profileName()).Build(),
		credentials.NewDefaultCredentialsProvider(),
	}
	type result struct {
		c   *credentials.Credentials
		err error
	}
	done := make(chan result, 1)
	go func() {
		var errs []string
		for _, c := range chain {
			cc, err := c.GetCredentials()
			if err == nil && cc != nil && cc.AccessKeyId != "" {
				done <- result{cc, nil}
				return
			}
			if err != nil {
				errs = append(errs, err.Error())
			}
		}
		done <- result{nil, fmt.Errorf("aliyun: no credentials found (%d sources tried)", len(errs))}
	}()
	cctx, cancel := context.WithTimeout(ctx, credentialTimeout)
	defer cancel()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if r.c.SecurityToken != "" {
			return credentials.NewStaticSTSCredentialsProvider(r.c.AccessKeyId, r.c.AccessKeySecret, r.c.SecurityToken), nil
		}
		return credentials.NewStaticAKCredentialsProvider(r.c.AccessKeyId, r.c.AccessKeySecret), nil
	case <-cctx.Done():
		return nil, fmt.Errorf("aliyun: no credentials found within %v", credentialTimeout)
	}
}

// clients makes one region's API clients. The SDK's clients change their own state on
// every request (timeouts, proxy, TLS settings), so each call gets a fresh client; they
// share the provider's transport, which keeps connections alive between calls.
type clients struct {
	region string
	cred   credentials.CredentialsProvider
	p      *Provider
}

// endpointFor returns the scheme and host for a service in a region: the override, or the
// public endpoint over HTTPS (the SDK would otherwise speak plain HTTP). SWAS has no
// endpoint table in the SDK, so its endpoint is set here.
func (p *Provider) endpointFor(service, region string) (scheme, host string) {
	if p.opts.Endpoint != "" {
		u, err := url.Parse(p.opts.Endpoint)
		if err == nil && u.Host != "" {
			return strings.ToUpper(u.Scheme), u.Host
		}
		return "HTTPS", strings.TrimSuffix(p.opts.Endpoint, "/")
	}
	switch service {
	case "ecs":
		return "HTTPS", "ecs." + region + ".aliyuncs.com"
	case "vpc":
		return "HTTPS", "vpc." + region + ".aliyuncs.com"
	default:
		return "HTTPS", "swas." + region + ".aliyuncs.com"
	}
}

// transport is the provider's HTTP transport behind a type the SDK does not recognise, so
// it never rewrites it (it would, per request, for an *http.Transport).
type transport struct{ rt *http.Transport }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) { return t.rt.RoundTrip(r) }

func newTransport(timeout time.Duration) transport {
	return transport{&http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// setup points an SDK client at its endpoint with the provider's transport and timeouts.
func (c clients) setup(cl *sdk.Client, service string) {
	_, host := c.p.endpointFor(service, c.region)
	cl.Domain = host
	cl.SetTransport(c.p.transport)
	cl.SetConnectTimeout(c.p.opts.CallTimeout)
	cl.SetReadTimeout(c.p.opts.CallTimeout)
}

func (c clients) config(service string) *sdk.Config {
	scheme, _ := c.p.endpointFor(service, c.region)
	return sdk.NewConfig().WithScheme(scheme).WithTimeout(c.p.opts.CallTimeout).WithAutoRetry(false)
}

// ecs, vpc and swas return a fresh client; clientsFor checked that they can be made.
func (c clients) ecs() *ecs.Client {
	cl, _ := ecs.NewClientWithOptions(c.region, c.config("ecs"), c.cred)
	c.setup(&cl.Client, "ecs")
	return cl
}

func (c clients) vpc() *vpc.Client {
	cl, _ := vpc.NewClientWithOptions(c.region, c.config("vpc"), c.cred)
	c.setup(&cl.Client, "vpc")
	return cl
}

func (c clients) swas() *swas.Client {
	cl, _ := swas.NewClientWithOptions(c.region, c.config("swas"), c.cred)
	c.setup(&cl.Client, "swas")
	return cl
}

func (p *Provider) clientsFor(cred credentials.CredentialsProvider, region string) (clients, error) {
	c := clients{region: region, cred: cred, p: p}
	if _, err := ecs.NewClientWithOptions(region, c.config("ecs"), cred); err != nil {
		return c, fmt.Errorf("aliyun: ecs client: %w", err)
	}
	if _, err := vpc.NewClientWithOptions(region, c.config("vpc"), cred); err != nil {
		return c, fmt.Errorf("aliyun: vpc client: %w", err)
	}
	if _, err := swas.NewClientWithOptions(region, c.config("swas"), cred); err != nil {
		return c, fmt.Errorf("aliyun: swas client: %w", err)
	}
	return c, nil
}

// Steps answers q for every instance that owns one of the target's addresses.
func (p *Provider) Steps(ctx context.Context, q providers.Query) []report.Step {
	if len(q.Addrs) == 0 && q.Instance == "" && q.Name == "" {
		return []report.Step{{Layer: "aliyun.instance", Decision: report.Skipped, Detail: "the target did not resolve and no --instance or --name was given"}}
	}
	cred, err := p.resolveCredentials(ctx)
	if err != nil {
		return []report.Step{{Layer: "aliyun.credentials", Decision: report.Skipped, Detail: err.Error() + ": " + noCredentialsHelp}}
	}
	regions := p.opts.Regions
	if len(regions) == 0 {
		if r := p.configuredRegion(); r != "" {
			regions = []string{r}
		}
	}
	if len(regions) == 0 {
		home, err := p.clientsFor(cred, homeRegion)
		if err == nil {
			regions, err = listRegions(ctx, home)
		}
		if err != nil {
			return []report.Step{{Layer: "aliyun.instance", Decision: report.Unknown,
				Detail: apiMessage("ecs:DescribeRegions", err) + "; name the regions with --region"}}
		}
	}
	cls := map[string]clients{}
	for _, r := range regions {
		c, err := p.clientsFor(cred, r)
		if err != nil {
			return []report.Step{{Layer: "aliyun.instance", Decision: report.Unknown, Detail: err.Error()}}
		}
		cls[r] = c
	}
	f := findInstances(ctx, q, regions, cls)
	return f.steps(ctx, q)
}

// listRegions returns the regions ECS offers to the account.
func listRegions(ctx context.Context, c clients) ([]string, error) {
	req := ecs.CreateDescribeRegionsRequest()
	out, err := callAPI(ctx, c.p, func() (*ecs.DescribeRegionsResponse, error) { return c.ecs().DescribeRegions(req) })
	if err != nil {
		return nil, err
	}
	var rs []string
	for _, r := range out.Regions.Region {
		if r.RegionId != "" {
			rs = append(rs, r.RegionId)
		}
	}
	slices.Sort(rs)
	if len(rs) == 0 {
		return nil, errors.New("no regions are offered")
	}
	return rs, nil
}

// retryable reports whether a failed call is worth another attempt: throttling, a server
// error, or a network failure (timeout, refused connection).
func retryable(err error) bool {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		return se.HttpStatus() >= 500 || strings.HasPrefix(code, "Throttling") || code == "ServiceUnavailable"
	}
	var ce *sdkerrors.ClientError
	var ue *url.Error
	return errors.As(err, &ce) || errors.As(err, &ue) || errors.Is(err, errCallTimeout)
}

// errCallTimeout is a call that did not answer within the call timeout.
var errCallTimeout = errors.New("no answer within the call timeout")

// callAPI runs one SDK call with bounded retries; the SDK takes no context, so a
// cancelled ctx abandons the attempt in flight.
func callAPI[T any](ctx context.Context, p *Provider, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var v, zero T
	err := providers.Retry(ctx, maxAttempts, p.opts.Backoff, retryable, func() error {
		done := make(chan result, 1)
		go func() {
			v, err := fn()
			done <- result{v, err}
		}()
		select {
		case r := <-done:
			if r.err == nil {
				v = r.v
			}
			return r.err
		case <-ctx.Done():
			return ctx.Err() // not retryable: Retry returns it as it is
		case <-time.After(2*p.opts.CallTimeout + time.Second):
			return errCallTimeout
		}
	})
	switch {
	case err == nil:
		return v, nil
	case ctx.Err() != nil && err == ctx.Err():
		return zero, err
	}
	return zero, &attemptsError{err: err}
}

// attemptsError is a call that failed; it remembers whether it was retried.
type attemptsError struct{ err error }

func (e *attemptsError) Error() string { return e.err.Error() }
func (e *attemptsError) Unwrap() error { return e.err }

// apiMessage explains a failed read-only call: a missing permission names the RAM action.
// It never quotes the request (its URL carries the access key ID and the signature).
func apiMessage(action string, err error) string {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case strings.HasPrefix(code, "Forbidden") || code == "NoPermission" || strings.HasPrefix(code, "UnauthorizedOperation"):
			return fmt.Sprintf("not permitted to call %s (%s): grant the RAM action %s (docs/permissions.md)", action, code, action)
		case strings.HasPrefix(code, "InvalidAccessKeyId") || code == "SignatureDoesNotMatch" || code == "InvalidSecurityToken.Expired" ||
			code == "InvalidSecurityToken.Malformed" || code == "IncompleteSignature":
			return fmt.Sprintf("Alibaba Cloud rejected the credentials for %s (%s)", action, code)
		case strings.HasPrefix(code, "Throttling"):
			return fmt.Sprintf("%s was throttled (%s) after %d attempts", action, code, maxAttempts)
		case se.HttpStatus() >= 500:
			return fmt.Sprintf("%s failed after %d attempts: HTTP %d %s", action, maxAttempts, se.HttpStatus(), code)
		default:
			msg := se.Message()
			if len(msg) > 160 {
				msg = msg[:160] + "…"
			}
			return fmt.Sprintf("%s failed: %s: %s", action, code, msg)
		}
	}
	if errors.Is(err, errCallTimeout) {
		return fmt.Sprintf("%s did not answer after %d attempts", action, maxAttempts)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		what := "network error"
		if ue.Timeout() {
			what = "timeout"
		}
		return fmt.Sprintf("%s failed after %d attempts: %s: %v", action, maxAttempts, what, ue.Err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Sprintf("%s did not answer in time", action)
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		if oe := ce.OriginError(); oe != nil && errors.As(oe, &ue) {
			return apiMessage(action, ue)
		}
		return fmt.Sprintf("%s failed after %d attempts: %s", action, maxAttempts, ce.ErrorCode())
	}
	return fmt.Sprintf("%s failed: %v", action, err)
}
