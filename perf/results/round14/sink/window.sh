#!/bin/bash
# sink's quiet window (11:00-11:15 UTC): two default main-job runs of this branch's build around an A/B of
#  (1) the throughput sink's catch-up idle (IIC_PERF_SINK_IDLE_US=0, the old sink, against the branch default), interleaved 32 B poll pairs;
#  (2) the one-way clock's stop: sizes 16 and 64 MiB with IIC_PERF_PHASES=1, which prints each row's rate with the clock stopped where the sink took the Stop (reported) and at its acknowledgement (before round 14), one measurement.
cd /work/wt/sink || exit 1
out=perf/results/round14/sink/window
dll=perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
mkdir -p $out
log() { echo "== $(date -u +%T) $* load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/window-log.txt; }
log start
log default-run-1
dotnet $dll --json $out/default-run-1.json > $out/default-run-1.txt 2> $out/default-run-1.err.txt
log default-run-1 done rc $?
for r in 1 2 3 4 5 6 7 8; do
  for idle in 0 default; do
    log "oneway idle $idle round $r"
    if [ $idle = default ]; then env -u IIC_PERF_SINK_IDLE_US dotnet $dll throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll --isolation none --json $out/ow-i$idle-r$r.json > $out/ow-i$idle-r$r.txt 2> $out/ow-i$idle-r$r.err.txt
    else IIC_PERF_SINK_IDLE_US=$idle dotnet $dll throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll --isolation none --json $out/ow-i$idle-r$r.json > $out/ow-i$idle-r$r.txt 2> $out/ow-i$idle-r$r.err.txt; fi
    grep "80 %" $out/ow-i$idle-r$r.txt | tee -a $out/window-log.txt
  done
done
for r in 1 2 3; do
  log "oneway raw-shm at line density (IIC_PERF_RAW_LINE_RECORDS=1) round $r"
  IIC_PERF_RAW_LINE_RECORDS=1 dotnet $dll throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll --isolation none --json $out/ow-ilr1-r$r.json > $out/ow-ilr1-r$r.txt 2> $out/ow-ilr1-r$r.err.txt
  grep "80 %" $out/ow-ilr1-r$r.txt | tee -a $out/window-log.txt
done
for r in 1 2 3 4 5 6; do
  log "sizes round $r (IIC_PERF_PHASES=1: each row's clock to the Stop and to its acknowledgement, one measurement)"
  IIC_PERF_PHASES=1 dotnet $dll sizes --transports iic,raw-shm --sizes 16M,64M --isolation none --json $out/sz-seen-r$r.json > $out/sz-seen-r$r.txt 2> $out/sz-seen-r$r.err.txt
  grep -E "^clock" $out/sz-seen-r$r.err.txt | tee -a $out/window-log.txt
done
log "default-run-2 (IIC_PERF_PHASES=1: the 64 MiB rows' two clocks inside the main job)"
IIC_PERF_PHASES=1 dotnet $dll --json $out/default-run-2.json > $out/default-run-2.txt 2> $out/default-run-2.err.txt
log default-run-2 done rc $?
log end
