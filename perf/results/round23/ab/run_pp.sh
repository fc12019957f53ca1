#!/bin/bash
# 32 B spin echo (send/receive) and one-way 32 B (poll, receive): A = round 22's build, B = this round's
out=$1; n=$2; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in A B; do
  dotnet /tmp/perf$v/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
