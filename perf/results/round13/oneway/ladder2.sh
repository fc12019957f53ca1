#!/usr/bin/env bash
# Round 13, branch oneway: the LineLab one-way ladder, main's library (A: this branch's LineLab built against main
# 0e599e7's src, /tmp/linelab-main-ladder) against this branch's (B, /tmp/linelab-oneway), interleaved A B A B ...;
# each run is one process pair (and its threads) with the steps interleaved inside it. Stops launching at $STOP.
# Usage: ladder.sh RUNS STOP
set -u
out=$(dirname "$0"); n=$1; stop=$2
for i in $(seq 1 "$n"); do
  for b in A B; do
    if [[ "$(date -u +%T)" > "$stop" ]]; then echo "=== stop at $(date -u +%T)"; exit 0; fi
    exe=/tmp/linelab-main-ladder/IIC.LineLab; [ $b = B ] && exe=/tmp/linelab-oneway/IIC.LineLab
    echo "=== run $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
    timeout 60 "$exe" 5 2000000 probe,ow-raw,oneway-own,ow-chan-poll,ow-chan-recv 2>&1 | grep -E "^round|^probe|^ow-|^oneway"
  done
done
