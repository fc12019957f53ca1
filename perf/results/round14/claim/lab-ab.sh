#!/bin/bash
# Round 14 (claim): the echo ladder, A (main's library and harness, /tmp/claim-labA: main + this branch's LineLab files)
# and B (this branch) alternated run by run; each run one process pair, steps interleaved within it.
# Usage: lab-ab.sh RUNS ROUNDS TRIPS STEPS OUT
runs=${1:-4}; rounds=${2:-3}; trips=${3:-100000}; steps=${4:-probe,iic-ring-own,xchan,xharness}; out=${5:-/dev/stdout}
A=/tmp/claim-labA/perf/IIC.LineLab/bin/Release/net10.0/IIC.LineLab.dll
B=/work/wt/claim/perf/IIC.LineLab/bin/Release/net10.0/IIC.LineLab.dll
for i in $(seq 1 $runs); do
  for v in A B; do
    if [ $(( i % 2 )) -eq 0 ]; then [ $v = A ] && v=B || v=A; fi
    dll=$A; [ $v = B ] && dll=$B
    echo "=== run $i build $v $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
    timeout 300 dotnet $dll $rounds $trips $steps 2>&1
  done
done > $out
