package netlab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMissingNamesTheTool(t *testing.T) {
	why := Missing("kernel lab", "network namespaces", "iproute2", "sh", "portpath-no-such-tool")
	want := "the kernel lab needs portpath-no-such-tool (apt-get install iproute2)"
	if os.Geteuid() != 0 {
		want = "the kernel lab needs root (network namespaces)"
	}
	if why != want {
		t.Errorf("Missing = %q; want %q", why, want)
	}
	if os.Geteuid() == 0 {
		if why := Missing("kernel lab", "network namespaces", "iproute2", "sh"); why != "" {
			t.Errorf("Missing with every tool = %q; want empty", why)
		}
	}
}

// TestLabNamespaces builds two namespaces joined by a veth pair, connects across it over
// IPv4 and IPv6, leaves a process running in one, and checks that both are gone once the subtest ends.
func TestLabNamespaces(t *testing.T) {
	Require(t, Missing("kernel lab", "network namespaces", "iproute2 python3", "ip", "python3", "sleep"))
	id := ID()
	if id == ID() {
		t.Fatalf("ID gave %s twice", id)
	}
	a, b := "ppna"+id, "ppnb"+id
	t.Run("lab", func(t *testing.T) {
		Add(t, a, b)
		Veth(t, a, "na"+id, b, "nb"+id)
		Up(t, a, "na"+id, "10.97.0.1/24", "fd97::1/64")
		Up(t, b, "nb"+id, "10.97.0.2/24", "fd97::2/64")
		serve := `import socket
l = socket.socket(socket.AF_INET6); l.bind(("::", 7001)); l.listen(8); print("ready", flush=True)
while True: l.accept()[0].close()`
		if line := Ready(t, exec.Command("ip", "netns", "exec", b, "python3", "-c", serve)); line != "ready" {
			t.Fatalf("listener: %q", line)
		}
		for _, addr := range []string{"10.97.0.2", "fd97::2"} {
			Sh(t, a, `python3 -c 'import socket; socket.create_connection(("`+addr+`", 7001), timeout=2).close()'`)
		}
		if _, err := Script(b, "exit 3"); err == nil || !strings.Contains(err.Error(), "in "+b) {
			t.Errorf("failing script: error %v; want one naming the namespace", err)
		}
		exec.Command("ip", "netns", "exec", b, "sleep", "600").Start() // left for Destroy
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{a, b} {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s still there after the test:\n%s", ns, out)
		}
	}
}
