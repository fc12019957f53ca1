#!/bin/bash
# Round 14 (branch window): interleaved A/B of the main job's connect row (IIC.Perf connect --isolation none), the
# variants' order rotated each round (after perf/results/round13/connect/connect-r13-ab.sh).
# usage: connect-ab.sh OUT ROUNDS "name=ENV ..." ...   (ENV "-" for none; "MAIN" = main 51b02ca built in /tmp/window-main)
PERF=${PERF:-/work/wt/window/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}
MAINPERF=${MAINPERF:-/tmp/window-main/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}
OUT=$1; ROUNDS=$2; shift 2
VARIANTS=("$@")
n=${#VARIANTS[@]}
for r in $(seq 1 $ROUNDS); do
  for k in $(seq 0 $((n-1))); do
    v=${VARIANTS[$(( (k + r) % n ))]}
    name=${v%%=*}; envs=${v#*=}
    echo "== $name $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
    dll=$PERF
    if [ "$envs" = "MAIN" ]; then dll=$MAINPERF; envs=""; fi
    if [ "$envs" = "-" ]; then envs=""; fi
    env $envs IIC_PERF_CONNECT_PHASES=1 dotnet $dll connect --isolation none --duration ${DUR:-1} --json /tmp/window-cab-$$.json --png /tmp/window-cab-$$.png 2>&1 | grep -E "connect|phase|sleeps" >> $OUT
  done
done
