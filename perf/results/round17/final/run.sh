#!/bin/bash
# Round 17's quiet runs of the main job (no helper running; the transport is unchanged since round 16, so these only add
# p99 samples for issue 17's flipping tail targets). Run from /tmp so the chart lands outside the repository.
set -u
O=/work/main/perf/results/round17/final
cd /tmp
echo "start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" > $O/times.txt
for r in 1 2; do
  dotnet /tmp/perf17/IIC.Perf.dll --json $O/default-run-$r.json > $O/default-run-$r.txt 2> $O/default-run-$r.err
  echo "run$r done $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/times.txt
done
