#!/bin/bash
# Interleaved 32 B one-way poll (iic vs raw-shm) with the sink's catch-up idle at several values, rotated per round.
# usage: idle-ab.sh OUTDIR ROUNDS "0 2 5" [DLL]
out=$1; rounds=$2; idles=$3; dll=${4:-perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for idle in $idles; do
    echo "== $(date -u +%T) idle $idle round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
    IIC_PERF_SINK_IDLE_US=$idle dotnet "$dll" throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll --isolation none \
      --json "$out/i$idle-r$r.json" 2>"$out/i$idle-r$r.err" >"$out/i$idle-r$r.txt"
    grep -E "per poll by round" "$out/i$idle-r$r.err"
    grep -E "round [0-9]+/" "$out/i$idle-r$r.err" | sed -E 's/.*round ([0-9]+)\/10: iic ([0-9.]+ [MK]?) \/ raw-shm ([0-9.]+ [MK]?) msgs\/s = ([0-9]+) %, probe ([0-9]+)\/([0-9]+).*/\1:\4%(\5)/' | tr '\n' ' '; echo
    grep "80 %" "$out/i$idle-r$r.txt"
  done
done
