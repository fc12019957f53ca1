#!/bin/bash
# one-way 32 B, poll and receive, iic against raw-shm interleaved; A round 24's build (6bd408c), B this round's
out=$1; n=$2; shift 2; vs=${@:-"A B"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  env dotnet /tmp/perf$v/IIC.Perf.dll throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll,receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
