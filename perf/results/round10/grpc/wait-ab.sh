#!/bin/bash
# The bidi/unary slow mode (~5.6-5.7 µs p50 whatever the probe) against the native wait strategy: adaptive (default)
# vs spin, interleaved, this branch's build (/tmp/grpc-new). Usage: wait-ab.sh ROUNDS OUTDIR
rounds=$1; out=$2; mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for w in ${WAITS:-adaptive spin}; do
    echo "== $w round $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/wait.txt"
    dotnet /tmp/grpc-new/IIC.GrpcPerf.dll --paths native-iic --tests unary,bidi-pingpong --native-wait $w --json "$out/$w-$r.json" --chart /tmp/wait-chart.png > "$out/$w-$r.txt" 2>&1
    grep -E "^native-iic (unary|bidi-pingpong):" "$out/$w-$r.txt" >> "$out/wait.txt"
  done
done
