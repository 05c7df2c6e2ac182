package ufw

import (
	"os"
	"strings"
	"testing"
)

func seed(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// FuzzParseUserRules: any input parses or fails with an error naming the file; a parsed
// file's tuples render and its lines reduce to keys without a panic.
func FuzzParseUserRules(f *testing.F) {
	seed(f, "testdata/dump/etc-ufw/user.rules", "testdata/dump/etc-ufw/user6.rules", "testdata/pristine/user.rules")
	f.Fuzz(func(t *testing.T, s string) {
		for _, v6 := range []bool{false, true} {
			u, err := ParseUserRules(strings.NewReader(s), "user.rules", v6)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "user.rules") {
					t.Fatalf("error does not name the file: %v", err)
				}
				continue
			}
			for _, tp := range u.Tuples {
				_ = tp.Command()
				for _, l := range tp.Lines {
					_ = ruleKey(l.Text, v6)
					_ = tupleOf(l.Text, v6)
				}
			}
		}
	})
}

// FuzzParseConf covers ufw.conf and the defaults file.
func FuzzParseConf(f *testing.F) {
	seed(f, "testdata/dump/etc-ufw/ufw.conf", "testdata/dump/etc-ufw/default-ufw", "testdata/pristine/default-ufw")
	f.Add("ENABLED='yes' # x\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func() error{
			func() error { _, err := ParseEnabled(strings.NewReader(s), "ufw.conf"); return err },
			func() error { _, err := ParseDefaults(strings.NewReader(s), "ufw.conf"); return err },
		} {
			if err := parse(); err != nil && !strings.HasPrefix(err.Error(), "ufw.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
		}
	})
}

// FuzzLoadedRule covers reading iptables-save lines back into ufw rules.
func FuzzLoadedRule(f *testing.F) {
	for _, s := range []string{
		"-A ufw-user-input -s 10.99.0.1/32 -p tcp -m tcp --dport 8005 -j DROP",
		"-A ufw-user-input -p tcp -m tcp --dport 2222 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask 255.255.255.255 --rsource -j ufw-user-limit",
		`-A ufw-user-limit -m limit --limit 3/min -j LOG --log-prefix "[UFW LIMIT BLOCK] "`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = ruleKey(s, false)
		if tp := tupleOf(s, true); tp != nil {
			_ = tp.Command()
		}
	})
}
