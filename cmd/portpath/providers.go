package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/providers/aliyun"
	"github.com/portpath/portpath/providers/aws"
	"github.com/portpath/portpath/providers/tencent"
	"github.com/portpath/portpath/report"
)

// cloudTimeout bounds asking every cloud provider together (discovery in every region,
// then the rules); it is longer than the probe, which runs at the same time.
const cloudTimeout = 45 * time.Second

// cloudOptions says which clouds to ask and how to find the instance.
type cloudOptions struct {
	// Providers are the providers to ask; empty means every one (each skips itself
	// without credentials); "none" alone means no cloud is asked.
	Providers []string
	// Regions to search; empty means every enabled region.
	Regions []string
	// Profile is the AWS shared-config profile; empty means the SDK's default.
	Profile string
	// AWSEndpoint replaces the EC2 and Lightsail endpoints; empty means AWS's.
	AWSEndpoint string
	// AliyunEndpoint replaces the Alibaba Cloud ECS, VPC and SWAS endpoints; empty means the public HTTPS ones.
	AliyunEndpoint string
	// TencentEndpoint replaces the cvm, vpc and lighthouse endpoints; empty means Tencent Cloud's.
	TencentEndpoint string
	// Instance and Name pick the instance by ID or by name instead of by address; empty means by address.
	Instance, Name string
}

// cloudProvider is one cloud portpath can ask. A new cloud is one package and one line here.
type cloudProvider struct {
	name string
	new  func(cloudOptions) providers.Provider
}

// cloudProviders are the clouds portpath knows, in path order.
var cloudProviders = []cloudProvider{
	{"aws", func(o cloudOptions) providers.Provider {
		return aws.New(aws.Options{Regions: o.Regions, Profile: o.Profile, Endpoint: o.AWSEndpoint})
	}},
	{"aliyun", func(o cloudOptions) providers.Provider {
		return aliyun.New(aliyun.Options{Regions: o.Regions, Endpoint: o.AliyunEndpoint})
	}},
	{"tencent", func(o cloudOptions) providers.Provider {
		return tencent.New(tencent.Options{Regions: o.Regions, Endpoint: o.TencentEndpoint, MetadataURL: tencent.DefaultMetadataURL})
	}},
}

// addProviderFlags registers the options of the cloud steps.
func addProviderFlags(f *pflag.FlagSet) {
	f.StringSlice("provider", nil, "cloud providers to ask: aws, aliyun, tencent, or none (repeatable or a comma list; default: every provider, each skipped without credentials)")
	f.StringSlice("region", nil, "cloud regions to search (repeatable or a comma list; default: every enabled region)")
	f.String("profile", "", "AWS profile from ~/.aws/config (default: AWS_PROFILE, else default)")
	f.String("aws-endpoint", "", "EC2 and Lightsail endpoint `URL` (a private endpoint or a test server)")
	f.String("aliyun-endpoint", "", "Alibaba Cloud ECS, VPC and SWAS endpoint `URL` (a private endpoint or a test server)")
	f.String("tencent-endpoint", "", "Tencent Cloud cvm, vpc and lighthouse endpoint `URL` (a private endpoint or a test server)")
	f.String("instance", "", "check the cloud instance with this `ID` (i-…) instead of finding it by address")
	f.String("name", "", "check the cloud instance with this `NAME` (Name tag, Lightsail name) instead of finding it by address")
}

// list reads a repeatable, comma-separated setting from a flag, the environment or the config file.
func list(v *viper.Viper, key string) []string {
	var out []string
	for _, s := range v.GetStringSlice(key) {
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// cloudOptionsFrom reads the cloud settings; an unknown provider is a usage error.
func cloudOptionsFrom(v *viper.Viper) (cloudOptions, error) {
	o := cloudOptions{
		Providers:       list(v, "provider"),
		Regions:         list(v, "region"),
		Profile:         v.GetString("profile"),
		AWSEndpoint:     v.GetString("aws-endpoint"),
		AliyunEndpoint:  v.GetString("aliyun-endpoint"),
		TencentEndpoint: v.GetString("tencent-endpoint"),
		Instance:        v.GetString("instance"),
		Name:            v.GetString("name"),
	}
	known := []string{"none"}
	for _, p := range cloudProviders {
		known = append(known, p.name)
	}
	for _, p := range o.Providers {
		if !slices.Contains(known, p) {
			return o, usagef("--provider: unknown provider %q (known: %s)", p, strings.Join(known, ", "))
		}
	}
	if slices.Contains(o.Providers, "none") && len(o.Providers) > 1 {
		return o, usagef("--provider: none cannot be combined with other providers")
	}
	return o, nil
}

// startCloud asks the chosen providers, all at once and under one deadline, while the
// caller goes on (the probe runs meanwhile); wait returns their steps in provider order.
func startCloud(ctx context.Context, o cloudOptions, tgt report.Target, addrs []netip.Addr, from netip.Prefix) (wait func() []report.Step) {
	var chosen []cloudProvider
	for _, p := range cloudProviders {
		if len(o.Providers) == 0 || slices.Contains(o.Providers, p.name) {
			chosen = append(chosen, p)
		}
	}
	if o.Instance == "" && o.Name == "" && len(addrs) > 0 && !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return !a.IsLoopback() }) {
		chosen = nil // a loopback target never leaves this host: no cloud is on its path
	}
	q := providers.Query{Target: tgt, Addrs: addrs, Source: from, Proto: tgt.Transport, Port: uint16(tgt.Port),
		Instance: o.Instance, Name: o.Name}
	ctx, cancel := context.WithTimeout(ctx, cloudTimeout)
	results := make([][]report.Step, len(chosen))
	var wg sync.WaitGroup
	for i, p := range chosen {
		wg.Go(func() { results[i] = p.new(o).Steps(ctx, q) })
	}
	return func() []report.Step {
		wg.Wait()
		cancel()
		var out []report.Step
		for _, r := range results {
			out = append(out, r...)
		}
		return out
	}
}
