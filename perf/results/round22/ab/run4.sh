#!/bin/bash
# /tmp/perfD = round 22 build with an experiment switch: G = IIC_REPLY_LINE_AT_RECEIVE=0, T = default, N = default with IIC_EXP_NO_HINT=1 (a receive that took the line sets no hint: the send makes no second early store).
cd /tmp
out=${OUT:-/tmp/ab22/nohint}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in G T N; do
    case $v in G) env="IIC_REPLY_LINE_AT_RECEIVE=0";; T) env="IIC_REPLY_LINE_AT_RECEIVE=1";; N) env="IIC_EXP_NO_HINT=1";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfD/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
