#!/bin/bash
# Rebuilds the lab fixtures: run as root from this directory, then move the files it
# writes into testdata/lab (tcp, tcp6, udp, udp6, ss.txt) and testdata (ss-lunue.txt).
# Everything happens in a throw-away network namespace; the host's sockets are not read.
set -e
OUT=${1:-out}
NS=sk-$$
go build -o /tmp/sockets-lab-$$ main.go
ip netns add $NS
trap 'kill $P 2>/dev/null || true; ip netns del $NS; rm -f /tmp/sockets-lab-$$ /tmp/sockets-lab-$$.ready' EXIT
inns() { ip netns exec $NS "$@"; }
inns ip link set lo up
inns ip link add dummy0 type veth peer name dummy1
inns ip link set dummy1 up
inns ip link set dummy0 up
inns ip addr add 10.99.0.2/24 dev dummy0
inns ip addr add fd99::2/64 dev dummy0 nodad
inns /tmp/sockets-lab-$$ > /tmp/sockets-lab-$$.ready &
P=$!
for i in $(seq 50); do grep -q ready /tmp/sockets-lab-$$.ready 2>/dev/null && break; sleep 0.1; done
mkdir -p "$OUT"
for f in tcp tcp6 udp udp6; do inns cat /proc/net/$f > "$OUT/$f"; done
inns ss -Hltnue > "$OUT/ss.txt" 2>/dev/null
inns ss -Hlunue > "$OUT/ss-lunue.txt" 2>/dev/null
inns ss -Hltnupe > "$OUT/ss-owners.txt" 2>/dev/null
