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
	cvm      []cvmHit
	lh       []lhHit
	regions  []string
	foreign  []string // regions the API says are not Tencent Cloud's (a shared --region list)
	errs     []string
	explicit bool // the instance was named (--instance, --name), so not finding it blocks
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
	f := &found{explicit: q.Instance != "" || q.Name != ""}
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

// findCVM asks one region for the CVM instances the query names.
func findCVM(ctx context.Context, c clients, q providers.Query) ([]cvmHit, error) {
	var reqs []*cvm.DescribeInstancesRequest
	switch {
	case q.Instance != "":
		if strings.HasPrefix(q.Instance, "lhins-") {
			return nil, nil
		}
		r := cvm.NewDescribeInstancesRequest()
		r.InstanceIds = common.StringPtrs([]string{q.Instance})
		reqs = append(reqs, r)
	case q.Name != "":
		r := cvm.NewDescribeInstancesRequest()
		r.Filters = cvmFilter("instance-name", []string{q.Name})
		reqs = append(reqs, r)
	default:
		for _, f := range addrFilters(q.Addrs) {
			r := cvm.NewDescribeInstancesRequest()
			r.Filters = cvmFilter(f[0].(string), f[1].([]string))
			reqs = append(reqs, r)
		}
	}
	var out []cvmHit
	seen := map[string]bool{}
	for _, r := range reqs {
		r.Limit = common.Int64Ptr(pageSize)
		for off := int64(0); ; {
			r.Offset = common.Int64Ptr(off)
			var resp *cvm.DescribeInstancesResponse
			err := c.call(ctx, "cvm:DescribeInstances", func() (err error) { resp, err = c.cvm.DescribeInstances(r); return err })
			if err != nil {
				if q.Instance != "" && notFoundCode(err) {
					return nil, nil
				}
				if ipv6Filter(r.Filters) && invalidFilter(err) {
					break // an API without the IPv6 filter: the IPv4 addresses find the instance
				}
				return out, err
			}
			if resp.Response == nil {
				break
			}
			for _, in := range resp.Response.InstanceSet {
				if in == nil || seen[deref(in.InstanceId)] {
					continue
				}
				if q.Name != "" && deref(in.InstanceName) != q.Name {
					continue // the filter matches names fuzzily
				}
				seen[deref(in.InstanceId)] = true
				out = append(out, cvmHit{cl: c, inst: in})
			}
			off += int64(len(resp.Response.InstanceSet))
			if len(resp.Response.InstanceSet) == 0 || off >= deref(resp.Response.TotalCount) {
				break
			}
		}
	}
	return out, nil
}

// findLighthouse asks one region for the Lighthouse instances the query names.
func findLighthouse(ctx context.Context, c clients, q providers.Query) ([]lhHit, error) {
	var reqs []*lighthouse.DescribeInstancesRequest
	switch {
	case q.Instance != "":
		if !strings.HasPrefix(q.Instance, "lhins-") {
			return nil, nil
		}
		r := lighthouse.NewDescribeInstancesRequest()
		r.InstanceIds = common.StringPtrs([]string{q.Instance})
		reqs = append(reqs, r)
	case q.Name != "":
		r := lighthouse.NewDescribeInstancesRequest()
		r.Filters = lhFilter("instance-name", []string{q.Name})
		reqs = append(reqs, r)
	default:
		for _, f := range addrFilters(q.Addrs) {
			if f[0] == "ipv6-address" {
				continue // Lighthouse is found by its IPv4 addresses
			}
			r := lighthouse.NewDescribeInstancesRequest()
			r.Filters = lhFilter(f[0].(string), f[1].([]string))
			reqs = append(reqs, r)
		}
	}
	var out []lhHit
	seen := map[string]bool{}
	for _, r := range reqs {
		r.Limit = common.Int64Ptr(pageSize)
		for off := int64(0); ; {
			r.Offset = common.Int64Ptr(off)
			var resp *lighthouse.DescribeInstancesResponse
			err := c.call(ctx, "lighthouse:DescribeInstances", func() (err error) { resp, err = c.lh.DescribeInstances(r); return err })
			if err != nil {
				if regionCode(err) || (q.Instance != "" && notFoundCode(err)) {
					return nil, nil
				}
				return out, err
			}
			if resp.Response == nil {
				break
			}
			for _, in := range resp.Response.InstanceSet {
				if in == nil || seen[deref(in.InstanceId)] {
					continue
				}
				if q.Name != "" && deref(in.InstanceName) != q.Name {
					continue
				}
				seen[deref(in.InstanceId)] = true
				out = append(out, lhHit{cl: c, inst: in})
			}
			off += int64(len(resp.Response.InstanceSet))
			if len(resp.Response.InstanceSet) == 0 || off >= deref(resp.Response.TotalCount) {
				break
			}
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
	what := q.Sought()
	st := report.Step{Layer: "tencent.instance", Cause: report.CauseInstanceNotFound}
	regions := strings.Join(f.regions, ", ")
	if len(f.regions) == 0 {
		st.Decision, st.Cause = report.Skipped, ""
		st.Detail = fmt.Sprintf("none of the regions asked (%s) is a Tencent Cloud region", strings.Join(f.foreign, ", "))
		return st
	}
	if len(f.foreign) > 0 {
		regions += fmt.Sprintf(" (%s: not Tencent Cloud regions)", strings.Join(f.foreign, ", "))
	}
	if len(f.errs) > 0 {
		st.Decision, st.Cause = report.Unknown, ""
		st.Detail = fmt.Sprintf("no CVM or Lighthouse instance found for %s in %s, but some searches failed: %s", what, regions, strings.Join(f.errs, "; "))
		return st
	}
	st.Detail = fmt.Sprintf("no CVM or Lighthouse instance found for %s in %s (searched with these credentials)", what, regions)
	if f.explicit {
		st.Decision, st.Symptom = report.Drop, report.Timeout
		return st
	}
	st.Decision = report.Skipped
	st.Detail += ": the target is not an instance of this account, or it is in another region (--region)"
	return st
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
	var out []firewallRule
	for off := int64(0); ; {
		req := lighthouse.NewDescribeFirewallRulesRequest()
		req.InstanceId, req.Offset, req.Limit = common.StringPtr(id), common.Int64Ptr(off), common.Int64Ptr(pageSize)
		resp := &firewallRulesResponse{BaseResponse: &tchttp.BaseResponse{}}
		if err := c.call(ctx, "lighthouse:DescribeFirewallRules", func() error { return c.lh.Send(req, resp) }); err != nil {
			return nil, err
		}
		if resp.Response == nil {
			return out, nil
		}
		out = append(out, resp.Response.FirewallRuleSet...)
		off += int64(len(resp.Response.FirewallRuleSet))
		if len(resp.Response.FirewallRuleSet) == 0 || off >= deref(resp.Response.TotalCount) {
			return out, nil
		}
	}
}
