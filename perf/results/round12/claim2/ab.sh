#!/usr/bin/env bash
# Round 12, branch claim2: quiet A/B (04:10-05:00 UTC) of main 44cd11f (A) against this branch (B).
# 1. IIC.LineLab: interleaved runs A B A B ... of the probe, iic's ring alone and the public poll-claim echo (channel-own),
#    each run its own process pair; the ratio of channel-own over the same run's probe is what is compared.
# 2. IIC.Perf pingpong, 32 B spin poll-claim, iic / iic-single / raw-shm, A and B interleaved; same-probe rows only.
# Usage: ab.sh linelab N | ab.sh pingpong N   (A = /tmp/linelab-main, /tmp/perf-main; B = /tmp/linelab-new, /tmp/perf-new)
set -u
out=$(dirname "$0")
kind=$1; n=$2
for i in $(seq 1 "$n"); do
  for b in A B; do
    if [ "$kind" = linelab ]; then
      exe=/tmp/linelab-main/IIC.LineLab; [ $b = B ] && exe=/tmp/linelab-new/IIC.LineLab
      echo "=== run $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
      "$exe" 3 200000 probe,iic-ring-own,channel-own 2>&1 | grep -E "^round|^probe|^iic-ring-own|^channel-own"
    else
      exe=/tmp/perf-main/IIC.Perf; [ $b = B ] && exe=/tmp/perf-new/IIC.Perf
      echo "=== round $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
      "$exe" pingpong --transports iic,iic-single,raw-shm --sizes 32 --modes spin --api poll-claim --isolation none \
        --json "$out/pp-r$i-$b.json" --png /tmp/claim2-pp.png 2>&1 | grep -E "^\[[0-9]+/[0-9]+\] pingpong"
    fi
  done
done
