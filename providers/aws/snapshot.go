package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// snapshot reads one region's network configuration once per subnet and group set, so
// several addresses on one instance cost no extra calls.
type snapshot struct {
	cl   clients
	memo providers.Memo[string, any]
}

func newSnapshot(cl clients) *snapshot { return &snapshot{cl: cl} }

type rtResult struct {
	rt   *ec2types.RouteTable
	main bool
}

// routeTable returns the subnet's route table: its explicit association, else the VPC's main table.
func (s *snapshot) routeTable(ctx context.Context, subnet, vpc string) (*ec2types.RouteTable, bool, error) {
	v, err := s.memo.Get("rt/"+subnet, func() (any, error) {
		tables, err := s.describeRouteTables(ctx, []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}})
		if err != nil {
			return nil, err
		}
		if len(tables) > 0 {
			return rtResult{&tables[0], false}, nil
		}
		tables, err = s.describeRouteTables(ctx, []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpc}},
			{Name: aws.String("association.main"), Values: []string{"true"}},
		})
		if err != nil {
			return nil, err
		}
		if len(tables) > 0 {
			return rtResult{&tables[0], true}, nil
		}
		return rtResult{}, nil
	})
	if err != nil {
		return nil, false, errors.New(apiMessage("ec2:DescribeRouteTables", err))
	}
	r := v.(rtResult)
	return r.rt, r.main, nil
}

func (s *snapshot) describeRouteTables(ctx context.Context, f []ec2types.Filter) ([]ec2types.RouteTable, error) {
	var out []ec2types.RouteTable
	pg := ec2.NewDescribeRouteTablesPaginator(s.cl.ec2, &ec2.DescribeRouteTablesInput{Filters: f})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.RouteTables...)
	}
	return out, nil
}

// networkACL returns the subnet's network ACL (every subnet has exactly one).
func (s *snapshot) networkACL(ctx context.Context, subnet string) (*ec2types.NetworkAcl, error) {
	v, err := s.memo.Get("acl/"+subnet, func() (any, error) {
		pg := ec2.NewDescribeNetworkAclsPaginator(s.cl.ec2, &ec2.DescribeNetworkAclsInput{
			Filters: []ec2types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			if len(page.NetworkAcls) > 0 {
				return &page.NetworkAcls[0], nil
			}
		}
		return (*ec2types.NetworkAcl)(nil), nil
	})
	if err != nil {
		return nil, errors.New(apiMessage("ec2:DescribeNetworkAcls", err))
	}
	return v.(*ec2types.NetworkAcl), nil
}

type sgResult struct {
	groups []ec2types.SecurityGroup
	lists  map[string][]netip.Prefix
	plErrs []string
}

// securityGroups reads the groups in one call and expands the prefix lists their ingress
// rules name; a list that cannot be read is left out of lists and explained in plErrs.
func (s *snapshot) securityGroups(ctx context.Context, ids []string) ([]ec2types.SecurityGroup, map[string][]netip.Prefix, []string, error) {
	if len(ids) == 0 {
		return nil, nil, nil, nil
	}
	key := "sg"
	for _, id := range ids {
		key += "/" + id
	}
	v, err := s.memo.Get(key, func() (any, error) {
		var res sgResult
		pg := ec2.NewDescribeSecurityGroupsPaginator(s.cl.ec2, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			res.groups = append(res.groups, page.SecurityGroups...)
		}
		var pls []string
		for _, g := range res.groups {
			for _, p := range g.IpPermissions {
				for _, pl := range p.PrefixListIds {
					if id := aws.ToString(pl.PrefixListId); id != "" && !slices.Contains(pls, id) {
						pls = append(pls, id)
					}
				}
			}
		}
		res.lists = map[string][]netip.Prefix{}
		var mu sync.Mutex
		providers.Parallel(pls, func(_ int, id string) {
			cidrs, err := s.prefixList(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.plErrs = append(res.plErrs, apiMessage("ec2:GetManagedPrefixListEntries", err))
				return
			}
			res.lists[id] = cidrs
		})
		return res, nil
	})
	if err != nil {
		return nil, nil, nil, errors.New(apiMessage("ec2:DescribeSecurityGroups", err))
	}
	r := v.(sgResult)
	return r.groups, r.lists, r.plErrs, nil
}

// prefixList reads a managed prefix list's CIDRs.
func (s *snapshot) prefixList(ctx context.Context, id string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	pg := ec2.NewGetManagedPrefixListEntriesPaginator(s.cl.ec2, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(id)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			p, err := report.ParsePrefixOrAddr(aws.ToString(e.Cidr))
			if err != nil {
				return nil, fmt.Errorf("prefix list %s: %w", id, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}
