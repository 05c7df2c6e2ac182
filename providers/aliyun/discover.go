package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	swas "github.com/aliyun/alibaba-cloud-sdk-go/services/swas-open"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// ecsHit is an ECS instance found in a region.
type ecsHit struct {
	cl   clients
	inst ecs.Instance
}

// swasHit is a lightweight server found in a region.
type swasHit struct {
	cl   clients
	inst swas.Instance
}

// found is the result of searching every region.
type found struct {
	regions []string
	ecs     []ecsHit
	swas    []swasHit
	errs    []string
}

// jsonList is the JSON-array string the RPC API takes for lists ("[\"a\",\"b\"]").
func jsonList(items []string) string {
	b, _ := json.Marshal(items)
	return string(b)
}

// findInstances searches every region at once. By address, ECS is asked first (public IP,
// then EIP, then private IP, then classic inner IP, each only for what is still not found)
// and SWAS only for addresses ECS does not own, so the common case costs one call.
func findInstances(ctx context.Context, q providers.Query, regions []string, cls map[string]clients) *found {
	f := &found{regions: regions}
	var fmu sync.Mutex
	providers.Parallel(regions, func(_ int, region string) {
		c := cls[region]
		var mu sync.Mutex
		var ehits []ecsHit
		var shits []swasHit
		var errs []string
		askECS := q.Instance == "" || strings.HasPrefix(q.Instance, "i-") || strings.HasPrefix(q.Instance, "AY")
		askSWAS := q.Instance == "" || !strings.HasPrefix(q.Instance, "i-")
		switch {
		case q.Instance != "" || q.Name != "":
			var wg sync.WaitGroup
			if askECS {
				wg.Go(func() {
					req := ecs.CreateDescribeInstancesRequest()
					if q.Instance != "" {
						req.InstanceIds = jsonList([]string{q.Instance})
					} else {
						req.InstanceName = q.Name
					}
					hits, err := describeInstances(ctx, c, req)
					mu.Lock()
					defer mu.Unlock()
					ehits = hits
					if err != nil {
						errs = append(errs, region+": "+apiMessage("ecs:DescribeInstances", err))
					}
				})
			}
			if askSWAS {
				wg.Go(func() {
					req := swas.CreateListInstancesRequest()
					if q.Instance != "" {
						req.InstanceIds = jsonList([]string{q.Instance})
					} else {
						req.InstanceName = q.Name
					}
					hits, err := listSWAS(ctx, c, req)
					mu.Lock()
					defer mu.Unlock()
					shits = hits
					if err != nil && !notOffered(err) {
						errs = append(errs, region+": "+apiMessage("swas-open:ListInstances", err))
					}
				})
			}
			wg.Wait()
		default:
			var pub, priv []string
			for _, a := range q.Addrs {
				a = a.Unmap()
				if !a.Is4() {
					continue
				}
				if providers.IsPrivateAddr(a) {
					priv = append(priv, a.String())
				} else {
					pub = append(pub, a.String())
				}
			}
			search := []struct {
				addrs *[]string
				set   func(*ecs.DescribeInstancesRequest, string)
			}{
				{&pub, func(r *ecs.DescribeInstancesRequest, s string) { r.PublicIpAddresses = s }},
				{&pub, func(r *ecs.DescribeInstancesRequest, s string) { r.EipAddresses = s }},
				{&priv, func(r *ecs.DescribeInstancesRequest, s string) { r.PrivateIpAddresses = s }},
				{&priv, func(r *ecs.DescribeInstancesRequest, s string) { r.InnerIpAddresses = s }},
			}
			for _, s := range search {
				if len(*s.addrs) == 0 {
					continue
				}
				req := ecs.CreateDescribeInstancesRequest()
				s.set(req, jsonList(*s.addrs))
				hits, err := describeInstances(ctx, c, req)
				if err != nil {
					errs = append(errs, region+": "+apiMessage("ecs:DescribeInstances", err))
					break
				}
				for _, h := range hits {
					if !slices.ContainsFunc(ehits, func(e ecsHit) bool { return e.inst.InstanceId == h.inst.InstanceId }) {
						ehits = append(ehits, h)
					}
					for _, a := range ecsAddrs(h.inst) {
						pub = slices.DeleteFunc(pub, func(s string) bool { return s == a.String() })
						priv = slices.DeleteFunc(priv, func(s string) bool { return s == a.String() })
					}
				}
			}
			if len(pub) > 0 && len(errs) == 0 {
				req := swas.CreateListInstancesRequest()
				req.PublicIpAddresses = jsonList(pub)
				hits, err := listSWAS(ctx, c, req)
				shits = hits
				if err != nil && !notOffered(err) {
					errs = append(errs, region+": "+apiMessage("swas-open:ListInstances", err))
				}
			}
		}
		fmu.Lock()
		defer fmu.Unlock()
		f.ecs = append(f.ecs, ehits...)
		f.swas = append(f.swas, shits...)
		f.errs = append(f.errs, errs...)
	})
	slices.Sort(f.errs)
	slices.SortFunc(f.ecs, func(a, b ecsHit) int { return strings.Compare(a.inst.InstanceId, b.inst.InstanceId) })
	slices.SortFunc(f.swas, func(a, b swasHit) int { return strings.Compare(a.inst.InstanceId, b.inst.InstanceId) })
	return f
}

// describeInstances pages through DescribeInstances.
func describeInstances(ctx context.Context, c clients, req *ecs.DescribeInstancesRequest) ([]ecsHit, error) {
	var out []ecsHit
	req.MaxResults = requests.NewInteger(100)
	for range maxPages {
		resp, err := callAPI(ctx, c.p, func() (*ecs.DescribeInstancesResponse, error) { return c.ecs().DescribeInstances(req) })
		if err != nil {
			return out, err
		}
		for _, in := range resp.Instances.Instance {
			out = append(out, ecsHit{c, in})
		}
		if resp.NextToken == "" {
			break
		}
		req.NextToken = resp.NextToken
	}
	return out, nil
}

// listSWAS pages through the lightweight servers of a region.
func listSWAS(ctx context.Context, c clients, req *swas.ListInstancesRequest) ([]swasHit, error) {
	var out []swasHit
	req.PageSize = requests.NewInteger(100)
	for page := 1; page <= maxPages; page++ {
		req.PageNumber = requests.NewInteger(page)
		resp, err := callAPI(ctx, c.p, func() (*swas.ListInstancesResponse, error) { return c.swas().ListInstances(req) })
		if err != nil {
			return out, err
		}
		for _, in := range resp.Instances {
			out = append(out, swasHit{c, in})
		}
		if len(resp.Instances) == 0 || len(out) >= resp.TotalCount {
			break
		}
	}
	return out, nil
}

// ecsAddrs are every IPv4/IPv6 address of an instance.
func ecsAddrs(in ecs.Instance) []netip.Addr {
	var ss []string
	ss = append(ss, in.PublicIpAddress.IpAddress...)
	ss = append(ss, in.EipAddress.IpAddress)
	ss = append(ss, in.InnerIpAddress.IpAddress...)
	ss = append(ss, in.VpcAttributes.PrivateIpAddress.IpAddress...)
	for _, n := range in.NetworkInterfaces.NetworkInterface {
		ss = append(ss, n.PrimaryIpAddress)
		for _, p := range n.PrivateIpSets.PrivateIpSet {
			ss = append(ss, p.PrivateIpAddress, p.AssociatedPublicIp.PublicIpAddress)
		}
		for _, v6 := range n.Ipv6Sets.Ipv6Set {
			ss = append(ss, v6.Ipv6Address)
		}
	}
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// endpoint is one destination address on an ECS instance.
type endpoint struct {
	dst netip.Addr
	// public is true for the instance's public IP or EIP (or a public IPv6 address).
	public bool
	// nic is the network interface that owns dst; empty means the primary one.
	nic string
	// primary is true when nic is the primary interface (its groups are the instance's).
	primary bool
}

// endpoints matches the target's addresses to the instance; when none matches (the
// instance was named) it is evaluated at its public address, else its primary private one.
func endpoints(in ecs.Instance, addrs []netip.Addr) []endpoint {
	var all []endpoint
	primaryNIC := ""
	for _, n := range in.NetworkInterfaces.NetworkInterface {
		if strings.EqualFold(n.Type, "Primary") || primaryNIC == "" && len(in.NetworkInterfaces.NetworkInterface) == 1 {
			primaryNIC = n.NetworkInterfaceId
		}
	}
	add := func(s, nic string, public bool) {
		a, err := netip.ParseAddr(s)
		if err != nil || slices.ContainsFunc(all, func(e endpoint) bool { return e.dst == a }) {
			return
		}
		all = append(all, endpoint{dst: a, public: public, nic: nic, primary: nic == "" || nic == primaryNIC})
	}
	for _, s := range in.PublicIpAddress.IpAddress {
		add(s, primaryNIC, true)
	}
	add(in.EipAddress.IpAddress, primaryNIC, true)
	for _, n := range in.NetworkInterfaces.NetworkInterface {
		add(n.PrimaryIpAddress, n.NetworkInterfaceId, false)
		for _, p := range n.PrivateIpSets.PrivateIpSet {
			add(p.PrivateIpAddress, n.NetworkInterfaceId, false)
			add(p.AssociatedPublicIp.PublicIpAddress, n.NetworkInterfaceId, true)
		}
		for _, v6 := range n.Ipv6Sets.Ipv6Set {
			a, err := netip.ParseAddr(v6.Ipv6Address)
			add(v6.Ipv6Address, n.NetworkInterfaceId, err == nil && !providers.IsPrivateAddr(a))
		}
	}
	for _, s := range in.VpcAttributes.PrivateIpAddress.IpAddress {
		add(s, primaryNIC, false)
	}
	for _, s := range in.InnerIpAddress.IpAddress {
		add(s, primaryNIC, false)
	}
	var out []endpoint
	for _, a := range addrs {
		for _, e := range all {
			if e.dst == a.Unmap() {
				out = append(out, e)
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, e := range all {
		if e.public && e.primary {
			return []endpoint{e}
		}
	}
	for _, e := range all {
		if e.primary {
			return []endpoint{e}
		}
	}
	return nil
}

// steps evaluates every instance found, or explains why none was.
func (f *found) steps(ctx context.Context, q providers.Query) []report.Step {
	if len(f.ecs) == 0 && len(f.swas) == 0 {
		return []report.Step{f.notFound(q)}
	}
	out := providers.Gather(len(f.ecs)+len(f.swas), func(i int) []report.Step {
		if i < len(f.ecs) {
			return evalECS(ctx, f.ecs[i], q)
		}
		return evalSWASInstance(ctx, f.swas[i-len(f.ecs)], q)
	})
	// A search that failed elsewhere does not matter once the owner of the address is
	// found: public addresses are unique, and the target is one machine.
	return out
}

func (f *found) notFound(q providers.Query) report.Step {
	return providers.NotFound("aliyun.instance", "ECS instance or lightweight server", q, strings.Join(f.regions, ", "), f.errs)
}

// evalECS answers for one ECS instance: its status, then per destination address the
// public address, the vSwitch's network ACL and the security groups.
func evalECS(ctx context.Context, h ecsHit, q providers.Query) []report.Step {
	in := h.inst
	label := in.InstanceId
	if in.InstanceName != "" {
		label += " (" + in.InstanceName + ")"
	}
	region := h.cl.region
	st := report.Step{Layer: "aliyun.instance", Rule: &report.Rule{ID: in.InstanceId, Text: "status " + in.Status, Origin: region}}
	if !strings.EqualFold(in.Status, "Running") {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		st.Detail = fmt.Sprintf("ECS instance %s in %s is %s, not Running", label, region, in.Status)
		st.Fix = []string{fmt.Sprintf("aliyun ecs StartInstance --RegionId %s --InstanceId %s", region, in.InstanceId)}
		return []report.Step{st}
	}
	st.Decision = report.Allow
	st.Detail = fmt.Sprintf("ECS instance %s in %s is Running", label, region)
	out := []report.Step{st}
	eps := endpoints(in, q.Addrs)
	if len(eps) == 0 {
		out[0].Decision = report.Unknown
		out[0].Detail += ", but no address of it was found"
		return out
	}
	s := newSnapshot(h.cl)
	for _, e := range eps {
		out = append(out, evalEndpoint(ctx, s, in, e, q)...)
	}
	return out
}

// publicOf is the instance's public IPv4 address or EIP; empty means none.
func publicOf(in ecs.Instance) string {
	if in.EipAddress.IpAddress != "" {
		return in.EipAddress.IpAddress
	}
	if len(in.PublicIpAddress.IpAddress) > 0 {
		return in.PublicIpAddress.IpAddress[0]
	}
	return ""
}

// evalEndpoint reads (once per interface) and evaluates the layers for one destination.
func evalEndpoint(ctx context.Context, s *snapshot, in ecs.Instance, e endpoint, q providers.Query) []report.Step {
	src, skip := providers.SourceFor(q, e.dst, "aliyun.security-group")
	if skip != nil {
		return []report.Step{*skip}
	}
	region := s.cl.region
	c := check{Region: region, Source: src, Dst: e.dst, Proto: q.Proto, Port: q.Port}
	var out []report.Step
	internet := !providers.IsPrivateSet(src)
	// intra: a private source reaching a private address, where group members matter
	intra := !e.public && !internet
	if !e.public && internet {
		pa := report.Step{Layer: "aliyun.public-address", Address: e.dst.String(), Decision: report.Drop, Symptom: report.Timeout}
		if pub := publicOf(in); pub != "" {
			pa.Cause = report.CausePrivateAddress
			pa.Detail = fmt.Sprintf("%s is a private address of %s; the internet does not route to it: connect to its public address %s instead", e.dst, in.InstanceId, pub)
		} else {
			pa.Cause = report.CauseNoPublicPath
			pa.Detail = fmt.Sprintf("%s is a private address of %s, and the instance has no public IP or EIP", e.dst, in.InstanceId)
			pa.Fix = []string{
				fmt.Sprintf("aliyun vpc AllocateEipAddress --RegionId %s", region),
				fmt.Sprintf("aliyun vpc AssociateEipAddress --RegionId %s --AllocationId EIP_ALLOCATION_ID --InstanceId %s --InstanceType EcsInstance", region, in.InstanceId),
			}
		}
		out = append(out, pa)
	}
	classic := strings.EqualFold(in.InstanceNetworkType, "classic")
	nicType := "intranet"
	if classic && e.public {
		nicType = "internet"
	}
	groupIDs, vsw, eni := in.SecurityGroupIds.SecurityGroupId, in.VpcAttributes.VSwitchId, e.nic
	if eni == "" {
		eni = "the primary interface of " + in.InstanceId
	}
	if !e.primary {
		nic, err := s.networkInterface(ctx, e.nic)
		if err != nil {
			return append(out, report.Step{Layer: "aliyun.security-group", Decision: report.Unknown, Address: e.dst.String(), Detail: err.Error()})
		}
		groupIDs, vsw = nic.SecurityGroupIds.SecurityGroupId, nic.VSwitchId
	}
	var (
		wg            sync.WaitGroup
		acl           *vpc.NetworkAcl
		aclErr, sgErr error
		groups        []sgData
		sc            sgContext
	)
	if !classic && vsw != "" {
		wg.Go(func() { acl, aclErr = s.networkACL(ctx, vsw) })
	}
	wg.Go(func() {
		groups, sgErr = s.securityGroups(ctx, groupIDs, nicType)
		if sgErr != nil {
			return
		}
		sc = s.context(ctx, c, groups, intra)
	})
	wg.Wait()
	switch {
	case classic:
		out = append(out, report.Step{Layer: "aliyun.network-acl", Decision: report.Skipped, Address: e.dst.String(), Detail: "classic-network instance: there is no vSwitch network ACL"})
	case aclErr != nil:
		out = append(out, report.Step{Layer: "aliyun.network-acl", Decision: report.Unknown, Address: e.dst.String(), Detail: aclErr.Error()})
	case acl == nil:
		out = append(out, report.Step{Layer: "aliyun.network-acl", Decision: report.Skipped, Address: e.dst.String(), Detail: fmt.Sprintf("no network ACL is bound to vSwitch %s", orDefault(vsw, "(unknown)"))})
	default:
		out = append(out, evalNetworkACL(c, vsw, *acl))
	}
	if sgErr != nil {
		return append(out, report.Step{Layer: "aliyun.security-group", Decision: report.Unknown, Address: e.dst.String(), Detail: sgErr.Error()})
	}
	sc.ENI, sc.Classic, sc.NicType, sc.DstPrivate = eni, classic, nicType, intra
	return append(out, evalSecurityGroups(c, groupIDs, groups, sc))
}

// evalSWASInstance answers for one lightweight server: its status, then its firewall.
func evalSWASInstance(ctx context.Context, h swasHit, q providers.Query) []report.Step {
	in := h.inst
	region := h.cl.region
	label := in.InstanceId
	if in.InstanceName != "" {
		label += " (" + in.InstanceName + ")"
	}
	st := report.Step{Layer: "aliyun.instance", Rule: &report.Rule{ID: in.InstanceId, Text: "status " + in.Status, Origin: "swas " + region}}
	if !strings.EqualFold(in.Status, "Running") {
		st.Decision, st.Cause, st.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		st.Detail = fmt.Sprintf("lightweight server %s in %s is %s, not Running", label, region, in.Status)
		st.Fix = []string{fmt.Sprintf("aliyun swas-open StartInstance --RegionId %s --InstanceId %s", region, in.InstanceId)}
		return []report.Step{st}
	}
	st.Decision = report.Allow
	st.Detail = fmt.Sprintf("lightweight server %s in %s is Running", label, region)
	out := []report.Step{st}
	var dsts []netip.Addr
	own := []string{in.PublicIpAddress, in.InnerIpAddress}
	for _, a := range q.Addrs {
		if slices.Contains(own, a.Unmap().String()) {
			dsts = append(dsts, a.Unmap())
		}
	}
	if len(dsts) == 0 {
		if a, err := netip.ParseAddr(in.PublicIpAddress); err == nil {
			dsts = append(dsts, a)
		}
	}
	rules, err := firewallRules(ctx, h.cl, in.InstanceId)
	for _, d := range dsts {
		src, skip := providers.SourceFor(q, d, "aliyun.swas-firewall")
		if skip != nil {
			out = append(out, *skip)
			continue
		}
		if err != nil {
			out = append(out, report.Step{Layer: "aliyun.swas-firewall", Decision: report.Unknown, Address: d.String(), Detail: apiMessage("swas-open:ListFirewallRules", err)})
			continue
		}
		out = append(out, evalSWAS(check{Region: region, Source: src, Dst: d, Proto: q.Proto, Port: q.Port}, in, rules))
	}
	return out
}

// firewallRules pages through a lightweight server's firewall.
func firewallRules(ctx context.Context, c clients, id string) ([]swas.FirewallRule, error) {
	var out []swas.FirewallRule
	req := swas.CreateListFirewallRulesRequest()
	req.InstanceId = id
	req.PageSize = requests.NewInteger(100)
	for page := 1; page <= maxPages; page++ {
		req.PageNumber = requests.NewInteger(page)
		resp, err := callAPI(ctx, c.p, func() (*swas.ListFirewallRulesResponse, error) { return c.swas().ListFirewallRules(req) })
		if err != nil {
			return nil, err
		}
		out = append(out, resp.FirewallRules...)
		if len(resp.FirewallRules) == 0 || len(out) >= resp.TotalCount {
			break
		}
	}
	return out, nil
}

// notOffered reports whether a SWAS call failed because the region has no SWAS endpoint
// (its name does not resolve): lightweight servers are not offered there.
func notOffered(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
