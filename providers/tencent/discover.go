package tencent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	lighthouse "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/lighthouse/v20200324"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// pageSize is the largest page the Describe calls accept.
const pageSize = 100

type cvmHit struct {
	cl   clients
	inst *cvm.Instance
}

type lhHit struct {
	cl   clients
	inst *lighthouse.Instance
}

// found is what the search in every region gave.
type found struct {
	cvm     []cvmHit
	lh      []lhHit
	regions []string
	foreign []string // regions the API says are not Tencent Cloud's (a shared --region list)
	errs    []string
}

func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(a)
}

// addrFilters are the discovery filters for the target's addresses: public IPv4, private
// IPv4 and IPv6 addresses are separate filters (filters AND, values OR), at most 5 values each.
func addrFilters(addrs []netip.Addr) [][2]any {
	var pub, priv, v6 []string
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is6():
			v6 = append(v6, a.String())
		case isPrivate(a):
			priv = append(priv, a.String())
		default:
			pub = append(pub, a.String())
		}
	}
	var out [][2]any
	for _, f := range []struct {
		name string
		vs   []string
	}{{"public-ip-address", pub}, {"private-ip-address", priv}, {"ipv6-address", v6}} {
		for len(f.vs) > 0 {
			n := min(5, len(f.vs))
			out = append(out, [2]any{f.name, f.vs[:n]})
			f.vs = f.vs[n:]
		}
	}
	return out
}

func cvmFilter(name string, vs []string) []*cvm.Filter {
	return []*cvm.Filter{{Name: common.StringPtr(name), Values: common.StringPtrs(vs)}}
}

func lhFilter(name string, vs []string) []*lighthouse.Filter {
	return []*lighthouse.Filter{{Name: common.StringPtr(name), Values: common.StringPtrs(vs)}}
}

// notFoundCode reports whether an error says the named instance does not exist.
func notFoundCode(err error) bool {
	var se *tcerr.TencentCloudSDKError
	return errors.As(err, &se) && (strings.Contains(se.Code, "NotFound") || strings.HasPrefix(se.Code, "InvalidInstanceId"))
}

func ipv6Filter(fs []*cvm.Filter) bool {
	return len(fs) == 1 && deref(fs[0].Name) == "ipv6-address"
}

// invalidFilter reports whether an error says a filter is not supported.
func invalidFilter(err error) bool {
	var se *tcerr.TencentCloudSDKError
	return errors.As(err, &se) && (strings.HasPrefix(se.Code, "InvalidFilter") || strings.HasPrefix(se.Code, "InvalidParameter"))
}

// regionCode reports whether an error says the product is not offered in the region.
func regionCode(err error) bool {
	var se *tcerr.TencentCloudSDKError
	return errors.As(err, &se) && (strings.Contains(se.Code, "Region") || se.Code == "UnsupportedRegion")
}

// findInstances searches every region for CVM and Lighthouse instances, all at once.
func findInstances(ctx context.Context, q providers.Query, cl []clients) *found {
	f := &found{}
	var mu sync.Mutex
	providers.Parallel(cl, func(_ int, c clients) {
		var wg sync.WaitGroup
		wg.Go(func() {
			hits, err := findCVM(ctx, c, q)
			mu.Lock()
			defer mu.Unlock()
			if regionCode(err) {
				f.foreign = append(f.foreign, c.region)
				return
			}
			if err != nil {
				f.errs = append(f.errs, fmt.Sprintf("%s: %s", c.region, apiMessage("cvm:DescribeInstances", err)))
			}
			f.cvm = append(f.cvm, hits...)
		})
		wg.Go(func() {
			hits, err := findLighthouse(ctx, c, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.errs = append(f.errs, fmt.Sprintf("%s: %s", c.region, apiMessage("lighthouse:DescribeInstances", err)))
			}
			f.lh = append(f.lh, hits...)
		})
		wg.Wait()
		mu.Lock()
		f.regions = append(f.regions, c.region)
		mu.Unlock()
	})
	f.regions = slices.DeleteFunc(f.regions, func(r string) bool { return slices.Contains(f.foreign, r) })
	slices.Sort(f.regions)
	slices.Sort(f.foreign)
	slices.Sort(f.errs)
	slices.SortFunc(f.cvm, func(a, b cvmHit) int { return strings.Compare(deref(a.inst.InstanceId), deref(b.inst.InstanceId)) })
	slices.SortFunc(f.lh, func(a, b lhHit) int { return strings.Compare(deref(a.inst.InstanceId), deref(b.inst.InstanceId)) })
	return f
}

// instanceRequests are the DescribeInstances requests of one product for the query, made
// by byID (an instance ID) or byFilter (one filter). The instance ID's prefix says the
// product (lighthouse or CVM); Lighthouse is found by its IPv4 addresses only.
func instanceRequests[R any](q providers.Query, lighthouse bool, byID func(id string) R, byFilter func(name string, vs []string) R) []R {
	switch {
	case q.Instance != "":
		if strings.HasPrefix(q.Instance, "lhins-") != lighthouse {
			return nil
		}
		return []R{byID(q.Instance)}
	case q.Name != "":
		return []R{byFilter("instance-name", []string{q.Name})}
	}
	var reqs []R
	for _, f := range addrFilters(q.Addrs) {
		if lighthouse && f[0] == "ipv6-address" {
			continue
		}
		reqs = append(reqs, byFilter(f[0].(string), f[1].([]string)))
	}
	return reqs
}

// addFound appends to out the instances not seen yet that the query names (the name
// filter matches names fuzzily, so the name is compared again); idName reads an instance's
// ID and name, hit makes its entry.
func addFound[I, H any](out []H, seen map[string]bool, q providers.Query, items []*I, idName func(*I) (string, string), hit func(*I) H) []H {
	for _, in := range items {
		if in == nil {
			continue
		}
		id, name := idName(in)
		if seen[id] || (q.Name != "" && name != q.Name) {
			continue
		}
		seen[id] = true
		out = append(out, hit(in))
	}
	return out
}

// findCVM asks one region for the CVM instances the query names.
func findCVM(ctx context.Context, c clients, q providers.Query) ([]cvmHit, error) {
	reqs := instanceRequests(q, false, func(id string) *cvm.DescribeInstancesRequest {
		r := cvm.NewDescribeInstancesRequest()
		r.InstanceIds = common.StringPtrs([]string{id})
		return r
	}, func(name string, vs []string) *cvm.DescribeInstancesRequest {
		r := cvm.NewDescribeInstancesRequest()
		r.Filters = cvmFilter(name, vs)
		return r
	})
	var out []cvmHit
	seen := map[string]bool{}
	for _, r := range reqs {
		items, err := describe(ctx, c, "cvm:DescribeInstances", func(off, limit int) ([]*cvm.Instance, int, error) {
			r.Offset, r.Limit = common.Int64Ptr(int64(off)), common.Int64Ptr(int64(limit))
			resp, err := c.cvm.DescribeInstances(r)
			if err != nil || resp.Response == nil {
				return nil, 0, err
			}
			return resp.Response.InstanceSet, int(deref(resp.Response.TotalCount)), nil
		})
		if err != nil && q.Instance != "" && notFoundCode(err) {
			return nil, nil
		}
		out = addFound(out, seen, q, items, func(in *cvm.Instance) (string, string) { return deref(in.InstanceId), deref(in.InstanceName) },
			func(in *cvm.Instance) cvmHit { return cvmHit{cl: c, inst: in} })
		// an API without the IPv6 filter is passed over: the IPv4 addresses find the instance
		if err != nil && !(ipv6Filter(r.Filters) && invalidFilter(err)) {
			return out, err
		}
	}
	return out, nil
}

// findLighthouse asks one region for the Lighthouse instances the query names.
func findLighthouse(ctx context.Context, c clients, q providers.Query) ([]lhHit, error) {
	reqs := instanceRequests(q, true, func(id string) *lighthouse.DescribeInstancesRequest {
		r := lighthouse.NewDescribeInstancesRequest()
		r.InstanceIds = common.StringPtrs([]string{id})
		return r
	}, func(name string, vs []string) *lighthouse.DescribeInstancesRequest {
		r := lighthouse.NewDescribeInstancesRequest()
		r.Filters = lhFilter(name, vs)
		return r
	})
	var out []lhHit
	seen := map[string]bool{}
	for _, r := range reqs {
		items, err := describe(ctx, c, "lighthouse:DescribeInstances", func(off, limit int) ([]*lighthouse.Instance, int, error) {
			r.Offset, r.Limit = common.Int64Ptr(int64(off)), common.Int64Ptr(int64(limit))
			resp, err := c.lh.DescribeInstances(r)
			if err != nil || resp.Response == nil {
				return nil, 0, err
			}
			return resp.Response.InstanceSet, int(deref(resp.Response.TotalCount)), nil
		})
		if err != nil && (regionCode(err) || (q.Instance != "" && notFoundCode(err))) {
			return nil, nil
		}
		out = addFound(out, seen, q, items, func(in *lighthouse.Instance) (string, string) { return deref(in.InstanceId), deref(in.InstanceName) },
			func(in *lighthouse.Instance) lhHit { return lhHit{cl: c, inst: in} })
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// steps evaluates every instance found, or explains why none was.
func (f *found) steps(ctx context.Context, q providers.Query) []report.Step {
	if len(f.cvm) == 0 && len(f.lh) == 0 {
		return []report.Step{f.notFound(q)}
	}
	return providers.Gather(len(f.cvm)+len(f.lh), func(i int) []report.Step {
		if i < len(f.cvm) {
			return evalCVM(ctx, f.cvm[i], q)
		}
		return evalLighthouseInstance(ctx, f.lh[i-len(f.cvm)], q)
	})
}

func (f *found) notFound(q providers.Query) report.Step {
	if len(f.regions) == 0 {
		return report.Step{Layer: "tencent.instance", Decision: report.Skipped,
			Detail: fmt.Sprintf("none of the regions asked (%s) is a Tencent Cloud region", strings.Join(f.foreign, ", "))}
	}
	where := strings.Join(f.regions, ", ")
	if len(f.foreign) > 0 {
		where += fmt.Sprintf(" (%s: not Tencent Cloud regions)", strings.Join(f.foreign, ", "))
	}
	return providers.NotFound("tencent.instance", "CVM or Lighthouse instance", q, where, f.errs)
}

func parseAddrs(ss []*string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(strings.TrimSpace(deref(s))); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// destinations picks the addresses to evaluate: the target's addresses the instance owns,
// else (found by ID or name) its public addresses, else its private ones.
func destinations(q providers.Query, public, private []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range q.Addrs {
		if slices.Contains(public, a.Unmap()) || slices.Contains(private, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		out = public
		if len(out) == 0 {
			out = private
		}
	}
	return out
}

// evalCVM answers for one CVM instance: its state, then per destination address the network
// ACL of its subnet and the security groups of the interface owning it.
func evalCVM(ctx context.Context, h cvmHit, q providers.Query) []report.Step {
	in, region := h.inst, h.cl.region
	id := deref(in.InstanceId)
	label := id
	if n := deref(in.InstanceName); n != "" {
		label += " (" + n + ")"
	}
	state := deref(in.InstanceState)
	inst := report.Step{Layer: "tencent.instance", Rule: &report.Rule{ID: id, Text: "state " + state, Origin: region}}
	if state != "RUNNING" {
		inst.Decision, inst.Cause, inst.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		inst.Detail = fmt.Sprintf("CVM instance %s in %s is %s, not RUNNING", label, region, state)
		inst.Fix = []string{fmt.Sprintf("tccli cvm StartInstances --region %s --InstanceIds '[\"%s\"]'", region, id)}
		return []report.Step{inst}
	}
	inst.Decision = report.Allow
	inst.Detail = fmt.Sprintf("CVM instance %s in %s is RUNNING", label, region)
	primary := append(parseAddrs(in.PrivateIpAddresses), parseAddrs(in.IPv6Addresses)...)
	public := parseAddrs(in.PublicIpAddresses)
	own := append(slices.Clone(public), primary...)
	// the target's addresses: of the primary interface, or else of a secondary one
	var dsts, others []netip.Addr
	for _, a := range q.Addrs {
		if a = a.Unmap(); slices.Contains(own, a) {
			dsts = append(dsts, a)
		} else if !slices.Contains(others, a) {
			others = append(others, a)
		}
	}
	if len(q.Addrs) == 0 {
		dsts = public
		if len(dsts) == 0 {
			dsts = primary
		}
	}
	out := []report.Step{inst}
	if len(dsts)+len(others) == 0 {
		out[0].Decision = report.Unknown
		out[0].Detail += ", but it has no address"
		return out
	}
	s := newSnapshot(h.cl, in)
	for _, dst := range dsts {
		out = append(out, s.evalAddress(ctx, q, dst, true)...)
	}
	for _, dst := range others {
		out = append(out, s.evalAddress(ctx, q, dst, false)...)
	}
	return out
}

// evalLighthouseInstance answers for one Lighthouse instance: its state, then its firewall.
func evalLighthouseInstance(ctx context.Context, h lhHit, q providers.Query) []report.Step {
	in, region := h.inst, h.cl.region
	id := deref(in.InstanceId)
	label := id
	if n := deref(in.InstanceName); n != "" {
		label += " (" + n + ")"
	}
	state := deref(in.InstanceState)
	inst := report.Step{Layer: "tencent.instance", Rule: &report.Rule{ID: id, Text: "state " + state, Origin: "lighthouse " + region}}
	if state != "RUNNING" {
		inst.Decision, inst.Cause, inst.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		inst.Detail = fmt.Sprintf("Lighthouse instance %s in %s is %s, not RUNNING", label, region, state)
		inst.Fix = []string{fmt.Sprintf("tccli lighthouse StartInstances --region %s --InstanceIds '[\"%s\"]'", region, id)}
		return []report.Step{inst}
	}
	inst.Decision = report.Allow
	inst.Detail = fmt.Sprintf("Lighthouse instance %s in %s is RUNNING", label, region)
	dsts := destinations(q, parseAddrs(in.PublicAddresses), parseAddrs(in.PrivateAddresses))
	out := []report.Step{inst}
	if len(dsts) == 0 {
		out[0].Decision = report.Unknown
		out[0].Detail += ", but it has no address"
		return out
	}
	fw, err := firewallRules(ctx, h.cl, id)
	for _, dst := range dsts {
		src, skip := providers.SourceFor(q, dst, "tencent.lighthouse-firewall")
		if skip != nil {
			out = append(out, *skip)
			continue
		}
		if err != nil {
			out = append(out, report.Step{Layer: "tencent.lighthouse-firewall", Decision: report.Unknown, Address: dst.String(),
				Detail: apiMessage("lighthouse:DescribeFirewallRules", err)})
			continue
		}
		c := check{Region: region, Source: src, Dst: dst, Proto: q.Proto, Port: q.Port}
		rules, specs := flattenFirewall(id, fw, dst)
		out = append(out, evalLighthouse(c, id, rules, specs))
	}
	return out
}

// firewallRulesResponse is DescribeFirewallRules' answer, with the Ipv6CidrBlock field the
// API returns (the SDK's model predates it).
type firewallRulesResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		TotalCount      *int64         `json:"TotalCount,omitempty"`
		FirewallRuleSet []firewallRule `json:"FirewallRuleSet,omitempty"`
		FirewallVersion *uint64        `json:"FirewallVersion,omitempty"`
		RequestId       *string        `json:"RequestId,omitempty"`
	} `json:"Response"`
}

// firewallRules reads a Lighthouse instance's firewall, every page, in order.
func firewallRules(ctx context.Context, c clients, id string) ([]firewallRule, error) {
	fw, err := describe(ctx, c, "lighthouse:DescribeFirewallRules", func(off, limit int) ([]firewallRule, int, error) {
		req := lighthouse.NewDescribeFirewallRulesRequest()
		req.InstanceId, req.Offset, req.Limit = common.StringPtr(id), common.Int64Ptr(int64(off)), common.Int64Ptr(int64(limit))
		resp := &firewallRulesResponse{BaseResponse: &tchttp.BaseResponse{}}
		if err := c.lh.Send(req, resp); err != nil || resp.Response == nil {
			return nil, 0, err
		}
		return resp.Response.FirewallRuleSet, int(deref(resp.Response.TotalCount)), nil
	})
	if err != nil {
		return nil, err
	}
	return fw, nil
}
