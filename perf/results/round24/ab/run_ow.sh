#!/bin/bash
# one-way 32 B, poll and receive, iic against raw-shm interleaved; variants alternated run by run
out=$1; n=$2; shift 2; vs=${@:-"D W S"}; mkdir -p $out; cd /tmp
for i in $(seq 1 $n); do
 for v in $vs; do
  case $v in N) b=N; e="";; N0) b=N; e="IIC_RECEIVE_SPIN_FENCE=0";; M) b=M2; e="";; M1) b=M2; e="IIC_NEVER_AWAIT=1";; M0) b=M2; e="IIC_RECEIVE_SPIN_FENCE=0";; L) b=S4; e="";; L0) b=S4; e="IIC_RECEIVE_SPIN_FENCE=0";; K) b=S3; e="";; K0) b=S3; e="IIC_RECEIVE_SPIN_FENCE=0";; G) b=S2; e="";; G0) b=S2; e="IIC_RECEIVE_SPIN_FENCE=0";; F) b=S; e="";; F0) b=S; e="IIC_RECEIVE_SPIN_FENCE=0";; O) b=D; e="IIC_OWN_NEXT_LINE=0";; H) b=D; e="IIC_HOLD_BACK=0";; P) b=D; e="IIC_SPIN_PAUSE=0";; V2) b=D; e="IIC_SPIN_VARIANT=2";; D) b=C; e="";; S) b=C; e="IIC_WRITER_CLEANS=1";; W) b=D; e="IIC_WRITER_CLEANS=1";; V0) b=D; e="";; V1) b=D; e="IIC_SPIN_PAUSE=0";; V*) b=D; e="IIC_SPIN_VARIANT=${v#V}";; esac
  env $e dotnet /tmp/perf$b/IIC.Perf.dll throughput --transports iic,raw-shm --sizes 32 --modes spin --api poll,receive --isolation none --json $out/$v-$i.json > $out/$v-$i.txt 2>&1
  echo "$v-$i $(date +%T) $(uptime | sed 's/.*average//')" >> $out/load.txt
 done
done
