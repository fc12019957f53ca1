#!/bin/bash
# sched2.sh DLL ENV... : per-thread sleeps per cycle and CPU per cycle of the iic connect row's threads (cycles = memfd_create calls)
dll=$1; shift
perf record -q -o /tmp/ab/s.data -e sched:sched_switch -e syscalls:sys_enter_memfd_create -a -- env "$@" dotnet $dll connect --transports iic --json /tmp/ab/s.json 2>&1 | grep -o "p50 [0-9]* µs"
perf script -i /tmp/ab/s.data -F tid,time,event,trace 2>/dev/null | python3 -c '
import sys,re,collections
sl=collections.Counter(); run=collections.Counter(); names={}; cycles=0; last={}
for l in sys.stdin:
    if "memfd_create" in l: cycles+=1; continue
    m=re.search(r"(\d+\.\d+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)",l)
    if not m: continue
    t=float(m.group(1)); p=m.group(3); n=m.group(6)
    names[p]=m.group(2); names[n]=m.group(5)
    if p in last: run[p]+=t-last.pop(p)
    last[n]=t
    if m.group(4)[0]=="S": sl[names[p]]+=1
own=["IIC hypervisor","IIC hypervisor helper","IIC unmap","IIC partition"]
byname=collections.Counter()
for p,r in run.items(): byname[names[p][:14]]+=r
out=["cycles %d"%cycles]
for k in ["IIC hypervisor","IIC unmap","IIC partition"]:
    out.append("%s: sleeps %.2f/cycle"%(k,sum(v for n,v in sl.items() if n.startswith(k))/cycles))
out.append("CPU/cycle µs: hypervisor threads %.1f, unmap %.1f"%(byname["IIC hypervisor"]/cycles*1e6, byname["IIC unmap"]/cycles*1e6))
print("; ".join(out))
'
