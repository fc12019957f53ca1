#!/bin/bash
# Final build (/tmp/perfG), quiet: the near p99 against the stores a hop makes besides the record. D = default, O = no pre-own store after each publish (IIC_OWN_NEXT_LINE=0), C = the writer cleans, the reader makes no clears (IIC_WRITER_CLEANS=1).
cd /tmp
out=${OUT:-/tmp/ab22/tail2}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in D O C; do
    case $v in D) env="IIC_OWN_NEXT_LINE=1";; O) env="IIC_OWN_NEXT_LINE=0";; C) env="IIC_WRITER_CLEANS=1";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfG/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
