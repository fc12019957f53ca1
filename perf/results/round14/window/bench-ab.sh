#!/bin/bash
# Round 14 (branch window): ConnectBench in-process cycles (1 MiB rings: the hypervisor pool's size) with per-thread CPU
# per cycle, main's libraries (/tmp/window-mainbench: this branch's bench binary over main 51b02ca's IIC.*.dll) against
# this branch (and IIC_UNMAP_COALESCE=0), rotated; then the window phases and the unmap batches.
# usage: bench-ab.sh OUT ROUNDS
NEW=/work/wt/window/perf/IIC.ConnectBench/bin/Release/net10.0/IIC.ConnectBench.dll
MAIN=/tmp/window-mainbench/IIC.ConnectBench.dll
OUT=$1; ROUNDS=$2
for r in $(seq 1 $ROUNDS); do
  for v in main new nocoal; do
    echo "== bench $v $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
    case $v in
      main) IIC_BENCH_RING=1048576 dotnet $MAIN 2000 >> $OUT 2>&1 ;;
      new) IIC_BENCH_RING=1048576 dotnet $NEW 2000 >> $OUT 2>&1 ;;
      nocoal) IIC_UNMAP_COALESCE=0 IIC_BENCH_RING=1048576 dotnet $NEW 2000 >> $OUT 2>&1 ;;
    esac
  done
done
echo "== phases $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
dotnet $NEW phases 2000 >> $OUT 2>&1
echo "== unmap-batch $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
dotnet $NEW unmap-batch 300 >> $OUT 2>&1
