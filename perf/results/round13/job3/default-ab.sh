#!/bin/bash
# A/B of the main job's default run: main (0e599e7) against branch job3, alternating; both binaries run directly.
R=/work/wt/job3/perf/results/round13/job3
MAIN=/tmp/job3-main-src/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf
JOB=/tmp/j3-bin-B/IIC.Perf
for round in $(seq 1 ${ROUNDS:-2}); do
  for b in main job3; do
    BIN=$MAIN; [ $b = job3 ] && BIN=$JOB
    L0=$(cut -d' ' -f1-3 /proc/loadavg); T0=$(date -u +%T)
    start=$(date +%s.%N)
    IIC_PERF_PHASES=1 $BIN --json /tmp/j3-ab/$b-$round.json --png /tmp/j3-ab/$b-$round/latency.png > $R/default-ab-$b-$round.txt 2> $R/default-ab-$b-$round.err.txt
    rc=$?
    end=$(date +%s.%N)
    L1=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "round $round $b: start $T0 wall $(echo "$end - $start" | bc | cut -d. -f1) s, $(grep 'Total time' $R/default-ab-$b-$round.txt), rc $rc, rows $(grep -c '^\[' $R/default-ab-$b-$round.err.txt) progress lines, load before $L0 after $L1" >> $R/default-ab.txt
  done
done
