package difftest

// The agent is this test binary re-executed inside a lab namespace (`ip netns exec NS`).
// It keeps the namespace's listeners open, loads rulesets, evaluates them with the firewall
// package as `portpath check --local` does (everything it runs, iptables-save and nft
// included, runs inside the namespace), and makes the client's connections. It reads one
// JSON request per line on stdin and answers each with one JSON line on stdout.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portpath/portpath/firewall"
	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// agentEnv switches the test binary into agent mode.
const agentEnv = "PORTPATH_DIFF_AGENT"

type request struct {
	ID        int        `json:"id"`
	Op        string     `json:"op"` // listen, apply, predict, probe
	Listeners []Listener `json:"listeners,omitempty"`
	IPTables  string     `json:"iptables,omitempty"`
	IP6Tables string     `json:"ip6tables,omitempty"`
	Nft       string     `json:"nft,omitempty"`
	Proto     string     `json:"proto,omitempty"`
	Src       netip.Addr `json:"src,omitzero"`
	Dst       netip.Addr `json:"dst,omitzero"`
	Port      uint16     `json:"port,omitempty"`
	TimeoutMS int        `json:"timeout_ms,omitempty"`
}

type response struct {
	ID    int           `json:"id"`
	Error string        `json:"error,omitempty"`
	Steps []report.Step `json:"steps,omitempty"`
	// Took is how long a probe waited.
	Took time.Duration `json:"took,omitempty"`
}

func runAgent() int {
	a := &agentState{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	send := func(r response) {
		mu.Lock()
		defer mu.Unlock()
		out.Encode(r)
	}
	var wg sync.WaitGroup
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			send(response{Error: "bad request: " + err.Error()})
			continue
		}
		if req.Op == "probe" || req.Op == "predict" {
			wg.Go(func() { send(a.handle(req)) })
			continue
		}
		wg.Wait() // listen and apply change the state the others read
		send(a.handle(req))
	}
	wg.Wait()
	return 0
}

type agentState struct {
	mu   sync.Mutex
	host *firewall.Host
}

func (a *agentState) handle(req request) response {
	res := response{ID: req.ID}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fail := func(err error) response { res.Error = err.Error(); return res }
	switch req.Op {
	case "listen":
		for _, l := range req.Listeners {
			if err := listen(l); err != nil {
				return fail(err)
			}
		}
	case "apply":
		if err := applyRules(ctx, req); err != nil {
			return fail(err)
		}
		// the host keeps the context for the routing lookups Steps makes later
		h, err := firewall.Load(context.Background(), firewall.Options{Live: true})
		if err != nil {
			return fail(err)
		}
		a.mu.Lock()
		a.host = h
		a.mu.Unlock()
	case "predict":
		a.mu.Lock() // a Host is not safe for concurrent use (it caches routing lookups)
		defer a.mu.Unlock()
		h := a.host
		if h == nil {
			return fail(fmt.Errorf("predict before apply"))
		}
		res.Steps = h.Steps(req.Proto, req.Dst, req.Port, netip.PrefixFrom(req.Src, req.Src.BitLen()))
	case "probe":
		start := time.Now()
		res.Steps = []report.Step{probeOnce(ctx, req)}
		res.Took = time.Since(start)
	default:
		return fail(fmt.Errorf("unknown op %q", req.Op))
	}
	return res
}

// applyRules replaces the namespace's whole ruleset: nft flush ruleset empties every
// table, iptables-nft's included, then each part is loaded by its own tool.
func applyRules(ctx context.Context, req request) error {
	run := func(stdin, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	if err := run("", "nft", "flush", "ruleset"); err != nil {
		return err
	}
	if req.IPTables != "" {
		if err := run(req.IPTables, "iptables-restore"); err != nil {
			return err
		}
	}
	if req.IP6Tables != "" {
		if err := run(req.IP6Tables, "ip6tables-restore"); err != nil {
			return err
		}
	}
	if req.Nft != "" {
		if err := run(req.Nft, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// probeOnce connects from req.Src with portpath's own probe, so the errno is classified
// exactly as portpath classifies it.
func probeOnce(ctx context.Context, req request) report.Step {
	var local net.Addr = &net.TCPAddr{IP: req.Src.AsSlice()}
	if req.Proto == "udp" {
		local = &net.UDPAddr{IP: req.Src.AsSlice()}
	}
	d := &net.Dialer{LocalAddr: local}
	p := &probe.Prober{Timeout: time.Duration(req.TimeoutMS) * time.Millisecond, Dial: d.DialContext}
	tgt := report.Target{Host: req.Dst.String(), Port: int(req.Port), Transport: req.Proto}
	return p.Probe(ctx, tgt, []netip.Addr{req.Dst})[0]
}

// listen opens one listener; TCP ones accept and close, UDP ones echo unless silent.
func listen(l Listener) error {
	network := l.Network
	lc := net.ListenConfig{}
	if network == "tcp6only" {
		network = "tcp6"
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	if strings.HasPrefix(network, "udp") {
		c, err := lc.ListenPacket(context.Background(), network, l.Addr)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				if !l.Silent {
					c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
				}
			}
		}()
		return nil
	}
	ln, err := lc.Listen(context.Background(), network, l.Addr)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return nil
}

// agent is the test's side of one agent process.
type agent struct {
	ns   string
	cmd  *exec.Cmd
	in   *json.Encoder
	mu   sync.Mutex // guards in, seq, wait
	seq  int
	wait map[int]chan response
	dead chan struct{}
	err  error
}

func startAgent(ns string) (*agent, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), agentEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &agent{ns: ns, cmd: cmd, in: json.NewEncoder(stdin), wait: map[int]chan response{}, dead: make(chan struct{})}
	go func() {
		dec := json.NewDecoder(stdout)
		for {
			var r response
			if err := dec.Decode(&r); err != nil {
				a.mu.Lock()
				a.err = fmt.Errorf("agent in %s ended: %v: %s", ns, err, strings.TrimSpace(stderr.String()))
				a.mu.Unlock()
				close(a.dead)
				return
			}
			a.mu.Lock()
			ch := a.wait[r.ID]
			delete(a.wait, r.ID)
			a.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}()
	return a, nil
}

// call sends a request and waits for its answer.
func (a *agent) call(req request) (response, error) {
	ch := make(chan response, 1)
	a.mu.Lock()
	a.seq++
	req.ID = a.seq
	a.wait[req.ID] = ch
	err := a.in.Encode(req)
	a.mu.Unlock()
	if err != nil {
		return response{}, fmt.Errorf("agent in %s: %w", a.ns, err)
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, fmt.Errorf("%s (in %s)", r.Error, a.ns)
		}
		return r, nil
	case <-a.dead:
		a.mu.Lock()
		defer a.mu.Unlock()
		return response{}, a.err
	}
}

func (a *agent) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}
