package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/lightsail"
	lstypes "github.com/aws/aws-sdk-go-v2/service/lightsail/types"
	"github.com/aws/smithy-go"

	"github.com/portpath/portpath/providers"
	"github.com/portpath/portpath/report"
)

// ec2Hit is an EC2 instance found in a region.
type ec2Hit struct {
	cl   clients
	inst ec2types.Instance
}

// lsHit is a Lightsail instance found in a region.
type lsHit struct {
	cl   clients
	inst lstypes.Instance
}

// found is the result of searching every region.
type found struct {
	regions []string
	ec2     []ec2Hit
	ls      []lsHit
	// errs are the searches that failed, one line each.
	errs []string
}

// publicIPFilter finds instances by a public IPv4 address associated with any interface.
const publicIPFilter = "network-interface.association.public-ip"

// addrFilters groups the target's addresses by the DescribeInstances filter that finds them.
func addrFilters(addrs []netip.Addr) map[string][]string {
	out := map[string][]string{}
	for _, a := range addrs {
		a = a.Unmap()
		name := publicIPFilter
		switch {
		case a.Is6():
			name = "network-interface.ipv6-addresses.ipv6-address"
		case providers.IsPrivateAddr(a):
			name = "network-interface.addresses.private-ip-address"
		}
		out[name] = append(out[name], a.String())
	}
	return out
}

// findInstances searches every region at once, EC2 and Lightsail side by side.
func findInstances(ctx context.Context, q providers.Query, regions []string, cl func(string) clients, everyRegionLightsail bool) *found {
	f := &found{regions: regions}
	var mu sync.Mutex
	providers.Parallel(regions, func(_ int, region string) {
		c := cl(region)
		var wg sync.WaitGroup
		wg.Go(func() {
			hits, err := findEC2(ctx, c, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.errs = append(f.errs, region+": "+apiMessage("ec2:DescribeInstances", err))
			}
			f.ec2 = append(f.ec2, hits...)
		})
		if q.Instance == "" && (everyRegionLightsail || slices.Contains(lightsailRegions, region)) {
			wg.Go(func() {
				hits, err := findLightsail(ctx, c, q)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					f.errs = append(f.errs, region+": "+apiMessage("lightsail:GetInstances", err))
				}
				f.ls = append(f.ls, hits...)
			})
		}
		wg.Wait()
	})
	slices.Sort(f.errs)
	slices.SortFunc(f.ec2, func(a, b ec2Hit) int {
		return strings.Compare(aws.ToString(a.inst.InstanceId), aws.ToString(b.inst.InstanceId))
	})
	slices.SortFunc(f.ls, func(a, b lsHit) int { return strings.Compare(aws.ToString(a.inst.Name), aws.ToString(b.inst.Name)) })
	return f
}

// findEC2 lists the region's instances that own one of the addresses (or carry the ID or Name).
func findEC2(ctx context.Context, c clients, q providers.Query) ([]ec2Hit, error) {
	var inputs []*ec2.DescribeInstancesInput
	switch {
	case q.Instance != "":
		inputs = append(inputs, &ec2.DescribeInstancesInput{InstanceIds: []string{q.Instance}})
	case q.Name != "":
		inputs = append(inputs, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{q.Name}}}})
	default:
		byFilter := addrFilters(q.Addrs)
		names := make([]string, 0, len(byFilter))
		for n := range byFilter {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			inputs = append(inputs, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String(n), Values: byFilter[n]}}})
		}
	}
	var hits []ec2Hit
	seen := map[string]bool{}
	for i := 0; i < len(inputs); i++ {
		in := inputs[i]
		before := len(hits)
		pg := ec2.NewDescribeInstancesPaginator(c.ec2, in)
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				var ae smithy.APIError
				if errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "InvalidInstanceID.") {
					break // not in this region
				}
				return hits, err
			}
			for _, r := range out.Reservations {
				for _, inst := range r.Instances {
					id := aws.ToString(inst.InstanceId)
					if !seen[id] {
						seen[id] = true
						hits = append(hits, ec2Hit{c, inst})
					}
				}
			}
		}
		// The association filter is documented for Elastic IPs; when it finds nothing,
		// ask again by the instances' primary public IPv4 address.
		if len(hits) == before && len(in.Filters) == 1 && aws.ToString(in.Filters[0].Name) == publicIPFilter {
			inputs = append(inputs, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("ip-address"), Values: in.Filters[0].Values}}})
		}
	}
	return hits, nil
}

// findLightsail lists the region's Lightsail instances that own an address or carry the name.
func findLightsail(ctx context.Context, c clients, q providers.Query) ([]lsHit, error) {
	var hits []lsHit
	var token *string
	for range 100 {
		out, err := c.ls.GetInstances(ctx, &lightsail.GetInstancesInput{PageToken: token})
		if err != nil {
			return hits, err
		}
		for _, inst := range out.Instances {
			if lsMatches(inst, q) {
				hits = append(hits, lsHit{c, inst})
			}
		}
		token = out.NextPageToken
		if aws.ToString(token) == "" {
			break
		}
	}
	return hits, nil
}

func lsMatches(inst lstypes.Instance, q providers.Query) bool {
	if q.Name != "" {
		return aws.ToString(inst.Name) == q.Name
	}
	for _, a := range q.Addrs {
		if slices.Contains(lsAddrs(inst), a.Unmap()) {
			return true
		}
	}
	return false
}

func lsAddrs(inst lstypes.Instance) []netip.Addr {
	var out []netip.Addr
	for _, s := range append([]string{aws.ToString(inst.PublicIpAddress), aws.ToString(inst.PrivateIpAddress)}, inst.Ipv6Addresses...) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// endpoint is one destination address on one network interface of an EC2 instance.
type endpoint struct {
	eni ec2types.InstanceNetworkInterface
	dst netip.Addr
	// public is true when dst is the interface's public IPv4 / Elastic IP, or an IPv6 address.
	public bool
	// publicIP is the interface's public IPv4 address, if any.
	publicIP string
}

// endpoints matches the target's addresses to the instance's interfaces; when none matches
// (the instance was named), the primary interface is evaluated at its public address.
func endpoints(inst ec2types.Instance, addrs []netip.Addr) []endpoint {
	var all []endpoint
	var primary *endpoint
	for _, n := range inst.NetworkInterfaces {
		pub := ""
		if n.Association != nil {
			pub = aws.ToString(n.Association.PublicIp)
		}
		for _, pa := range n.PrivateIpAddresses {
			p := pub
			if pa.Association != nil && aws.ToString(pa.Association.PublicIp) != "" {
				p = aws.ToString(pa.Association.PublicIp)
			}
			if a, err := netip.ParseAddr(aws.ToString(pa.PrivateIpAddress)); err == nil {
				all = append(all, endpoint{eni: n, dst: a, publicIP: p})
			}
			if a, err := netip.ParseAddr(p); err == nil && pa.Association != nil {
				all = append(all, endpoint{eni: n, dst: a, public: true, publicIP: p})
			}
		}
		for _, v6 := range n.Ipv6Addresses {
			if a, err := netip.ParseAddr(aws.ToString(v6.Ipv6Address)); err == nil {
				all = append(all, endpoint{eni: n, dst: a, public: !providers.IsPrivateAddr(a), publicIP: pub})
			}
		}
	}
	if pub, err := netip.ParseAddr(aws.ToString(inst.PublicIpAddress)); err == nil && !slices.ContainsFunc(all, func(e endpoint) bool { return e.dst == pub }) {
		for _, n := range inst.NetworkInterfaces {
			if n.Attachment != nil && aws.ToInt32(n.Attachment.DeviceIndex) == 0 {
				all = append(all, endpoint{eni: n, dst: pub, public: true, publicIP: pub.String()})
			}
		}
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
	for i := range all {
		e := &all[i]
		if e.eni.Attachment != nil && aws.ToInt32(e.eni.Attachment.DeviceIndex) != 0 {
			continue
		}
		if primary == nil || e.public && !primary.public {
			primary = e
		}
	}
	if primary == nil && len(all) > 0 {
		primary = &all[0]
	}
	if primary != nil {
		return []endpoint{*primary}
	}
	return nil
}

func instanceName(inst ec2types.Instance) string {
	for _, t := range inst.Tags {
		if aws.ToString(t.Key) == "Name" {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// steps evaluates every instance found, or explains why none was.
func (f *found) steps(ctx context.Context, q providers.Query) []report.Step {
	if len(f.ec2) == 0 && len(f.ls) == 0 {
		return []report.Step{f.notFound(q)}
	}
	return providers.Gather(len(f.ec2)+len(f.ls), func(i int) []report.Step {
		if i < len(f.ec2) {
			return evalEC2(ctx, f.ec2[i], q)
		}
		return evalLightsailInstance(ctx, f.ls[i-len(f.ec2)], q)
	})
}

func (f *found) notFound(q providers.Query) report.Step {
	return providers.NotFound("aws.instance", "EC2 or Lightsail instance", q, strings.Join(f.regions, ", "), f.errs)
}

// evalEC2 answers for one EC2 instance: its state, then per destination address the route,
// the network ACL and the security groups.
func evalEC2(ctx context.Context, h ec2Hit, q providers.Query) []report.Step {
	id := aws.ToString(h.inst.InstanceId)
	label := id
	if n := instanceName(h.inst); n != "" {
		label += " (" + n + ")"
	}
	state := ""
	if h.inst.State != nil {
		state = string(h.inst.State.Name)
	}
	inst := report.Step{Layer: "aws.instance", Rule: &report.Rule{ID: id, Text: "state " + state, Origin: h.cl.region}}
	if state != string(ec2types.InstanceStateNameRunning) {
		inst.Decision, inst.Cause, inst.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		inst.Detail = fmt.Sprintf("EC2 instance %s in %s is %s, not running", label, h.cl.region, state)
		inst.Fix = []string{fmt.Sprintf("aws ec2 start-instances --region %s --instance-ids %s", h.cl.region, id)}
		return []report.Step{inst}
	}
	eps := endpoints(h.inst, q.Addrs)
	inst.Decision = report.Allow
	inst.Detail = fmt.Sprintf("EC2 instance %s in %s is running", label, h.cl.region)
	out := []report.Step{inst}
	if len(eps) == 0 {
		out[0].Decision = report.Unknown
		out[0].Detail += ", but it has no network interface with an address"
		return out
	}
	snap := newSnapshot(h.cl)
	for _, e := range eps {
		out = append(out, evalEndpoint(ctx, snap, h.cl.region, e, q)...)
	}
	return out
}

// evalEndpoint reads (once per interface) and evaluates the three layers for one destination.
func evalEndpoint(ctx context.Context, s *snapshot, region string, e endpoint, q providers.Query) []report.Step {
	src, skip := providers.SourceFor(q, e.dst, "aws.security-group")
	if skip != nil {
		return []report.Step{*skip}
	}
	c := check{Region: region, Source: src, Dst: e.dst, Proto: q.Proto, Port: q.Port}
	eniID := aws.ToString(e.eni.NetworkInterfaceId)
	subnet, vpc := aws.ToString(e.eni.SubnetId), aws.ToString(e.eni.VpcId)
	var groupIDs []string
	for _, g := range e.eni.Groups {
		groupIDs = append(groupIDs, aws.ToString(g.GroupId))
	}
	var (
		wg                   sync.WaitGroup
		rt                   *ec2types.RouteTable
		main                 bool
		rtErr, aclErr, sgErr error
		acl                  *ec2types.NetworkAcl
		groups               []ec2types.SecurityGroup
		lists                map[string][]netip.Prefix
		plErrs               []string
	)
	wg.Go(func() { rt, main, rtErr = s.routeTable(ctx, subnet, vpc) })
	wg.Go(func() { acl, aclErr = s.networkACL(ctx, subnet) })
	wg.Go(func() { groups, lists, plErrs, sgErr = s.securityGroups(ctx, groupIDs) })
	wg.Wait()

	var out []report.Step
	// route
	if rtErr != nil {
		out = append(out, report.Step{Layer: "aws.route", Decision: report.Unknown, Address: e.dst.String(), Detail: rtErr.Error()})
	} else {
		out = append(out, evalRoute(c, routeView{ENI: eniID, Subnet: subnet, VPC: vpc, PublicIP: e.publicIP, DstPublic: e.public, Table: rt, Main: main}))
	}
	// network ACL
	switch {
	case aclErr != nil:
		out = append(out, report.Step{Layer: "aws.network-acl", Decision: report.Unknown, Address: e.dst.String(), Detail: aclErr.Error()})
	case acl == nil:
		out = append(out, report.Step{Layer: "aws.network-acl", Decision: report.Unknown, Address: e.dst.String(), Detail: "no network ACL is associated with " + subnet})
	default:
		out = append(out, evalNetworkACL(c, subnet, *acl))
	}
	// security groups
	if sgErr != nil {
		out = append(out, report.Step{Layer: "aws.security-group", Decision: report.Unknown, Address: e.dst.String(), Detail: sgErr.Error()})
	} else {
		st := evalSecurityGroups(c, eniID, groupIDs, groups, lists)
		if len(plErrs) > 0 && st.Decision != report.Allow {
			st.Detail += "; " + strings.Join(plErrs, "; ")
		}
		out = append(out, st)
	}
	return out
}

// evalLightsailInstance answers for one Lightsail instance: its state, then its firewall.
func evalLightsailInstance(ctx context.Context, h lsHit, q providers.Query) []report.Step {
	name := aws.ToString(h.inst.Name)
	state := ""
	if h.inst.State != nil {
		state = aws.ToString(h.inst.State.Name)
	}
	inst := report.Step{Layer: "aws.instance", Rule: &report.Rule{ID: name, Text: "state " + state, Origin: "lightsail " + h.cl.region}}
	if state != "running" {
		inst.Decision, inst.Cause, inst.Symptom = report.Drop, report.CauseInstanceNotRunning, report.Timeout
		inst.Detail = fmt.Sprintf("Lightsail instance %s in %s is %s, not running", name, h.cl.region, state)
		inst.Fix = []string{fmt.Sprintf("aws lightsail start-instance --region %s --instance-name %s", h.cl.region, name)}
		return []report.Step{inst}
	}
	inst.Decision = report.Allow
	inst.Detail = fmt.Sprintf("Lightsail instance %s in %s is running", name, h.cl.region)
	out := []report.Step{inst}
	var dsts []netip.Addr
	for _, a := range q.Addrs {
		if slices.Contains(lsAddrs(h.inst), a.Unmap()) {
			dsts = append(dsts, a.Unmap())
		}
	}
	if len(dsts) == 0 {
		if a, err := netip.ParseAddr(aws.ToString(h.inst.PublicIpAddress)); err == nil {
			dsts = append(dsts, a)
		}
	}
	ps, err := h.cl.ls.GetInstancePortStates(ctx, &lightsail.GetInstancePortStatesInput{InstanceName: aws.String(name)})
	for _, d := range dsts {
		src, skip := providers.SourceFor(q, d, "aws.lightsail-firewall")
		if skip != nil {
			out = append(out, *skip)
			continue
		}
		c := check{Region: h.cl.region, Source: src, Dst: d, Proto: q.Proto, Port: q.Port}
		if providers.IsPrivateAddr(d) && !providers.IsPrivateSet(src) {
			out = append(out, evalRoute(c, routeView{ENI: "Lightsail instance " + name, VPC: "its Lightsail network", PublicIP: aws.ToString(h.inst.PublicIpAddress)}))
		}
		if err != nil {
			out = append(out, report.Step{Layer: "aws.lightsail-firewall", Decision: report.Unknown, Address: d.String(), Detail: apiMessage("lightsail:GetInstancePortStates", err)})
			continue
		}
		out = append(out, evalLightsail(c, name, ps.PortStates))
	}
	return out
}
