// Package netlab builds network-namespace labs for the tests that run real kernels and
// real firewall tools: the root and tool check, namespaces with unique names that are
// deleted when the test ends, commands and scripts run inside them, and veth pairs.
package netlab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// Missing says why a lab cannot run here: not root (rootFor names what root is needed
// for) or a tool not on PATH (install names the Debian packages that bring the tools).
// It is empty when the lab can run.
func Missing(lab, rootFor, install string, tools ...string) string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("the %s needs root (%s)", lab, rootFor)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("the %s needs %s (apt-get install %s)", lab, tool, install)
		}
	}
	return ""
}

// Require skips the test when why is not empty, and fails it instead when PORTPATH_LAB=1
// says the lab must run.
func Require(t testing.TB, why string) {
	t.Helper()
	if why == "" {
		return
	}
	if os.Getenv("PORTPATH_LAB") == "1" {
		t.Fatalf("PORTPATH_LAB=1 but %s", why)
	}
	t.Skip(why)
}

var seq atomic.Int32

// ID is a suffix no other call in this process and no other running process gets (short
// enough for interface names): the pid and a sequence number.
func ID() string {
	return fmt.Sprintf("%d%d", os.Getpid()%100000, seq.Add(1))
}

// Add creates the namespaces with their loopback up. Destroy deletes them when the test
// ends, passed or failed; the cleanup is registered before the first one is created.
func Add(t testing.TB, names ...string) {
	t.Helper()
	t.Cleanup(func() { Destroy(names...) })
	for _, ns := range names {
		Run(t, "ip", "netns", "add", ns)
		Sh(t, ns, "ip link set lo up")
	}
}

// Destroy kills every process left in the namespaces and deletes them; a namespace that
// is not there is passed over.
func Destroy(names ...string) {
	for _, ns := range names {
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// Run runs a command on the host and returns its combined output; a failure fails the
// test with the command and its output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Script runs a shell script (sh -e) inside namespace ns and returns its combined output;
// the error names the namespace, the script and the output.
func Script(ns, script string) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-ec", script).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v\n%s", ns, script, err, out)
	}
	return string(out), nil
}

// Sh runs a shell script inside namespace ns and returns its combined output; a failure
// fails the test with the script and its output.
func Sh(t testing.TB, ns, script string) string {
	t.Helper()
	out, err := Script(ns, script)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Veth creates a veth pair with end devA in namespace nsA and end devB in nsB.
func Veth(t testing.TB, nsA, devA, nsB, devB string) {
	t.Helper()
	Run(t, "ip", "link", "add", devA, "netns", nsA, "type", "veth", "peer", "name", devB, "netns", nsB)
}

// Up gives device dev in namespace ns the addresses (prefix form; IPv6 ones without
// duplicate address detection) and sets it up.
func Up(t testing.TB, ns, dev string, addrs ...string) {
	t.Helper()
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "ip addr add %s dev %s", a, dev)
		if strings.Contains(a, ":") {
			b.WriteString(" nodad")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "ip link set %s up", dev)
	Sh(t, ns, b.String())
}

// Ready starts cmd, which is to print one line ("ready" or why not) once it serves, and
// returns that line without surrounding space. The process is killed when the test ends.
func Ready(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	return strings.TrimSpace(line)
}
