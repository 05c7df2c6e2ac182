package report

import (
	"fmt"
	"slices"
	"strings"
)

// Cause codes of the catalog (DESIGN.md, "Cause catalog").
const (
	CauseNotListening        = "NOT_LISTENING"
	CauseListenLoopbackOnly  = "LISTEN_LOOPBACK_ONLY"
	CauseListenWrongFamily   = "LISTEN_WRONG_FAMILY"
	CauseListenOtherAddress  = "LISTEN_OTHER_ADDRESS"
	CauseWrongPort           = "WRONG_PORT"
	CauseDNSFailure          = "DNS_FAILURE"
	CauseDNSWrongIP          = "DNS_WRONG_IP"
	CauseCDNInPath           = "CDN_IN_PATH"
	CauseCDNPortUnsupported  = "CDN_PORT_UNSUPPORTED"
	CauseClientProxy         = "CLIENT_PROXY"
	CausePrivateAddress      = "PRIVATE_ADDRESS"
	CauseHostFirewallDrop    = "HOST_FIREWALL_DROP"
	CauseHostFirewallReject  = "HOST_FIREWALL_REJECT"
	CausePanelFirewall       = "PANEL_FIREWALL"
	CauseCloudSGNoAllow      = "CLOUD_SG_NO_ALLOW"
	CauseCloudSGDeny         = "CLOUD_SG_DENY"
	CauseCloudACLDeny        = "CLOUD_ACL_DENY"
	CauseLightweightFirewall = "LIGHTWEIGHT_FIREWALL"
	CauseInstanceNotRunning  = "INSTANCE_NOT_RUNNING"
	CauseInstanceNotFound    = "INSTANCE_NOT_FOUND"
	CauseNoPublicPath        = "NO_PUBLIC_PATH"
	CauseEphemeralExhausted  = "EPHEMERAL_PORTS_EXHAUSTED"
	CauseProtocolMismatch    = "PROTOCOL_MISMATCH"
	CauseICPFilingBlock      = "ICP_FILING_BLOCK"
	CauseUnexplained         = "UNEXPLAINED"
)

// pathOrder ranks layer prefixes from the client to the socket; the steps of a
// report are sorted by it, and the cause is the first blocking step in this order.
var pathOrder = []string{
	"probe.", "client.", "dns", "cdn",
	"aws.", "aliyun.", "tencent.", // cloud layers keep the order their provider emits them in
	"host.btpanel", "host.", // the panel's intent first, then the live firewall, then the socket
	"host.socket", "app.",
}

// PathRank is the position of a layer along the path; unknown layers sort last.
func PathRank(layer string) int {
	best, bestLen := len(pathOrder), -1
	for i, p := range pathOrder {
		if strings.HasPrefix(layer, p) && len(p) > bestLen {
			best, bestLen = i, len(p)
		}
	}
	return best
}

// clientSide reports whether a layer is judged on the client: DNS, CDN, proxy, routes, ports.
func clientSide(layer string) bool {
	return layer == "dns" || layer == "cdn" || strings.HasPrefix(layer, "client.")
}

// isProbe reports whether a step is an observation from the client rather than a layer of the path.
func isProbe(s Step) bool { return strings.HasPrefix(s.Layer, "probe.") }

// Merge orders the steps along the path and fills in the verdict, the cause and the symptom.
//
// The verdict: blocked if any asked path step drops or rejects (the cause is the first of them);
// inconclusive if none blocks but some step is unknown, or when nothing on the path was asked at
// all (every layer skipped: nothing was seen to let the connection through); open otherwise. A
// failed probe with no blocking path step is blocked too, with cause UNEXPLAINED naming what
// could not be seen.
func Merge(r Report) Report {
	r.SchemaVersion = SchemaVersion
	slices.SortStableFunc(r.Steps, func(a, b Step) int { return PathRank(a.Layer) - PathRank(b.Layer) })

	var firstBlock, firstProbeFail, firstUnknownCause *Step
	var unknown, probed, probeOK, probeUnknown, pathAsked bool
	for i := range r.Steps {
		s := &r.Steps[i]
		if isProbe(*s) {
			if s.Decision == Skipped {
				continue
			}
			probed = true
			if s.Symptom == Connected {
				probeOK = true
			}
			if s.Decision.Blocks() && firstProbeFail == nil {
				firstProbeFail = s
			}
			if s.Decision == Unknown {
				probeUnknown = true
			}
			continue
		}
		if s.Decision != Skipped && !clientSide(s.Layer) {
			pathAsked = true // a layer of the path itself answered (DNS alone says nothing of reachability)
		}
		switch {
		case s.Decision.Blocks() && firstBlock == nil:
			firstBlock = s
		case s.Decision == Unknown:
			unknown = true
			if s.Cause != "" && firstUnknownCause == nil {
				firstUnknownCause = s
			}
		}
	}

	r.Symptom = nil
	if firstBlock != nil || probed {
		r.Symptom = &SymptomReport{}
		if firstBlock != nil {
			r.Symptom.Predicted = firstBlock.Symptom
		}
		if probed {
			obs := observed(r.Steps)
			r.Symptom.Observed, r.Symptom.Error = obs.Symptom, obs.Error
		}
	}

	r.Cause = nil
	switch {
	case firstBlock != nil:
		r.Verdict = Blocked
		r.Cause = &Cause{Code: firstBlock.Cause, Step: firstBlock.Layer, Message: firstBlock.Detail}
		if r.Cause.Code == "" {
			r.Cause.Code = CauseUnexplained
		}
		if strings.HasPrefix(firstBlock.Layer, "app.") || clientSide(firstBlock.Layer) {
			// an application step blocks after the connection, a client-side one (DNS, CDN,
			// proxy, ports) whatever the source set: no disagreement with the probe to report
		} else if probed && probeOK {
			r.Notes = append(r.Notes, fmt.Sprintf("the probe from this machine connected, but %s blocks the source set %s: this machine is not in the blocked part, or the layer is not on its path", firstBlock.Layer, r.Source.CIDR))
		} else if probed && r.Symptom.Observed != "" && r.Symptom.Predicted != "" && r.Symptom.Observed != r.Symptom.Predicted {
			r.Notes = append(r.Notes, fmt.Sprintf("predicted %s but the probe saw %s: something this check cannot see acts first (%s)", r.Symptom.Predicted, r.Symptom.Observed, strings.Join(Unseen(r.Steps), ", ")))
		}
	case firstProbeFail != nil && !probeOK:
		r.Verdict = Blocked
		r.Cause = &Cause{
			Code: CauseUnexplained,
			Step: firstProbeFail.Layer,
			Message: fmt.Sprintf("the probe saw %s, and no layer that was checked explains it; not seen: %s",
				firstProbeFail.Symptom, strings.Join(Unseen(r.Steps), ", ")),
		}
	case unknown, probeUnknown && !probeOK:
		// a silent UDP port or a probe that could not run says nothing for sure
		r.Verdict = Inconclusive
		if firstUnknownCause != nil { // a step that names why it cannot see further (a CDN, a proxy)
			r.Cause = &Cause{Code: firstUnknownCause.Cause, Step: firstUnknownCause.Layer, Message: firstUnknownCause.Detail}
		}
	case !probed && !pathAsked:
		r.Verdict = Inconclusive
		r.Notes = append(r.Notes, NothingChecked)
	default:
		r.Verdict = Open
	}
	return r
}

// NothingChecked is the note of a report in which no layer of the path was asked.
const NothingChecked = "nothing on the path was checked, so nothing says the connection gets through: probe it (leave out --no-probe), run portpath on the server (--local), give evidence files, or cloud credentials"

// observed picks the probe result to quote: the first failure if every address failed, else the success.
func observed(steps []Step) Step {
	var first *Step
	for i := range steps {
		s := steps[i]
		if !isProbe(s) || s.Decision == Skipped {
			continue
		}
		if s.Symptom == Connected {
			return s
		}
		if first == nil {
			first = &steps[i]
		}
	}
	if first == nil {
		return Step{}
	}
	return *first
}

// Unseen lists the layers between the client and the socket that no step answered for,
// plus those no tool can see from a host or a cloud API.
func Unseen(steps []Step) []string {
	asked := func(prefix string) bool {
		for _, s := range steps {
			if strings.HasPrefix(s.Layer, prefix) && s.Decision != Skipped && s.Decision != Unknown {
				return true
			}
		}
		return false
	}
	var out []string
	if !asked("aws.") && !asked("aliyun.") && !asked("tencent.") {
		out = append(out, "cloud security groups and ACLs")
	}
	if !asked("host.iptables") && !asked("host.nftables") {
		out = append(out, "the server's firewall")
	}
	if !asked("host.socket") {
		out = append(out, "the server's listening sockets")
	}
	return append(out, "the ISP and upstream firewalls", "XDP/eBPF programs", "middleboxes")
}
