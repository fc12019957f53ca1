#!/bin/bash
# A/B/C alternated: A = main build, B = hop build, C = hop build with IIC_SPIN_PAUSE=0. Send/Receive and poll-claim 32 B spin echo, iic vs raw-shm interleaved.
cd /tmp
for i in $(seq 1 ${RUNS:-4}); do
  for v in A B C; do
    case $v in A) dll=/tmp/perf21base/IIC.Perf.dll; env="";; B) dll=/tmp/perfB/IIC.Perf.dll; env="";; C) dll=/tmp/perfB/IIC.Perf.dll; env="IIC_SPIN_PAUSE=0";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet $dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json /tmp/ab21/$v-$i.json > /tmp/ab21/$v-$i.out 2>&1
    grep -E "send/receive echo: p50|send/receive echo: p99 w|of which|poll/claim" /tmp/ab21/$v-$i.out | head -8
  done
done
