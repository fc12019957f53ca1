#!/bin/bash
set -u
O=/work/main/perf/results/round16/final
cd /tmp
echo "start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" > $O/times.txt
dotnet /tmp/perf16/IIC.Perf.dll --json $O/default-run-1.json > $O/default-run-1.txt 2> $O/default-run-1.err
echo "run1 done $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/times.txt
dotnet /tmp/grpc16/IIC.GrpcPerf.dll --json $O/grpc-1.json > $O/grpc-1.txt 2> $O/grpc-1.err
echo "grpc done $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/times.txt
dotnet /tmp/perf16/IIC.Perf.dll --json $O/default-run-2.json > $O/default-run-2.txt 2> $O/default-run-2.err
echo "run2 done $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/times.txt
PERF_DLL=/tmp/perf16/IIC.Perf.dll ROUNDS=40 OUT=/tmp/aeron16/runs/quiet16 /tmp/aeron16/side.sh > $O/side.log 2>&1
echo "side done $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/times.txt
