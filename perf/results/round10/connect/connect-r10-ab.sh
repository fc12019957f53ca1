#!/bin/bash
# interleaved old (main f01cf4b) / new (branch connect) / new with IIC_CONNECTED_FIRST=0, connect row, 2 s rows
OLD=/tmp/connect-r10-old/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
NEW=/work/wt/connect/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
OUT=$1; ROUNDS=${2:-4}
for r in $(seq 1 $ROUNDS); do
  for v in old new new-cf0; do
    echo "== $v $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    case $v in
      old) IIC_PERF_CONNECT_PHASES=1 dotnet $OLD connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 | grep -E "connect|phase|sleeps" ;;
      new) IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 | grep -E "connect|phase|sleeps" ;;
      new-cf0) IIC_CONNECTED_FIRST=0 IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 | grep -E "connect|phase|sleeps" ;;
    esac
  done
done
