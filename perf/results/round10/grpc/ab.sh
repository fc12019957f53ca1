#!/bin/bash
# Interleaved A/B of the native gRPC path: main's IIC.Grpc.dll (f01cf4b) under this branch's harness (/tmp/grpc-base2; SUFFIX=2) against this branch (/tmp/grpc-new).
# Usage: ab.sh ROUNDS OUTDIR [extra GrpcPerf args]
: "${SUFFIX:=2}"; [ -d /tmp/grpc-new2 ] || ln -sfn /tmp/grpc-new /tmp/grpc-new2
rounds=$1; out=$2; shift 2
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for b in base new; do
    echo "== $b round $r $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/ab.txt"
    dotnet /tmp/grpc-${b}${SUFFIX}/IIC.GrpcPerf.dll --paths native-iic --json "$out/$b-$r.json" --chart /tmp/ab-chart.png "$@" > "$out/$b-$r.txt" 2>&1
    grep -E "^native-iic (unary|server-stream|bidi-pingpong):|MoveNext waits|per exchange" "$out/$b-$r.txt" >> "$out/ab.txt"
  done
done
