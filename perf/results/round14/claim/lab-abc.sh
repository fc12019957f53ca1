#!/bin/bash
# Round 14 (claim): the echo ladder over several builds, rotated run by run (each run one process pair, its steps
# interleaved round by round). Builds: A = main's library and harness (/tmp/claim-labA: main + this branch's LineLab
# files), B = this branch, C.. = variants (/tmp/claim-labC ...). Usage: lab-abc.sh RUNS ROUNDS TRIPS STEPS OUT BUILDS...
runs=$1; rounds=$2; trips=$3; steps=$4; out=$5; shift 5
declare -A dir=([A]=/tmp/claim-labA [B]=/work/wt/claim [C]=/tmp/claim-labC [D]=/tmp/claim-labD)
builds=("$@")
for i in $(seq 1 $runs); do
  n=${#builds[@]}
  export IIC_LAB_TRIMMED=1
  for j in $(seq 0 $((n - 1))); do
    v=${builds[$(( (i + j) % n ))]}
    echo "=== run $i build $v $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
    timeout 300 dotnet ${dir[$v]}/perf/IIC.LineLab/bin/Release/net10.0/IIC.LineLab.dll $rounds $trips $steps 2>&1
  done
done > $out
