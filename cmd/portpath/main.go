// Command portpath answers "why can't my client reach HOST:PORT, and what exactly do I change?".
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target for this short-lived process: the rulesets it
// reads are mostly live until it exits, so collecting at every doubling of the heap is
// wasted work. It applies unless GOGC is set.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
