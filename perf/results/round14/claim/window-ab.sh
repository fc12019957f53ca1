#!/bin/bash
# Round 14 (claim), quiet window: the main job's 32 B spin echo rows, main's build (A, /tmp/claim-main) and this branch (B)
# alternated run by run (the first of each round alternates). Each run: iic and raw-shm, poll-claim and receive.
# Usage: window-ab.sh OUTDIR UNTIL_HH:MM [builds...]
out=$1; until=$2; shift 2; builds=("${@:-A B}"); [ $# -eq 0 ] && builds=(A B)
declare -A dll=([A]=/tmp/claim-main/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll [B]=/work/wt/claim/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll)
mkdir -p "$out"; i=0
while [[ "$(date -u +%H:%M)" < "$until" ]]; do
  i=$((i + 1)); n=${#builds[@]}
  for j in $(seq 0 $((n - 1))); do
    b=${builds[$(( (i + j) % n ))]}
    echo "=== round $i build $b load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
    dotnet "${dll[$b]}" pingpong --transports iic,raw-shm --sizes 32 --modes spin --api poll-claim,receive --isolation none \
      --json "$out/pp-r$i-$b.json" --png /tmp/claim-w.png 2>&1 | grep -E "pingpong (iic|raw)"
  done
done
