#!/bin/bash
# 32 B spin echo, receive and send-and-receive, iic against raw-shm interleaved; harness variants of the
# send-and-receive row alternated run by run (build X: run_sar's switches, patch sar-variants.patch)
out=$1; n=$2; shift 2; vs=${@:-"X0 XN XS XC"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  case $v in X0) e="";; XN) e="IIC_PERF_SAR=notoken";; XS) e="IIC_PERF_SAR=split";; XC) e="IIC_PERF_SAR_SERVER=copy";; XNC) e="IIC_PERF_SAR=notoken IIC_PERF_SAR_SERVER=copy";; XP) e="IIC_REPLY_SPIN_FENCE=0 IIC_PERF_SAR=notoken";; XPC) e="IIC_REPLY_SPIN_FENCE=0 IIC_PERF_SAR=notoken IIC_PERF_SAR_SERVER=copy";; esac
  env $e dotnet /tmp/perfX/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive,send-and-receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
