#!/bin/bash
# interleaved rounds of the connect row: old = main f01cf4b, new = branch connect (env variants), 2 s rows, phases on
OLD=/tmp/connect-r10-old/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
NEW=/work/wt/connect/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
ROUNDS=${1:-4}; shift
VARIANTS=${*:-old new new-spin0 new-cf0}
for r in $(seq 1 $ROUNDS); do
  for v in $VARIANTS; do
    echo "== $v $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    case $v in
      old) env IIC_PERF_CONNECT_PHASES=1 dotnet $OLD connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 ;;
      new) env IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 ;;
      new-spin0) env IIC_HYPERVISOR_SPIN_US=0 IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 ;;
      new-cf0) env IIC_CONNECTED_FIRST=0 IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 ;;
      new-both0) env IIC_CONNECTED_FIRST=0 IIC_HYPERVISOR_SPIN_US=0 IIC_PERF_CONNECT_PHASES=1 dotnet $NEW connect --duration 2 --json /tmp/cab.json --png /tmp/cab.png 2>&1 ;;
    esac | grep -E "connect|phase|sleeps|round trip|close"
  done
done
