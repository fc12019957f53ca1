#!/bin/bash
out=$1; n=$2; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in S0 S1 S4 S16; do
  s=${v#S}
  IIC_INTERIOR_CLEAR_STRIDE=$s dotnet /tmp/perfS/IIC.Perf.dll sizes --sizes 64K,1M --transports iic,raw-shm --modes spin --api poll --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
