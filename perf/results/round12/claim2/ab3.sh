#!/usr/bin/env bash
# As ab.sh pingpong, three builds interleaved: A main 44cd11f, B this branch, C this branch with main's
# IicChannel.Receiving.cs (the claim side's change alone: is the far-placement difference the poll's or the claim's?).
set -u
out=$(dirname "$0"); n=$1
for i in $(seq 1 "$n"); do
  for b in A B C; do
    case $b in A) exe=/tmp/perf-main/IIC.Perf;; B) exe=/tmp/perf-new/IIC.Perf;; C) exe=/tmp/perf-b1/IIC.Perf;; esac
    echo "=== round $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
    "$exe" pingpong --transports iic,iic-single,raw-shm --sizes 32 --modes spin --api poll-claim --isolation none \
      --json "$out/pp-r$i-$b.json" --png /tmp/claim2-pp.png 2>&1 | grep -E "^\[[0-9]+/[0-9]+\] pingpong"
  done
done
