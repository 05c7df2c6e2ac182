#!/usr/bin/env bash
# Differential test of the netfilter simulation against the kernel, at scale: thousands of
# generated rulesets, each loaded into network namespaces and probed with real connections.
#
#   sudo bash bench/difftest.sh                 (3000 cases, seed 1)
#   sudo CASES=10000 SEED=42 LANES=8 bash bench/difftest.sh
#
# Prints the counts: cases, probes, agree, skipped (the simulation was not certain), disagree.
# Exit status is go test's: non-zero when a probe disagreed or a ruleset was refused.
set -uo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-3000}
seed=${SEED:-1}
lanes=${LANES:-8}
log=$(mktemp --suffix=.difftest.log)

start=$(date +%s)
PORTPATH_LAB=1 PORTPATH_DIFF_CASES="$cases" PORTPATH_DIFF_SEED="$seed" PORTPATH_DIFF_LANES="$lanes" \
	go test ./firewall/difftest -run 'TestDifferential$' -count=1 -timeout 60m -v >"$log" 2>&1
status=$?
end=$(date +%s)

grep -E 'DISAGREEMENT|predicted .* the kernel gave' "$log" | head -40
summary=$(grep -oE 'cases=[0-9]+ probes=[0-9]+ agree=[0-9]+ skipped=[0-9]+ disagree=[0-9]+.*' "$log" | tail -1)
if [ -z "$summary" ]; then
	tail -40 "$log"
	echo "no summary: the test did not finish (status $status)"
	exit 1
fi
echo
echo "seed $seed, $lanes lanes, $((end - start)) s"
echo "$summary" | tr ' ' '\n' | grep -E '^(cases|probes|agree|skipped|disagree)=' | sed 's/=/: /'
echo "$summary" | sed -n 's/.*(skipped by reason: \(.*\))/skipped by reason: \1/p'
if [ "$status" -ne 0 ]; then
	echo "full output (rulesets, steps): $log"
else
	rm -f "$log"
fi
exit $status
