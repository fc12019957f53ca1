#!/usr/bin/env bash
# Round 13 merged, the lead's quiet A/B of the pause between SpinForRecord's looks, one build (main after the merges):
# N = IIC_SPIN_PAUSE=0 (512 plain looks, the round-12 behaviour), P = the new default (a pause between looks, 32 looks).
# Each round runs both configs in alternating order: the 32 B one-way rows (throughput iic,raw-shm, spin; interleaved
# same-probe rounds inside the run since branch job3) and the 32 B poll-claim and receive ping-pongs (iic, raw-shm).
# Files are named as branch oneway's ab.sh names them, so its summarize.py reads them (config letters N and P).
# Usage: ab-pause.sh ROUNDS STOP(HH:MM:SS UTC)
set -u
out=$(dirname "$0"); n=$1; stop=$2; exe=${EXE:-/tmp/perf-merged/IIC.Perf}
mkdir -p "$out/raw"
for i in $(seq 1 "$n"); do
  order="N P"; [ $((i % 2)) -eq 0 ] && order="P N"
  for c in $order; do
    env=; [ $c = N ] && env=IIC_SPIN_PAUSE=0
    for test in throughput pingpong receive; do
      if [[ "$(date -u +%T)" > "$stop" ]]; then echo "=== stop at $(date -u +%T)"; exit 0; fi
      echo "=== round $i cfg $c $test load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
      case $test in
        throughput) env $env timeout 90 "$exe" throughput --transports iic,raw-shm --sizes 32 --modes spin --isolation none \
          --json "$out/raw/thr-r$i-$c.json" --png /tmp/ab-pause.png 2>&1 | grep -E "throughput|verdict|%" | cut -c1-260 ;;
        pingpong) env $env timeout 60 "$exe" pingpong --transports iic,raw-shm --sizes 32 --modes spin --api poll-claim \
          --isolation none --json "$out/raw/pp-r$i-$c.json" --png /tmp/ab-pause.png 2>&1 | grep -E "pingpong" | cut -c1-260 ;;
        receive) env $env timeout 60 "$exe" pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive \
          --isolation none --json "$out/raw/rx-r$i-$c.json" --png /tmp/ab-pause.png 2>&1 | grep -E "pingpong" | cut -c1-260 ;;
      esac
    done
  done
done
