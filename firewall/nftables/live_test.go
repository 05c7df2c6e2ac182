package nftables

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadLive(t *testing.T) {
	dump, err := os.ReadFile(filepath.Join("testdata", "sample-native-nft.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		out     []byte
		err     error
		wantErr error
		errText string
	}{
		{name: "ruleset", out: dump},
		{name: "not installed", err: &exec.Error{Name: "nft", Err: exec.ErrNotFound}, wantErr: ErrNotInstalled},
		{name: "not root", err: errors.New("exit status 1: netlink: Error: cache initialization failed: Operation not permitted"), wantErr: ErrNeedRoot, errText: "needs root (CAP_NET_ADMIN)"},
		{name: "other failure", err: errors.New("exit status 1: Error: something else"), errText: "nft -j list ruleset: exit status 1: Error: something else"},
		{name: "bad output", out: []byte(`{"nftables":[{"metainfo":{"json_schema_version":2}}]}`), errText: "nft -j list ruleset: object 0 (metainfo): json_schema_version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called []string
			run := func(_ context.Context, name string, args ...string) ([]byte, error) {
				called = append([]string{name}, args...)
				return tt.out, tt.err
			}
			rs, err := ReadLive(context.Background(), run)
			if !slices.Equal(called, []string{"nft", "-j", "list", "ruleset"}) {
				t.Errorf("ran %q", called)
			}
			switch {
			case tt.wantErr == nil && tt.errText == "":
				if err != nil || rs == nil || rs.Rules() != 15 || rs.Name != "nft -j list ruleset" {
					t.Fatalf("ReadLive = %v, %v", rs, err)
				}
			case err == nil:
				t.Fatal("no error")
			default:
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v does not wrap %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not contain %q", err, tt.errText)
				}
			}
		})
	}
}

func TestExecRunner(t *testing.T) {
	out, err := ExecRunner(context.Background(), "sh", "-c", "echo out; echo 'Error: Operation not permitted' >&2; exit 3")
	if string(out) != "out\n" || err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("ExecRunner = %q, %v", out, err)
	}
	_, err = ExecRunner(context.Background(), filepath.Join(t.TempDir(), "no-such-nft"))
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing binary: %v", err)
	}
	_, err = ReadLive(context.Background(), func(ctx context.Context, _ string, args ...string) ([]byte, error) {
		return ExecRunner(ctx, filepath.Join(t.TempDir(), "no-such-nft"), args...)
	})
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("ReadLive with a missing binary: %v", err)
	}
}
