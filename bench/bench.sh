#!/usr/bin/env bash
# Speed and memory of evaluating large rulesets, against the kernel tool's own check.
#
#   sudo bash bench/bench.sh            (root: iptables-restore --test runs in a throw-away netns)
#
# 1. a kube-proxy-like iptables-save of 100,000 rules: `portpath check … --iptables-save FILE
#    --no-probe` vs `iptables-restore --test FILE` (medians of the same run, the two taking
#    turns); peak RSS of portpath.
# 2. a 20,000-rule `nft -j` dump: `portpath check … --nft-json FILE --no-probe`.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=$(mktemp -d)
ns="ppbench$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/portpath" ./cmd/portpath
go build -o "$work/measure" ./bench/measure
go run ./bench/gen -kind iptables -rules 100000 > "$work/rules.txt"
go run ./bench/gen -kind nft -rules 20000 > "$work/ruleset.json"
echo "iptables dump: $(grep -c '^-A' "$work/rules.txt") rules; nft dump: $(grep -o '"rule"' "$work/ruleset.json" | wc -l) rules"

ip netns add "$ns"
# The two commands take turns, so that a machine whose speed drifts (a shared or virtual
# CPU) slows both alike; each median is over the same stretch of time.
: > "$work/restore.jsonl"; : > "$work/check.jsonl"
for _ in $(seq "$runs"); do
  "$work/measure" -n 1 -label "iptables-restore --test" -stdin "$work/rules.txt" -- ip netns exec "$ns" iptables-restore --test >> "$work/restore.jsonl"
  "$work/measure" -n 1 -label "portpath --iptables-save" -- "$work/portpath" check 10.0.0.10:30080 --no-probe --iptables-save "$work/rules.txt" -o json >> "$work/check.jsonl"
done
nft=$("$work/measure" -n "$runs" -label "portpath --nft-json" -- "$work/portpath" check 10.0.0.10:8080 --no-probe --nft-json "$work/ruleset.json" -o json)

field() { sed -E "s/.*\"$1\":([0-9.e-]+).*/\\1/"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
summary() { # label, file of one-run lines → one line like measure's
  printf '{"label":"%s","max_rss_mib":%s,"median_s":%s,"runs":%s}\n' "$1" \
    "$(field max_rss_mib < "$2" | sort -g | tail -1)" "$(field median_s < "$2" | median)" "$(wc -l < "$2")"
}
restore=$(summary "iptables-restore --test" "$work/restore.jsonl")
check=$(summary "portpath --iptables-save" "$work/check.jsonl")
echo "$restore"; echo "$check"; echo "$nft"

ratio_of() { # ratio of two medians without python
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}
med() { sed -E 's/.*"median_s":([0-9.e-]+).*/\1/' <<<"$1"; }
rss() { sed -E 's/.*"max_rss_mib":([0-9.e-]+).*/\1/' <<<"$1"; }
ratio=$(ratio_of "$(med "$check")" "$(med "$restore")")
echo
echo "portpath / iptables-restore --test = $ratio (target ≤ 0.25)"
echo "portpath peak RSS (100k rules)     = $(rss "$check") MiB (target < 150)"
echo "portpath nft 20k parse+evaluate    = $(med "$nft") s (target < 0.5)"
fail=0
awk -v r="$ratio" 'BEGIN { exit !(r <= 0.25) }' || { echo "FAIL: ratio"; fail=1; }
awk -v m="$(rss "$check")" 'BEGIN { exit !(m < 150) }' || { echo "FAIL: memory"; fail=1; }
awk -v s="$(med "$nft")" 'BEGIN { exit !(s < 0.5) }' || { echo "FAIL: nft time"; fail=1; }
exit $fail
