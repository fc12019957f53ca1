#!/bin/bash
# 32 B spin echo, receive and send-and-receive, iic against raw-shm interleaved, this round's final build; the data
# path's existing A/B switches alternated run by run, to screen what the near p99 gap is made of
out=$1; n=$2; shift 2; vs=${@:-"N H O R W A"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  case $v in N) e="";; H) e="IIC_HOLD_BACK=0";; O) e="IIC_OWN_NEXT_LINE=0";; R) e="IIC_REPLY_LINE_AT_RECEIVE=0";; W) e="IIC_WRITER_CLEANS=1";; A) e="IIC_ASYMMETRIC_FENCE=0";; esac
  env $e dotnet /tmp/perfB/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive,send-and-receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
