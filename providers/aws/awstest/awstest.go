// Package awstest is a fake AWS for tests: an httptest server speaking the EC2 Query
// protocol (form in, XML out) and Lightsail's awsJson1_1 (X-Amz-Target, JSON), with
// state per region, NextToken paging, injected faults and a record of every action.
package awstest

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The fake cloud: an httptest server speaking EC2 Query (form in, XML out) and Lightsail
// awsJson1_1 (X-Amz-Target, JSON), with state per region, NextToken paging, injected faults
// and a record of every action called.

// ENI is a network interface of an instance.
type ENI struct {
	ID, Subnet, VPC string
	// Device is the attachment's device index; 0 is the primary interface.
	Device int
	Groups []string
	// Private is the primary private IPv4 address.
	Private string
	// Public is the associated public IPv4 (auto-assigned or Elastic IP); empty means none.
	Public string
	IPv6   []string
}

// Instance is an EC2 instance; State is "running", "stopped", ….
type Instance struct {
	ID, Name, State string
	ENIs            []ENI
}

// Perm is an ingress permission; From and To both -1 leave the ports out.
type Perm struct {
	Proto          string
	From, To       int
	CIDRs, CIDR6s  []string
	PLs, RefGroups []string
}

// SG is a security group with its ingress permissions.
type SG struct {
	ID, Name string
	Perms    []Perm
}

// Entry is a network ACL entry; From and To both 0 leave the port range out.
type Entry struct {
	N           int
	Proto       string
	Allow       bool
	Egress      bool
	CIDR, CIDR6 string
	From, To    int
}

// ACL is a network ACL and the subnets it is associated with.
type ACL struct {
	ID      string
	Subnets []string
	Entries []Entry
}

// Route is one route; GW is the target (igw-…, nat-…, local); State "" means active.
type Route struct{ Dst, Dst6, GW, State string }

// RouteTable is a route table, the subnets explicitly associated with it, and whether it is its VPC's main table.
type RouteTable struct {
	ID, VPC string
	Main    bool
	Subnets []string
	Routes  []Route
}

// Port is an open entry of a Lightsail firewall.
type Port struct {
	From, To      int
	Proto         string
	CIDRs, CIDR6s []string
	Aliases       []string
}

// LightsailInstance is a Lightsail instance and its firewall.
type LightsailInstance struct {
	Name, State, Public, Private string
	IPv6                         []string
	Ports                        []Port
}

// Region is one region's account state.
type Region struct {
	Instances []Instance
	SGs       []SG
	ACLs      []ACL
	RTs       []RouteTable
	// PLs maps managed prefix list IDs to their CIDRs.
	PLs map[string][]string
	LS  []LightsailInstance
}

// Fault is an injected failure: Times failures (negative: forever), then success. A Delay
// holds the answer back; Status 0 with a Delay only delays.
type Fault struct {
	Status int
	Code   string
	Delay  time.Duration
	Times  int
}

// Call is one recorded request: "ec2:DescribeInstances" or "lightsail:GetInstances", and the region it was signed for.
type Call struct{ Action, Region string }

// Server is the fake cloud.
type Server struct {
	// PageSize splits list answers into pages of this many items (0: one page). Set it before use.
	PageSize int
	// Latency delays every answer. Set it before use.
	Latency time.Duration
	// URL is the endpoint to give the SDK.
	URL string

	mu      sync.Mutex
	regions map[string]*Region
	faults  map[string]*Fault
	calls   []Call
}

// New starts a fake cloud holding regions (keyed by region name); it stops when the test ends.
func New(t testing.TB, regions map[string]*Region) *Server {
	f := &Server{regions: regions, faults: map[string]*Fault{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// SetFault makes action ("ec2:DescribeSecurityGroups") fail as flt says.
func (f *Server) SetFault(action string, flt Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[action] = &flt
}

// Config is an SDK configuration for the fake: static fake credentials, a short HTTP
// timeout and fast, bounded retries (3 attempts).
func (f *Server) Config() *aws.Config {
	return &aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret-key", ""),
		HTTPClient:  &http.Client{Timeout: 500 * time.Millisecond},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts, o.MaxBackoff = 3, 20*time.Millisecond
			})
		},
	}
}

// Calls returns every request so far, in order.
func (f *Server) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Actions returns the action of every request so far, in order.
func (f *Server) Actions() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Action)
	}
	return out
}

var regionRE = regexp.MustCompile(`Credential=[^/]+/\d+/([^/]+)/`)

// ServeHTTP answers one EC2 or Lightsail request.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	region := "us-east-1"
	if m := regionRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	action := ""
	var form url.Values
	if target != "" {
		action = "lightsail:" + strings.TrimPrefix(target, "Lightsail_20161128.")
	} else {
		form, _ = url.ParseQuery(string(body))
		action = "ec2:" + form.Get("Action")
	}
	f.mu.Lock()
	f.calls = append(f.calls, Call{action, region})
	flt := f.faults[action]
	var inject *Fault
	if flt != nil && flt.Times != 0 {
		inject = flt
		if flt.Times > 0 {
			flt.Times--
		}
	}
	st := f.regions[region]
	lat := f.Latency
	f.mu.Unlock()
	if lat > 0 {
		time.Sleep(lat)
	}
	if inject != nil {
		if inject.Delay > 0 {
			select {
			case <-time.After(inject.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if inject.Status != 0 {
			f.fail(w, target != "", inject.Status, inject.Code, "injected")
			return
		}
	}
	if st == nil {
		st = &Region{}
	}
	if target != "" {
		f.lightsail(w, st, action, body)
		return
	}
	f.ec2(w, st, form)
}

func (f *Server) fail(w http.ResponseWriter, isJSON bool, status int, code, msg string) {
	if isJSON {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, code, html.EscapeString(msg))
}

// listParam reads Name.1, Name.2, … from the form.
func listParam(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.%d", name, i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

// filters reads Filter.N.Name / Filter.N.Value.M.
func filters(form url.Values) map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		n := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if n == "" {
			return out
		}
		out[n] = listParam(form, fmt.Sprintf("Filter.%d.Value", i))
	}
}

// page cuts items at NextToken and returns the part to send and the next token.
func page[T any](f *Server, items []T, token string) ([]T, string) {
	start, _ := strconv.Atoi(token)
	start = min(start, len(items))
	if f.PageSize <= 0 || start+f.PageSize >= len(items) {
		return items[start:], ""
	}
	return items[start : start+f.PageSize], strconv.Itoa(start + f.PageSize)
}

func anyIn(have []string, want []string) bool {
	return slices.ContainsFunc(have, func(h string) bool { return slices.Contains(want, h) })
}

func x(s string) string { return html.EscapeString(s) }

func (f *Server) ec2(w http.ResponseWriter, st *Region, form url.Values) {
	action := form.Get("Action")
	if form.Get("Version") != "2016-11-15" {
		f.fail(w, false, 400, "InvalidParameterValue", "bad version")
		return
	}
	if !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "Get") {
		f.fail(w, false, 400, "UnauthorizedOperation", "the fake answers read actions only")
		return
	}
	flt := filters(form)
	token := form.Get("NextToken")
	var b strings.Builder
	next := ""
	switch action {
	case "DescribeRegions":
		b.WriteString("<regionInfo>")
		names := make([]string, 0, len(f.regions))
		for n := range f.regions {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, "<item><regionName>%s</regionName><regionEndpoint>ec2.%s.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>", n, n)
		}
		b.WriteString("</regionInfo>")
	case "DescribeInstances":
		ids := listParam(form, "InstanceId")
		var hits []Instance
		for _, in := range st.Instances {
			if instMatches(in, ids, flt) {
				hits = append(hits, in)
			}
		}
		if len(ids) > 0 && len(hits) == 0 {
			f.fail(w, false, 400, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", ids[0]))
			return
		}
		var pg []Instance
		pg, next = page(f, hits, token)
		b.WriteString("<reservationSet>")
		for _, in := range pg {
			fmt.Fprintf(&b, "<item><reservationId>r-%s</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>", x(in.ID))
			writeInstance(&b, in)
			b.WriteString("</instancesSet></item>")
		}
		b.WriteString("</reservationSet>")
	case "DescribeSecurityGroups":
		ids := listParam(form, "GroupId")
		var hits []SG
		for _, g := range st.SGs {
			if len(ids) == 0 || slices.Contains(ids, g.ID) {
				hits = append(hits, g)
			}
		}
		for _, id := range ids {
			if !slices.ContainsFunc(hits, func(g SG) bool { return g.ID == id }) {
				f.fail(w, false, 400, "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
				return
			}
		}
		var pg []SG
		pg, next = page(f, hits, token)
		b.WriteString("<securityGroupInfo>")
		for _, g := range pg {
			fmt.Fprintf(&b, "<item><ownerId>123456789012</ownerId><groupId>%s</groupId><groupName>%s</groupName><groupDescription>test</groupDescription><vpcId>vpc-1</vpcId><ipPermissions>", x(g.ID), x(g.Name))
			for _, p := range g.Perms {
				fmt.Fprintf(&b, "<item><ipProtocol>%s</ipProtocol>", x(p.Proto))
				if p.From != -1 {
					fmt.Fprintf(&b, "<fromPort>%d</fromPort><toPort>%d</toPort>", p.From, p.To)
				}
				b.WriteString("<groups>")
				for _, r := range p.RefGroups {
					fmt.Fprintf(&b, "<item><userId>123456789012</userId><groupId>%s</groupId></item>", x(r))
				}
				b.WriteString("</groups><ipRanges>")
				for _, c := range p.CIDRs {
					fmt.Fprintf(&b, "<item><cidrIp>%s</cidrIp><description>rule</description></item>", x(c))
				}
				b.WriteString("</ipRanges><ipv6Ranges>")
				for _, c := range p.CIDR6s {
					fmt.Fprintf(&b, "<item><cidrIpv6>%s</cidrIpv6></item>", x(c))
				}
				b.WriteString("</ipv6Ranges><prefixListIds>")
				for _, c := range p.PLs {
					fmt.Fprintf(&b, "<item><prefixListId>%s</prefixListId></item>", x(c))
				}
				b.WriteString("</prefixListIds></item>")
			}
			b.WriteString(`</ipPermissions><ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><prefixListIds/></item></ipPermissionsEgress></item>`)
		}
		b.WriteString("</securityGroupInfo>")
	case "DescribeNetworkAcls":
		var hits []ACL
		for _, a := range st.ACLs {
			if s, ok := flt["association.subnet-id"]; !ok || anyIn(a.Subnets, s) {
				hits = append(hits, a)
			}
		}
		var pg []ACL
		pg, next = page(f, hits, token)
		b.WriteString("<networkAclSet>")
		for _, a := range pg {
			fmt.Fprintf(&b, "<item><networkAclId>%s</networkAclId><vpcId>vpc-1</vpcId><default>false</default><entrySet>", x(a.ID))
			for _, e := range a.Entries {
				act := "deny"
				if e.Allow {
					act = "allow"
				}
				fmt.Fprintf(&b, "<item><ruleNumber>%d</ruleNumber><protocol>%s</protocol><ruleAction>%s</ruleAction><egress>%t</egress>", e.N, x(e.Proto), act, e.Egress)
				if e.CIDR != "" {
					fmt.Fprintf(&b, "<cidrBlock>%s</cidrBlock>", x(e.CIDR))
				}
				if e.CIDR6 != "" {
					fmt.Fprintf(&b, "<ipv6CidrBlock>%s</ipv6CidrBlock>", x(e.CIDR6))
				}
				if e.From != 0 || e.To != 0 {
					fmt.Fprintf(&b, "<portRange><from>%d</from><to>%d</to></portRange>", e.From, e.To)
				}
				b.WriteString("</item>")
			}
			b.WriteString("</entrySet><associationSet>")
			for _, s := range a.Subnets {
				fmt.Fprintf(&b, "<item><networkAclAssociationId>aclassoc-%s</networkAclAssociationId><networkAclId>%s</networkAclId><subnetId>%s</subnetId></item>", x(s), x(a.ID), x(s))
			}
			b.WriteString("</associationSet><tagSet/></item>")
		}
		b.WriteString("</networkAclSet>")
	case "DescribeRouteTables":
		var hits []RouteTable
		for _, t := range st.RTs {
			ok := true
			if s, has := flt["association.subnet-id"]; has && !anyIn(t.Subnets, s) {
				ok = false
			}
			if v, has := flt["vpc-id"]; has && !slices.Contains(v, t.VPC) {
				ok = false
			}
			if m, has := flt["association.main"]; has && !slices.Contains(m, strconv.FormatBool(t.Main)) {
				ok = false
			}
			if ok {
				hits = append(hits, t)
			}
		}
		var pg []RouteTable
		pg, next = page(f, hits, token)
		b.WriteString("<routeTableSet>")
		for _, t := range pg {
			fmt.Fprintf(&b, "<item><routeTableId>%s</routeTableId><vpcId>%s</vpcId><ownerId>123456789012</ownerId><routeSet>", x(t.ID), x(t.VPC))
			for _, r := range t.Routes {
				b.WriteString("<item>")
				if r.Dst != "" {
					fmt.Fprintf(&b, "<destinationCidrBlock>%s</destinationCidrBlock>", x(r.Dst))
				}
				if r.Dst6 != "" {
					fmt.Fprintf(&b, "<destinationIpv6CidrBlock>%s</destinationIpv6CidrBlock>", x(r.Dst6))
				}
				tag := "gatewayId"
				if strings.HasPrefix(r.GW, "nat-") {
					tag = "natGatewayId"
				}
				state := r.State
				if state == "" {
					state = "active"
				}
				fmt.Fprintf(&b, "<%s>%s</%s><state>%s</state><origin>CreateRoute</origin></item>", tag, x(r.GW), tag, state)
			}
			b.WriteString("</routeSet><associationSet>")
			if t.Main {
				fmt.Fprintf(&b, "<item><routeTableAssociationId>rtbassoc-main</routeTableAssociationId><routeTableId>%s</routeTableId><main>true</main><associationState><state>associated</state></associationState></item>", x(t.ID))
			}
			for _, s := range t.Subnets {
				fmt.Fprintf(&b, "<item><routeTableAssociationId>rtbassoc-%s</routeTableAssociationId><routeTableId>%s</routeTableId><subnetId>%s</subnetId><main>false</main></item>", x(s), x(t.ID), x(s))
			}
			b.WriteString("</associationSet><propagatingVgwSet/><tagSet/></item>")
		}
		b.WriteString("</routeTableSet>")
	case "GetManagedPrefixListEntries":
		id := form.Get("PrefixListId")
		cidrs, ok := st.PLs[id]
		if !ok {
			f.fail(w, false, 400, "InvalidPrefixListID.NotFound", fmt.Sprintf("The prefix list ID '%s' does not exist", id))
			return
		}
		var pg []string
		pg, next = page(f, cidrs, token)
		b.WriteString("<entrySet>")
		for _, c := range pg {
			fmt.Fprintf(&b, "<item><cidr>%s</cidr><description>entry</description></item>", x(c))
		}
		b.WriteString("</entrySet>")
	default:
		f.fail(w, false, 400, "InvalidAction", "The action "+action+" is not valid for this web service.")
		return
	}
	if next != "" {
		fmt.Fprintf(&b, "<nextToken>%s</nextToken>", next)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>59dbff89-35bd-4eac-99ed-example</requestId>%s</%sResponse>`, action, b.String(), action)
}

func instMatches(in Instance, ids []string, flt map[string][]string) bool {
	if len(ids) > 0 && !slices.Contains(ids, in.ID) {
		return false
	}
	for name, vals := range flt {
		ok := false
		for _, e := range in.ENIs {
			switch name {
			case "network-interface.association.public-ip":
				ok = ok || e.Public != "" && slices.Contains(vals, e.Public)
			case "ip-address":
				ok = ok || e.Device == 0 && e.Public != "" && slices.Contains(vals, e.Public)
			case "network-interface.addresses.private-ip-address", "private-ip-address":
				ok = ok || slices.Contains(vals, e.Private)
			case "network-interface.ipv6-addresses.ipv6-address":
				ok = ok || anyIn(e.IPv6, vals)
			case "tag:Name":
				ok = slices.Contains(vals, in.Name)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func writeInstance(b *strings.Builder, in Instance) {
	code := map[string]int{"pending": 0, "running": 16, "stopping": 64, "stopped": 80}[in.State]
	fmt.Fprintf(b, "<item><instanceId>%s</instanceId><imageId>ami-1</imageId><instanceState><code>%d</code><name>%s</name></instanceState><instanceType>t3.micro</instanceType>", x(in.ID), code, x(in.State))
	if len(in.ENIs) > 0 {
		p := in.ENIs[0]
		fmt.Fprintf(b, "<privateIpAddress>%s</privateIpAddress><subnetId>%s</subnetId><vpcId>%s</vpcId>", x(p.Private), x(p.Subnet), x(p.VPC))
		if p.Public != "" {
			fmt.Fprintf(b, "<ipAddress>%s</ipAddress>", x(p.Public))
		}
	}
	fmt.Fprintf(b, "<tagSet><item><key>Name</key><value>%s</value></item></tagSet><networkInterfaceSet>", x(in.Name))
	for _, e := range in.ENIs {
		fmt.Fprintf(b, "<item><networkInterfaceId>%s</networkInterfaceId><subnetId>%s</subnetId><vpcId>%s</vpcId><status>in-use</status><privateIpAddress>%s</privateIpAddress>", x(e.ID), x(e.Subnet), x(e.VPC), x(e.Private))
		assoc := ""
		if e.Public != "" {
			assoc = fmt.Sprintf("<association><publicIp>%s</publicIp><ipOwnerId>amazon</ipOwnerId></association>", x(e.Public))
			b.WriteString(assoc)
		}
		fmt.Fprintf(b, "<attachment><attachmentId>eni-attach-%s</attachmentId><deviceIndex>%d</deviceIndex><status>attached</status></attachment><groupSet>", x(e.ID), e.Device)
		for _, g := range e.Groups {
			fmt.Fprintf(b, "<item><groupId>%s</groupId><groupName>%s</groupName></item>", x(g), x(g))
		}
		fmt.Fprintf(b, "</groupSet><privateIpAddressesSet><item><privateIpAddress>%s</privateIpAddress><primary>true</primary>%s</item></privateIpAddressesSet><ipv6AddressesSet>", x(e.Private), assoc)
		for _, a := range e.IPv6 {
			fmt.Fprintf(b, "<item><ipv6Address>%s</ipv6Address></item>", x(a))
		}
		b.WriteString("</ipv6AddressesSet></item>")
	}
	b.WriteString("</networkInterfaceSet></item>")
}

func (f *Server) lightsail(w http.ResponseWriter, st *Region, action string, body []byte) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		f.fail(w, true, 400, "InvalidInputException", "bad JSON")
		return
	}
	var out any
	switch action {
	case "lightsail:GetInstances":
		type inst struct {
			Name             string            `json:"name"`
			State            map[string]any    `json:"state"`
			PublicIPAddress  string            `json:"publicIpAddress,omitempty"`
			PrivateIPAddress string            `json:"privateIpAddress,omitempty"`
			IPv6Addresses    []string          `json:"ipv6Addresses,omitempty"`
			Location         map[string]string `json:"location"`
		}
		var all []inst
		for _, l := range st.LS {
			all = append(all, inst{l.Name, map[string]any{"code": 16, "name": l.State}, l.Public, l.Private, l.IPv6, map[string]string{"regionName": "us-east-1"}})
		}
		tok, _ := in["pageToken"].(string)
		pg, next := page(f, all, tok)
		res := map[string]any{"instances": pg}
		if next != "" {
			res["nextPageToken"] = next
		}
		out = res
	case "lightsail:GetInstancePortStates":
		name, _ := in["instanceName"].(string)
		i := slices.IndexFunc(st.LS, func(l LightsailInstance) bool { return l.Name == name })
		if i < 0 {
			f.fail(w, true, 400, "NotFoundException", "instance not found")
			return
		}
		var ps []map[string]any
		for _, p := range st.LS[i].Ports {
			ps = append(ps, map[string]any{"fromPort": p.From, "toPort": p.To, "protocol": p.Proto, "state": "open",
				"cidrs": p.CIDRs, "ipv6Cidrs": p.CIDR6s, "cidrListAliases": p.Aliases})
		}
		out = map[string]any{"portStates": ps}
	default:
		f.fail(w, true, 400, "AccessDeniedException", "the fake answers read actions only")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}
