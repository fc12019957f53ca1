#!/usr/bin/env bash
# Round 13, branch oneway: quiet-window A/B (07:55-08:15 UTC) of main 0e599e7 (A, /tmp/perf-main copied to /tmp/oneway-perf-main) against this branch
# (B, /tmp/perf-oneway copied to /tmp/oneway-perf-new), this branch with IIC_SPIN_PAUSE=1 (C: a pause between the
# clock-free spin's looks), this branch with IIC_OWN_AHEAD_LINES=4 (D: the pre-own store 3 lines past the tail) and
# this branch with IIC_SPIN_BACKOFF=2 (E: two pauses, ~50 ns, before the spin's first look).
# B-E's throughput runs set IIC_PERF_POLL_STATS=1: the sink prints how many messages each poll handed out (the regime).
# Each round runs every config once, in a rotated order (ABCDE, BCDEA, ...): the 32 B one-way rows
# (throughput iic,raw-shm, spin) and then the 32 B poll-claim ping-pong (iic, raw-shm). Every row carries its placement
# probe; only same-probe rows are compared (summarize.py). Stops launching runs at $STOP (HH:MM:SS UTC).
# Usage: ab.sh ROUNDS STOP
set -u
out=$(dirname "$0"); n=$1; stop=$2
configs=(A B C D E)
for i in $(seq 1 "$n"); do
  for k in 0 1 2 3 4; do
    c=${configs[$(( (i - 1 + k) % 5 ))]}
    case $c in A) exe=/tmp/oneway-perf-main/IIC.Perf; env=;; B) exe=/tmp/oneway-perf-new/IIC.Perf; env=;; C) exe=/tmp/oneway-perf-new/IIC.Perf; env=IIC_SPIN_PAUSE=1;; D) exe=/tmp/oneway-perf-new/IIC.Perf; env=IIC_OWN_AHEAD_LINES=4;; E) exe=/tmp/oneway-perf-new/IIC.Perf; env=IIC_SPIN_BACKOFF=2;; esac
    stats=; [ $c != A ] && stats=IIC_PERF_POLL_STATS=1
    for test in throughput pingpong; do
      if [[ "$(date -u +%T)" > "$stop" ]]; then echo "=== stop at $(date -u +%T)"; exit 0; fi
      echo "=== round $i cfg $c $test load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
      if [ $test = throughput ]; then
        env $env $stats timeout 60 "$exe" throughput --transports iic,raw-shm --sizes 32 --modes spin --isolation none \
          --json "$out/raw/thr-r$i-$c.json" --png /tmp/oneway-ab.png 2>&1 | grep -E "^\[[0-9]+/[0-9]+\] throughput|poll stats" | cut -c1-260
      else
        env $env timeout 60 "$exe" pingpong --transports iic,raw-shm --sizes 32 --modes spin --api poll-claim --isolation none \
          --json "$out/raw/pp-r$i-$c.json" --png /tmp/oneway-ab.png 2>&1 | grep -E "^\[[0-9]+/[0-9]+\] pingpong"
      fi
    done
  done
done
