package tencent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake cloud: an httptest server speaking Tencent Cloud API 3.0 (POST /, JSON body,
// X-TC-Action, TC3-HMAC-SHA256 credential scope naming the service, answers wrapped in
// {"Response":{…}}, errors in Response.Error), with state per region, Offset/Limit paging,
// injected faults and a record of every action called.

// wire types: the API's field names and JSON types (the SDK's decoder rejects a number where
// it expects a string).

type fPolicy struct {
	PolicyIndex       int64             `json:"PolicyIndex"`
	Protocol          string            `json:"Protocol,omitempty"`
	Port              string            `json:"Port,omitempty"`
	CidrBlock         string            `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock     string            `json:"Ipv6CidrBlock,omitempty"`
	SecurityGroupId   string            `json:"SecurityGroupId,omitempty"`
	AddressTemplate   map[string]string `json:"AddressTemplate,omitempty"`
	ServiceTemplate   map[string]string `json:"ServiceTemplate,omitempty"`
	Action            string            `json:"Action"`
	PolicyDescription string            `json:"PolicyDescription"`
	ModifyTime        string            `json:"ModifyTime"`
}

type fEntry struct {
	Protocol      string `json:"Protocol"`
	Port          string `json:"Port,omitempty"`
	CidrBlock     string `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock string `json:"Ipv6CidrBlock,omitempty"`
	Action        string `json:"Action"`
	Description   string `json:"Description"`
	ModifyTime    string `json:"ModifyTime"`
}

type fACL struct {
	ID, VPC string
	Subnets []string
	In, Out []fEntry
}

type fInstance struct {
	ID, Name, State string
	Private, Public []string
	IPv6            []string
	VPC, Subnet     string
	Groups          []string
}

type fENI struct {
	ID, Instance, VPC, Subnet string
	Private, Public           string
	Groups                    []string
}

type fFirewall struct {
	Protocol                string `json:"Protocol"`
	Port                    string `json:"Port"`
	CidrBlock               string `json:"CidrBlock,omitempty"`
	Ipv6CidrBlock           string `json:"Ipv6CidrBlock,omitempty"`
	Action                  string `json:"Action"`
	AppType                 string `json:"AppType"`
	FirewallRuleDescription string `json:"FirewallRuleDescription"`
}

type fLighthouse struct {
	ID, Name, State string
	Private, Public []string
	Firewall        []fFirewall
}

type fRegion struct {
	CVM        []fInstance
	ENIs       []fENI
	SGs        map[string][]fPolicy
	ACLs       []fACL
	AddrTpls   map[string][]string
	AddrGroups map[string][]string
	SvcTpls    map[string][]string
	SvcGroups  map[string][]string
	LH         []fLighthouse
}

// fault is an injected failure of one service:Action: an API error code, an HTTP status or a delay.
type fault struct {
	Code   string
	Status int
	Delay  time.Duration
	// Times is how many calls fail; 0 means every call.
	Times int
}

type fakeCloud struct {
	t       testing.TB
	srv     *httptest.Server
	regions map[string]*fRegion

	mu     sync.Mutex
	calls  []string // service:Action, in arrival order
	tokens []string // X-TC-Token of each call
	faults map[string]*fault
}

func newFake(t testing.TB, regions map[string]*fRegion) *fakeCloud {
	f := &fakeCloud{t: t, regions: regions, faults: map[string]*fault{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// provider is the real provider pointed at the fake, with short timeouts.
func (f *fakeCloud) provider(regions ...string) *Provider {
	return New(Options{Regions: regions, Endpoint: f.srv.URL, CallTimeout: 500 * time.Millisecond, Backoff: 5 * time.Millisecond})
}

func (f *fakeCloud) inject(action string, x fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[action] = &x
}

func (f *fakeCloud) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/\d{4}-\d{2}-\d{2}/([a-z]+)/tc3_request`)

var versions = map[string]string{"cvm": "2017-03-12", "vpc": "2017-03-12", "lighthouse": "2020-03-24"}

func (f *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := r.Header.Get("X-TC-Action")
	m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if r.Method != http.MethodPost || m == nil || action == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.t.Errorf("fake: malformed request %s %s action=%q auth=%q", r.Method, r.URL, action, r.Header.Get("Authorization"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	service := m[1]
	if versions[service] != r.Header.Get("X-TC-Version") {
		f.t.Errorf("fake: %s:%s with version %q", service, action, r.Header.Get("X-TC-Version"))
	}
	key := service + ":" + action
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, key)
	f.tokens = append(f.tokens, r.Header.Get("X-TC-Token"))
	flt := f.faults[key]
	if flt != nil && flt.Times > 0 {
		flt.Times--
		if flt.Times == 0 {
			delete(f.faults, key)
		}
	}
	f.mu.Unlock()
	if flt != nil {
		if flt.Delay > 0 {
			select {
			case <-time.After(flt.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if flt.Status != 0 {
			http.Error(w, "upstream failure", flt.Status)
			return
		}
		if flt.Code != "" {
			f.fail(w, flt.Code, "injected")
			return
		}
	}
	st := f.regions[r.Header.Get("X-TC-Region")]
	if st == nil {
		f.fail(w, "InvalidParameterValue.Region", "unknown region")
		return
	}
	var req struct {
		InstanceIds []string
		Filters     []struct {
			Name   string
			Values []string
		}
		Offset, Limit   json.RawMessage
		SecurityGroupId string
		InstanceId      string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "InvalidParameter", "bad body")
		return
	}
	flt2 := map[string][]string{}
	for _, x := range req.Filters {
		flt2[x.Name] = x.Values
	}
	off, limit := num(req.Offset), num(req.Limit)
	if limit == 0 {
		limit = 20
	}
	switch key {
	case "cvm:DescribeRegions":
		var set []map[string]string
		for name := range f.regions {
			set = append(set, map[string]string{"Region": name, "RegionName": name, "RegionState": "AVAILABLE"})
		}
		f.ok(w, map[string]any{"TotalCount": len(set), "RegionSet": set})
	case "cvm:DescribeInstances":
		var set []map[string]any
		for _, in := range st.CVM {
			if instMatch(in.ID, in.Name, in.Public, in.Private, req.InstanceIds, flt2, in.IPv6...) {
				set = append(set, map[string]any{"InstanceId": in.ID, "InstanceName": in.Name, "InstanceState": in.State,
					"PrivateIpAddresses": in.Private, "PublicIpAddresses": nilIfEmpty(in.Public), "IPv6Addresses": nilIfEmpty(in.IPv6),
					"SecurityGroupIds": in.Groups, "VirtualPrivateCloud": map[string]any{"VpcId": in.VPC, "SubnetId": in.Subnet, "AsVpcGateway": false}})
			}
		}
		if len(req.InstanceIds) > 0 && len(set) == 0 {
			f.fail(w, "InvalidInstanceId.NotFound", "not found")
			return
		}
		f.ok(w, map[string]any{"TotalCount": len(set), "InstanceSet": page(set, off, limit)})
	case "lighthouse:DescribeInstances":
		var set []map[string]any
		for _, in := range st.LH {
			if instMatch(in.ID, in.Name, in.Public, in.Private, req.InstanceIds, flt2) {
				set = append(set, map[string]any{"InstanceId": in.ID, "InstanceName": in.Name, "InstanceState": in.State,
					"PrivateAddresses": in.Private, "PublicAddresses": in.Public, "BundleId": "bundle_starter"})
			}
		}
		f.ok(w, map[string]any{"TotalCount": len(set), "InstanceSet": page(set, off, limit)})
	case "lighthouse:DescribeFirewallRules":
		for _, in := range st.LH {
			if in.ID == req.InstanceId {
				f.ok(w, map[string]any{"TotalCount": len(in.Firewall), "FirewallRuleSet": page(in.Firewall, off, limit), "FirewallVersion": 3})
				return
			}
		}
		f.fail(w, "ResourceNotFound.InstanceIdNotFound", "no such instance")
	case "vpc:DescribeSecurityGroupPolicies":
		pols, ok := st.SGs[req.SecurityGroupId]
		if !ok {
			f.fail(w, "ResourceNotFound", "no such security group")
			return
		}
		f.ok(w, map[string]any{"SecurityGroupPolicySet": map[string]any{"Version": "7", "Ingress": pols,
			"Egress": []fPolicy{{PolicyIndex: 0, Protocol: "ALL", Port: "ALL", CidrBlock: "0.0.0.0/0", Action: "ACCEPT"}}}})
	case "vpc:DescribeNetworkAcls":
		var set []map[string]any
		for _, a := range st.ACLs {
			if vs := flt2["vpc-id"]; len(vs) > 0 && !slices.Contains(vs, a.VPC) {
				continue
			}
			var subnets []map[string]any
			for _, s := range a.Subnets {
				subnets = append(subnets, map[string]any{"SubnetId": s, "VpcId": a.VPC, "CidrBlock": "10.0.1.0/24"})
			}
			set = append(set, map[string]any{"VpcId": a.VPC, "NetworkAclId": a.ID, "NetworkAclName": "acl", "CreatedTime": "2024-01-01 00:00:00",
				"SubnetSet": subnets, "IngressEntries": a.In, "EgressEntries": a.Out})
		}
		f.ok(w, map[string]any{"TotalCount": len(set), "NetworkAclSet": page(set, off, limit)})
	case "vpc:DescribeNetworkInterfaces":
		var set []map[string]any
		for _, e := range st.ENIs {
			if vs := flt2["attachment.instance-id"]; len(vs) > 0 && !slices.Contains(vs, e.Instance) {
				continue
			}
			set = append(set, map[string]any{"NetworkInterfaceId": e.ID, "VpcId": e.VPC, "SubnetId": e.Subnet, "GroupSet": e.Groups, "Primary": false,
				"PrivateIpAddressSet": []map[string]any{{"PrivateIpAddress": e.Private, "PublicIpAddress": e.Public, "Primary": true}},
				"Attachment":          map[string]any{"InstanceId": e.Instance}})
		}
		f.ok(w, map[string]any{"TotalCount": len(set), "NetworkInterfaceSet": page(set, off, limit)})
	case "vpc:DescribeAddressTemplates":
		f.templates(w, st.AddrTpls, flt2["address-template-id"], off, limit, "AddressTemplateSet", "AddressTemplateId", "AddressSet")
	case "vpc:DescribeAddressTemplateGroups":
		f.templates(w, st.AddrGroups, flt2["address-template-group-id"], off, limit, "AddressTemplateGroupSet", "AddressTemplateGroupId", "AddressTemplateIdSet")
	case "vpc:DescribeServiceTemplates":
		f.templates(w, st.SvcTpls, flt2["service-template-id"], off, limit, "ServiceTemplateSet", "ServiceTemplateId", "ServiceSet")
	case "vpc:DescribeServiceTemplateGroups":
		f.templates(w, st.SvcGroups, flt2["service-template-group-id"], off, limit, "ServiceTemplateGroupSet", "ServiceTemplateGroupId", "ServiceTemplateIdSet")
	default:
		f.fail(w, "InvalidAction", "the fake does not know "+key)
	}
}

func (f *fakeCloud) templates(w http.ResponseWriter, m map[string][]string, ids []string, off, limit int, set, idKey, listKey string) {
	var out []map[string]any
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(ids) == 0 || slices.Contains(ids, k) {
			out = append(out, map[string]any{idKey: k, listKey: m[k], "CreatedTime": "2024-01-01 00:00:00"})
		}
	}
	f.ok(w, map[string]any{"TotalCount": len(out), set: page(out, off, limit)})
}

// num reads Offset/Limit, which the API takes as a number or (template calls) a string.
func num(raw json.RawMessage) int {
	s := strings.Trim(string(raw), `"`)
	n, _ := strconv.Atoi(s)
	return n
}

func page[T any](items []T, off, limit int) []T {
	if off >= len(items) {
		return []T{}
	}
	return items[off:min(len(items), off+limit)]
}

func nilIfEmpty(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

func instMatch(id, name string, public, private, ids []string, flt map[string][]string, v6 ...string) bool {
	if len(ids) > 0 {
		return slices.Contains(ids, id)
	}
	for k, vs := range flt {
		var have []string
		switch k {
		case "public-ip-address":
			have = public
		case "private-ip-address":
			have = private
		case "instance-name":
			have = []string{name}
		case "ipv6-address":
			have = v6
		default:
			return false
		}
		if !slices.ContainsFunc(vs, func(v string) bool { return slices.Contains(have, v) }) {
			return false
		}
	}
	return true
}

var reqID int

func (f *fakeCloud) ok(w http.ResponseWriter, resp map[string]any) {
	f.mu.Lock()
	reqID++
	resp["RequestId"] = fmt.Sprintf("req-%d", reqID)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": resp})
}

func (f *fakeCloud) fail(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": map[string]any{
		"Error": map[string]string{"Code": code, "Message": msg}, "RequestId": "req-err"}})
}
