#!/bin/bash
# /tmp/perfC (round 22 build): T = default, P = IIC_SPIN_PAUSE=0 (no pause between the spin's looks): does the pause cost the near p99?
cd /tmp
out=${OUT:-/tmp/ab22/pause}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in T P; do
    case $v in T) env="IIC_SPIN_PAUSE=1";; P) env="IIC_SPIN_PAUSE=0";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfC/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
