#!/bin/bash
# /tmp/perfE: experiment build: the receive takes the reply's line only when its spin made at least IIC_EXP_MIN_LOOKS looks. Variants K99 (never: round 21), K0 (always: T), K3, K6, K10.
cd /tmp
out=${OUT:-/tmp/ab22/looks}
for i in $(seq ${FROM:-1} ${RUNS:-4}); do
  for k in 99 0 3 6 10; do
    echo "== run $i K$k load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
    IIC_EXP_MIN_LOOKS=$k dotnet /tmp/perfE/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive --isolation none --json $out/K$k-$i.json > $out/K$k-$i.out 2>&1
  done
done
