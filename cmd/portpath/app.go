package main

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/portpath/portpath/probe"
	"github.com/portpath/portpath/report"
)

// appParallel bounds the handshakes in flight at once.
const appParallel = 8

// startApp begins the application-protocol step (app.protocol) for every address, at the
// same time as the connect probe and by the same deadline, the end of --timeout: each
// address gets one connection and at most one handshake. The returned function waits for
// the handshakes and classifies them; it takes the cloud steps, which say whether the server
// is in mainland China (where a reset of an unfiled domain is the ICP filing block).
func startApp(ctx context.Context, o *checkOptions, t report.Target, addrs []netip.Addr, deadline time.Time) func(cloud []report.Step) []report.Step {
	skipped := func(detail string) func([]report.Step) []report.Step {
		return func([]report.Step) []report.Step {
			return []report.Step{{Layer: probe.AppLayer, Decision: report.Skipped, Detail: detail}}
		}
	}
	switch {
	case o.NoProbe:
		return skipped("not probed (--no-probe)")
	case t.Transport != "tcp":
		return skipped("no application handshake over " + t.Transport)
	case probe.Expect(t) == probe.Expectation{}:
		return skipped("the target names no protocol: give a URL (ws://, wss://, http://, https://, tcp://) to compare what the server speaks with what the client expects")
	case len(addrs) == 0:
		return skipped("no address to connect to")
	}
	h := &probe.Handshaker{Timeout: o.Timeout, Deadline: deadline, UserAgent: "portpath/" + version}
	if o.Prober != nil {
		h.Dial = o.Prober.Dial
	}
	type result struct {
		x   probe.Exchange
		err error
	}
	results := make([]result, len(addrs))
	sem := make(chan struct{}, appParallel)
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			x, err := h.Exchange(ctx, t, a)
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			results[i] = result{x, err}
		})
	}
	return func(cloud []report.Step) []report.Step {
		wg.Wait()
		opts := probe.ClassifyOptions{MainlandChina: mainlandChina(cloud)}
		steps := make([]report.Step, len(addrs))
		for i, r := range results {
			a := addrs[i].Unmap().String()
			switch {
			case errors.Is(r.err, probe.ErrNotConnected):
				steps[i] = report.Step{Layer: probe.AppLayer, Decision: report.Skipped, Address: a,
					Detail: "no connection, so no handshake (the probe step says why)"}
			case r.err != nil:
				steps[i] = report.Step{Layer: probe.AppLayer, Decision: report.Unknown, Address: a, Error: r.err.Error(),
					Detail: "the check was stopped before the handshake had an answer"}
			default:
				steps[i] = probe.ClassifyExchange(r.x, opts)
			}
		}
		return steps
	}
}

// mainlandChina reports whether a cloud step placed the instance in a mainland-China region
// (Alibaba Cloud cn-* other than cn-hongkong; Tencent Cloud's Chinese ap-* regions).
func mainlandChina(cloud []report.Step) bool {
	for _, s := range cloud {
		if s.Rule == nil || (s.Layer != "aliyun.instance" && s.Layer != "tencent.instance") {
			continue
		}
		f := strings.Fields(s.Rule.Origin)
		if len(f) == 0 {
			continue
		}
		if mainlandRegion(f[len(f)-1]) {
			return true
		}
	}
	return false
}

// tencentMainland are the prefixes of Tencent Cloud's regions in mainland China.
var tencentMainland = []string{"ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-nanjing", "ap-shenzhen", "ap-tianjin", "ap-wuhan", "ap-hangzhou", "ap-jinan", "ap-fuzhou", "ap-changsha", "ap-xian", "ap-zhengzhou", "ap-shijiazhuang", "ap-hefei", "ap-qingyuan"}

// mainlandRegion reports whether a region ID is in mainland China.
func mainlandRegion(r string) bool {
	if strings.HasPrefix(r, "cn-") {
		return r != "cn-hongkong"
	}
	for _, p := range tencentMainland {
		if r == p || strings.HasPrefix(r, p+"-") {
			return true
		}
	}
	return false
}
