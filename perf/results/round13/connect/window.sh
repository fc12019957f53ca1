#!/bin/bash
# The quiet window's measurements (08:15-08:30 UTC), raw files next to this script.
S=/work/wt/connect/perf/results/round13/connect
D=${D:-$S}  # where the raw files go
mkdir -p $D
P=/work/wt/connect/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
MP=/tmp/connect-main/perf/IIC.Perf/bin/Release/net10.0/IIC.Perf.dll
CB=/work/wt/connect/perf/IIC.ConnectBench/bin/Release/net10.0/IIC.ConnectBench.dll
MCB=/tmp/connect-main/perf/IIC.ConnectBench/bin/Release/net10.0/IIC.ConnectBench.dll
cd /tmp
echo "start $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" > $D/window-log.txt
# 1. interleaved A/B of the main job's connect row: main 0e599e7, this branch, this branch with the old cut
$S/connect-r13-ab.sh $D/connect-ab-1.txt ${R1:-5} "main=MAIN" "new=-" "new-stop=IIC_HYPERVISOR_SPIN_CONTENDED=stop" "new-acc=IIC_ACCEPT_SPIN_US=100" "new-acc-k=IIC_ACCEPT_SPIN_US=100 IIC_CONTROL_SPIN_CONTENDED=keep"
echo "ab1 done $(date +%T)" >> $D/window-log.txt
# 2. traced rows (new, new-stop, main), analysed
for v in new new-stop main new-acc; do
  rm -rf /tmp/w-trace-$v; mkdir -p /tmp/w-trace-$v
  dll=$P; envs="IIC_NONE=1"; [ $v = main ] && dll=$MP; [ $v = new-stop ] && envs="IIC_HYPERVISOR_SPIN_CONTENDED=stop"; [ $v = new-acc ] && envs="IIC_ACCEPT_SPIN_US=100"
  echo "== $v $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $D/trace-rows.txt
  env $envs IIC_CONNECT_TRACE=/tmp/w-trace-$v IIC_PERF_CONNECT_PHASES=1 dotnet $dll connect --isolation none --duration 1 --json /tmp/w.json --png /tmp/w.png 2>&1 | grep -E "connect|phase|sleeps" >> $D/trace-rows.txt
  dotnet $CB analyse /tmp/w-trace-$v > $D/timeline-row-$v.txt 2>&1
  f=""; for x in /tmp/w-trace-$v/*.trace; do [ $(grep -c ' ConnectCall ' $x) -gt 0 ] && f=$x; done
  echo "$v: cycles $(grep -c ' ConnectCall ' $f) loop sleeps $(grep -c ' HypervisorSleeps ' $f); caller sleeps per trace file: $(for x in /tmp/w-trace-$v/*.trace; do echo -n "$(basename $x) $(grep -c ' CallerSleeps ' $x); "; done)" >> $D/trace-rows.txt
done
echo "traces done $(date +%T)" >> $D/window-log.txt
# 3. scheduler placement of one iic-only row each
for run in new.1 new.2 new.3 new-acc.1 new-acc.2 main.1 main.2; do
  v=${run%.*}; dll=$P; envs="IIC_NONE=1"; [ $v = main ] && dll=$MP; [ $v = new-acc ] && envs="IIC_ACCEPT_SPIN_US=100"
  env $envs perf sched record -o /tmp/w-sched-$run.data -- dotnet $dll connect --transports iic --isolation none --duration 0.5 --json /tmp/w.json --png /tmp/w.png > $D/sched-$run-row.txt 2>&1
  $S/sched-cpus.sh /tmp/w-sched-$run.data > $D/sched-$run.txt 2>&1
done
echo "sched done $(date +%T)" >> $D/window-log.txt
# 4. ConnectBench: in-process cycles and the timeline, main against this branch
for v in main new; do
  cb=$CB; [ $v = main ] && cb=$MCB
  echo "== $v $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $D/connectbench-ab.txt
  dotnet $cb 2000 >> $D/connectbench-ab.txt 2>&1
  dotnet $cb timeline 1000 > $D/timeline-inprocess-$v.txt 2>&1
done
echo "connectbench done $(date +%T)" >> $D/window-log.txt
# 5. more interleaved rounds
$S/connect-r13-ab.sh $D/connect-ab-2.txt ${R2:-5} "main=MAIN" "new=-" "new-stop=IIC_HYPERVISOR_SPIN_CONTENDED=stop" "new-acc=IIC_ACCEPT_SPIN_US=100" "new-acc-k=IIC_ACCEPT_SPIN_US=100 IIC_CONTROL_SPIN_CONTENDED=keep"
echo "end $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> $D/window-log.txt
