#!/bin/bash
# Interleaved A/B of the main job's connect row (IIC.Perf connect), one build, env switches; order rotated each round.
# usage: connect-r11-ab.sh OUT ROUNDS "name=ENV ..." ...   (ENV "-" for none)
PERF=${PERF:-/work/wt/connect/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}
OLDPERF=${OLDPERF:-/tmp/connect-r11-old/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll}  # main bfead50 (variant ENV "OLD")
OUT=$1; ROUNDS=$2; shift 2
VARIANTS=("$@")
n=${#VARIANTS[@]}
for r in $(seq 1 $ROUNDS); do
  for k in $(seq 0 $((n-1))); do
    v=${VARIANTS[$(( (k + r) % n ))]}
    name=${v%%=*}; envs=${v#*=}
    echo "== $name $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT
    dll=$PERF
    if [ "$envs" = "OLD" ]; then dll=$OLDPERF; envs=""; fi
    if [ "$envs" = "-" ]; then envs=""; fi
    env $envs IIC_PERF_CONNECT_PHASES=1 dotnet $dll connect --duration ${DUR:-1} --json /tmp/cab-$$.json --png /tmp/cab-$$.png 2>&1 | grep -E "connect|phase|sleeps" >> $OUT
  done
done
