#!/bin/bash
# 32 B spin echo, receive and send-and-receive, iic against raw-shm interleaved: SendAndReceive's token overload against
# the untokened one, without (XC, XNC: build X, sar-variants.patch) and with [SkipLocalsInit] (TT, T0: build T)
out=$1; n=$2; shift 2; vs=${@:-"XC XNC TT T0"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  case $v in XC) b=X; e="IIC_PERF_SAR_SERVER=copy";; XNC) b=X; e="IIC_PERF_SAR=notoken IIC_PERF_SAR_SERVER=copy";; TT) b=T; e="IIC_PERF_SAR=token";; T0) b=T; e="";; esac
  env $e dotnet /tmp/perf$b/IIC.Perf.dll pingpong --transports iic,raw-shm --sizes 32 --modes spin --api receive,send-and-receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
