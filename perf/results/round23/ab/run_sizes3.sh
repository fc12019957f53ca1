#!/bin/bash
# A = round 22's build (main fcc3ab7), B = this round's, B0 = this round's with IIC_LARGE_INTERIORS=0; R = default 1 MiB ring
out=$1; n=$2; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in A B B0; do
  case $v in
   A) b=A; env=();; B) b=B; env=();; B0) b=B; env=(IIC_LARGE_INTERIORS=0);;
   AR) b=A; env=(IIC_PERF_RING_CAPACITY=1048576);; BR) b=B; env=(IIC_PERF_RING_CAPACITY=1048576);;
  esac
  env "${env[@]}" dotnet /tmp/perf$b/IIC.Perf.dll sizes --sizes 64K,1M --transports iic,raw-shm --modes spin --api poll --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
