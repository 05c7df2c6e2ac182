package netfilter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// ErrNeedRoot is wrapped by the errors of rule dumps refused for lack of privilege.
var ErrNeedRoot = errors.New("needs root (CAP_NET_ADMIN)")

// Runner runs a command and returns its standard output; when the command fails, the
// error carries its standard error text. Tests replace it; nil means ExecRunner.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs the command with os/exec. Standard error goes into the error text only,
// so that warnings (nft and iptables-nft-save print some) never mix into the dump.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, err)
	}
	return stdout.Bytes(), nil
}

// NeedsRoot reports whether a failed command was refused for lack of privilege.
func NeedsRoot(err error) bool {
	if errors.Is(err, os.ErrPermission) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"Permission denied", "you must be root", "Operation not permitted"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
