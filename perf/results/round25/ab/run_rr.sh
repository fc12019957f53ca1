#!/bin/bash
# 32 B spin echo, send/receive, send-and-receive and poll-claim, iic against raw-shm interleaved (one pair per API);
# variants alternated run by run: F this round's build (SendAndReceive fenced), P the same with IIC_REPLY_SPIN_FENCE=0
out=$1; n=$2; shift 2; vs=${@:-"F P"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  case $v in F) b=B; e="";; P) b=B; e="IIC_REPLY_SPIN_FENCE=0";; A) b=A; e="";; esac
  env $e dotnet /tmp/perf$b/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive,send-and-receive,poll-claim --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
