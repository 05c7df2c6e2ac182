package firewall

import (
	"strings"

	"github.com/portpath/portpath/firewall/netfilter"
)

// publishers name who publishes a port by the chain holding its DNAT rule, and where
// rules that should govern the published port belong.
var publishers = []struct {
	chainPrefix string
	who         string
	filterIn    string
}{
	{"DOCKER", "Docker", "the DOCKER-USER chain (iptables -I DOCKER-USER …)"},
	{"NETAVARK", "Podman (netavark)", "the FORWARD chain, before netavark's rules"},
	{"CNI-", "CNI port mapping (Podman, containerd or a Kubernetes hostPort)", "the FORWARD chain, before the CNI rules"},
	{"KUBE-", "kube-proxy (a Kubernetes Service)", "a NetworkPolicy or the FORWARD chain"},
}

// publishedNote explains a connection that DNAT sends on to a container: who published
// the port, and that the host's INPUT rules (and ufw's and firewalld zones' rules on
// them) do not apply. Empty when the trace is not forwarded.
func publishedNote(t *netfilter.Trace) string {
	if t == nil || t.NAT == nil || t.Path != netfilter.Forward {
		return ""
	}
	chain := ""
	for _, h := range t.Hops {
		if h.Result.NAT != nil && h.Result.Rule != nil {
			chain = h.Result.Rule.Chain
			break
		}
	}
	for _, p := range publishers {
		if strings.HasPrefix(strings.ToUpper(chain), p.chainPrefix) {
			return "published by " + p.who + " (" + chain + "): INPUT rules, and ufw's and firewalld zones' rules on them, do not apply to it; rules for it belong in " + p.filterIn
		}
	}
	return "the port is forwarded by DNAT: INPUT rules do not apply to it, the FORWARD chain's do"
}
