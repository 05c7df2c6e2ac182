package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// run builds the command tree, runs it and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(nil)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return exitCode(root.ExecuteContext(ctx), stderr)
}

// globalOptions are the settings every command shares.
type globalOptions struct {
	configFile string
	v          *viper.Viper
}

// newRootCmd builds the command tree; checkF replaces the check's work in tests (nil: the real one).
func newRootCmd(checkF func(context.Context, *checkOptions) error) *cobra.Command {
	g := &globalOptions{v: viper.New()}
	root := &cobra.Command{
		Use:   "portpath",
		Short: "Find out why a client cannot reach HOST:PORT, and what to change",
		Long: `portpath checks the whole path from a client to a listening socket — the client (proxies,
local ports), DNS and CDNs, the cloud's security groups, network ACLs, routes and
lightweight-server firewalls (AWS, Alibaba Cloud, Tencent Cloud), the server's firewall
(iptables, nftables, ufw, firewalld, the BT panel, Docker), the listening socket and the
application protocol — names the layer and the rule that blocks, predicts the error the
client sees, and prints the fix as a command. It only reads: it never changes a cloud or a
firewall; it prints the commands that would.

  portpath check TARGET     is TARGET reachable, and if not, why and what to change
  portpath host             every listening port of this server and who can reach it
  portpath explain "TEXT"   what a client's error message means, then a check of its target

Settings come from flags, then PORTPATH_* environment variables (PORTPATH_TIMEOUT=5s,
PORTPATH_FROM=10.0.0.0/8, …), then the config file (--config, default
~/.config/portpath/config.yaml, keys named like the flags), then the defaults.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.load(cmd)
		},
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "config file (default ~/.config/portpath/config.yaml)")
	root.PersistentFlags().Bool("no-color", false, "never colour the output (NO_COLOR is honoured too)")
	root.PersistentFlags().StringP("output", "o", "text", "output format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	root.AddCommand(newCheckCmd(g, checkF), newHostCmd(g), newExplainCmd(g), newVersionCmd())
	return root
}

// load reads the config file and environment and binds them under the command's flags,
// so that each setting is read with precedence flag > env > file > default.
func (g *globalOptions) load(cmd *cobra.Command) error {
	v := g.v
	v.SetEnvPrefix("PORTPATH")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	var bindErr error
	bind := func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	}
	cmd.Flags().VisitAll(bind)
	cmd.InheritedFlags().VisitAll(bind)
	if bindErr != nil {
		return bindErr
	}

	path, explicit := g.configFile, g.configFile != ""
	if !explicit {
		if p := os.Getenv("PORTPATH_CONFIG"); p != "" {
			path, explicit = p, true
		} else if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".config", "portpath", "config.yaml")
		}
	}
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return usagef("config file %s: %v", path, errors.Unwrap(err))
	}
	v.SetConfigFile(path)
	if filepath.Ext(path) == "" {
		v.SetConfigType("yaml")
	}
	if err := v.ReadInConfig(); err != nil {
		return usagef("config file %s: %v", path, err)
	}
	known := map[string]bool{}
	cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	for _, c := range cmd.Root().Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	}
	for _, k := range v.AllKeys() {
		if !known[k] && !strings.Contains(k, ".") {
			return usagef("config file %s: unknown key %q (keys are the flag names, e.g. timeout, from)", path, k)
		}
	}
	return nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of portpath",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "portpath %s\n", version)
			return err
		},
	}
}
