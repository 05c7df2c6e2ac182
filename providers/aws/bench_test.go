package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/portpath/portpath/providers/aws/awstest"
	"github.com/portpath/portpath/report"
)

// maxCallsPerCheck is the API budget for one check of an instance with three security groups.
const maxCallsPerCheck = 6

// BenchmarkCallsPerCheck counts the API calls of one check (one region, an instance with
// three security groups): DescribeInstances, Lightsail GetInstances, DescribeSecurityGroups
// (all groups at once), DescribeNetworkAcls and DescribeRouteTables.
func BenchmarkCallsPerCheck(b *testing.B) {
	f := awstest.New(b, world())
	p := provider(f, "us-east-1")
	q := query(b, "203.0.113.10", "0.0.0.0/0", 8282)
	checks := 0
	for b.Loop() {
		steps := p.Steps(b.Context(), q)
		if s := stepOf(steps, "aws.security-group"); s == nil || s.Decision != report.Allow {
			b.Fatalf("steps %+v; want the security groups to allow", steps)
		}
		checks++
	}
	calls := float64(len(f.Actions())) / float64(checks)
	b.ReportMetric(calls, "calls/check")
	if calls > maxCallsPerCheck {
		b.Errorf("%.1f API calls per check; the budget is %d (%v)", calls, maxCallsPerCheck, f.Actions()[:int(calls)])
	}
	assertReadOnly(b, f)
}

// BenchmarkRegionDiscovery times a check whose instance is in the last of 17 regions, each
// answering after 200 ms, against the same check in one region: the regions are searched
// in parallel, so the ratio stays near 1 (the budget is 2).
func BenchmarkRegionDiscovery(b *testing.B) {
	const latency = 200 * time.Millisecond
	regions := make(map[string]*awstest.Region)
	var names []string
	for i := range 17 {
		n := fmt.Sprintf("xx-region-%02d", i)
		names = append(names, n)
		regions[n] = &awstest.Region{}
	}
	regions[names[16]] = world()["us-east-1"]
	f := awstest.New(b, regions)
	f.Latency = latency
	q := query(b, "203.0.113.10", "0.0.0.0/0", 8282)
	var one, all time.Duration
	for b.Loop() {
		start := time.Now()
		s1 := provider(f, names[16]).Steps(b.Context(), q)
		one += time.Since(start)
		start = time.Now()
		s17 := provider(f, names...).Steps(b.Context(), q)
		all += time.Since(start)
		for _, steps := range [][]report.Step{s1, s17} {
			if s := stepOf(steps, "aws.security-group"); s == nil || s.Decision != report.Allow {
				b.Fatalf("steps %+v; want the instance found and allowed", steps)
			}
		}
	}
	ratio := float64(all) / float64(one)
	b.ReportMetric(float64(one.Milliseconds())/float64(b.N), "ms/1-region")
	b.ReportMetric(float64(all.Milliseconds())/float64(b.N), "ms/17-regions")
	b.ReportMetric(ratio, "ratio")
	if ratio >= 2 {
		b.Errorf("17 regions took %.2f× one region's time; want under 2×", ratio)
	}
}
