package difftest

// The differential lab: random rulesets are loaded into a real kernel inside network
// namespaces, a real client connects through them, and portpath's simulation of the same
// rules (read back live, as `portpath check --local` reads them) must predict what the
// client saw.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portpath/portpath/internal/netlab"
	"github.com/portpath/portpath/report"
)

func TestMain(m *testing.M) {
	if os.Getenv(agentEnv) != "" {
		os.Exit(runAgent())
	}
	os.Exit(m.Run())
}

// Probe timeouts. Drops are expected, so the first try is short. IPv6 TCP needs longer:
// an ICMPv6 error that reaches the client while connect() still holds the socket is kept
// as a soft error and reported at the SYN retransmit, about 1 s later. A timeout that
// disagrees with the prediction is tried again with confirmTimeout before it counts.
const (
	probeTimeout   = 300 * time.Millisecond
	probeTimeout6  = 1400 * time.Millisecond
	confirmTimeout = 3 * time.Second
)

// Defaults of the run's size; PORTPATH_DIFF_CASES, PORTPATH_DIFF_SEED and
// PORTPATH_DIFF_LANES override them.
const (
	defaultCases = 200
	defaultSeed  = 20261203
	defaultLanes = 8
	// maxReported bounds the disagreements printed in full.
	maxReported = 5
)

// needLab skips without root, and fails instead when PORTPATH_LAB=1 says the lab must run.
func needLab(t *testing.T) {
	t.Helper()
	netlab.Require(t, netlab.Missing("differential lab", "network namespaces, iptables, nft", "iptables nftables iproute2",
		"ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "nft"))
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative number", name, s)
	}
	return n
}

// lane is one client, server and container namespace set; lanes run cases side by side.
type lane struct {
	names         []string
	cli, srv, ctr *agent
}

func newLane(t *testing.T) *lane {
	t.Helper()
	id := netlab.ID()
	cli, srv, ctr := "pdc"+id, "pds"+id, "pdk"+id
	l := &lane{names: []string{cli, srv, ctr}}
	netlab.Add(t, l.names...)
	t.Cleanup(l.stop) // before the namespaces go
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("lab setup: %v", err)
		}
	}
	// veth pairs created straight into the namespaces; the ends are then given fixed names,
	// which rules can name (names are per namespace)
	netlab.Veth(t, cli, "pdv"+id, srv, ClientIface)
	netlab.Run(t, "ip", "-n", cli, "link", "set", "pdv"+id, "name", "eth0")
	netlab.Veth(t, ctr, "pdw"+id, srv, ContainerIface)
	netlab.Run(t, "ip", "-n", ctr, "link", "set", "pdw"+id, "name", "eth0")
	quiet := "sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000"
	var b strings.Builder
	b.WriteString("ip addr add 10.99.0.1/24 dev eth0\nip addr add fd99::1/64 dev eth0 nodad\n")
	for _, a := range ClientV4[1:] {
		fmt.Fprintf(&b, "ip addr add %s/32 dev eth0\n", a)
	}
	for _, a := range ClientV6[1:] {
		fmt.Fprintf(&b, "ip addr add %s/128 dev eth0 nodad\n", a)
	}
	b.WriteString("ip link set eth0 up\nip route add 10.98.0.0/24 via 10.99.0.2\nip -6 route add fd98::/64 via fd99::2\n")
	netlab.Sh(t, cli, b.String())
	netlab.Sh(t, srv, `ip addr add 10.99.0.2/24 dev eth0
ip addr add fd99::2/64 dev eth0 nodad
ip addr add 10.98.0.1/24 dev ctr0
ip addr add fd98::1/64 dev ctr0 nodad
ip link set eth0 up
ip link set ctr0 up
ip route add 192.0.2.0/24 via 10.99.0.1
ip -6 route add 2001:db8:7::/64 via fd99::1
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
`+quiet)
	netlab.Sh(t, ctr, `ip addr add 10.98.0.2/24 dev eth0
ip addr add fd98::2/64 dev eth0 nodad
ip link set eth0 up
ip route add default via 10.98.0.1
ip -6 route add default via fd98::1
`+quiet)
	// Fixed neighbour entries: no address resolution races with the first probes, and none
	// can fail and turn into an unreachable error.
	mac := func(ns string, dev string) string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address").Output()
		if err != nil {
			t.Fatalf("lab setup: mac of %s in %s: %v", dev, ns, err)
		}
		return strings.TrimSpace(string(out))
	}
	cliMAC, srvMAC, srvCtrMAC, ctrMAC := mac(cli, "eth0"), mac(srv, ClientIface), mac(srv, ContainerIface), mac(ctr, "eth0")
	var nb strings.Builder
	for _, a := range append(slices.Clone(ClientV4[:4]), ClientV6[:3]...) {
		fmt.Fprintf(&nb, "ip neigh replace %s lladdr %s dev %s nud permanent\n", a, cliMAC, ClientIface)
	}
	fmt.Fprintf(&nb, "ip neigh replace %s lladdr %s dev %s nud permanent\n", ContainerV4, ctrMAC, ContainerIface)
	fmt.Fprintf(&nb, "ip neigh replace %s lladdr %s dev %s nud permanent\n", ContainerV6, ctrMAC, ContainerIface)
	netlab.Sh(t, srv, nb.String())
	netlab.Sh(t, cli, fmt.Sprintf("ip neigh replace %s lladdr %[3]s dev eth0 nud permanent\nip neigh replace %[2]s lladdr %[3]s dev eth0 nud permanent", ServerV4, ServerV6, srvMAC))
	netlab.Sh(t, ctr, fmt.Sprintf("ip neigh replace %s lladdr %[3]s dev eth0 nud permanent\nip neigh replace %[2]s lladdr %[3]s dev eth0 nud permanent", ServerCtrV4, ServerCtrV6, srvCtrMAC))
	var err error
	for _, p := range []struct {
		a  **agent
		ns string
	}{{&l.cli, cli}, {&l.srv, srv}, {&l.ctr, ctr}} {
		*p.a, err = startAgent(p.ns)
		must(err)
	}
	_, err = l.srv.call(request{Op: "listen", Listeners: ServerListeners})
	must(err)
	_, err = l.ctr.call(request{Op: "listen", Listeners: ContainerListeners})
	must(err)
	_, err = l.ctr.call(request{Op: "apply"}) // no rules: the container is asked only for its sockets
	must(err)
	return l
}

// stop ends the lane's agents.
func (l *lane) stop() {
	for _, a := range []*agent{l.cli, l.srv, l.ctr} {
		if a != nil {
			a.stop()
		}
	}
}

// outcome is one probe's comparison.
type outcome struct {
	probe     Probe
	predicted report.Symptom
	observed  report.Symptom
	// skip says why the simulation gave no certain prediction; empty when it did.
	skip  string
	agree bool
	// why explains a disagreement: the steps the prediction came from and the probe's error.
	why string
}

// errRejected is a ruleset the kernel refused: the generator wrote something invalid.
var errRejected = errors.New("the kernel refused the ruleset")

// runCase loads c into the lane and compares every probe.
func (l *lane) runCase(c Case) ([]outcome, error) {
	if _, err := l.srv.call(request{Op: "apply", IPTables: c.IPTables, IP6Tables: c.IP6Tables, Nft: c.Nft}); err != nil {
		return nil, fmt.Errorf("%w: %v", errRejected, err)
	}
	out := make([]outcome, len(c.Probes))
	errs := make([]error, len(c.Probes))
	var wg sync.WaitGroup
	for i, p := range c.Probes {
		wg.Go(func() { out[i], errs[i] = l.compare(p) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err // the others are most often the same
		}
	}
	return out, nil
}

func timeoutFor(p Probe) time.Duration {
	if p.Proto == "tcp" && p.Dst.Is6() {
		return probeTimeout6
	}
	return probeTimeout
}

func (l *lane) observe(p Probe, timeout time.Duration) (report.Step, error) {
	r, err := l.cli.call(request{Op: "probe", Proto: p.Proto, Src: p.Src, Dst: p.Dst, Port: p.Port, TimeoutMS: int(timeout / time.Millisecond)})
	if err != nil {
		return report.Step{}, err
	}
	if len(r.Steps) != 1 {
		return report.Step{}, fmt.Errorf("probe %s: %d steps", p, len(r.Steps))
	}
	return r.Steps[0], nil
}

func (l *lane) compare(p Probe) (outcome, error) {
	o := outcome{probe: p}
	var obs report.Step
	var steps []report.Step
	var oerr, perr error
	var wg sync.WaitGroup
	wg.Go(func() { obs, oerr = l.observe(p, timeoutFor(p)) })
	wg.Go(func() { steps, perr = l.predict(p) })
	wg.Wait()
	if err := errors.Join(oerr, perr); err != nil {
		return o, err
	}
	o.observed = observedSymptom(obs)
	o.predicted, o.skip = predictedSymptom(steps)
	if o.skip != "" {
		return o, nil
	}
	o.agree = agrees(p, o.predicted, o.observed)
	if !o.agree && o.observed == report.Timeout {
		// a loaded machine can be slow to answer: confirm with a long wait
		if obs, oerr = l.observe(p, confirmTimeout); oerr != nil {
			return o, oerr
		}
		o.observed = observedSymptom(obs)
		o.agree = agrees(p, o.predicted, o.observed)
	}
	if !o.agree {
		o.why = fmt.Sprintf("probe: %s (%s)\nsteps:%s", obs.Detail, obs.Error, stepsText(steps))
	}
	return o, nil
}

// observedSymptom is what the client saw; a UDP probe that got nothing back is a timeout.
func observedSymptom(s report.Step) report.Symptom {
	if s.Symptom == report.NoAnswer {
		return report.Timeout
	}
	if s.Symptom == "" {
		return report.Symptom("unclassified: " + s.Error)
	}
	return s.Symptom
}

// predictedSymptom merges the server-side steps as `portpath check` does: open is
// connected, blocked is the predicted symptom. skip says why there is no certain prediction.
func predictedSymptom(steps []report.Step) (report.Symptom, string) {
	for _, s := range steps {
		if s.Conditional != "" {
			return "", "conditional: " + s.Conditional
		}
	}
	// A firewall that cannot be decided may drop what the socket would refuse: the merged
	// report still names the socket, but its symptom is not certain.
	for _, s := range steps {
		if s.Decision == report.Unknown {
			return "", fmt.Sprintf("unknown: %s: %s", s.Layer, s.Detail)
		}
	}
	r := report.Merge(report.Report{Steps: slices.Clone(steps)})
	switch r.Verdict {
	case report.Open:
		return report.Connected, ""
	case report.Blocked:
		if r.Symptom == nil || r.Symptom.Predicted == "" {
			return "", "blocked without a predicted symptom: " + r.Cause.Message
		}
		return r.Symptom.Predicted, ""
	}
	for _, s := range r.Steps {
		if s.Decision == report.Unknown || s.Decision == report.Skipped {
			return "", fmt.Sprintf("unknown: %s %s: %s", s.Layer, s.Decision, s.Detail)
		}
	}
	return "", "inconclusive"
}

// agrees compares the prediction with what the client saw. A silent UDP listener answers
// nothing, so a datagram it accepted looks like one dropped.
func agrees(p Probe, predicted, observed report.Symptom) bool {
	if p.Proto == "udp" && predicted == report.Connected && SilentUDP(p.Port) && (p.Dst == ServerV4 || p.Dst == ServerV6) {
		predicted = report.Timeout
	}
	return predicted == observed
}

// natTarget finds the rewritten destination in a socket step skipped for a DNAT
// ("DNAT to 10.98.0.2:80: the listener is behind that address …").
var natTarget = regexp.MustCompile(`(?i)^dnat to (\S+?): the listener is behind`)

// predict asks the server for its steps; when the connection is forwarded, the container
// answers for the socket, as portpath run inside the container would.
func (l *lane) predict(p Probe) ([]report.Step, error) {
	r, err := l.srv.call(request{Op: "predict", Proto: p.Proto, Src: p.Src, Dst: p.Dst, Port: p.Port})
	if err != nil {
		return nil, err
	}
	steps := r.Steps
	i := slices.IndexFunc(steps, func(s report.Step) bool { return s.Layer == "host.socket" })
	if i < 0 || steps[i].Decision != report.Skipped {
		return steps, nil
	}
	dst, port := p.Dst, p.Port
	if m := natTarget.FindStringSubmatch(steps[i].Detail); m != nil {
		if ap, err := netip.ParseAddrPort(m[1]); err == nil {
			dst, port = ap.Addr(), ap.Port()
		} else if a, err := netip.ParseAddr(strings.Trim(m[1], "[]")); err == nil {
			dst = a
		} else {
			return nil, fmt.Errorf("cannot read the DNAT target in %q", steps[i].Detail)
		}
	} else {
		return steps, nil
	}
	cr, err := l.ctr.call(request{Op: "predict", Proto: p.Proto, Src: p.Src, Dst: dst, Port: port})
	if err != nil {
		return nil, err
	}
	for _, s := range cr.Steps {
		if s.Layer == "host.socket" {
			s.Layer = "host.socket"
			s.Detail = "(container) " + s.Detail
			steps[i] = s
		}
	}
	return steps, nil
}

func stepsText(steps []report.Step) string {
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "\n  %s %s %s", s.Layer, s.Decision, s.Detail)
		if s.Symptom != "" {
			fmt.Fprintf(&b, " → %s", s.Symptom)
		}
		if s.Rule != nil {
			fmt.Fprintf(&b, " [rule %s: %s]", s.Rule.ID, s.Rule.Text)
		}
	}
	return b.String()
}

// tally counts a run.
type tally struct {
	mu                                      sync.Mutex
	cases, probes, agree, skipped, disagree int
	skipReasons                             map[string]int
}

func (t *tally) add(outs []outcome) (disagreements []outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cases++
	for _, o := range outs {
		t.probes++
		switch {
		case o.skip != "":
			t.skipped++
			if t.skipReasons == nil {
				t.skipReasons = map[string]int{}
			}
			k, _, _ := strings.Cut(o.skip, ":")
			t.skipReasons[k]++
		case o.agree:
			t.agree++
		default:
			t.disagree++
			disagreements = append(disagreements, o)
		}
	}
	return disagreements
}

func (t *tally) String() string {
	return fmt.Sprintf("cases=%d probes=%d agree=%d skipped=%d disagree=%d (skipped by reason: %v)", t.cases, t.probes, t.agree, t.skipped, t.disagree, t.skipReasons)
}

// TestDifferential runs PORTPATH_DIFF_CASES generated cases (seed PORTPATH_DIFF_SEED)
// through the kernel and the simulation, on PORTPATH_DIFF_LANES namespace sets at once.
func TestDifferential(t *testing.T) {
	needLab(t)
	n := envInt(t, "PORTPATH_DIFF_CASES", defaultCases)
	seed := uint64(envInt(t, "PORTPATH_DIFF_SEED", defaultSeed))
	lanes := max(1, envInt(t, "PORTPATH_DIFF_LANES", defaultLanes))
	start := time.Now()
	var ls []*lane
	for range min(lanes, max(n, 1)) {
		ls = append(ls, newLane(t))
	}
	var tl tally
	var reported atomic.Int32
	var fatal atomic.Value
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			if fatal.Load() != nil {
				return
			}
			next <- i
		}
	}()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			for i := range next {
				c := Generate(seed, i)
				outs, err := l.runCase(c)
				if err != nil {
					fatal.CompareAndSwap(nil, fmt.Sprintf("seed %d case %d: %v\n%s", seed, i, err, c.Ruleset()))
					return
				}
				for _, o := range tl.add(outs) {
					if reported.Add(1) > maxReported {
						continue
					}
					t.Errorf("DISAGREEMENT seed %d case %d: %s\npredicted %s, the kernel gave %s\n%s\nruleset:\n%s",
						seed, i, o.probe, o.predicted, o.observed, o.why, c.Ruleset())
				}
			}
		})
	}
	wg.Wait()
	if msg := fatal.Load(); msg != nil {
		t.Fatal(msg)
	}
	t.Logf("seed %d in %s on %d lanes: %s", seed, time.Since(start).Round(time.Millisecond), len(ls), &tl)
	if tl.probes > 0 && tl.skipped*2 > tl.probes {
		t.Errorf("more than half the probes were skipped: the comparison says little (%s)", &tl)
	}
}

// TestRegressions replays the disagreements kept in testdata/: the kernel must still give
// the recorded symptom, and the simulation must predict it.
func TestRegressions(t *testing.T) {
	files, err := filepath.Glob("testdata/*.case")
	if err != nil {
		t.Fatal(err)
	}
	var regs []Regression
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rg, err := ParseRegression(filepath.Base(f), string(b))
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, rg)
	}
	if len(regs) == 0 {
		t.Skip("no regression cases in testdata/")
	}
	needLab(t)
	l := newLane(t)
	for _, rg := range regs {
		t.Run(rg.Name, func(t *testing.T) {
			outs, err := l.runCase(rg.Case)
			if err != nil {
				t.Fatal(err)
			}
			o := outs[0]
			want := rg.Want
			if want == report.NoAnswer {
				want = report.Timeout
			}
			if o.observed != want {
				t.Errorf("the kernel gave %s; the case records %s", o.observed, want)
			}
			if rg.Unknown {
				if !strings.HasPrefix(o.skip, "unknown") {
					t.Errorf("the simulation must not be certain here; it predicts %q (skip %q)", o.predicted, o.skip)
				}
				return
			}
			if o.skip != "" {
				t.Fatalf("no certain prediction: %s", o.skip)
			}
			if !agrees(rg.Probe, o.predicted, want) {
				t.Errorf("predicted %s; the kernel gives %s\n%s", o.predicted, want, o.why)
			}
		})
	}
}
