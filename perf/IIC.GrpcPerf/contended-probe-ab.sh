#!/bin/bash
# Usage: perf/IIC.GrpcPerf/contended-probe-ab.sh OUT [ROUNDS]   (after dotnet build perf/IIC.GrpcPerf -c Release)
# One busy loop is the "third runnable task"; on a quiet box the pair then has the other CPU to itself except when
# the busy loop shares it, which is what used to hold bidi in the contended slow mode (docs/grpc-latency.md).
# Interleaved A/B of IIC_WAIT_CONTENDED_PROBE under one extra busy task (a third runnable task), native bidi + unary.
out=$(realpath -m "$1"); rounds=${2:-3}
cd "$(dirname "$0")/../.."
sh -c 'while :; do :; done' &
spin=$!
trap "kill $spin" EXIT
echo "busy loop pid $spin" >> $out
for r in $(seq 1 $rounds); do
  for p in 0 1; do
    echo "== IIC_WAIT_CONTENDED_PROBE=$p round $r, $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)" >> $out
    IIC_WAIT_CONTENDED_PROBE=$p timeout 200 dotnet perf/IIC.GrpcPerf/bin/Release/net10.0/IIC.GrpcPerf.dll --paths native-iic --tests unary,bidi-pingpong --json /dev/null 2>&1 | grep -E "native-iic (unary|bidi-pingpong):|^\| native" >> $out
  done
done
