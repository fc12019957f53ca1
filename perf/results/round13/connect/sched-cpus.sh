#!/bin/bash
# Per thread of the connect row's processes: ms run on each CPU, switch-outs while runnable (R) and asleep (S/D),
# from `perf sched record` data (perf sched timehist --state). usage: sched-cpus.sh perf.data
perf sched timehist -i "$1" --state 2>/dev/null | awk '
NR>3 && $4!="awakened:" {
  cpu=$2; task=$3; for(i=4;i<=NF-4;i++) task=task" "$i;
  if (task !~ /IIC|dotnet|unmap|partition|hypervisor/) next;
  run=$(NF-1); st=$NF; rt[task","cpu]+=run; tasks[task]=1; n[task]++; if(st=="R") r[task]++; else s[task]++ }
END { for (t in tasks) { c0=rt[t",[0000]"]+0; c1=rt[t",[0001]"]+0; if (c0+c1 < 5) continue;
  printf "%-40s cpu0 %8.1f ms  cpu1 %8.1f ms  switch-outs %6d (runnable %6d, asleep %6d)\n", t, c0, c1, n[t], r[t], s[t] } }' | sort
