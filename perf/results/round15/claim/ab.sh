#!/bin/bash
# Round 15: the main job's 32 B spin echo rows, builds alternated run by run (the first of each round rotates).
# A = main 9d4406b (/tmp/a15), B = round 15's harness (/tmp/b15), C = B with the echo's verify then copy (IIC_PERF_ECHO_ONE_PASS=0),
# D = B with the old clock stop (IIC_PERF_CLAIM_CLOCK=after-poll). (ab1/ had C = the old clock with an extra clock read: not used.)
# Usage: ab.sh OUTDIR UNTIL_HH:MM [builds...]
out=$1; until=$2; shift 2; builds=("$@"); [ $# -eq 0 ] && builds=(A B C D)
declare -A dll=([A]=/tmp/a15/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll [B]=/tmp/b15/net10.0/IIC.Perf.dll [C]=/tmp/b15/net10.0/IIC.Perf.dll [D]=/tmp/b15/net10.0/IIC.Perf.dll)
declare -A env=([A]="" [B]="" [C]="IIC_PERF_ECHO_ONE_PASS=0" [D]="IIC_PERF_CLAIM_CLOCK=after-poll")
mkdir -p "$out"; i=0
while [[ "$(date -u +%H:%M)" < "$until" ]]; do
  i=$((i + 1)); n=${#builds[@]}
  for j in $(seq 0 $((n - 1))); do
    b=${builds[$(( (i + j) % n ))]}
    echo "=== round $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
    env ${env[$b]} dotnet "${dll[$b]}" pingpong --transports iic,raw-shm --sizes 32 --modes spin --api poll-claim,receive --isolation none \
      --json "$out/pp-r$i-$b.json" --png /tmp/r15-w.png 2>&1 | grep -E "pingpong (iic|raw)"
  done
done
