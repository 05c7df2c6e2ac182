// Command measure runs a command several times and prints the median wall time and the
// largest peak resident set size of its runs, as one line of JSON.
//
//	measure -n 5 -- iptables-restore --test rules.txt
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 5, "runs")
	stdin := flag.String("stdin", "", "file to feed on standard input")
	label := flag.String("label", "", "name of the measurement")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: measure [-n N] [-stdin FILE] [-label L] -- command args…")
		os.Exit(2)
	}
	var walls []time.Duration
	var maxRSS int64
	for range *n {
		cmd := exec.Command(args[0], args[1:]...)
		if *stdin != "" {
			f, err := os.Open(*stdin)
			if err != nil {
				fmt.Fprintln(os.Stderr, "measure:", err)
				os.Exit(1)
			}
			cmd.Stdin = f
			defer f.Close()
		}
		cmd.Stderr = os.Stderr
		start := time.Now()
		err := cmd.Run()
		walls = append(walls, time.Since(start))
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 1 || ee.ExitCode() == 2) {
			fmt.Fprintf(os.Stderr, "measure: %v: %v\n", args, err)
			os.Exit(1)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
		}
	}
	slices.Sort(walls)
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"label":       *label,
		"runs":        *n,
		"median_s":    walls[len(walls)/2].Seconds(),
		"min_s":       walls[0].Seconds(),
		"max_rss_mib": float64(maxRSS) / 1024,
	})
}
