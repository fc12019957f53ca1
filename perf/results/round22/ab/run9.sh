#!/bin/bash
# Final build (/tmp/perfF), quiet: what the near p99 responds to. D = default, P = IIC_SPIN_PAUSE=0, S = a 64 KiB ring (IIC_PERF_RING_CAPACITY=65536; raw-shm's stays 1 MiB).
cd /tmp
out=${OUT:-/tmp/ab22/tail}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for v in D P S; do
    case $v in D) env="IIC_SPIN_PAUSE=1";; P) env="IIC_SPIN_PAUSE=0";; S) env="IIC_PERF_RING_CAPACITY=65536";; esac
    echo "== run $i variant $v load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    env $env dotnet /tmp/perfF/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api ${API:-receive} --isolation none --json $out/$v-$i.json > $out/$v-$i.out 2>&1
  done
done
