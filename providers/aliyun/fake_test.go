package aliyun

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

// The fake cloud: an httptest server speaking the Alibaba Cloud RPC API (parameters in the
// query, JSON answers, JSON errors), dispatching on Action + Version like the real
// endpoints, with state per region, NextToken and PageNumber paging, injected faults and a
// record of every action called.

type fNIC struct {
	ID, Instance, VSwitch, Private, Type string
	Groups                               []string
}

type fInst struct {
	ID, Name, Status, Net string
	Public, EIP           string
	VSwitch               string
	Groups                []string
	NICs                  []fNIC
}

type fGroup struct {
	ID, Name, Type, Inner string
	Perms                 []map[string]any
}

type fACL struct {
	ID        string
	VSwitches []string
	In, Out   []map[string]string
}

type fSWAS struct {
	ID, Name, Status, Public string
	Rules                    []map[string]string
}

type fRegion struct {
	Instances []fInst
	Groups    []fGroup
	// NICs are interfaces of other instances (group members).
	NICs []fNIC
	ACLs []fACL
	PLs  map[string][]string
	SWAS []fSWAS
}

// fault is an injected failure for one action: Times failures (negative: forever), then success.
type fault struct {
	Status int
	Code   string
	Delay  time.Duration
	Times  int
}

type call struct{ Action, Version, Region, AccessKeyID string }

type fakeCloud struct {
	t        testing.TB
	mu       sync.Mutex
	regions  map[string]*fRegion
	pageSize int
	faults   map[string]*fault
	calls    []call
	srv      *httptest.Server
}

func newFake(t testing.TB, regions map[string]*fRegion) *fakeCloud {
	f := &fakeCloud{t: t, regions: regions, faults: map[string]*fault{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// provider is the real provider aimed at the fake with fast bounded retries.
func (f *fakeCloud) provider(regions ...string) *Provider {
	return New(Options{Regions: regions, Endpoint: f.srv.URL, Backoff: 5 * time.Millisecond, CallTimeout: 300 * time.Millisecond,
		Credentials: credentials.NewStaticAKCredentialsProvider("LTAIfakeid", "fake-secret-value")})
}

func (f *fakeCloud) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Action)
	}
	return out
}

var versions = map[string]string{"ecs": ecsVersion, "vpc": vpcVersion, "swas-open": swasVersion}

// services maps an action to its service; DescribeEipAddresses-style names that exist in
// two services are told apart by Version.
var services = map[string]map[string]bool{
	ecsVersion:  {"DescribeInstances": true, "DescribeNetworkInterfaces": true, "DescribeSecurityGroupAttribute": true, "DescribeSecurityGroups": true, "DescribePrefixListAttributes": true, "DescribeRegions": true},
	vpcVersion:  {"DescribeNetworkAcls": true},
	swasVersion: {"ListInstances": true, "ListFirewallRules": true},
}

func (f *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil {
		for k, v := range form {
			q[k] = append(q[k], v...)
		}
	}
	action, version, region := q.Get("Action"), q.Get("Version"), q.Get("RegionId")
	f.mu.Lock()
	f.calls = append(f.calls, call{action, version, region, q.Get("AccessKeyId")})
	var inject *fault
	if flt := f.faults[action]; flt != nil && flt.Times != 0 {
		inject = flt
		if flt.Times > 0 {
			flt.Times--
		}
	}
	st := f.regions[region]
	f.mu.Unlock()
	if q.Get("Format") != "JSON" || q.Get("Signature") == "" || q.Get("SignatureNonce") == "" {
		f.fail(w, 400, "MissingParameter", "Format, Signature and SignatureNonce are required")
		return
	}
	if !services[version][action] {
		f.fail(w, 400, "InvalidAction.NotFound", fmt.Sprintf("%s is not an action of version %s here", action, version))
		return
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
			f.fail(w, inject.Status, inject.Code, "injected")
			return
		}
	}
	if st == nil {
		st = &fRegion{}
	}
	var out map[string]any
	switch action {
	case "DescribeInstances":
		out = f.describeInstances(st, q)
	case "DescribeNetworkInterfaces":
		out = f.describeNICs(st, q)
	case "DescribeSecurityGroupAttribute":
		out = f.sgAttribute(st, q)
		if out == nil {
			f.fail(w, 404, "InvalidSecurityGroupId.NotFound", "The specified security group does not exist.")
			return
		}
	case "DescribeSecurityGroups":
		var gs []map[string]any
		ids := jsonParam(q, "SecurityGroupIds")
		for _, g := range st.Groups {
			if slices.Contains(ids, g.ID) {
				gs = append(gs, map[string]any{"SecurityGroupId": g.ID, "SecurityGroupName": g.Name, "SecurityGroupType": orDefault(g.Type, "normal")})
			}
		}
		out = map[string]any{"TotalCount": len(gs), "SecurityGroups": map[string]any{"SecurityGroup": gs}}
	case "DescribePrefixListAttributes":
		id := q.Get("PrefixListId")
		cidrs, ok := st.PLs[id]
		if !ok {
			f.fail(w, 404, "InvalidPrefixListId.NotFound", "The specified prefix list does not exist.")
			return
		}
		var es []map[string]any
		for _, c := range cidrs {
			es = append(es, map[string]any{"Cidr": c, "Description": ""})
		}
		out = map[string]any{"PrefixListId": id, "AddressFamily": "IPv4", "Entries": map[string]any{"Entry": es}}
	case "DescribeNetworkAcls":
		var acls []map[string]any
		for _, a := range st.ACLs {
			if q.Get("ResourceId") != "" && !slices.Contains(a.VSwitches, q.Get("ResourceId")) {
				continue
			}
			var res []map[string]any
			for _, v := range a.VSwitches {
				res = append(res, map[string]any{"ResourceId": v, "ResourceType": "VSwitch", "Status": "BINDED"})
			}
			acls = append(acls, map[string]any{"NetworkAclId": a.ID, "VpcId": "vpc-1", "Status": "Available",
				"IngressAclEntries": map[string]any{"IngressAclEntry": a.In}, "EgressAclEntries": map[string]any{"EgressAclEntry": a.Out},
				"Resources": map[string]any{"Resource": res}})
		}
		out = map[string]any{"TotalCount": strconv.Itoa(len(acls)), "PageNumber": "1", "PageSize": "50", "NetworkAcls": map[string]any{"NetworkAcl": acls}}
	case "ListInstances":
		ids, ips := jsonParam(q, "InstanceIds"), jsonParam(q, "PublicIpAddresses")
		var is []map[string]any
		for _, s := range st.SWAS {
			if len(ids) > 0 && !slices.Contains(ids, s.ID) || len(ips) > 0 && !slices.Contains(ips, s.Public) || q.Get("InstanceName") != "" && q.Get("InstanceName") != s.Name {
				continue
			}
			is = append(is, map[string]any{"InstanceId": s.ID, "InstanceName": s.Name, "Status": s.Status, "PublicIpAddress": s.Public, "RegionId": region})
		}
		out = map[string]any{"TotalCount": len(is), "PageNumber": 1, "PageSize": 100, "Instances": is}
	case "ListFirewallRules":
		var rules []map[string]string
		for _, s := range st.SWAS {
			if s.ID == q.Get("InstanceId") {
				rules = s.Rules
			}
		}
		pg, _ := strconv.Atoi(q.Get("PageNumber"))
		size := 100
		if f.pageSize > 0 {
			size = f.pageSize // the fake pages harder than asked
		}
		start := min(max(pg-1, 0)*size, len(rules))
		end := min(start+size, len(rules))
		out = map[string]any{"TotalCount": len(rules), "PageNumber": pg, "PageSize": size, "FirewallRules": rules[start:end]}
	case "DescribeRegions":
		out = map[string]any{"Regions": map[string]any{"Region": []map[string]any{{"RegionId": "cn-hangzhou"}}}}
	}
	out["RequestId"] = "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E"
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeCloud) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"RequestId":"E2A7D2A6-0000-0000-0000-000000000000","HostId":"ecs.aliyuncs.com","Code":%q,"Message":%q,"Recommend":"https://api.aliyun.com/troubleshoot"}`, code, msg)
}

// jsonParam reads a JSON-array string parameter ("[\"a\",\"b\"]").
func jsonParam(q url.Values, name string) []string {
	var out []string
	if s := q.Get(name); s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

// page cuts items at NextToken.
func page[T any](f *fakeCloud, items []T, token string) ([]T, string) {
	start, _ := strconv.Atoi(token)
	start = min(start, len(items))
	if f.pageSize <= 0 || start+f.pageSize >= len(items) {
		return items[start:], ""
	}
	return items[start : start+f.pageSize], strconv.Itoa(start + f.pageSize)
}

func nicJSON(n fNIC) map[string]any {
	return map[string]any{"NetworkInterfaceId": n.ID, "InstanceId": n.Instance, "VSwitchId": n.VSwitch, "Type": orDefault(n.Type, "Secondary"),
		"PrivateIpAddress": n.Private, "SecurityGroupIds": map[string]any{"SecurityGroupId": n.Groups},
		"PrivateIpSets": map[string]any{"PrivateIpSet": []map[string]any{{"PrivateIpAddress": n.Private, "Primary": true}}}}
}

func (f *fakeCloud) describeInstances(st *fRegion, q url.Values) map[string]any {
	var hits []map[string]any
	ids := jsonParam(q, "InstanceIds")
	pub, eip, priv, inner := jsonParam(q, "PublicIpAddresses"), jsonParam(q, "EipAddresses"), jsonParam(q, "PrivateIpAddresses"), jsonParam(q, "InnerIpAddresses")
	for _, in := range st.Instances {
		classic := in.Net == "classic"
		switch {
		case len(ids) > 0 && !slices.Contains(ids, in.ID),
			q.Get("InstanceName") != "" && q.Get("InstanceName") != in.Name,
			len(pub) > 0 && !slices.Contains(pub, in.Public),
			len(eip) > 0 && !slices.Contains(eip, in.EIP),
			len(priv) > 0 && (classic || !slices.ContainsFunc(in.NICs, func(n fNIC) bool { return slices.Contains(priv, n.Private) })),
			len(inner) > 0 && (!classic || !slices.ContainsFunc(in.NICs, func(n fNIC) bool { return slices.Contains(inner, n.Private) })):
			continue
		}
		m := map[string]any{"InstanceId": in.ID, "InstanceName": in.Name, "Status": in.Status, "InstanceNetworkType": orDefault(in.Net, "vpc"),
			"SecurityGroupIds": map[string]any{"SecurityGroupId": in.Groups},
			"PublicIpAddress":  map[string]any{"IpAddress": nonEmpty(in.Public)},
			"EipAddress":       map[string]any{"IpAddress": in.EIP, "AllocationId": ""}}
		var nics []map[string]any
		for i, n := range in.NICs {
			typ := "Secondary"
			if i == 0 {
				typ = "Primary"
			}
			nics = append(nics, map[string]any{"NetworkInterfaceId": n.ID, "Type": typ, "PrimaryIpAddress": n.Private,
				"PrivateIpSets": map[string]any{"PrivateIpSet": []map[string]any{{"PrivateIpAddress": n.Private, "Primary": true}}}})
		}
		if classic {
			m["InnerIpAddress"] = map[string]any{"IpAddress": nonEmpty(in.NICs[0].Private)}
		} else {
			m["VpcAttributes"] = map[string]any{"VpcId": "vpc-1", "VSwitchId": in.VSwitch, "PrivateIpAddress": map[string]any{"IpAddress": nonEmpty(in.NICs[0].Private)}}
			m["NetworkInterfaces"] = map[string]any{"NetworkInterface": nics}
		}
		hits = append(hits, m)
	}
	items, next := page(f, hits, q.Get("NextToken"))
	return map[string]any{"TotalCount": len(hits), "NextToken": next, "Instances": map[string]any{"Instance": items}}
}

func nonEmpty(s string) []string {
	if s == "" {
		return []string{}
	}
	return []string{s}
}

func (f *fakeCloud) describeNICs(st *fRegion, q url.Values) map[string]any {
	var ids []string
	for i := 1; ; i++ {
		v := q.Get(fmt.Sprintf("NetworkInterfaceId.%d", i))
		if v == "" {
			break
		}
		ids = append(ids, v)
	}
	all := slices.Clone(st.NICs)
	for _, in := range st.Instances {
		for i, n := range in.NICs {
			n.Instance = in.ID
			if i == 0 {
				n.Type, n.Groups, n.VSwitch = "Primary", in.Groups, in.VSwitch
			}
			all = append(all, n)
		}
	}
	var hits []map[string]any
	for _, n := range all {
		if len(ids) > 0 && !slices.Contains(ids, n.ID) || q.Get("SecurityGroupId") != "" && !slices.Contains(n.Groups, q.Get("SecurityGroupId")) {
			continue
		}
		hits = append(hits, nicJSON(n))
	}
	items, next := page(f, hits, q.Get("NextToken"))
	return map[string]any{"TotalCount": len(hits), "NextToken": next, "NetworkInterfaceSets": map[string]any{"NetworkInterfaceSet": items}}
}

func (f *fakeCloud) sgAttribute(st *fRegion, q url.Values) map[string]any {
	for _, g := range st.Groups {
		if g.ID != q.Get("SecurityGroupId") {
			continue
		}
		nic := orDefault(q.Get("NicType"), "intranet")
		var perms []map[string]any
		for _, p := range g.Perms {
			pn, _ := p["NicType"].(string)
			if orDefault(pn, "intranet") == nic && (q.Get("Direction") == "" || p["Direction"] == nil || p["Direction"] == q.Get("Direction")) {
				perms = append(perms, p)
			}
		}
		items, next := page(f, perms, q.Get("NextToken"))
		return map[string]any{"SecurityGroupId": g.ID, "SecurityGroupName": g.Name, "VpcId": "vpc-1", "InnerAccessPolicy": orDefault(g.Inner, "Accept"),
			"NextToken": next, "Permissions": map[string]any{"Permission": items}}
	}
	return nil
}

// perm is an ingress permission as DescribeSecurityGroupAttribute returns it (Priority a JSON number).
func perm(id string, prio int, policy, proto, ports, src string, extra ...string) map[string]any {
	m := map[string]any{"SecurityGroupRuleId": id, "Direction": "ingress", "IpProtocol": proto, "PortRange": ports,
		"Priority": prio, "Policy": policy, "NicType": "intranet", "SourceCidrIp": "", "Ipv6SourceCidrIp": "",
		"SourceGroupId": "", "SourcePrefixListId": "", "SourcePortRange": "", "DestCidrIp": "", "CreateTime": "2024-01-01T00:00:00Z"}
	switch {
	case strings.HasPrefix(src, "sg-"):
		m["SourceGroupId"] = src
	case strings.HasPrefix(src, "pl-"):
		m["SourcePrefixListId"] = src
	case strings.Contains(src, ":"):
		m["Ipv6SourceCidrIp"] = src
	default:
		m["SourceCidrIp"] = src
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func aclEntry(id, policy, proto, port, cidr string, egress bool) map[string]string {
	m := map[string]string{"NetworkAclEntryId": id, "Policy": policy, "Protocol": proto, "Port": port, "EntryType": "custom", "IpVersion": "IPv4"}
	if egress {
		m["DestinationCidrIp"] = cidr
	} else {
		m["SourceCidrIp"] = cidr
	}
	return m
}

// scrubEnv keeps the real environment out of every test: no Alibaba Cloud variables, a
// private HOME (no ~/.aliyun), and no trip to the metadata endpoint 100.100.100.200.
func scrubEnv() {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ALIBABA_CLOUD_") || strings.HasPrefix(k, "ALICLOUD_") || strings.HasPrefix(k, "ALIBABACLOUD_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
}

func TestMain(m *testing.M) {
	scrubEnv()
	home, err := os.MkdirTemp("", "portpath-aliyun-home")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
