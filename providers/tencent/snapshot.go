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
		return describe(ctx, s.cl, "vpc:DescribeNetworkInterfaces", func(off, limit int) ([]*vpc.NetworkInterface, int, error) {
			req := vpc.NewDescribeNetworkInterfacesRequest()
			req.Filters = vpcFilter("attachment.instance-id", deref(s.inst.InstanceId))
			req.Offset, req.Limit = common.Uint64Ptr(uint64(off)), common.Uint64Ptr(uint64(limit))
			resp, err := s.cl.vpc.DescribeNetworkInterfaces(req)
			if err != nil || resp.Response == nil {
				return nil, 0, err
			}
			return resp.Response.NetworkInterfaceSet, int(deref(resp.Response.TotalCount)), nil
		})
	})
}

// networkACLs reads the VPC's network ACLs (one call names the subnets of each).
func (s *snapshot) networkACLs(ctx context.Context, vpcID string) ([]*vpc.NetworkAcl, error) {
	return s.acls.Get(vpcID, func() ([]*vpc.NetworkAcl, error) {
		return describe(ctx, s.cl, "vpc:DescribeNetworkAcls", func(off, limit int) ([]*vpc.NetworkAcl, int, error) {
			req := vpc.NewDescribeNetworkAclsRequest()
			req.Filters = vpcFilter("vpc-id", vpcID)
			req.Offset, req.Limit = common.Uint64Ptr(uint64(off)), common.Uint64Ptr(uint64(limit))
			resp, err := s.cl.vpc.DescribeNetworkAcls(req)
			if err != nil || resp.Response == nil {
				return nil, 0, err
			}
			return resp.Response.NetworkAclSet, int(deref(resp.Response.TotalCount)), nil
		})
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

// describe pages through one Describe call: page asks for the items from offset off on, at
// most limit, and returns them and the total count. A page without items, or the total
// reached, ends it; on an error the items read before come back with it.
func describe[T any](ctx context.Context, c clients, action string, page func(off, limit int) ([]T, int, error)) ([]T, error) {
	var out []T
	for off := 0; ; {
		var items []T
		var total int
		err := c.call(ctx, action, func() (err error) {
			items, total, err = page(off, pageSize)
			return err
		})
		if err != nil {
			return out, err
		}
		out = append(out, items...)
		off += len(items)
		if len(items) == 0 || off >= total {
			return out, nil
		}
	}
}

// tplReader reads the templates of one set of policies into t, the kinds side by side.
type tplReader struct {
	ctx context.Context
	cl  clients
	mu  sync.Mutex
	t   *templates
}

// fail keeps a failed call's message as the answer for every id it asked for.
func (r *tplReader) fail(ids []string, action string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.t.errs[id] = apiMessage(action, err)
	}
}

// readTemplates reads the templates (or template groups) ids names with one paged Describe
// call filtered by filter; page makes the call for one page. Nil items are left out; on an
// error every id keeps it and nothing is returned.
func readTemplates[T any](r *tplReader, action, filter string, ids []string, page func(fs []*vpc.Filter, off, limit *string) ([]*T, *uint64, error)) []*T {
	if len(ids) == 0 {
		return nil
	}
	items, err := describe(r.ctx, r.cl, action, func(off, limit int) ([]*T, int, error) {
		items, total, err := page(vpcFilter(filter, ids...), common.StringPtr(strconv.Itoa(off)), common.StringPtr(strconv.Itoa(limit)))
		return items, int(deref(total)), err
	})
	if err != nil {
		r.fail(ids, action, err)
		return nil
	}
	return slices.DeleteFunc(items, func(it *T) bool { return it == nil })
}

// parseEntries parses a template's entries. The first that cannot be read is kept as the
// template's error; ok is false when the template has an error.
func parseEntries[V any](t *templates, id string, entries []string, parse func(string) (V, error)) (vs []V, ok bool) {
	for _, a := range entries {
		v, err := parse(a)
		if err != nil {
			t.errs[id] = fmt.Sprintf("entry %q cannot be read", a)
			return nil, false
		}
		vs = append(vs, v)
	}
	_, bad := t.errs[id]
	return vs, !bad
}

// templatesFor reads the templates the policies name: the template groups first, then one
// call per kind for the templates and the groups' members.
func (s *snapshot) templatesFor(ctx context.Context, pols []*vpc.SecurityGroupPolicy) *templates {
	addr, addrGroup, svc, svcGroup := templateRefs(pols)
	key := strings.Join([]string{strings.Join(addr, ","), strings.Join(addrGroup, ","), strings.Join(svc, ","), strings.Join(svcGroup, ",")}, ";")
	t, _ := s.tpls.Get(key, func() (*templates, error) {
		r := &tplReader{ctx: ctx, cl: s.cl, t: newTemplates()}
		t := r.t
		readAddrs := func(ids []string) {
			items := readTemplates(r, "vpc:DescribeAddressTemplates", "address-template-id", ids, func(fs []*vpc.Filter, off, limit *string) ([]*vpc.AddressTemplate, *uint64, error) {
				req := vpc.NewDescribeAddressTemplatesRequest()
				req.Filters, req.Offset, req.Limit = fs, off, limit
				resp, err := s.cl.vpc.DescribeAddressTemplates(req)
				if err != nil || resp.Response == nil {
					return nil, nil, err
				}
				return resp.Response.AddressTemplateSet, resp.Response.TotalCount, nil
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, it := range items {
				id := deref(it.AddressTemplateId)
				if rs, ok := parseEntries(t, id, strs(it.AddressSet), parseAddress); ok {
					t.addrs[id], t.addrText[id] = rs, strs(it.AddressSet)
				}
			}
		}
		readSvcs := func(ids []string) {
			items := readTemplates(r, "vpc:DescribeServiceTemplates", "service-template-id", ids, func(fs []*vpc.Filter, off, limit *string) ([]*vpc.ServiceTemplate, *uint64, error) {
				req := vpc.NewDescribeServiceTemplatesRequest()
				req.Filters, req.Offset, req.Limit = fs, off, limit
				resp, err := s.cl.vpc.DescribeServiceTemplates(req)
				if err != nil || resp.Response == nil {
					return nil, nil, err
				}
				return resp.Response.ServiceTemplateSet, resp.Response.TotalCount, nil
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, it := range items {
				id := deref(it.ServiceTemplateId)
				if ss, ok := parseEntries(t, id, strs(it.ServiceSet), parseService); ok {
					t.svcs[id] = ss
				}
			}
		}
		var wg sync.WaitGroup
		var addrMembers, svcMembers []string
		wg.Go(func() {
			items := readTemplates(r, "vpc:DescribeAddressTemplateGroups", "address-template-group-id", addrGroup, func(fs []*vpc.Filter, off, limit *string) ([]*vpc.AddressTemplateGroup, *uint64, error) {
				req := vpc.NewDescribeAddressTemplateGroupsRequest()
				req.Filters, req.Offset, req.Limit = fs, off, limit
				resp, err := s.cl.vpc.DescribeAddressTemplateGroups(req)
				if err != nil || resp.Response == nil {
					return nil, nil, err
				}
				return resp.Response.AddressTemplateGroupSet, resp.Response.TotalCount, nil
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, g := range items {
				t.addrGroups[deref(g.AddressTemplateGroupId)] = strs(g.AddressTemplateIdSet)
				addrMembers = append(addrMembers, strs(g.AddressTemplateIdSet)...)
			}
		})
		wg.Go(func() {
			items := readTemplates(r, "vpc:DescribeServiceTemplateGroups", "service-template-group-id", svcGroup, func(fs []*vpc.Filter, off, limit *string) ([]*vpc.ServiceTemplateGroup, *uint64, error) {
				req := vpc.NewDescribeServiceTemplateGroupsRequest()
				req.Filters, req.Offset, req.Limit = fs, off, limit
				resp, err := s.cl.vpc.DescribeServiceTemplateGroups(req)
				if err != nil || resp.Response == nil {
					return nil, nil, err
				}
				return resp.Response.ServiceTemplateGroupSet, resp.Response.TotalCount, nil
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, g := range items {
				t.svcGroups[deref(g.ServiceTemplateGroupId)] = strs(g.ServiceTemplateIdSet)
				svcMembers = append(svcMembers, strs(g.ServiceTemplateIdSet)...)
			}
		})
		wg.Wait()
		// then the templates, the groups' members with them: one call per kind
		wg.Go(func() { readAddrs(union(addr, addrMembers)) })
		wg.Go(func() { readSvcs(union(svc, svcMembers)) })
		wg.Wait()
		return t, nil
	})
	return t
}

// union is ids followed by the more ones it does not hold yet.
func union(ids, more []string) []string {
	for _, id := range more {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
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
