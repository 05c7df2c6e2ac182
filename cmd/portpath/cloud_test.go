package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portpath/portpath/report"
)

// runCLIJSON runs the program with args, which must ask for JSON output, requires exit code
// want and returns the one report it printed, with stdout and stderr.
func runCLIJSON(t *testing.T, want int, args ...string) (r report.Report, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != want {
		t.Fatalf("exit %d; want %d\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("output is not one JSON report: %v\n%s", err, stdout)
	}
	return r, stdout, stderr
}

// assertNoSecrets fails the test when any of the credentials appears in output.
func assertNoSecrets(t *testing.T, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(output, s) {
			t.Errorf("credentials in the output")
		}
	}
}

// assertReadOnly fails the test for every action called that starts with none of the
// prefixes of read-only actions.
func assertReadOnly(t *testing.T, actions []string, readPrefixes ...string) {
	t.Helper()
	for _, a := range actions {
		read := false
		for _, p := range readPrefixes {
			read = read || strings.HasPrefix(a, p)
		}
		if !read {
			t.Errorf("non-read action %s", a)
		}
	}
}
