#!/bin/bash
# Round 22 final build (/tmp/perfF): G = IIC_REPLY_LINE_AT_RECEIVE=0 (round 21: the line taken at the send only), A = =1 (after every receive), D = default (after a wait of 6 looks or more).
cd /tmp
out=${OUT:-/tmp/ab22/k6}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in G A D; do
    case $v in G) env="IIC_REPLY_LINE_AT_RECEIVE=0";; A) env="IIC_REPLY_LINE_AT_RECEIVE=1";; D) env="IIC_REPLY_LINE_AT_RECEIVE=";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfF/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
