package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// snapshot reads one region's network configuration once per resource, so several
// addresses on one instance cost no extra calls.
type snapshot struct {
	cl   clients
	memo providers.Memo[string, any]
}

func newSnapshot(cl clients) *snapshot { return &snapshot{cl: cl} }

// networkInterface reads one secondary network interface (its groups and vSwitch).
func (s *snapshot) networkInterface(ctx context.Context, id string) (ecs.NetworkInterfaceSet, error) {
	v, err := s.memo.Get("eni/"+id, func() (any, error) {
		req := ecs.CreateDescribeNetworkInterfacesRequest()
		req.NetworkInterfaceId = &[]string{id}
		resp, err := callAPI(ctx, s.cl.p, func() (*ecs.DescribeNetworkInterfacesResponse, error) {
			return s.cl.ecs().DescribeNetworkInterfaces(req)
		})
		if err != nil {
			return nil, errors.New(apiMessage("ecs:DescribeNetworkInterfaces", err))
		}
		for _, n := range resp.NetworkInterfaceSets.NetworkInterfaceSet {
			if n.NetworkInterfaceId == id {
				return n, nil
			}
		}
		return nil, fmt.Errorf("network interface %s was not returned by ecs:DescribeNetworkInterfaces", id)
	})
	if err != nil {
		return ecs.NetworkInterfaceSet{}, err
	}
	return v.(ecs.NetworkInterfaceSet), nil
}

// networkACL returns the ACL bound to the vSwitch; nil means none is bound.
func (s *snapshot) networkACL(ctx context.Context, vsw string) (*vpc.NetworkAcl, error) {
	v, err := s.memo.Get("acl/"+vsw, func() (any, error) {
		req := vpc.CreateDescribeNetworkAclsRequest()
		req.ResourceId, req.ResourceType = vsw, "VSwitch"
		req.PageSize = requests.NewInteger(50)
		resp, err := callAPI(ctx, s.cl.p, func() (*vpc.DescribeNetworkAclsResponse, error) { return s.cl.vpc().DescribeNetworkAcls(req) })
		if err != nil {
			return nil, errors.New(apiMessage("vpc:DescribeNetworkAcls", err))
		}
		for _, a := range resp.NetworkAcls.NetworkAcl {
			if slices.ContainsFunc(a.Resources.Resource, func(r vpc.Resource) bool { return r.ResourceId == vsw }) || len(a.Resources.Resource) == 0 {
				return &a, nil
			}
		}
		return (*vpc.NetworkAcl)(nil), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*vpc.NetworkAcl), nil
}

// securityGroups reads the ingress rules of every group (one call per group and page).
func (s *snapshot) securityGroups(ctx context.Context, ids []string, nicType string) ([]sgData, error) {
	out := make([]sgData, len(ids))
	errs := make([]error, len(ids))
	providers.Parallel(ids, func(i int, id string) {
		v, err := s.memo.Get("sg/"+id+"/"+nicType, func() (any, error) { return s.readGroup(ctx, id, nicType) })
		if err != nil {
			errs[i] = err
			return
		}
		out[i] = v.(sgData)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *snapshot) readGroup(ctx context.Context, id, nicType string) (sgData, error) {
	g := sgData{ID: id}
	req := ecs.CreateDescribeSecurityGroupAttributeRequest()
	req.SecurityGroupId, req.Direction, req.NicType = id, "ingress", nicType
	req.MaxResults = requests.NewInteger(1000)
	for range maxPages {
		resp, err := callAPI(ctx, s.cl.p, func() (*ecs.DescribeSecurityGroupAttributeResponse, error) {
			return s.cl.ecs().DescribeSecurityGroupAttribute(req)
		})
		if err != nil {
			return g, errors.New(apiMessage("ecs:DescribeSecurityGroupAttribute", err) + " (" + id + ")")
		}
		g.Name, g.InnerAccessPolicy = resp.SecurityGroupName, resp.InnerAccessPolicy
		g.Rules = append(g.Rules, resp.Permissions.Permission...)
		if resp.NextToken == "" {
			break
		}
		req.NextToken = resp.NextToken
	}
	return g, nil
}

// prefixList reads a prefix list's CIDRs.
func (s *snapshot) prefixList(ctx context.Context, id string) ([]netip.Prefix, error) {
	v, err := s.memo.Get("pl/"+id, func() (any, error) {
		req := ecs.CreateDescribePrefixListAttributesRequest()
		req.PrefixListId = id
		resp, err := callAPI(ctx, s.cl.p, func() (*ecs.DescribePrefixListAttributesResponse, error) {
			return s.cl.ecs().DescribePrefixListAttributes(req)
		})
		if err != nil {
			return nil, errors.New(apiMessage("ecs:DescribePrefixListAttributes", err))
		}
		var out []netip.Prefix
		for _, e := range resp.Entries.Entry {
			p, err := report.ParsePrefixOrAddr(e.Cidr)
			if err != nil {
				return nil, fmt.Errorf("prefix list %s: %w", id, err)
			}
			out = append(out, p)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]netip.Prefix), nil
}

// members reads the private addresses of a group's network interfaces.
func (s *snapshot) members(ctx context.Context, group string) ([]report.AddrRange, error) {
	v, err := s.memo.Get("members/"+group, func() (any, error) {
		req := ecs.CreateDescribeNetworkInterfacesRequest()
		req.SecurityGroupId = group
		req.MaxResults = requests.NewInteger(500)
		var out []report.AddrRange
		for range maxPages {
			resp, err := callAPI(ctx, s.cl.p, func() (*ecs.DescribeNetworkInterfacesResponse, error) {
				return s.cl.ecs().DescribeNetworkInterfaces(req)
			})
			if err != nil {
				return nil, errors.New(apiMessage("ecs:DescribeNetworkInterfaces", err))
			}
			for _, n := range resp.NetworkInterfaceSets.NetworkInterfaceSet {
				ss := []string{n.PrivateIpAddress}
				for _, p := range n.PrivateIpSets.PrivateIpSet {
					ss = append(ss, p.PrivateIpAddress)
				}
				for _, s := range ss {
					if a, err := netip.ParseAddr(s); err == nil {
						out = append(out, report.SingleAddr(a))
					}
				}
			}
			if resp.NextToken == "" {
				break
			}
			req.NextToken = resp.NextToken
		}
		return report.MergeRanges(out), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]report.AddrRange), nil
}

// groupTypes reads whether each group is basic or enterprise (one call for all).
func (s *snapshot) groupTypes(ctx context.Context, ids []string) (map[string]string, error) {
	v, err := s.memo.Get("types/"+strings.Join(ids, ","), func() (any, error) {
		req := ecs.CreateDescribeSecurityGroupsRequest()
		req.SecurityGroupIds = jsonList(ids)
		req.PageSize = requests.NewInteger(50)
		resp, err := callAPI(ctx, s.cl.p, func() (*ecs.DescribeSecurityGroupsResponse, error) { return s.cl.ecs().DescribeSecurityGroups(req) })
		if err != nil {
			return nil, errors.New(apiMessage("ecs:DescribeSecurityGroups", err))
		}
		out := map[string]string{}
		for _, g := range resp.SecurityGroups.SecurityGroup {
			out[g.SecurityGroupId] = g.SecurityGroupType
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]string), nil
}

// context reads what the rules refer to: prefix lists, and — only for a private source
// reaching a private address — the group types and the members of the groups involved.
func (s *snapshot) context(ctx context.Context, c check, groups []sgData, intra bool) sgContext {
	sc := sgContext{Members: map[string][]report.AddrRange{}, MemberErrs: map[string]string{},
		PrefixLists: map[string][]netip.Prefix{}, PrefixErrs: map[string]string{}}
	var pls, refs []string
	foreign := map[string]string{}
	for _, g := range groups {
		for _, p := range g.Rules {
			if p.SourcePrefixListId != "" && !slices.Contains(pls, p.SourcePrefixListId) {
				pls = append(pls, p.SourcePrefixListId)
			}
			if intra && p.SourceGroupId != "" && !slices.Contains(refs, p.SourceGroupId) {
				if p.SourceGroupOwnerAccount != "" {
					foreign[p.SourceGroupId] = p.SourceGroupOwnerAccount
					continue
				}
				refs = append(refs, p.SourceGroupId)
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range pls {
		wg.Go(func() {
			cidrs, err := s.prefixList(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sc.PrefixErrs[id] = err.Error()
				return
			}
			sc.PrefixLists[id] = cidrs
		})
	}
	if intra {
		var ids []string
		for _, g := range groups {
			ids = append(ids, g.ID)
		}
		types, terr := s.groupTypes(ctx, ids)
		for i := range groups {
			if terr == nil {
				groups[i].Type = types[groups[i].ID]
			}
			if groups[i].Type != "enterprise" && strings.EqualFold(groups[i].InnerAccessPolicy, "accept") && !slices.Contains(refs, groups[i].ID) {
				refs = append(refs, groups[i].ID)
			}
		}
		for id, acct := range foreign {
			sc.MemberErrs[id] = "it belongs to account " + acct
		}
		for _, id := range refs {
			wg.Go(func() {
				m, err := s.members(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					sc.MemberErrs[id] = err.Error()
					return
				}
				sc.Members[id] = m
			})
		}
	}
	wg.Wait()
	return sc
}
