package tencent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	cvm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cvm/v20170312"
	vpc "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc/v20170312"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// snapshot is what was read for one CVM instance; every API call is made once, however many
// of its addresses are evaluated.
type snapshot struct {
	cl   clients
	inst *cvm.Instance

	enis     providers.Memo[struct{}, []*vpc.NetworkInterface]
	acls     providers.Memo[string, []*vpc.NetworkAcl]
	policies providers.Memo[string, []*vpc.SecurityGroupPolicy]
	tpls     providers.Memo[string, *templates]
}

func newSnapshot(c clients, in *cvm.Instance) *snapshot { return &snapshot{cl: c, inst: in} }

func vpcFilter(name string, vs ...string) []*vpc.Filter {
	return []*vpc.Filter{{Name: common.StringPtr(name), Values: common.StringPtrs(vs)}}
}

// interfaces reads the instance's network interfaces (for addresses of a secondary one).
func (s *snapshot) interfaces(ctx context.Context) ([]*vpc.NetworkInterface, error) {
	return s.enis.Get(struct{}{}, func() ([]*vpc.NetworkInterface, error) {
		var out []*vpc.NetworkInterface
		for off := uint64(0); ; {
			req := vpc.NewDescribeNetworkInterfacesRequest()
			req.Filters = vpcFilter("attachment.instance-id", deref(s.inst.InstanceId))
			req.Offset, req.Limit = common.Uint64Ptr(off), common.Uint64Ptr(pageSize)
			var resp *vpc.DescribeNetworkInterfacesResponse
			if err := s.cl.call(ctx, "vpc:DescribeNetworkInterfaces", func() (err error) {
				resp, err = s.cl.vpc.DescribeNetworkInterfaces(req)
				return err
			}); err != nil {
				return nil, err
			}
			if resp.Response == nil {
				return out, nil
			}
			out = append(out, resp.Response.NetworkInterfaceSet...)
			off += uint64(len(resp.Response.NetworkInterfaceSet))
			if len(resp.Response.NetworkInterfaceSet) == 0 || off >= deref(resp.Response.TotalCount) {
				return out, nil
			}
		}
	})
}

// networkACLs reads the VPC's network ACLs (one call names the subnets of each).
func (s *snapshot) networkACLs(ctx context.Context, vpcID string) ([]*vpc.NetworkAcl, error) {
	return s.acls.Get(vpcID, func() ([]*vpc.NetworkAcl, error) {
		var out []*vpc.NetworkAcl
		for off := uint64(0); ; {
			req := vpc.NewDescribeNetworkAclsRequest()
			req.Filters = vpcFilter("vpc-id", vpcID)
			req.Offset, req.Limit = common.Uint64Ptr(off), common.Uint64Ptr(pageSize)
			var resp *vpc.DescribeNetworkAclsResponse
			if err := s.cl.call(ctx, "vpc:DescribeNetworkAcls", func() (err error) {
				resp, err = s.cl.vpc.DescribeNetworkAcls(req)
				return err
			}); err != nil {
				return nil, err
			}
			if resp.Response == nil {
				return out, nil
			}
			out = append(out, resp.Response.NetworkAclSet...)
			off += uint64(len(resp.Response.NetworkAclSet))
			if len(resp.Response.NetworkAclSet) == 0 || off >= deref(resp.Response.TotalCount) {
				return out, nil
			}
		}
	})
}

// ingress reads one security group's ingress policies, in list order.
func (s *snapshot) ingress(ctx context.Context, group string) ([]*vpc.SecurityGroupPolicy, error) {
	return s.policies.Get(group, func() ([]*vpc.SecurityGroupPolicy, error) {
		req := vpc.NewDescribeSecurityGroupPoliciesRequest()
		req.SecurityGroupId = common.StringPtr(group)
		var resp *vpc.DescribeSecurityGroupPoliciesResponse
		if err := s.cl.call(ctx, "vpc:DescribeSecurityGroupPolicies", func() (err error) {
			resp, err = s.cl.vpc.DescribeSecurityGroupPolicies(req)
			return err
		}); err != nil {
			return nil, err
		}
		if resp.Response == nil || resp.Response.SecurityGroupPolicySet == nil {
			return nil, nil
		}
		pols := slices.Clone(resp.Response.SecurityGroupPolicySet.Ingress)
		pols = slices.DeleteFunc(pols, func(p *vpc.SecurityGroupPolicy) bool { return p == nil })
		slices.SortStableFunc(pols, func(a, b *vpc.SecurityGroupPolicy) int {
			if a.PolicyIndex == nil || b.PolicyIndex == nil {
				return 0
			}
			return int(*a.PolicyIndex - *b.PolicyIndex)
		})
		return pols, nil
	})
}

// describe pages through one template Describe call filtered by IDs; each returns the page's
// items and the total count.
func describe[T any](ctx context.Context, c clients, action string, page func(off, limit string) ([]T, uint64, error)) ([]T, error) {
	var out []T
	for off := 0; ; {
		var items []T
		var total uint64
		err := c.call(ctx, action, func() (err error) {
			items, total, err = page(strconv.Itoa(off), strconv.Itoa(pageSize))
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		off += len(items)
		if len(items) == 0 || uint64(off) >= total {
			return out, nil
		}
	}
}

// templatesFor reads the templates the policies name: the template groups first, then one
// call per kind for the templates and the groups' members.
func (s *snapshot) templatesFor(ctx context.Context, pols []*vpc.SecurityGroupPolicy) *templates {
	addr, addrGroup, svc, svcGroup := templateRefs(pols)
	key := strings.Join([]string{strings.Join(addr, ","), strings.Join(addrGroup, ","), strings.Join(svc, ","), strings.Join(svcGroup, ",")}, ";")
	t, _ := s.tpls.Get(key, func() (*templates, error) {
		t := newTemplates()
		var mu sync.Mutex
		fail := func(ids []string, action string, err error) {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				t.errs[id] = apiMessage(action, err)
			}
		}
		readAddrs := func(ids []string) {
			if len(ids) == 0 {
				return
			}
			const action = "vpc:DescribeAddressTemplates"
			items, err := describe(ctx, s.cl, action, func(off, limit string) ([]*vpc.AddressTemplate, uint64, error) {
				req := vpc.NewDescribeAddressTemplatesRequest()
				req.Filters = vpcFilter("address-template-id", ids...)
				req.Offset, req.Limit = common.StringPtr(off), common.StringPtr(limit)
				resp, err := s.cl.vpc.DescribeAddressTemplates(req)
				if err != nil || resp.Response == nil {
					return nil, 0, err
				}
				return resp.Response.AddressTemplateSet, deref(resp.Response.TotalCount), nil
			})
			if err != nil {
				fail(ids, action, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, it := range items {
				if it == nil {
					continue
				}
				id := deref(it.AddressTemplateId)
				var rs []report.AddrRange
				for _, a := range strs(it.AddressSet) {
					r, err := parseAddress(a)
					if err != nil {
						t.errs[id] = fmt.Sprintf("entry %q cannot be read", a)
						rs = nil
						break
					}
					rs = append(rs, r)
				}
				if _, bad := t.errs[id]; !bad {
					t.addrs[id], t.addrText[id] = rs, strs(it.AddressSet)
				}
			}
		}
		readSvcs := func(ids []string) {
			if len(ids) == 0 {
				return
			}
			const action = "vpc:DescribeServiceTemplates"
			items, err := describe(ctx, s.cl, action, func(off, limit string) ([]*vpc.ServiceTemplate, uint64, error) {
				req := vpc.NewDescribeServiceTemplatesRequest()
				req.Filters = vpcFilter("service-template-id", ids...)
				req.Offset, req.Limit = common.StringPtr(off), common.StringPtr(limit)
				resp, err := s.cl.vpc.DescribeServiceTemplates(req)
				if err != nil || resp.Response == nil {
					return nil, 0, err
				}
				return resp.Response.ServiceTemplateSet, deref(resp.Response.TotalCount), nil
			})
			if err != nil {
				fail(ids, action, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, it := range items {
				if it == nil {
					continue
				}
				id := deref(it.ServiceTemplateId)
				var ss []service
				for _, a := range strs(it.ServiceSet) {
					sv, err := parseService(a)
					if err != nil {
						t.errs[id] = fmt.Sprintf("entry %q cannot be read", a)
						ss = nil
						break
					}
					ss = append(ss, sv)
				}
				if _, bad := t.errs[id]; !bad {
					t.svcs[id] = ss
				}
			}
		}
		var wg sync.WaitGroup
		var addrMembers, svcMembers []string
		wg.Go(func() {
			if len(addrGroup) == 0 {
				return
			}
			const action = "vpc:DescribeAddressTemplateGroups"
			items, err := describe(ctx, s.cl, action, func(off, limit string) ([]*vpc.AddressTemplateGroup, uint64, error) {
				req := vpc.NewDescribeAddressTemplateGroupsRequest()
				req.Filters = vpcFilter("address-template-group-id", addrGroup...)
				req.Offset, req.Limit = common.StringPtr(off), common.StringPtr(limit)
				resp, err := s.cl.vpc.DescribeAddressTemplateGroups(req)
				if err != nil || resp.Response == nil {
					return nil, 0, err
				}
				return resp.Response.AddressTemplateGroupSet, deref(resp.Response.TotalCount), nil
			})
			if err != nil {
				fail(addrGroup, action, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, g := range items {
				if g != nil {
					t.addrGroups[deref(g.AddressTemplateGroupId)] = strs(g.AddressTemplateIdSet)
					addrMembers = append(addrMembers, strs(g.AddressTemplateIdSet)...)
				}
			}
		})
		wg.Go(func() {
			if len(svcGroup) == 0 {
				return
			}
			const action = "vpc:DescribeServiceTemplateGroups"
			items, err := describe(ctx, s.cl, action, func(off, limit string) ([]*vpc.ServiceTemplateGroup, uint64, error) {
				req := vpc.NewDescribeServiceTemplateGroupsRequest()
				req.Filters = vpcFilter("service-template-group-id", svcGroup...)
				req.Offset, req.Limit = common.StringPtr(off), common.StringPtr(limit)
				resp, err := s.cl.vpc.DescribeServiceTemplateGroups(req)
				if err != nil || resp.Response == nil {
					return nil, 0, err
				}
				return resp.Response.ServiceTemplateGroupSet, deref(resp.Response.TotalCount), nil
			})
			if err != nil {
				fail(svcGroup, action, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, g := range items {
				if g != nil {
					t.svcGroups[deref(g.ServiceTemplateGroupId)] = strs(g.ServiceTemplateIdSet)
					svcMembers = append(svcMembers, strs(g.ServiceTemplateIdSet)...)
				}
			}
		})
		wg.Wait()
		// then the templates, the groups' members with them: one call per kind
		am := addr
		for _, id := range addrMembers {
			if !slices.Contains(am, id) {
				am = append(am, id)
			}
		}
		sm := svc
		for _, id := range svcMembers {
			if !slices.Contains(sm, id) {
				sm = append(sm, id)
			}
		}
		wg.Go(func() { readAddrs(am) })
		wg.Go(func() { readSvcs(sm) })
		wg.Wait()
		return t, nil
	})
	return t
}

// iface is the interface owning one destination address.
type iface struct {
	id, subnet, vpc string
	groups          []string
}

// owner finds the interface owning dst: the primary one (from the instance) or a secondary one.
func (s *snapshot) owner(ctx context.Context, dst netip.Addr, primary bool) (iface, error) {
	v := s.inst.VirtualPrivateCloud
	if primary && v != nil {
		return iface{id: "primary interface", subnet: deref(v.SubnetId), vpc: deref(v.VpcId), groups: strs(s.inst.SecurityGroupIds)}, nil
	}
	enis, err := s.interfaces(ctx)
	if err != nil {
		return iface{}, fmt.Errorf("%s", apiMessage("vpc:DescribeNetworkInterfaces", err))
	}
	for _, e := range enis {
		if e == nil {
			continue
		}
		var addrs []netip.Addr
		for _, p := range e.PrivateIpAddressSet {
			if p != nil {
				addrs = append(addrs, parseAddrs([]*string{p.PrivateIpAddress, p.PublicIpAddress})...)
			}
		}
		for _, p := range e.Ipv6AddressSet {
			if p != nil {
				addrs = append(addrs, parseAddrs([]*string{p.Address})...)
			}
		}
		if slices.Contains(addrs, dst) {
			return iface{id: deref(e.NetworkInterfaceId), subnet: deref(e.SubnetId), vpc: deref(e.VpcId), groups: strs(e.GroupSet)}, nil
		}
	}
	return iface{}, fmt.Errorf("%s is not an address of any network interface of %s", dst, deref(s.inst.InstanceId))
}

// evalAddress reads (once) and evaluates the network ACL and the security groups for one destination.
func (s *snapshot) evalAddress(ctx context.Context, q providers.Query, dst netip.Addr, primary bool) []report.Step {
	src, skip := providers.SourceFor(q, dst, "tencent.security-group")
	if skip != nil {
		return []report.Step{*skip}
	}
	c := check{Region: s.cl.region, Source: src, Dst: dst, Proto: q.Proto, Port: q.Port}
	ifc, err := s.owner(ctx, dst, primary)
	if err != nil {
		return []report.Step{{Layer: "tencent.security-group", Decision: report.Unknown, Address: dst.String(), Detail: err.Error()}}
	}
	var acls []*vpc.NetworkAcl
	var aclErr error
	pols := make([][]*vpc.SecurityGroupPolicy, len(ifc.groups))
	errs := make([]error, len(ifc.groups))
	var wg sync.WaitGroup
	if ifc.vpc != "" {
		wg.Go(func() { acls, aclErr = s.networkACLs(ctx, ifc.vpc) })
	}
	providers.Parallel(ifc.groups, func(i int, g string) { pols[i], errs[i] = s.ingress(ctx, g) })
	wg.Wait()

	var out []report.Step
	// network ACL of the subnet
	aclStep := report.Step{Layer: "tencent.network-acl", Address: dst.String()}
	switch {
	case ifc.vpc == "":
		aclStep.Decision, aclStep.Detail = report.Unknown, "the instance's VPC is not known"
	case aclErr != nil:
		aclStep.Decision, aclStep.Detail = report.Unknown, apiMessage("vpc:DescribeNetworkAcls", aclErr)
	default:
		var acl *vpc.NetworkAcl
		for _, a := range acls {
			if a != nil && slices.ContainsFunc(a.SubnetSet, func(sn *vpc.Subnet) bool { return sn != nil && deref(sn.SubnetId) == ifc.subnet }) {
				acl = a
			}
		}
		if acl == nil {
			aclStep.Decision = report.Skipped
			aclStep.Detail = fmt.Sprintf("subnet %s has no network ACL bound: nothing filters there", ifc.subnet)
		} else {
			id := deref(acl.NetworkAclId)
			in, specs := flattenACL(id, acl.IngressEntries, dst, false)
			eg, _ := flattenACL(id, acl.EgressEntries, dst, true)
			aclStep = evalNetworkACL(c, id, ifc.subnet, in, eg, specs)
		}
	}
	out = append(out, aclStep)

	// security groups of the interface, in binding order
	for i, err := range errs {
		if err != nil {
			return append(out, report.Step{Layer: "tencent.security-group", Decision: report.Unknown, Address: dst.String(),
				Detail: fmt.Sprintf("security group %s: %s", ifc.groups[i], apiMessage("vpc:DescribeSecurityGroupPolicies", err))})
		}
	}
	var all []*vpc.SecurityGroupPolicy
	for _, p := range pols {
		all = append(all, p...)
	}
	t := s.templatesFor(ctx, all)
	var rules []*rule
	for i, g := range ifc.groups {
		rules = append(rules, flattenPolicies(g, pols[i], t, dst)...)
	}
	return append(out, evalSecurityGroups(c, ifc.groups, rules))
}
