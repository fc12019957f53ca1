#!/bin/bash
# Round 22 build (/tmp/perfF): G = IIC_REPLY_LINE_AT_RECEIVE=0 (round 21's behaviour: the reply's line taken at the send only), T = default (taken at the receive too). 32 B spin echo, iic vs raw-shm interleaved.
cd /tmp
out=${OUT:-/tmp/ab22/quiet}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in G T; do
    case $v in G) env="IIC_REPLY_LINE_AT_RECEIVE=0";; T) env="IIC_REPLY_LINE_AT_RECEIVE=1";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfF/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
