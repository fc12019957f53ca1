#!/bin/bash
# G base, T touch at receive, O = T without the pre-own after publish, W = T with the writer cleaning (no reader clears).
cd /tmp
out=${OUT:-/tmp/ab22/sw}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in ${VARIANTS:-G T O W}; do
    case $v in G) env="IIC_REPLY_TOUCH=0";; T) env="IIC_REPLY_TOUCH=1";; O) env="IIC_REPLY_TOUCH=1 IIC_OWN_NEXT_LINE=0";; W) env="IIC_REPLY_TOUCH=1 IIC_WRITER_CLEANS=1";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfB/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
