// Package aws answers for instances on Amazon EC2 and Lightsail: it finds the instance that
// owns the target's address (or the one named by ID or Name tag) in every configured region
// at once, reads its route table, network ACL and security groups (or its Lightsail
// firewall) with read-only Describe*/Get* calls, and evaluates them for the source set.
package aws

import (
	"context"
	"errors"
	"fmt"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/logging"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/lightsail"
	"github.com/aws/smithy-go"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// Timeouts and retries. The check as a whole is bounded by its caller's context.
const (
	// credentialTimeout bounds finding credentials: the last link of the default chain asks
	// the instance metadata endpoint, which off EC2 may never answer.
	credentialTimeout = 2 * time.Second
	// callTimeout bounds one HTTP attempt of one API call.
	callTimeout = 10 * time.Second
	// maxAttempts is how often one call is tried (throttling, 5xx, timeouts) before it is unknown.
	maxAttempts = 3
	// maxBackoff caps the wait between two attempts.
	maxBackoff = 2 * time.Second
	// defaultRegion is where DescribeRegions is asked when nothing names a region.
	defaultRegion = "us-east-1"
)

// lightsailRegions are the regions Lightsail runs in; other regions are not asked for it
// (unless an endpoint override points every region at one server).
var lightsailRegions = []string{
	"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
}

// Options configures the provider. The zero value uses the SDK's default credential chain,
// every enabled region and the public endpoints.
type Options struct {
	// Regions to search; empty means every region enabled for the account (DescribeRegions).
	Regions []string
	// Profile is the shared-config profile (~/.aws/config); empty means AWS_PROFILE or "default".
	Profile string
	// Endpoint replaces the EC2 and Lightsail endpoints (a private endpoint or a test server); empty means AWS's.
	Endpoint string
	// Config, when set, is used instead of loading the default chain (tests, embedding).
	Config *aws.Config
}

// Provider is the AWS cloud.
type Provider struct{ opts Options }

// New returns the AWS provider.
func New(o Options) *Provider { return &Provider{opts: o} }

// Name is "aws".
func (p *Provider) Name() string { return "aws" }

var _ providers.Provider = (*Provider)(nil)

// noCredentialsHelp says how to give portpath credentials.
const noCredentialsHelp = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile in ~/.aws (aws configure / aws sso login) and pass --profile, or run on an instance with a role; the read-only policy is in docs/permissions.md"

// loadConfig builds the SDK configuration and checks that credentials can be had quickly.
func (p *Provider) loadConfig(ctx context.Context) (aws.Config, error) {
	if p.opts.Config != nil {
		cfg := p.opts.Config.Copy()
		if p.opts.Endpoint != "" {
			cfg.BaseEndpoint = aws.String(p.opts.Endpoint)
		}
		return cfg, nil
	}
	lo := []func(*config.LoadOptions) error{
		// the SDK's own log lines (IMDS fallbacks, retries) would interleave with the report
		config.WithLogger(logging.Nop{}),
		// a buildable client, so that AWS_CA_BUNDLE and other transport settings still apply
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(callTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts, o.MaxBackoff = maxAttempts, maxBackoff })
		}),
	}
	if p.opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(p.opts.Profile))
	}
	if p.opts.Endpoint != "" {
		lo = append(lo, config.WithBaseEndpoint(p.opts.Endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: load configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return aws.Config{}, errors.New("aws: no credentials")
	}
	cctx, cancel := context.WithTimeout(ctx, credentialTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		if cctx.Err() != nil {
			return aws.Config{}, fmt.Errorf("aws: no credentials found within %v", credentialTimeout)
		}
		return aws.Config{}, errNoCredentials{err}
	}
	return cfg, nil
}

// clients are one region's API clients.
type clients struct {
	region string
	ec2    *ec2.Client
	ls     *lightsail.Client
}

func (p *Provider) clientsFor(cfg aws.Config, region string) clients {
	c := cfg.Copy()
	c.Region = region
	return clients{region: region, ec2: ec2.NewFromConfig(c), ls: lightsail.NewFromConfig(c)}
}

// Steps answers q for every instance that owns one of the target's addresses.
func (p *Provider) Steps(ctx context.Context, q providers.Query) []report.Step {
	if len(q.Addrs) == 0 && q.Instance == "" && q.Name == "" {
		return []report.Step{{Layer: "aws.instance", Decision: report.Skipped, Detail: "no address to look up: give --instance or --name"}}
	}
	cfg, err := p.loadConfig(ctx)
	if err != nil {
		return []report.Step{{Layer: "aws.credentials", Decision: report.Skipped, Detail: credentialMessage(err) + ": " + noCredentialsHelp}}
	}
	regions := p.opts.Regions
	if len(regions) == 0 {
		home := cfg.Region
		if home == "" {
			home = defaultRegion
		}
		regions, err = listRegions(ctx, p.clientsFor(cfg, home).ec2)
		if err != nil {
			return []report.Step{{Layer: "aws.instance", Decision: report.Unknown,
				Detail: apiMessage("ec2:DescribeRegions", err) + "; name the regions with --region"}}
		}
	}
	f := findInstances(ctx, q, regions, func(r string) clients { return p.clientsFor(cfg, r) }, p.opts.Endpoint != "" || p.opts.Config != nil)
	return f.steps(ctx, q)
}

// errNoCredentials is a credential chain that found nothing; Error is short, Unwrap has the chain's story.
type errNoCredentials struct{ err error }

func (e errNoCredentials) Error() string {
	return "aws: no credentials found (environment, shared config and credentials files, SSO, container or instance role)"
}
func (e errNoCredentials) Unwrap() error { return e.err }

// credentialMessage shortens a credential-chain error for the step; it carries no secret.
func credentialMessage(err error) string {
	var pe config.SharedConfigProfileNotExistError
	if errors.As(err, &pe) {
		return fmt.Sprintf("aws: profile %q is not in the shared config files", pe.Profile)
	}
	msg := err.Error()
	if i := strings.Index(msg, ", cause"); i > 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// apiMessage explains a failed read-only call: a missing permission names the IAM action.
func apiMessage(action string, err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); code {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedAccess":
			return fmt.Sprintf("not permitted to call %s (%s): grant %s (docs/permissions.md)", action, code, action)
		case "AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken", "RequestExpired":
			return fmt.Sprintf("AWS rejected the credentials for %s (%s)", action, code)
		case "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException":
			return fmt.Sprintf("%s was throttled (%s) after %d attempts", action, code, maxAttempts)
		default:
			return fmt.Sprintf("%s failed: %s: %s", action, code, ae.ErrorMessage())
		}
	}
	var re *retry.MaxAttemptsError
	if errors.As(err, &re) {
		return fmt.Sprintf("%s failed after %d attempts: %v", action, re.Attempt, errors.Unwrap(re.Err))
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Sprintf("%s did not answer in time", action)
	}
	return fmt.Sprintf("%s failed: %v", action, err)
}

// listRegions returns the regions enabled for the account.
func listRegions(ctx context.Context, c *ec2.Client) ([]string, error) {
	out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, err
	}
	var rs []string
	for _, r := range out.Regions {
		if n := aws.ToString(r.RegionName); n != "" {
			rs = append(rs, n)
		}
	}
	slices.Sort(rs)
	if len(rs) == 0 {
		return nil, errors.New("no regions are enabled")
	}
	return rs, nil
}
