#!/bin/bash
# G = round 21 build (hint at send), T = same build with IIC_REPLY_TOUCH=1 (the reply's line taken at the receive). 32 B spin echo, iic vs raw-shm interleaved.
cd /tmp
out=${OUT:-/tmp/ab22/touch}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in G T; do
    case $v in G) env="IIC_REPLY_TOUCH=0";; T) env="IIC_REPLY_TOUCH=1";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfB/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
