package nftables

import (
	"fmt"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	for _, n := range []int{500, 2000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := generated(t, n)
			rs, err := ParseBytes(data, "generated.json")
			if err != nil {
				t.Fatal(err)
			}
			if got := rs.Rules(); got != n {
				t.Errorf("rules = %d; want %d", got, n)
			}
			if big := rs.Table("inet", "filter").Set("blocklist4"); big == nil || len(big.Elems) < 25 {
				t.Errorf("blocklist4 = %v", big)
			}
			chains, err := BaseChains(rs, false)
			if err != nil || len(chains) != 3 {
				t.Fatalf("chains %d, %v", len(chains), err)
			}
		})
	}
	if string(generated(t, 1000)) != string(generated(t, 1000)) {
		t.Error("the same seed gave different rulesets")
	}
	var other strings.Builder
	if err := Generate(&other, 1000, 2); err != nil {
		t.Fatal(err)
	}
	if other.String() == string(generated(t, 1000)) {
		t.Error("another seed gave the same ruleset")
	}
}
